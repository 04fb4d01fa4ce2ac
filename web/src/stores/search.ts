// One message search (GET /search): what is typed, searched once typing rests
// (DEBOUNCE_MS) or at once on Enter, a page of hits at a time (`more` follows the
// page's next_cursor). A new search cancels the requests of the previous one
// (AbortSignal) and every answer carries the generation it was asked in, so a
// late answer to an older query is dropped whatever the network does. Global, or
// in one chat (`chatId`).

import { reactive } from 'vue'
import { ABORTED, ApiError, type SearchQuery } from '../api/http'
import type { Id, OkBody, SearchHit } from '../api/types'

export const DEBOUNCE_MS = 300
export const SEARCH_PAGE = 20
/** Answers of too_many_requests waited out before the error shows. */
const RATE_RETRIES = 2
const MAX_RETRY_WAIT_MS = 5000

export type SearchFn = (q: SearchQuery, signal: AbortSignal) => Promise<OkBody<'search'>>

export type SearchStatus = 'idle' | 'loading' | 'done' | 'error'

export interface SearchState {
  /** What is typed in the box. */
  input: string
  /** The query the hits are for. */
  query: string
  hits: SearchHit[]
  /** Where the next (older) page starts; null on the last page. */
  nextCursor: string | null
  /** Some chats could not be searched (a shard did not answer). */
  partial: boolean
  status: SearchStatus
  loadingMore: boolean
  /** What went wrong, for the user (also after a failed `more`, hits kept). */
  error: string | null
  errorCode: string | null
}

export interface SearchOptions {
  debounceMs?: number
  limit?: number
}

/** A sentence for the user about a failed search. */
export function describeSearchError(e: unknown): string {
  if (!(e instanceof ApiError)) return `Search failed: ${String((e as Error)?.message ?? e)}`
  switch (e.code) {
    case 'invalid_query':
      return `Cannot search for that: ${e.message}. Type words, "a phrase" or a prefix*.`
    case 'invalid_limit':
      return `The server refused the request: ${e.message}`
    case 'not_member':
    case 'forbidden':
    case 'chat_not_found':
    case 'not_found':
      return 'You cannot search this chat.'
    case 'too_many_requests':
      return 'Too many searches in a row. Wait a moment, then press Enter.'
    case 'network':
      return 'Could not reach the server. Check the connection and press Enter to try again.'
    case 'timeout':
    case 'unavailable':
      return 'Search is not available right now. Press Enter to try again.'
    default:
      return `Search failed: ${e.message}`
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const keyOf = (h: SearchHit) => `${h.chat_id}:${h.seq}`

export class SearchStore {
  readonly state: SearchState
  private gen = 0
  private controller: AbortController | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private readonly debounceMs: number
  private readonly limit: number

  constructor(
    private readonly search: SearchFn,
    /** Only this chat; null: every chat of the user's. */
    readonly chatId: Id | null = null,
    opts: SearchOptions = {},
  ) {
    this.debounceMs = opts.debounceMs ?? DEBOUNCE_MS
    this.limit = opts.limit ?? SEARCH_PAGE
    this.state = reactive<SearchState>({ input: '', ...noResults() })
  }

  /** Something was typed: searched once typing rests; an empty box is no search. */
  type(input: string): void {
    this.state.input = input
    this.stopTimer()
    if (!input.trim()) {
      this.reset()
      return
    }
    this.timer = setTimeout(() => {
      this.timer = null
      void this.run()
    }, this.debounceMs)
  }

  /** Enter: searches now (again, even for the same text). */
  submit(): Promise<void> {
    this.stopTimer()
    if (!this.state.input.trim()) {
      this.reset()
      return Promise.resolve()
    }
    return this.run()
  }

  /** The next (older) page of the current search, appended. */
  async more(): Promise<void> {
    const st = this.state
    if (st.status !== 'done' || !st.nextCursor || st.loadingMore || !this.controller) return
    const gen = this.gen
    const signal = this.controller.signal
    st.loadingMore = true
    st.error = null
    st.errorCode = null
    try {
      const page = await this.fetch({ ...this.params(st.query), before: st.nextCursor }, signal, gen)
      if (!page) return
      const seen = new Set(st.hits.map(keyOf))
      for (const h of page.hits) if (!seen.has(keyOf(h))) st.hits.push(h)
      st.nextCursor = page.next_cursor ?? null
      st.partial ||= page.partial
    } catch (e) {
      if (gen === this.gen) this.fail(e)
    } finally {
      if (gen === this.gen) st.loadingMore = false
    }
  }

  /** Escape or ×: no search any more; a request in flight is cancelled. */
  clear(): void {
    this.stopTimer()
    this.state.input = ''
    this.reset()
  }

  dispose(): void {
    this.clear()
  }

  private async run(): Promise<void> {
    const st = this.state
    const q = st.input.trim()
    const gen = this.cancel()
    const controller = new AbortController()
    this.controller = controller
    st.status = 'loading'
    st.loadingMore = false
    st.error = null
    st.errorCode = null
    try {
      const page = await this.fetch(this.params(q), controller.signal, gen)
      if (!page) return
      st.query = q
      st.hits = page.hits
      st.nextCursor = page.next_cursor ?? null
      st.partial = page.partial
      st.status = 'done'
    } catch (e) {
      if (gen !== this.gen) return
      st.query = q
      st.hits = []
      st.nextCursor = null
      st.partial = false
      st.status = 'error'
      this.fail(e)
    }
  }

  /**
   * One page; null when the answer belongs to an older generation or the request
   * was cancelled. A `too_many_requests` is waited out (as the server says) a few times.
   */
  private async fetch(q: SearchQuery, signal: AbortSignal, gen: number): Promise<OkBody<'search'> | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        const page = await this.search(q, signal)
        return gen === this.gen ? page : null
      } catch (e) {
        if (gen !== this.gen || (e instanceof ApiError && e.code === ABORTED)) return null
        if (e instanceof ApiError && e.code === 'too_many_requests' && attempt < RATE_RETRIES) {
          await sleep(Math.min(e.retryAfterMs ?? 1000, MAX_RETRY_WAIT_MS))
          if (gen !== this.gen) return null
          continue
        }
        throw e
      }
    }
  }

  private params(q: string): SearchQuery {
    const p: SearchQuery = { q, limit: this.limit }
    if (this.chatId) p.chat_id = this.chatId
    return p
  }

  private fail(e: unknown): void {
    this.state.error = describeSearchError(e)
    this.state.errorCode = e instanceof ApiError ? e.code : null
  }

  /** Starts a new generation: whatever is in flight is cancelled and its answer dropped. */
  private cancel(): number {
    this.controller?.abort()
    this.controller = null
    return ++this.gen
  }

  private reset(): void {
    this.cancel()
    Object.assign(this.state, noResults())
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}

/** The state of no search (everything but the typed input). */
function noResults(): Omit<SearchState, 'input'> {
  return {
    query: '',
    hits: [],
    nextCursor: null,
    partial: false,
    status: 'idle',
    loadingMore: false,
    error: null,
    errorCode: null,
  }
}

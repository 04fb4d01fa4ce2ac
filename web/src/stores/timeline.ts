// The messages of one chat held by the client: a run of stored messages sorted by
// seq (from the oldest page loaded up to the newest), plus the user's own messages
// still pending or failed. A stored message is keyed by seq and a pending one by
// client_msg_id, so an `ack` and a `message` event for the same send, in either
// order, leave exactly one copy.

import { reactive } from 'vue'
import type { Id, Message } from '../api/types'

export type PendingStatus = 'pending' | 'failed'

export interface PendingMessage {
  clientMsgId: string
  chatId: Id
  text: string
  replyToSeq?: number
  status: PendingStatus
  error?: string
  createdAt: number
}

export interface HistoryPage {
  messages: Message[]
  last_seq: number
}

export type FetchPage = (q: { before?: number; limit: number }) => Promise<HistoryPage>

export const PAGE = 50
export const MAX_PAGE = 200
/** Opening a chat loads back to its first unread message if there are at most this many. */
export const MAX_CATCHUP = 1000

export interface TimelineState {
  messages: Message[]
  pending: PendingMessage[]
  /** The first page has arrived. */
  loaded: boolean
  /** Older messages exist on the server (false once seq 1 is held). */
  hasOlder: boolean
  loadingOlder: boolean
  /** The "new messages" line goes after this seq. */
  separatorSeq: number
  error: string | null
}

export class Timeline {
  readonly state: TimelineState
  /** `before` values already asked for: each older page is loaded once. */
  private requestedBefore = new Set<number>()

  constructor(
    readonly chatId: Id,
    private readonly me: Id,
    private readonly fetchPage: FetchPage,
  ) {
    this.state = reactive<TimelineState>({
      messages: [],
      pending: [],
      loaded: false,
      hasOlder: true,
      loadingOlder: false,
      separatorSeq: 0,
      error: null,
    })
  }

  get oldestSeq(): number {
    return this.state.messages[0]?.seq ?? 0
  }

  get newestSeq(): number {
    const m = this.state.messages
    return m.length ? m[m.length - 1]!.seq : 0
  }

  /** Highest seq held with no hole below it (down to the oldest held): resume point. */
  resumeSeq(fallback: number): number {
    const m = this.state.messages
    if (!m.length) return fallback
    let s = m[0]!.seq
    for (let i = 1; i < m.length && m[i]!.seq === s + 1; i++) s = m[i]!.seq
    return s
  }

  find(seq: number): Message | undefined {
    const i = this.indexOf(seq)
    return i >= 0 ? this.state.messages[i] : undefined
  }

  /**
   * Loads the newest page, then (up to MAX_CATCHUP unread) older pages until the
   * first unread message is held, so the chat can open at the "new messages" line.
   */
  async loadInitial(unread: number, readSeq: number): Promise<void> {
    const st = this.state
    st.separatorSeq = readSeq
    const limit = Math.min(MAX_PAGE, Math.max(PAGE, unread + 20))
    try {
      const page = await this.fetchPage({ limit })
      for (const m of page.messages) this.upsert(m)
      if (page.messages.length < limit || this.oldestSeq <= 1) st.hasOlder = false
      if (!st.messages.length) st.hasOlder = false
      if (unread > 0 && unread <= MAX_CATCHUP) {
        while (st.hasOlder && this.oldestSeq > readSeq + 1) {
          const before = this.oldestSeq
          await this.fetchBefore(before, MAX_PAGE)
          if (this.oldestSeq === before) break
        }
      }
      st.loaded = true
      st.error = null
    } catch (e) {
      st.error = String((e as Error).message ?? e)
      throw e
    }
  }

  /** Loads the page before the oldest message held, once; no-op at the beginning. */
  async loadOlder(): Promise<boolean> {
    const st = this.state
    if (!st.loaded || !st.hasOlder || st.loadingOlder) return false
    const before = this.oldestSeq
    if (before <= 1) {
      st.hasOlder = false
      return false
    }
    if (this.requestedBefore.has(before)) return false
    st.loadingOlder = true
    try {
      return (await this.fetchBefore(before, PAGE)) > 0
    } catch (e) {
      st.error = String((e as Error).message ?? e)
      return false
    } finally {
      st.loadingOlder = false
    }
  }

  /** One page before `before`; remembers it so it is never asked for twice. */
  private async fetchBefore(before: number, limit: number): Promise<number> {
    const st = this.state
    this.requestedBefore.add(before)
    let page: HistoryPage
    try {
      page = await this.fetchPage({ before, limit })
    } catch (e) {
      // Allow another try of the same page later.
      this.requestedBefore.delete(before)
      throw e
    }
    for (const m of page.messages) this.upsert(m)
    if (page.messages.length < limit || this.oldestSeq <= 1) st.hasOlder = false
    return page.messages.length
  }

  /** Loads older pages until `seq` is held (for "jump to first unread"). */
  async loadUntil(seq: number): Promise<void> {
    while (this.state.hasOlder && this.oldestSeq > seq) {
      const before = this.oldestSeq
      await this.loadOlder()
      if (this.oldestSeq === before) break
    }
  }

  /**
   * Re-reads the newest page of what is held, to catch edits and deletes made while
   * disconnected: a resume by since_seq replays only messages after it.
   */
  async refreshHeld(): Promise<void> {
    if (!this.state.loaded || !this.state.messages.length) return
    const page = await this.fetchPage({ before: this.newestSeq + 1, limit: PAGE })
    for (const m of page.messages) if (this.find(m.seq)) this.upsert(m)
  }

  /** A stored message from history, an event, a replay or an ack. */
  upsert(m: Message): void {
    const list = this.state.messages
    const i = this.indexOf(m.seq)
    if (i >= 0) {
      if (m.pts >= list[i]!.pts) list[i] = m
    } else {
      list.splice(-i - 1, 0, m)
    }
    if (m.sender_id === this.me) this.dropPending(m.client_msg_id)
  }

  onEdited(seq: number, text: string, editedAt: number, pts: number): void {
    const m = this.find(seq)
    if (m && pts >= m.pts) Object.assign(m, { text, edited_at: editedAt, pts })
  }

  onDeleted(seq: number, pts: number): void {
    const m = this.find(seq)
    if (m && pts >= m.pts) Object.assign(m, { text: '', deleted: true, pts })
  }

  addPending(p: Omit<PendingMessage, 'status' | 'chatId'>): PendingMessage {
    this.state.pending.push({ ...p, chatId: this.chatId, status: 'pending' })
    return this.state.pending[this.state.pending.length - 1]!
  }

  pendingById(id: string): PendingMessage | undefined {
    return this.state.pending.find((p) => p.clientMsgId === id)
  }

  markFailed(id: string, error: string): void {
    const p = this.pendingById(id)
    if (p) Object.assign(p, { status: 'failed', error })
  }

  markPending(id: string): void {
    const p = this.pendingById(id)
    if (p) Object.assign(p, { status: 'pending', error: undefined })
  }

  dropPending(id: string): void {
    const i = this.state.pending.findIndex((p) => p.clientMsgId === id)
    if (i >= 0) this.state.pending.splice(i, 1)
  }

  /**
   * The read cursor moved. From another tab (`external`), the "new messages" line
   * follows it; a new unread message after everything was read starts a new line.
   */
  noteRead(readSeq: number, external: boolean): void {
    if (external && readSeq > this.state.separatorSeq) this.state.separatorSeq = readSeq
  }

  /** A message from someone else arrived while `readSeq` was the cursor. */
  noteIncoming(m: Message, readSeq: number): void {
    if (m.sender_id === this.me || m.seq <= readSeq) return
    if (this.state.separatorSeq < readSeq) this.state.separatorSeq = readSeq
  }

  /** Binary search: index of `seq`, or -(insertion point) - 1. */
  private indexOf(seq: number): number {
    const list = this.state.messages
    let lo = 0
    let hi = list.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const s = list[mid]!.seq
      if (s === seq) return mid
      if (s < seq) lo = mid + 1
      else hi = mid - 1
    }
    return -lo - 1
  }
}

import { afterEach, describe, expect, it, vi } from 'vitest'
import { ABORTED, Api, ApiError, type SearchQuery } from '../src/api/http'
import type { OkBody, SearchHit } from '../src/api/types'
import { DEBOUNCE_MS, SearchStore } from '../src/stores/search'

type Page = OkBody<'search'>

const hit = (seq: number, over: Partial<SearchHit> = {}): SearchHit => ({
  chat_id: 'c1', seq, id: String(1000 + seq), sender_id: 'u2', created_at: seq * 1000,
  text: `match ${seq}`, highlights: [[0, 5]], ...over,
})

/** A search endpoint whose answers the test gives, request by request. */
function endpoint(honourAbort = true) {
  const calls: { q: SearchQuery; signal: AbortSignal; resolve: (p: Page) => void; reject: (e: unknown) => void }[] = []
  const fn = vi.fn(
    (q: SearchQuery, signal: AbortSignal) =>
      new Promise<Page>((resolve, reject) => {
        calls.push({ q, signal, resolve, reject })
        // As fetch does: an aborted request fails.
        if (honourAbort) signal.addEventListener('abort', () => reject(new ApiError(ABORTED, 'request cancelled', 0)))
      }),
  )
  return { calls, fn }
}

afterEach(() => vi.useRealTimers())

describe('SearchStore', () => {
  it('waits for typing to rest, then searches once for the last text', async () => {
    vi.useFakeTimers()
    const e = endpoint()
    const s = new SearchStore(e.fn)
    s.type('q')
    await vi.advanceTimersByTimeAsync(100)
    s.type('qu')
    await vi.advanceTimersByTimeAsync(100)
    s.type('quokka')
    await vi.advanceTimersByTimeAsync(DEBOUNCE_MS - 1)
    expect(e.fn).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(e.calls.map((c) => c.q)).toEqual([{ q: 'quokka', limit: 20 }])
    expect(s.state.status).toBe('loading')
  })

  it('searches at once on Enter, and only in its chat when it has one', async () => {
    vi.useFakeTimers()
    const e = endpoint()
    const s = new SearchStore(e.fn, 'c7')
    s.type('  hello  ')
    void s.submit()
    expect(e.calls.map((c) => c.q)).toEqual([{ q: 'hello', limit: 20, chat_id: 'c7' }])
    // The debounce was cancelled by Enter: no second request.
    await vi.advanceTimersByTimeAsync(DEBOUNCE_MS * 2)
    expect(e.fn).toHaveBeenCalledTimes(1)
  })

  it('sends nothing for an empty box, and clearing forgets the results', async () => {
    const e = endpoint()
    const s = new SearchStore(e.fn, null, { debounceMs: 0 })
    s.type('   ')
    await s.submit()
    expect(e.fn).not.toHaveBeenCalled()
    expect(s.state.status).toBe('idle')
    s.type('x')
    const run = s.submit()
    e.calls[0]!.resolve({ hits: [hit(1)], partial: false })
    await run
    expect(s.state.hits).toHaveLength(1)
    s.clear()
    expect(s.state).toMatchObject({ input: '', query: '', hits: [], status: 'idle' })
  })

  it('pages older by the cursor, appending each hit once, until there is no cursor', async () => {
    const e = endpoint()
    const s = new SearchStore(e.fn, null, { limit: 2 })
    s.type('match')
    const first = s.submit()
    e.calls[0]!.resolve({ hits: [hit(9), hit(8)], next_cursor: 's1.8', partial: false })
    await first
    expect(s.state).toMatchObject({ status: 'done', query: 'match', nextCursor: 's1.8' })
    const more = s.more()
    void s.more() // a second click while loading asks nothing
    expect(e.calls.map((c) => c.q)).toEqual([
      { q: 'match', limit: 2 },
      { q: 'match', limit: 2, before: 's1.8' },
    ])
    expect(s.state.loadingMore).toBe(true)
    // An overlapping hit is not shown twice; the last page has no cursor.
    e.calls[1]!.resolve({ hits: [hit(8), hit(7)], partial: true })
    await more
    expect(s.state.hits.map((h) => h.seq)).toEqual([9, 8, 7])
    expect(s.state).toMatchObject({ nextCursor: null, partial: true, loadingMore: false })
    await s.more()
    expect(e.fn).toHaveBeenCalledTimes(2)
  })

  it('ignores the answer of a stale search, and cancels its request', async () => {
    const e = endpoint(false)
    const s = new SearchStore(e.fn)
    s.type('old')
    const a = s.submit()
    s.type('new')
    const b = s.submit()
    expect(e.calls[0]!.signal.aborted).toBe(true)
    expect(e.calls[1]!.signal.aborted).toBe(false)
    e.calls[1]!.resolve({ hits: [hit(2, { text: 'new' })], partial: false })
    await b
    // The old request answers late anyway (the server did not notice the abort).
    e.calls[0]!.resolve({ hits: [hit(1, { text: 'old' })], partial: false })
    await a
    expect(s.state.hits.map((h) => h.text)).toEqual(['new'])
    expect(s.state).toMatchObject({ query: 'new', status: 'done', error: null })
  })

  it('shows no error for a request it cancelled itself', async () => {
    const e = endpoint(true)
    const s = new SearchStore(e.fn)
    s.type('old')
    const a = s.submit()
    s.type('new')
    const b = s.submit()
    await a
    expect(s.state).toMatchObject({ status: 'loading', error: null })
    e.calls[1]!.resolve({ hits: [hit(2)], partial: false })
    await b
    expect(s.state).toMatchObject({ status: 'done', error: null })
  })

  it('drops a page of more results when a new search started meanwhile', async () => {
    const e = endpoint(false)
    const s = new SearchStore(e.fn)
    s.type('one')
    const a = s.submit()
    e.calls[0]!.resolve({ hits: [hit(5)], next_cursor: 'c', partial: false })
    await a
    const more = s.more()
    s.type('two')
    const b = s.submit()
    expect(e.calls[1]!.signal.aborted).toBe(true)
    e.calls[1]!.resolve({ hits: [hit(4)], partial: false })
    await more
    e.calls[2]!.resolve({ hits: [hit(9, { text: 'two' })], partial: false })
    await b
    expect(s.state.hits.map((h) => h.seq)).toEqual([9])
    expect(s.state.loadingMore).toBe(false)
  })

  it('explains an invalid query with the server’s reason', async () => {
    const e = endpoint()
    const s = new SearchStore(e.fn)
    s.type('a b c d e f g h i j k l m n o p q')
    const run = s.submit()
    e.calls[0]!.reject(new ApiError('invalid_query', 'a search has at most 16 words', 400))
    await run
    expect(s.state.status).toBe('error')
    expect(s.state.errorCode).toBe('invalid_query')
    expect(s.state.error).toContain('a search has at most 16 words')
    expect(s.state.hits).toEqual([])
  })

  it('keeps the hits when more results fail, and says why', async () => {
    const e = endpoint()
    const s = new SearchStore(e.fn)
    s.type('x')
    const a = s.submit()
    e.calls[0]!.resolve({ hits: [hit(3)], next_cursor: 'c', partial: false })
    await a
    const more = s.more()
    e.calls[1]!.reject(new ApiError('network', 'offline', 0))
    await more
    expect(s.state.hits).toHaveLength(1)
    expect(s.state.status).toBe('done')
    expect(s.state.error).toContain('Could not reach the server')
    expect(s.state.nextCursor).toBe('c') // "More results" may be tried again
  })

  it('waits out too_many_requests as the server says, then answers', async () => {
    vi.useFakeTimers()
    const e = endpoint()
    const s = new SearchStore(e.fn)
    s.type('x')
    const run = s.submit()
    e.calls[0]!.reject(new ApiError('too_many_requests', 'slow down', 429, 700))
    await vi.advanceTimersByTimeAsync(699)
    expect(e.fn).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(e.fn).toHaveBeenCalledTimes(2)
    e.calls[1]!.resolve({ hits: [hit(1)], partial: false })
    await run
    expect(s.state.status).toBe('done')
  })

  it('gives up on too_many_requests after a few tries, with a message', async () => {
    vi.useFakeTimers()
    const e = endpoint()
    const s = new SearchStore(e.fn)
    s.type('x')
    const run = s.submit()
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(0)
      e.calls[i]!.reject(new ApiError('too_many_requests', 'slow down', 429, 100))
      await vi.advanceTimersByTimeAsync(100)
    }
    await run
    expect(e.fn).toHaveBeenCalledTimes(3)
    expect(s.state).toMatchObject({ status: 'error', errorCode: 'too_many_requests' })
  })
})

describe('Api.search', () => {
  it('asks GET /search with the parameters given, and is cancelled by its signal', async () => {
    const urls: string[] = []
    const fetch = vi.fn(async (url: string, init: RequestInit) => {
      urls.push(url)
      if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError')
      return new Response(JSON.stringify({ hits: [hit(1)], next_cursor: 's1.a', partial: false }), { status: 200 })
    })
    const api = new Api({ token: () => 't', onUnauthorized: vi.fn(), fetch: fetch as unknown as typeof globalThis.fetch })
    const page = await api.search({ q: '"good morning" deplo* & co', chat_id: '42', before: 's1.ff', limit: 20 })
    expect(page.next_cursor).toBe('s1.a')
    const u = new URL(urls[0]!, 'http://x')
    expect(u.pathname).toBe('/api/v1/search')
    expect(Object.fromEntries(u.searchParams)).toEqual({ q: '"good morning" deplo* & co', chat_id: '42', before: 's1.ff', limit: '20' })
    const ctl = new AbortController()
    ctl.abort()
    await expect(api.search({ q: 'x' }, ctl.signal)).rejects.toMatchObject({ code: ABORTED })
  })

  it('carries the code and retry_after_ms of an error', async () => {
    const fetch = vi.fn(
      async () =>
        new Response(JSON.stringify({ error: { code: 'too_many_requests', message: 'slow', retry_after_ms: 450 } }), { status: 429 }),
    )
    const api = new Api({ token: () => 't', onUnauthorized: vi.fn(), fetch: fetch as unknown as typeof globalThis.fetch })
    await expect(api.search({ q: 'x' })).rejects.toMatchObject({ code: 'too_many_requests', status: 429, retryAfterMs: 450 })
  })
})

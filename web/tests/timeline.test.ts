import { describe, expect, it, vi } from 'vitest'
import type { Message } from '../src/api/types'
import { PAGE, Timeline } from '../src/stores/timeline'
import { historyPage, msg } from './fakes'

/** A server history of `n` messages answering like GET /chats/{id}/messages. */
function server(n: number) {
  const all: Message[] = Array.from({ length: n }, (_, i) => msg(i + 1))
  const calls: { before?: number; after?: number; around?: number; limit: number }[] = []
  const fetchPage = vi.fn(async (q: { before?: number; after?: number; around?: number; limit: number }) => {
    calls.push(q)
    return historyPage(all, q)
  })
  return { all, calls, fetchPage }
}

describe('Timeline history', () => {
  it('loads the newest page, then each older page once, and stops at the beginning', async () => {
    const s = server(130)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 130)
    expect(tl.state.messages.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 81 + i))
    expect(tl.state.hasOlder).toBe(true)
    await tl.loadOlder()
    await tl.loadOlder()
    expect(tl.oldestSeq).toBe(1)
    expect(tl.state.hasOlder).toBe(false)
    // History ran out: no more requests however often the user scrolls up.
    for (let i = 0; i < 5; i++) expect(await tl.loadOlder()).toBe(false)
    expect(s.calls).toEqual([{ limit: 50 }, { before: 81, limit: PAGE }, { before: 31, limit: PAGE }])
    expect(tl.state.messages.map((m) => m.seq)).toEqual(Array.from({ length: 130 }, (_, i) => i + 1))
  })

  it('asks for the same page once even when scrolled twice quickly', async () => {
    const s = server(200)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 200)
    await Promise.all([tl.loadOlder(), tl.loadOlder(), tl.loadOlder()])
    expect(s.calls.filter((c) => c.before === 151)).toHaveLength(1)
    expect(s.calls).toHaveLength(2)
  })

  it('stops when an older page comes back short (history ends exactly at a page edge)', async () => {
    const s = server(100)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 100)
    await tl.loadOlder()
    expect(tl.state.hasOlder).toBe(false)
    expect(await tl.loadOlder()).toBe(false)
    expect(s.calls).toHaveLength(2)
  })

  it('has nothing older in an empty chat', async () => {
    const s = server(0)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 0)
    expect(tl.state.loaded).toBe(true)
    expect(tl.state.hasOlder).toBe(false)
    expect(await tl.loadOlder()).toBe(false)
  })

  it('may ask again for a page whose request failed', async () => {
    const s = server(120)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 120)
    s.fetchPage.mockRejectedValueOnce(new Error('offline'))
    expect(await tl.loadOlder()).toBe(false)
    expect(await tl.loadOlder()).toBe(true)
    expect(s.fetchPage.mock.calls.filter(([q]) => q.before === 71)).toHaveLength(2)
  })

  it('loads back to the first unread message when opening', async () => {
    const s = server(1000)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(450, 550)
    expect(tl.oldestSeq).toBe(401)
    expect(tl.state.separatorSeq).toBe(550)
    expect(tl.state.hasOlder).toBe(true)
  })

  it('refreshHeld picks up edits made while offline, and adds nothing new', async () => {
    const s = server(60)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 60)
    s.all[57] = { ...s.all[57]!, text: 'edited offline', pts: 999 }
    s.all.push(msg(61), msg(62))
    await tl.refreshHeld()
    expect(tl.find(58)!.text).toBe('edited offline')
    expect(tl.newestSeq).toBe(60)
    expect(s.calls[s.calls.length - 1]).toEqual({ before: 61, limit: PAGE })
  })

  it('loadUntil pages back to a seq', async () => {
    const s = server(400)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 400)
    await tl.loadUntil(200)
    expect(tl.oldestSeq).toBeLessThanOrEqual(200)
  })
})

describe('Timeline reconciliation', () => {
  const mine = (seq: number, id: string): Message => msg(seq, { sender_id: 'me', client_msg_id: id, text: 'hi' })

  it('ack then message event: one copy, pending gone', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    tl.addPending({ clientMsgId: 'x1', text: 'hi', createdAt: 0 })
    tl.upsert(mine(5, 'x1'))
    tl.upsert(mine(5, 'x1'))
    expect(tl.state.messages).toHaveLength(1)
    expect(tl.state.pending).toHaveLength(0)
  })

  it('message event then ack: one copy', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    tl.addPending({ clientMsgId: 'x1', text: 'hi', createdAt: 0 })
    tl.upsert(mine(5, 'x1'))
    expect(tl.state.pending).toHaveLength(0)
    tl.upsert(mine(5, 'x1'))
    expect(tl.state.messages).toHaveLength(1)
  })

  it('a message of someone else with the same client_msg_id leaves my pending one alone', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    tl.addPending({ clientMsgId: 'x1', text: 'hi', createdAt: 0 })
    tl.upsert(msg(5, { client_msg_id: 'x1' }))
    expect(tl.state.pending).toHaveLength(1)
  })

  it('keeps messages sorted by seq whatever the arrival order', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    for (const s of [5, 2, 9, 1, 7, 2]) tl.upsert(msg(s))
    expect(tl.state.messages.map((m) => m.seq)).toEqual([1, 2, 5, 7, 9])
  })

  it('resumes from the highest seq with no hole below it', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    for (const s of [10, 11, 12, 14]) tl.upsert(msg(s))
    expect(tl.resumeSeq(0)).toBe(12)
    expect(new Timeline('c1', 'me', vi.fn()).resumeSeq(7)).toBe(7)
  })

  it('applies edits and deletes, never an older state over a newer one', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    tl.upsert(msg(3, { pts: 3 }))
    tl.onEdited(3, 'new text', 123, 10)
    expect(tl.find(3)).toMatchObject({ text: 'new text', edited_at: 123, pts: 10 })
    tl.upsert(msg(3, { pts: 3 })) // a stale copy from a history page
    expect(tl.find(3)!.text).toBe('new text')
    tl.onDeleted(3, 11)
    expect(tl.find(3)).toMatchObject({ deleted: true, text: '' })
    tl.onEdited(3, 'late', 1, 10)
    expect(tl.find(3)!.deleted).toBe(true)
  })

  it('marks pending messages failed and back to pending on retry', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    tl.addPending({ clientMsgId: 'x1', text: 'hi', createdAt: 0 })
    tl.markFailed('x1', 'too long')
    expect(tl.pendingById('x1')).toMatchObject({ status: 'failed', error: 'too long' })
    tl.markPending('x1')
    expect(tl.pendingById('x1')!.status).toBe('pending')
  })
})

describe('Timeline new-messages line', () => {
  it('follows the cursor moved by another tab, not by this one', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    tl.state.separatorSeq = 4
    tl.noteRead(8, false)
    expect(tl.state.separatorSeq).toBe(4)
    tl.noteRead(8, true)
    expect(tl.state.separatorSeq).toBe(8)
    tl.noteRead(6, true)
    expect(tl.state.separatorSeq).toBe(8)
  })

  it('starts again before a new unread message once everything was read', () => {
    const tl = new Timeline('c1', 'me', vi.fn())
    tl.state.separatorSeq = 4
    tl.noteIncoming(msg(11), 10)
    expect(tl.state.separatorSeq).toBe(10)
    tl.noteIncoming(msg(12), 10)
    expect(tl.state.separatorSeq).toBe(10)
    tl.noteIncoming(msg(13, { sender_id: 'me' }), 12)
    expect(tl.state.separatorSeq).toBe(10)
  })
})

describe('Timeline jump to a seq', () => {
  type Q = { before?: number; after?: number; around?: number; limit: number }
  /** A server of `n` messages whose answers the test releases one by one. */
  function slowServer(n: number) {
    const all = Array.from({ length: n }, (_, i) => msg(i + 1))
    const waiting: { q: Q; release: () => void }[] = []
    const fetchPage = vi.fn(
      (q: Q) =>
        new Promise<{ messages: Message[]; last_seq: number }>((resolve) => {
          // The answer is computed when released, as the server would when it runs.
          waiting.push({ q, release: () => resolve(historyPage(all, q)) })
        }),
    )
    return { all, waiting, fetchPage }
  }
  const seqsOf = (tl: Timeline) => tl.state.messages.map((m) => m.seq)
  const contiguous = (s: number[]) => s.every((x, i) => i === 0 || x === s[i - 1]! + 1)

  it('replaces the window with the page around the seq, then pages older and newer from there', async () => {
    const s = server(300)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 300)
    await tl.jumpTo(100)
    expect(s.calls.at(-1)).toEqual({ around: 100, limit: PAGE })
    expect(seqsOf(tl)).toEqual(Array.from({ length: PAGE }, (_, i) => 75 + i))
    expect(tl.state).toMatchObject({ loaded: true, hasOlder: true, hasNewer: true })
    // Older pages from the window's start, newer ones from its end, each once.
    while (tl.state.hasOlder) await tl.loadOlder()
    while (tl.state.hasNewer) expect(await tl.loadNewer()).toBe(true)
    expect(seqsOf(tl)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1))
    const afters = s.calls.filter((q) => q.after !== undefined).map((q) => q.after)
    expect(afters).toEqual([124, 174, 224, 274])
    expect(new Set(s.calls.map((q) => JSON.stringify(q))).size).toBe(s.calls.length)
    // Back at the live end: a live message appends again.
    tl.upsert(msg(301))
    expect(tl.newestSeq).toBe(301)
    expect(await tl.loadNewer()).toBe(false)
  })

  it('is attached at once when the page around the seq reaches the newest message', async () => {
    const s = server(30)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.jumpTo(20)
    expect(seqsOf(tl)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect(tl.state).toMatchObject({ hasNewer: false, hasOlder: false, loaded: true })
    expect(tl.resumeSeq(30)).toBe(30)
  })

  it('never leaves a gap: live messages past a moved window wait for loadNewer, and it resumes from the chat', async () => {
    const s = server(300)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.jumpTo(100)
    tl.upsert(msg(301))
    tl.upsert(msg(302))
    expect(tl.newestSeq).toBe(124)
    expect(contiguous(seqsOf(tl))).toBe(true)
    // The window holds no live end: a resume starts from the chat's newest seq.
    expect(tl.resumeSeq(302)).toBe(302)
    // Edits to held messages still apply.
    tl.onEdited(100, 'changed', 5, 1000)
    expect(tl.find(100)!.text).toBe('changed')
    s.all.push(msg(301), msg(302))
    while (tl.state.hasNewer) await tl.loadNewer()
    expect(seqsOf(tl)).toEqual(Array.from({ length: 228 }, (_, i) => 75 + i))
    expect(tl.resumeSeq(0)).toBe(302)
  })

  it('stays detached when a message came live after the last page was read', async () => {
    const s = slowServer(120)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    const jump = tl.jumpTo(90)
    s.waiting.shift()!.release()
    await jump
    expect(tl.newestSeq).toBe(114)
    const newer = tl.loadNewer()
    s.waiting.shift()!.release() // 115..120, last_seq 120
    // Stored and delivered live before the page is handled.
    s.all.push(msg(121))
    tl.upsert(msg(121))
    await newer
    expect(tl.newestSeq).toBe(120)
    expect(tl.state.hasNewer).toBe(true)
    const last = tl.loadNewer()
    s.waiting.shift()!.release()
    await last
    expect(seqsOf(tl).at(-1)).toBe(121)
    expect(tl.state.hasNewer).toBe(false)
    expect(contiguous(seqsOf(tl))).toBe(true)
  })

  it('drops the answers of requests made before the jump', async () => {
    const s = slowServer(500)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    const initial = tl.loadInitial(0, 500)
    const jump = tl.jumpTo(100)
    expect(s.waiting.map((w) => w.q)).toEqual([{ limit: PAGE }, { around: 100, limit: PAGE }])
    // The jump's page first, the newest page (stale) after it.
    s.waiting[1]!.release()
    await jump
    s.waiting[0]!.release()
    await initial
    expect(seqsOf(tl)).toEqual(Array.from({ length: PAGE }, (_, i) => 75 + i))
    // An older page asked before a second jump lands nowhere either.
    s.waiting.length = 0
    const older = tl.loadOlder()
    const jump2 = tl.jumpTo(400)
    s.waiting[1]!.release()
    await jump2
    s.waiting[0]!.release()
    expect(await older).toBe(false)
    expect(seqsOf(tl)).toEqual(Array.from({ length: PAGE }, (_, i) => 375 + i))
    expect(tl.state.loadingOlder).toBe(false)
    expect(contiguous(seqsOf(tl))).toBe(true)
  })

  it('opening the chat while a jump loads waits for the jump instead of loading the newest page too', async () => {
    const s = slowServer(300)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    const jump = tl.jumpTo(100)
    const open = tl.loadInitial(0, 300)
    expect(s.waiting.map((w) => w.q)).toEqual([{ around: 100, limit: PAGE }])
    s.waiting.shift()!.release()
    await Promise.all([jump, open])
    expect(seqsOf(tl)).toEqual(Array.from({ length: PAGE }, (_, i) => 75 + i))
    // Once it is in, nothing is in flight any more: a reload loads again.
    const again = tl.reload()
    expect(s.waiting.map((w) => w.q)).toEqual([{ limit: PAGE }])
    s.waiting.shift()!.release()
    await again
    expect(tl.newestSeq).toBe(300)
  })

  it('takes no live message into the empty window while the jump loads', async () => {
    const s = slowServer(300)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    const jump = tl.jumpTo(50)
    tl.upsert(msg(300))
    expect(tl.state.messages).toHaveLength(0)
    s.waiting.shift()!.release()
    await jump
    expect(seqsOf(tl)).toEqual(Array.from({ length: PAGE }, (_, i) => 25 + i))
    expect(tl.state.hasNewer).toBe(true)
  })

  it('keeps pending sends across a jump, and reload() returns to the newest page', async () => {
    const s = server(300)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    await tl.loadInitial(0, 300)
    tl.addPending({ clientMsgId: 'p1', text: 'hi', createdAt: 0 })
    await tl.jumpTo(10)
    expect(tl.state.pending).toHaveLength(1)
    expect(tl.oldestSeq).toBe(1)
    expect(tl.state.hasOlder).toBe(false) // seq 1 is held
    await tl.reload()
    expect(seqsOf(tl)).toEqual(Array.from({ length: PAGE }, (_, i) => 251 + i))
    expect(tl.state).toMatchObject({ hasNewer: false, loaded: true })
    expect(tl.state.pending).toHaveLength(1)
  })

  it('opens the newest page when nothing is found around the seq', async () => {
    const s = server(40)
    const tl = new Timeline('c1', 'me', s.fetchPage)
    s.fetchPage.mockResolvedValueOnce({ messages: [], last_seq: 40 })
    await tl.jumpTo(999)
    expect(tl.newestSeq).toBe(40)
    expect(tl.state).toMatchObject({ hasNewer: false, loaded: true })
  })
})

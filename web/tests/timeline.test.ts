import { describe, expect, it, vi } from 'vitest'
import type { Message } from '../src/api/types'
import { PAGE, Timeline } from '../src/stores/timeline'
import { msg } from './fakes'

/** A server history of `n` messages answering like GET /chats/{id}/messages. */
function server(n: number) {
  const all = Array.from({ length: n }, (_, i) => msg(i + 1))
  const calls: { before?: number; limit: number }[] = []
  const fetchPage = vi.fn(async (q: { before?: number; limit: number }) => {
    calls.push(q)
    const upto = q.before !== undefined ? q.before - 1 : n
    const from = Math.max(1, upto - q.limit + 1)
    return { messages: all.slice(from - 1, upto), last_seq: n }
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

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ClientFrame } from '../src/api/types'
import { Outbox, READ_DEBOUNCE_MS, SEND_TIMEOUT_MS } from '../src/stores/outbox'
import { Timeline } from '../src/stores/timeline'

function setup() {
  const sent: ClientFrame[] = []
  const conn = { up: true }
  const toasts: string[] = []
  const tl = new Timeline('c1', 'me', vi.fn())
  const box = new Outbox({
    socket: { send: (f: ClientFrame) => (conn.up ? (sent.push(f), true) : false) },
    timeline: () => tl,
    timelines: () => [tl],
    toast: (t) => toasts.push(t),
  })
  return { sent, conn, toasts, tl, box }
}

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('Outbox', () => {
  it('shows a send as pending at once and sends it with a client_msg_id', () => {
    const { sent, tl, box } = setup()
    const id = box.send(tl, 'hello', 4)
    expect(tl.state.pending).toMatchObject([{ clientMsgId: id, text: 'hello', status: 'pending', replyToSeq: 4 }])
    expect(sent).toEqual([{ type: 'send', chat_id: 'c1', client_msg_id: id, text: 'hello', reply_to_seq: 4 }])
  })

  it('keeps a send made while disconnected pending and sends it on ready, same id', () => {
    const { sent, conn, tl, box } = setup()
    conn.up = false
    const id = box.send(tl, 'later')
    vi.advanceTimersByTime(SEND_TIMEOUT_MS * 2)
    expect(tl.pendingById(id)!.status).toBe('pending')
    conn.up = true
    box.onReady()
    expect(sent).toMatchObject([{ type: 'send', client_msg_id: id }])
  })

  it('fails a send that gets no answer, and retries it with the same id', () => {
    const { sent, tl, box } = setup()
    const id = box.send(tl, 'x')
    vi.advanceTimersByTime(SEND_TIMEOUT_MS)
    expect(tl.pendingById(id)!.status).toBe('failed')
    box.retry(tl, id)
    expect(tl.pendingById(id)!.status).toBe('pending')
    expect(sent.map((f) => (f as { client_msg_id: string }).client_msg_id)).toEqual([id, id])
  })

  it('an ack stops the timer; a rejection marks the message failed with the reason', () => {
    const { tl, box } = setup()
    const a = box.send(tl, 'a')
    const b = box.send(tl, 'b')
    box.onAck(a, null)
    tl.dropPending(a)
    expect(box.onFailure(b, 'text_too_long', 'message text has 5000 characters')).toBe(true)
    expect(tl.pendingById(b)).toMatchObject({ status: 'failed', error: 'message text has 5000 characters' })
    vi.advanceTimersByTime(SEND_TIMEOUT_MS)
    expect(tl.state.pending).toHaveLength(1)
  })

  it('edit and delete carry a ref; their failure becomes a toast', () => {
    const { sent, toasts, box } = setup()
    box.edit('c1', 3, 'new')
    const ref = (sent[0] as { ref: string }).ref
    expect(sent[0]).toMatchObject({ type: 'edit', chat_id: 'c1', seq: 3, text: 'new' })
    expect(box.onFailure(ref, 'forbidden', 'only the author can edit a message')).toBe(true)
    expect(toasts[0]).toContain('only the author')
    box.remove('c1', 3)
    expect(sent[1]).toMatchObject({ type: 'delete', chat_id: 'c1', seq: 3 })
  })

  it('forward sends from/to and toasts on ack', () => {
    const { sent, toasts, box } = setup()
    box.forward('c1', 7, 'c2')
    const f = sent[0] as { client_msg_id: string }
    expect(sent[0]).toMatchObject({ type: 'forward', from_chat_id: 'c1', seq: 7, to_chat_id: 'c2' })
    box.onAck(f.client_msg_id, null)
    expect(toasts).toEqual(['Message forwarded'])
  })

  it('debounces read cursors and sends only forward moves', () => {
    const { sent, conn, box } = setup()
    box.read('c1', 3)
    box.read('c1', 5)
    box.read('c1', 4)
    expect(sent).toEqual([])
    vi.advanceTimersByTime(READ_DEBOUNCE_MS)
    expect(sent).toEqual([{ type: 'read', chat_id: 'c1', seq: 5 }])
    conn.up = false
    box.read('c1', 9)
    vi.advanceTimersByTime(READ_DEBOUNCE_MS)
    conn.up = true
    box.onReady()
    expect(sent[1]).toEqual({ type: 'read', chat_id: 'c1', seq: 9 })
  })
})

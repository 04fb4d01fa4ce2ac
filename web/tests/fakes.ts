// Test doubles: a WebSocket the test drives by hand, and an in-memory Storage.
import type { ServerFrame } from '../src/api/types'

export class FakeWebSocket {
  static instances: FakeWebSocket[] = []
  static get last(): FakeWebSocket {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1]!
  }
  readyState = 0
  sent: unknown[] = []
  closedWith: number | null = null
  onopen: (() => void) | null = null
  onmessage: ((ev: { data: string }) => void) | null = null
  onclose: ((ev: { code: number }) => void) | null = null
  onerror: (() => void) | null = null

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this)
  }

  send(data: string) {
    this.sent.push(JSON.parse(data))
  }

  close(code = 1000) {
    this.closedWith = code
    this.readyState = 3
  }

  // ---- driven by the test ----
  open() {
    this.readyState = 1
    this.onopen?.()
  }

  receive(frame: ServerFrame) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }

  ready(userId = 'u1') {
    this.open()
    this.receive({ type: 'ready', user_id: userId, gateway: 'test' })
  }

  serverClose(code: number) {
    this.readyState = 3
    this.onclose?.({ code })
  }

  framesOf(type: string): Record<string, unknown>[] {
    return (this.sent as Record<string, unknown>[]).filter((f) => f.type === type)
  }
}

export class MemoryStorage implements Storage {
  private m = new Map<string, string>()
  get length() {
    return this.m.size
  }
  clear() {
    this.m.clear()
  }
  getItem(k: string) {
    return this.m.has(k) ? this.m.get(k)! : null
  }
  key(i: number) {
    return [...this.m.keys()][i] ?? null
  }
  removeItem(k: string) {
    this.m.delete(k)
  }
  setItem(k: string, v: string) {
    this.m.set(k, String(v))
  }
}

/** A user as the server describes one: the display name is the login name until set. */
export function user(id: string, name: string, over: Partial<import('../src/api/types').User> = {}) {
  return { id, name, display_name: name, about: '', created_at: 0, updated_at: 0, ...over }
}

export function msg(seq: number, over: Partial<import('../src/api/types').Message> = {}) {
  return {
    id: String(1000 + seq),
    chat_id: 'c1',
    seq,
    sender_id: 'u2',
    client_msg_id: `m${seq}`,
    text: `message ${seq}`,
    created_at: 1_700_000_000_000 + seq * 1000,
    deleted: false,
    pts: seq,
    ...over,
  }
}

/**
 * A page of `all` (messages sorted by seq) as GET /chats/{id}/messages answers it:
 * the newest `limit` before `before`, the oldest `limit` after `after`, the page
 * around `around` (limit/2 + 1 up to it, the rest after), or the newest page.
 */
export function historyPage<M extends { seq: number }>(
  all: M[],
  q: { before?: number; after?: number; around?: number; limit?: number },
): { messages: M[]; last_seq: number } {
  const limit = q.limit ?? 50
  const last_seq = all.length ? all[all.length - 1]!.seq : 0
  const below = (before: number, n: number) => all.filter((m) => m.seq < before).slice(-n)
  const above = (after: number, n: number) => (n > 0 ? all.filter((m) => m.seq > after).slice(0, n) : [])
  if (q.around !== undefined) {
    const older = Math.min(limit, Math.floor(limit / 2) + 1)
    return { messages: [...below(q.around + 1, older), ...above(q.around, limit - older)], last_seq }
  }
  if (q.after !== undefined) return { messages: above(q.after, limit), last_seq }
  return { messages: below(q.before ?? Infinity, limit), last_seq }
}

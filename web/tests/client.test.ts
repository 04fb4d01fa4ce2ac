import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Api } from '../src/api/http'
import type { ChatListEntry, Message } from '../src/api/types'
import { ChatClient } from '../src/stores/client'
import { FakeWebSocket, msg, user } from './fakes'
import { chat, connectedClient, entry, flush, loggedIn } from './fixture'

function setup(list: ChatListEntry[]) {
  const session = loggedIn()
  const history: Record<string, Message[]> = {}
  const api = {
    chats: vi.fn(async () => structuredClone(list)),
    chat: vi.fn(async (id: string) => {
      const e = list.find((x) => x.chat.id === id)!
      return { ...structuredClone(e), chat: { ...structuredClone(e.chat), member_count: 1 } }
    }),
    users: vi.fn(async (ids: string[]) => ids.map((id) => user(id, `name-${id}`))),
    me: vi.fn(async () => user('me', 'alice')),
    members: vi.fn(async () => [
      { user_id: 'me', role: 'member' },
      { user_id: 'u2', role: 'member' },
    ]),
    history: vi.fn(async (id: string) => ({ messages: history[id] ?? [], last_seq: 0 })),
  } as unknown as Api
  const c = new ChatClient(session, {
    api,
    socket: { WebSocket: FakeWebSocket as unknown as new (u: string) => WebSocket, url: () => 'ws://t/ws', delay: () => 10 },
  })
  return { c, api, session, history }
}

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => vi.useRealTimers())

describe('ChatClient', () => {
  it('on ready loads the list and subscribes every chat with since_seq', async () => {
    const { c } = setup([entry(chat('a', 5), 5), entry(chat('b', 9), 2)])
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    const subs = FakeWebSocket.last.framesOf('subscribe').sort((x, y) => String(x.chat_id).localeCompare(String(y.chat_id)))
    expect(subs).toEqual([
      { type: 'subscribe', chat_id: 'a', since_seq: 5 },
      { type: 'subscribe', chat_id: 'b', since_seq: 9 },
    ])
    expect(c.chats.unread('b')).toBe(7)
    c.stop()
  })

  it('resumes an open chat from the highest seq held after a reconnect', async () => {
    const { c, history } = setup([entry(chat('a', 3), 3)])
    history.a = [msg(1, { chat_id: 'a' }), msg(2, { chat_id: 'a' }), msg(3, { chat_id: 'a' })]
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    await c.openChat('a')
    FakeWebSocket.last.receive({ type: 'message', message: msg(4, { chat_id: 'a' }) })
    FakeWebSocket.last.serverClose(1012)
    await new Promise((r) => setTimeout(r, 20))
    FakeWebSocket.last.ready('me')
    await flush()
    expect(FakeWebSocket.last.framesOf('subscribe')).toEqual([{ type: 'subscribe', chat_id: 'a', since_seq: 4, since_pts: 4 }])
    // The replay repeats nothing we hold twice.
    FakeWebSocket.last.receive({ type: 'message', message: msg(4, { chat_id: 'a' }) })
    FakeWebSocket.last.receive({ type: 'message', message: msg(5, { chat_id: 'a' }) })
    expect(c.timeline('a')!.state.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
    c.stop()
  })

  it('shows an own message once whether the ack or the event comes first', async () => {
    const { c } = setup([entry(chat('a', 0))])
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    await c.openChat('a')
    const ws = FakeWebSocket.last
    c.send('a', 'one')
    c.send('a', 'two')
    const [s1, s2] = ws.framesOf('send') as { client_msg_id: string }[]
    const m1 = msg(1, { chat_id: 'a', sender_id: 'me', client_msg_id: s1!.client_msg_id, text: 'one' })
    const m2 = msg(2, { chat_id: 'a', sender_id: 'me', client_msg_id: s2!.client_msg_id, text: 'two' })
    ws.receive({ type: 'ack', chat_id: 'a', client_msg_id: m1.client_msg_id, seq: 1, message: m1, duplicate: false })
    ws.receive({ type: 'message', message: m1 })
    ws.receive({ type: 'message', message: m2 })
    ws.receive({ type: 'ack', chat_id: 'a', client_msg_id: m2.client_msg_id, seq: 2, message: m2, duplicate: false })
    const tl = c.timeline('a')!
    expect(tl.state.messages.map((m) => m.text)).toEqual(['one', 'two'])
    expect(tl.state.pending).toEqual([])
    expect(c.chats.unread('a')).toBe(0)
    c.stop()
  })

  it('a read event from another tab moves the cursor and the new-messages line', async () => {
    const { c } = setup([entry(chat('a', 10), 2)])
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    await c.openChat('a')
    FakeWebSocket.last.receive({ type: 'read', chat_id: 'a', user_id: 'me', seq: 8 })
    expect(c.chats.unread('a')).toBe(2)
    expect(c.timeline('a')!.state.separatorSeq).toBe(8)
    FakeWebSocket.last.receive({ type: 'read', chat_id: 'a', user_id: 'me', seq: 5 })
    expect(c.chats.get('a')!.readSeq).toBe(8)
    c.stop()
  })

  it('markRead moves forward only and sends one debounced read frame', async () => {
    vi.useFakeTimers()
    const { c } = setup([entry(chat('a', 10), 2)])
    c.start()
    FakeWebSocket.last.ready('me')
    await vi.advanceTimersByTimeAsync(1)
    c.markRead('a', 6)
    c.markRead('a', 9)
    c.markRead('a', 4)
    await vi.advanceTimersByTimeAsync(1000)
    expect(FakeWebSocket.last.framesOf('read')).toEqual([{ type: 'read', chat_id: 'a', seq: 9 }])
    expect(c.chats.unread('a')).toBe(1)
    c.stop()
  })

  it('learns new chats and their direct peer live, and forgets chats it left', async () => {
    const { c } = setup([])
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    FakeWebSocket.last.receive({
      type: 'chat_created',
      chat: chat('d', 0, 'direct'),
      members: [
        { user_id: 'me', role: 'member' },
        { user_id: 'u7', role: 'member' },
      ],
    })
    expect(c.chats.get('d')!.peerId).toBe('u7')
    await flush()
    expect(c.chatName('d')).toBe('name-u7')
    await c.openChat('d')
    FakeWebSocket.last.receive({ type: 'member_removed', chat_id: 'd', user_id: 'me', pts: 1 })
    expect(c.chats.get('d')).toBeUndefined()
    expect(c.state.activeId).toBeNull()
    c.stop()
  })

  it('a direct chat left goes out of the list quietly and comes back when the other writes', async () => {
    const { c } = setup([entry(chat('d', 2, 'direct'))])
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    await c.openChat('d')
    FakeWebSocket.last.receive({ type: 'chat_hidden', chat_id: 'd', user_id: 'me' })
    expect(c.chats.get('d')).toBeUndefined()
    expect(c.state.activeId).toBeNull()
    expect(c.state.toasts).toEqual([])
    FakeWebSocket.last.receive({ type: 'chat_shown', chat: chat('d', 2, 'direct'), user_id: 'me' })
    expect(c.chats.get('d')!.chat.last_seq).toBe(2)
    c.stop()
  })

  it('another member leaving updates the member count', async () => {
    const { c } = setup([entry(chat('g', 0))])
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    expect(c.chats.get('g')!.chat.member_count).toBe(2)
    FakeWebSocket.last.receive({ type: 'member_removed', chat_id: 'g', user_id: 'u2', pts: 3 })
    await flush()
    expect(c.chats.get('g')!.chat.member_count).toBe(1)
    c.stop()
  })

  it('a failed send is marked failed with the reason', async () => {
    const { c } = setup([entry(chat('a', 0))])
    c.start()
    FakeWebSocket.last.ready('me')
    await flush()
    await c.openChat('a')
    c.send('a', 'x'.repeat(10))
    const id = (FakeWebSocket.last.framesOf('send')[0] as { client_msg_id: string }).client_msg_id
    FakeWebSocket.last.receive({ type: 'error', code: 'text_too_long', message: 'too long', ref: id })
    expect(c.timeline('a')!.pendingById(id)).toMatchObject({ status: 'failed', error: 'too long' })
    c.stop()
  })

  it('close 4001 after session_revoked ends the session', async () => {
    const { c, session } = setup([])
    c.start()
    FakeWebSocket.last.ready('me')
    FakeWebSocket.last.receive({ type: 'error', code: 'session_revoked', message: 'logged out' })
    FakeWebSocket.last.serverClose(4001)
    expect(session.state).toMatchObject({ session: null, expired: 'session_revoked' })
    c.stop()
  })

  it('close 4001 after token_expired renews the token and reconnects', async () => {
    const { c, session } = setup([])
    const renew = vi.spyOn(session, 'renew').mockResolvedValue(true)
    c.start()
    const first = FakeWebSocket.last
    first.ready('me')
    first.receive({ type: 'error', code: 'token_expired', message: 'expired' })
    first.serverClose(4001)
    expect(session.state.session).not.toBeNull()
    await vi.waitFor(() => expect(FakeWebSocket.last).not.toBe(first))
    expect(renew).toHaveBeenCalledTimes(1)
    FakeWebSocket.last.open()
    expect(FakeWebSocket.last.framesOf('auth')).toHaveLength(1)
    c.stop()
  })
})

describe('ChatClient open at a message', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => msg(i + 1, { chat_id: 'a' }))
  const seqsOf = (c: ChatClient) => c.timeline('a')!.state.messages.map((m) => m.seq)

  it('moves the window to the page around a hit not held, and asks the pane to show it', async () => {
    const { client: c, api } = await connectedClient([entry(chat('a', 300), 300)], { a: many(300) })
    await c.openChat('a')
    expect(seqsOf(c).at(0)).toBe(251)
    await c.openAt('a', 40)
    expect(api.history).toHaveBeenLastCalledWith('a', { around: 40, limit: 50 })
    expect(seqsOf(c)).toEqual(Array.from({ length: 50 }, (_, i) => 15 + i))
    expect(c.state).toMatchObject({ activeId: 'a', focus: { chatId: 'a', seq: 40 } })
    expect(c.timeline('a')!.state.hasNewer).toBe(true)
    c.stop()
  })

  it('asks nothing for a hit already held', async () => {
    const { client: c, api } = await connectedClient([entry(chat('a', 300), 300)], { a: many(300) })
    await c.openChat('a')
    const calls = vi.mocked(api.history).mock.calls.length
    await c.openAt('a', 280)
    expect(vi.mocked(api.history).mock.calls.length).toBe(calls)
    expect(c.state.focus).toMatchObject({ chatId: 'a', seq: 280 })
    expect(seqsOf(c).at(-1)).toBe(300)
    c.stop()
  })

  it('opens a chat not yet open at the hit, without loading its newest page first', async () => {
    const { client: c, api } = await connectedClient([entry(chat('a', 300), 300)], { a: many(300) })
    await c.openAt('a', 100)
    expect(vi.mocked(api.history).mock.calls).toEqual([['a', { around: 100, limit: 50 }]])
    expect(c.timeline('a')!.find(100)).toBeDefined()
    c.stop()
  })

  it('a moved window takes no live message and resumes from the chat’s newest seq', async () => {
    const { client: c, ws } = await connectedClient([entry(chat('a', 300), 300)], { a: many(300) })
    await c.openAt('a', 100)
    ws.receive({ type: 'message', message: msg(301, { chat_id: 'a' }) })
    expect(seqsOf(c).at(-1)).toBe(124)
    expect(c.chats.get('a')!.chat.last_seq).toBe(301)
    ws.serverClose(1012)
    await new Promise((r) => setTimeout(r, 20))
    FakeWebSocket.last.ready('me')
    await flush()
    expect(FakeWebSocket.last.framesOf('subscribe').find((f) => f.chat_id === 'a')).toMatchObject({ since_seq: 301 })
    c.stop()
  })

  it('opening the chat from the list while the jump loads makes no second window', async () => {
    const { client: c, api } = await connectedClient([entry(chat('a', 300), 300)], { a: many(300) })
    const jump = c.openAt('a', 100)
    await c.openChat('a')
    await jump
    expect(vi.mocked(api.history).mock.calls).toEqual([
      ['a', { around: 100, limit: 50 }],
      ['a', { limit: 50 }],
    ])
    // The list's open wins: the newest messages, without a gap, no focus left over.
    const s = seqsOf(c)
    expect(s.every((x, i) => i === 0 || x === s[i - 1]! + 1)).toBe(true)
    expect(s.at(-1)).toBe(300)
    expect(c.state.focus).toBeNull()
    c.stop()
  })

  it('opening a moved-back chat from the list goes back to its newest messages', async () => {
    const { client: c } = await connectedClient([entry(chat('a', 300), 300), entry(chat('b', 0))], { a: many(300) })
    await c.openAt('a', 100)
    await c.openChat('b')
    await c.openChat('a')
    expect(seqsOf(c)).toEqual(Array.from({ length: 50 }, (_, i) => 251 + i))
    expect(c.timeline('a')!.state.hasNewer).toBe(false)
    c.stop()
  })

  it('sending from a moved window goes back to the newest messages, where the send shows', async () => {
    const { client: c, ws } = await connectedClient([entry(chat('a', 300), 300)], { a: many(300) })
    await c.openAt('a', 100)
    c.send('a', 'hello')
    const tl = c.timeline('a')!
    expect(tl.state.hasNewer).toBe(false)
    const sent = ws.framesOf('send')[0] as { client_msg_id: string }
    const m = msg(301, { chat_id: 'a', sender_id: 'me', client_msg_id: sent.client_msg_id, text: 'hello' })
    ws.receive({ type: 'ack', chat_id: 'a', client_msg_id: m.client_msg_id, seq: 301, message: m, duplicate: false })
    await flush()
    expect(seqsOf(c)).toEqual(Array.from({ length: 51 }, (_, i) => 251 + i))
    expect(tl.state.pending).toEqual([])
    c.stop()
  })
})

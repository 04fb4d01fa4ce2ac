// Pins: who may pin (staff of a group, either member of a direct chat); a chat's
// pins from the chat list, replaced by `pinned` events and `subscribed` frames (as
// of their pts, so an older summary never undoes them), a deleted message dropped
// from them; `pin` going out with a ref and its refusal told in a toast; the pins
// bar (the latest pinned first, "1 of 2", a click goes to the message and on to
// the next, × for those who may pin), a pinned message not held fetched for it;
// "Pin" / "Unpin" in the message menu and the pin on a pinned message.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Chat, ClientFrame, Message, Role, ServerFrame } from '../src/api/types'
import MessagePane from '../src/components/MessagePane.vue'
import { CLIENT } from '../src/keys'
import type { ChatClient } from '../src/stores/client'
import { ChatsStore } from '../src/stores/chats'
import { Outbox } from '../src/stores/outbox'
import { mayPin, PinnedMessages } from '../src/stores/pins'
import { FakeWebSocket, msg } from './fakes'
import { chat, connectedClient, entry, tallPane } from './fixture'

const provide = (client: ChatClient) => ({ global: { provide: { [CLIENT as symbol]: client } } })

/** A `pinned` event of chat `a`. */
const pinned = (seq: number, on: boolean, pins: number[], pts: number, user_id = 'u2'): ServerFrame => ({
  type: 'pinned',
  chat_id: 'a',
  seq,
  pinned: on,
  user_id,
  pins,
  pts,
})

/** Messages 1..n of chat `a` from u2, pts = seq. */
const many = (n: number) => Array.from({ length: n }, (_, i) => msg(i + 1, { chat_id: 'a', text: `message ${i + 1}` }))

/** A connected client with chat `a` (a group unless said, all of `history` read) open. */
async function openA(role: Role = 'admin', history: Message[] = many(3), over: Partial<Chat> = {}, kind: Chat['kind'] = 'group') {
  const n = history.length
  const list = [{ ...entry(chat('a', n, kind, over), n), role }]
  const r = await connectedClient(list, { a: history })
  await r.client.openChat('a')
  return r
}

/** The `pin` frames sent, and the ref of the last one. */
const pins = (ws: FakeWebSocket) => ws.framesOf('pin')
const lastRef = (ws: FakeWebSocket) => String(pins(ws).at(-1)!.ref)

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => {
  document.body.innerHTML = ''
})

describe('who may pin', () => {
  it('in a group an admin or a moderator, not a member; in a direct chat either member', async () => {
    expect(mayPin('group', 'admin')).toBe(true)
    expect(mayPin('group', 'moder')).toBe(true)
    expect(mayPin('group', 'member')).toBe(false)
    expect(mayPin('group', 'silent')).toBe(false)
    expect(mayPin('direct', 'member')).toBe(true)
    expect(mayPin('direct', 'admin')).toBe(true)
    expect(mayPin('direct', 'silent')).toBe(false)
    expect(mayPin('group', undefined)).toBe(false)

    const roles: [string, Chat['kind'], Role][] = [
      ['g-admin', 'group', 'admin'],
      ['g-moder', 'group', 'moder'],
      ['g-member', 'group', 'member'],
      ['d', 'direct', 'member'],
    ]
    const { client, ws } = await connectedClient(roles.map(([id, kind, role]) => ({ ...entry(chat(id, 1, kind)), role })))
    expect(roles.map(([id]) => client.canPin(id))).toEqual([true, true, false, true])
    expect(client.canPin('nope')).toBe(false)
    // A member of a group sends nothing; the others do.
    expect(client.togglePin('g-member', 1)).toBe(false)
    expect(client.togglePin('g-moder', 1)).toBe(true)
    expect(client.togglePin('d', 1)).toBe(true)
    expect(pins(ws).map((f) => f.chat_id)).toEqual(['g-moder', 'd'])
    // Made a moderator: may pin now.
    ws.receive({ type: 'role_changed', chat_id: 'g-member', user_id: 'me', role: 'moder', pts: 2 })
    expect(client.canPin('g-member')).toBe(true)
    client.stop()
  })
})

describe('ChatsStore pins', () => {
  it('takes pins as of a newer or equal pts only; a deletion drops one', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 5, 'group', { last_pts: 10, pins: [4, 2] }))])
    expect(s.pins('a')).toEqual([4, 2])
    s.setPins('a', [5, 4, 2], 11)
    expect(s.pins('a')).toEqual([5, 4, 2])
    s.setPins('a', [4, 2], 9)
    expect(s.pins('a')).toEqual([5, 4, 2])
    s.onDeleted('a', 4, 12)
    expect(s.pins('a')).toEqual([5, 2])
    expect(s.get('a')!.chat.last_pts).toBe(12)
    // A deletion of a message not pinned leaves them.
    s.onDeleted('a', 3, 13)
    expect(s.pins('a')).toEqual([5, 2])
    expect(s.pins('nope')).toEqual([])
  })

  it('of two copies of a summary keeps the pins of the newer by last_pts', () => {
    const s = new ChatsStore('me')
    s.setList([entry(chat('a', 5, 'group', { last_pts: 10 }))])
    expect(s.pins('a')).toEqual([])
    s.setPins('a', [3], 12)
    // Fetched before the pin (older), with a newer last message: the message is
    // taken, the pins are not.
    const older = chat('a', 6, 'group', { last_pts: 11, last_message: { seq: 6, sender_id: 'u2', preview: 'x', at: 1, deleted: false } })
    s.updateChat(older)
    expect(s.get('a')!.chat).toMatchObject({ last_seq: 6, last_pts: 12, pins: [3], last_message: { seq: 6 } })
    // A newer one replaces them, none included.
    s.updateChat(chat('a', 6, 'group', { last_pts: 13 }))
    expect(s.pins('a')).toEqual([])
    s.setList([entry(chat('a', 6, 'group', { last_pts: 14, pins: [6, 1] }))])
    expect(s.pins('a')).toEqual([6, 1])
  })
})

describe('ChatClient pins', () => {
  it('takes the pins of the chat list and applies pinned events', async () => {
    const { client, ws } = await openA('member', many(3), { last_pts: 3, pins: [1] })
    expect(client.chats.pins('a')).toEqual([1])
    ws.receive(pinned(3, true, [3, 1], 4))
    expect(client.chats.pins('a')).toEqual([3, 1])
    ws.receive(pinned(1, false, [3], 5))
    expect(client.chats.pins('a')).toEqual([3])
    // An older summary (member_added for someone else) does not undo them.
    ws.receive({ type: 'member_added', chat: chat('a', 3, 'group', { last_pts: 4, pins: [3, 1] }), user_id: 'u9', role: 'member', pts: 4 })
    expect(client.chats.pins('a')).toEqual([3])
    ws.receive(pinned(3, false, [], 6))
    expect(client.chats.pins('a')).toEqual([])
    client.stop()
  })

  it('a deleted message is unpinned without a pinned event', async () => {
    const { client, ws } = await openA('admin', many(3), { last_pts: 3, pins: [2, 1] })
    ws.receive({ type: 'deleted', chat_id: 'a', seq: 2, pts: 4 })
    expect(client.chats.pins('a')).toEqual([1])
    expect(client.timeline('a')!.find(2)!.deleted).toBe(true)
    // Pinning it again is not tried.
    expect(client.togglePin('a', 2)).toBe(false)
    expect(pins(ws)).toEqual([])
    client.stop()
  })

  it('the subscribed frame replaces the pins, absent meaning none', async () => {
    const { client, ws } = await openA('member', many(3), { last_pts: 3, pins: [1] })
    ws.receive({ type: 'subscribed', chat_id: 'a', last_seq: 3, last_pts: 3, read_seq: 3, pins: [2, 1] })
    expect(client.chats.pins('a')).toEqual([2, 1])
    // After a reconnect: what changed while away.
    ws.serverClose(1012)
    await new Promise((r) => setTimeout(r, 20))
    const ws2 = FakeWebSocket.last
    ws2.ready('me')
    await flushPromises()
    ws2.receive({ type: 'subscribed', chat_id: 'a', last_seq: 3, last_pts: 7, read_seq: 3, pins: [3] })
    expect(client.chats.pins('a')).toEqual([3])
    ws2.receive({ type: 'subscribed', chat_id: 'a', last_seq: 3, last_pts: 8, read_seq: 3 })
    expect(client.chats.pins('a')).toEqual([])
    client.stop()
  })

  it('sends pin and unpin with a ref; the ack changes nothing, the pinned event does', async () => {
    const { client, ws } = await openA('admin', many(3), { last_pts: 3, pins: [1] })
    expect(client.togglePin('a', 2)).toBe(true)
    expect(client.togglePin('a', 1)).toBe(true)
    expect(pins(ws)).toEqual([
      { type: 'pin', chat_id: 'a', seq: 2, ref: expect.stringMatching(/^pin-/) },
      { type: 'pin', chat_id: 'a', seq: 1, unpin: true, ref: expect.stringMatching(/^unpin-/) },
    ])
    for (const f of pins(ws)) ws.receive({ type: 'ack', chat_id: 'a', ref: String(f.ref), duplicate: false })
    expect(client.chats.pins('a')).toEqual([1])
    ws.receive(pinned(2, true, [2, 1], 4, 'me'))
    ws.receive(pinned(1, false, [2], 5, 'me'))
    expect(client.chats.pins('a')).toEqual([2])
    expect(client.state.toasts).toEqual([])
    client.stop()
  })

  it('a refusal is a toast with the server message; the pins stay', async () => {
    const { client, ws } = await openA('moder', many(3), { last_pts: 3, pins: [1] })
    client.togglePin('a', 3)
    const forbidden = 'only an admin or a moderator can pin or unpin a message'
    ws.receive({ type: 'rejected', chat_id: 'a', ref: lastRef(ws), code: 'forbidden', message: forbidden })
    expect(client.state.toasts.map((t) => t.text)).toEqual([`Could not pin: ${forbidden}`])
    const quota = 'at most 50 pinned messages in a chat: unpin one first'
    client.togglePin('a', 2)
    ws.receive({ type: 'rejected', chat_id: 'a', ref: lastRef(ws), code: 'quota_exceeded', message: quota })
    expect(client.state.toasts.at(-1)!.text).toBe(`Could not pin: ${quota}`)
    client.togglePin('a', 1)
    ws.receive({ type: 'error', chat_id: 'a', ref: lastRef(ws), code: 'too_many_requests', message: 'slow down', retry_after_ms: 500 })
    expect(client.state.toasts.at(-1)!.text).toBe('Could not unpin: slow down')
    expect(client.chats.pins('a')).toEqual([1])
    client.stop()
  })
})

describe('Outbox.pin', () => {
  it('sends a pin with a ref (unpin only when unpinning) and tells what its ack answered', () => {
    const sent: ClientFrame[] = []
    const box = new Outbox({
      socket: { send: (f: ClientFrame) => (sent.push(f), true) },
      timeline: () => undefined,
      timelines: () => [],
      toast: () => undefined,
    })
    box.pin('c1', 4)
    box.pin('c1', 4, true)
    const [a, b] = sent.map((f) => (f as { ref: string }).ref)
    expect(box.onAck(null, a)).toBe('pin')
    expect(box.onAck(null, b)).toBe('unpin')
    expect(sent[1]).toEqual({ type: 'pin', chat_id: 'c1', seq: 4, unpin: true, ref: b })
  })
})

describe('PinnedMessages', () => {
  it('fetches a message once, keeps null for one not to be seen, forgets on request', async () => {
    const fetch = vi.fn(async (_chat: string, seq: number) => (seq === 9 ? undefined : (msg(seq, { chat_id: 'a' }) as Message)))
    const p = new PinnedMessages(fetch)
    await Promise.all([p.load('a', 2), p.load('a', 2)])
    await p.load('a', 9)
    expect(fetch).toHaveBeenCalledTimes(2)
    expect(p.get('a', 2)!.text).toBe('message 2')
    expect(p.get('a', 9)).toBeNull()
    // Edited meanwhile: the answer of the fetch in flight is dropped.
    const slow = p.load('a', 3)
    p.forget('a', 3)
    await slow
    expect(p.get('a', 3)).toBeUndefined()
    p.forget('a')
    expect(p.get('a', 2)).toBeUndefined()
  })
})

tallPane()

describe('pins bar and message menu', () => {
  const rowOf = (w: ReturnType<typeof mount>, seq: number) => w.find(`[data-testid="message"][data-seq="${seq}"]`)

  it('shows the latest pinned, "1 of 2"; a click goes to it and on to the next; live changes show', async () => {
    const { client, ws } = await openA('admin', many(3), { last_pts: 3, pins: [3, 1] })
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    const bar = () => w.find('[data-testid="pins-bar"]')
    expect(bar().find('[data-testid="pins-text"]').text()).toBe('message 3')
    expect(bar().find('[data-testid="pins-count"]').text()).toBe('1 of 2')
    expect(rowOf(w, 3).find('[data-testid="pin-mark"]').attributes('aria-label')).toBe('Pinned')
    expect(rowOf(w, 2).find('[data-testid="pin-mark"]').exists()).toBe(false)
    await bar().find('[data-testid="pins-open"]').trigger('click')
    await flushPromises()
    expect(rowOf(w, 3).attributes('data-flash')).toBe('true')
    expect(bar().find('[data-testid="pins-text"]').text()).toBe('message 1')
    expect(bar().find('[data-testid="pins-count"]').text()).toBe('2 of 2')
    await bar().find('[data-testid="pins-open"]').trigger('click')
    await flushPromises()
    expect(rowOf(w, 1).attributes('data-flash')).toBe('true')
    expect(bar().find('[data-testid="pins-count"]').text()).toBe('1 of 2')
    // Edited live: the bar follows.
    ws.receive({ type: 'edited', chat_id: 'a', seq: 3, text: 'message 3, edited', edited_at: 5, pts: 4 })
    await flushPromises()
    expect(bar().find('[data-testid="pins-text"]').text()).toBe('message 3, edited')
    // A new pin shows first; one pin: no count.
    ws.receive(pinned(2, true, [2, 3, 1], 5))
    await flushPromises()
    expect(bar().find('[data-testid="pins-text"]').text()).toBe('message 2')
    expect(bar().find('[data-testid="pins-count"]').text()).toBe('1 of 3')
    ws.receive(pinned(3, false, [2], 6))
    ws.receive({ type: 'deleted', chat_id: 'a', seq: 1, pts: 7 })
    await flushPromises()
    expect(bar().find('[data-testid="pins-count"]').exists()).toBe(false)
    expect(rowOf(w, 3).find('[data-testid="pin-mark"]').exists()).toBe(false)
    ws.receive(pinned(2, false, [], 8))
    await flushPromises()
    expect(bar().exists()).toBe(false)
    client.stop()
  })

  it('× and the menu pin and unpin for an admin', async () => {
    const { client, ws } = await openA('admin', many(3), { last_pts: 3, pins: [1] })
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    await w.find('[data-testid="pins-unpin"]').trigger('click')
    expect(pins(ws).at(-1)).toMatchObject({ seq: 1, unpin: true })
    await rowOf(w, 2).find('[data-testid="msg-menu"]').trigger('click')
    const item = rowOf(w, 2).find('[data-testid="act-pin"]')
    expect(item.text()).toBe('Pin')
    await item.trigger('click')
    expect(pins(ws).at(-1)).toEqual({ type: 'pin', chat_id: 'a', seq: 2, ref: expect.any(String) })
    expect(rowOf(w, 2).find('[data-testid="act-pin"]').exists()).toBe(false)
    await rowOf(w, 1).find('[data-testid="msg-menu"]').trigger('click')
    expect(rowOf(w, 1).find('[data-testid="act-pin"]').text()).toBe('Unpin')
    client.stop()
  })

  it('a member of a group sees the bar and the pin, no way to pin or unpin', async () => {
    const { client, ws } = await openA('member', many(3), { last_pts: 3, pins: [2] })
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    expect(w.find('[data-testid="pins-text"]').text()).toBe('message 2')
    expect(rowOf(w, 2).find('[data-testid="pin-mark"]').exists()).toBe(true)
    expect(w.find('[data-testid="pins-unpin"]').exists()).toBe(false)
    for (const seq of [1, 2]) {
      await rowOf(w, seq).find('[data-testid="msg-menu"]').trigger('click')
      expect(rowOf(w, seq).find('[data-testid="act-forward"]').exists()).toBe(true)
      expect(rowOf(w, seq).find('[data-testid="act-pin"]').exists()).toBe(false)
    }
    expect(pins(ws)).toEqual([])
    client.stop()
  })

  it('fetches a pinned message the chat does not hold; a click pages back to it', async () => {
    const { client, api } = await openA('member', many(120), { last_pts: 120, pins: [7] })
    expect(client.timeline('a')!.find(7)).toBeUndefined()
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    expect(api.history).toHaveBeenCalledWith('a', { around: 7, limit: 1 })
    expect(w.find('[data-testid="pins-text"]').text()).toBe('message 7')
    await w.find('[data-testid="pins-open"]').trigger('click')
    await flushPromises()
    expect(rowOf(w, 7).attributes('data-flash')).toBe('true')
    // Held now: not fetched again.
    const calls = vi.mocked(api.history).mock.calls.filter(([, q]) => q?.around !== undefined).length
    expect(calls).toBe(1)
    client.stop()
  })

  it('shows a message it may not see as not available', async () => {
    const { client } = await openA('member', many(3), { last_pts: 3, pins: [50] })
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    expect(w.find('[data-testid="pins-text"]').text()).toBe('Message not available')
    client.stop()
  })
})

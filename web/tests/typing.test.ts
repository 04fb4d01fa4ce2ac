// Typing indicators: the user's own `typing` notices (throttled per chat, not for a
// silent member nor while disconnected, each with a ref by which its refusal is
// told apart and taken quietly) and the other
// members' (shown until expiry, a refresh extending it, a message from them ending
// it), in the store, the line under the messages and the chat list.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import ChatList from '../src/components/ChatList.vue'
import Composer from '../src/components/Composer.vue'
import MessagePane from '../src/components/MessagePane.vue'
import { CLIENT } from '../src/keys'
import type { ChatClient } from '../src/stores/client'
import { TYPING_EVERY_MS, TYPING_REFUSED_MS } from '../src/stores/client'
import { MAX_TYPISTS_PER_CHAT, TypingStore, typingText } from '../src/stores/typing'
import { FakeWebSocket, msg, user } from './fakes'
import { chat, connectedClient, entry } from './fixture'

const provide = (client: ChatClient) => ({ global: { provide: { [CLIENT as symbol]: client } } })

/** A `typing` notice of the chat as the client sends it: with a ref `typing:<chat>:<n>`. */
const notice = (chatId: string) => ({
  type: 'typing',
  chat_id: chatId,
  ref: expect.stringMatching(new RegExp(`^typing:${chatId}:\\d+$`)),
})
/** The ref of the last `typing` sent. */
const lastRef = (ws: FakeWebSocket) => String(ws.framesOf('typing').at(-1)!.ref)

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => {
  vi.useRealTimers()
  document.body.innerHTML = ''
})

/** A connected client on fake timers (from now on). */
async function client(list = [entry(chat('a', 0)), entry(chat('b', 0))]) {
  const r = await connectedClient(list)
  vi.useFakeTimers({ now: 1_700_000_000_000 })
  // The subscribes of the connection are answered.
  for (const e of list) r.ws.receive({ type: 'subscribed', chat_id: e.chat.id, last_seq: e.chat.last_seq, last_pts: 0, read_seq: 0 })
  return r
}

describe('typingText', () => {
  it('names one, two or three typists, then counts the others', () => {
    expect(typingText([])).toBe('')
    expect(typingText(['Alice'])).toBe('Alice is typing…')
    expect(typingText(['Alice', 'Bob'])).toBe('Alice and Bob are typing…')
    expect(typingText(['Alice', 'Bob', 'Carol'])).toBe('Alice, Bob and Carol are typing…')
    expect(typingText(['Alice', 'Bob', 'Carol', 'Dan'])).toBe('Alice, Bob and 2 others are typing…')
  })
})

describe('sending typing', () => {
  it('goes out at most once every 3 s per chat while the text changes', async () => {
    const { client: c, ws } = await client()
    const typing = () => ws.framesOf('typing')
    expect(c.noteTyping('a', 'h')).toBe(true)
    expect(typing()).toEqual([notice('a')])
    await vi.advanceTimersByTimeAsync(1000)
    c.noteTyping('a', 'he')
    await vi.advanceTimersByTimeAsync(1000)
    c.noteTyping('a', 'hel')
    expect(typing()).toHaveLength(1)
    // Another chat has its own pace.
    c.noteTyping('b', 'x')
    expect(typing()).toEqual([notice('a'), notice('b')])
    await vi.advanceTimersByTimeAsync(TYPING_EVERY_MS - 2000)
    c.noteTyping('a', 'hell')
    c.noteTyping('a', 'hello')
    expect(typing().map((f) => f.chat_id)).toEqual(['a', 'b', 'a'])
    // Each notice has a ref of its own.
    expect(new Set(typing().map((f) => f.ref)).size).toBe(3)
    // Cleared (or only blanks): nothing.
    await vi.advanceTimersByTimeAsync(TYPING_EVERY_MS)
    expect(c.noteTyping('a', '')).toBe(false)
    expect(c.noteTyping('a', '  \n')).toBe(false)
    expect(typing()).toHaveLength(3)
    c.stop()
  })

  it('not for a silent member, an unknown chat or while disconnected', async () => {
    const silent = { ...entry(chat('s', 0)), role: 'silent' as const }
    const { client: c, ws } = await client([entry(chat('a', 0)), silent])
    expect(c.noteTyping('s', 'hi')).toBe(false)
    expect(c.noteTyping('zz', 'hi')).toBe(false)
    ws.serverClose(1012)
    expect(c.noteTyping('a', 'hi')).toBe(false)
    expect(ws.framesOf('typing')).toEqual([])
    // Made a member: allowed.
    await vi.advanceTimersByTimeAsync(20)
    const ws2 = FakeWebSocket.last
    expect(ws2).not.toBe(ws)
    ws2.ready('me')
    await vi.advanceTimersByTimeAsync(1)
    ws2.receive({ type: 'role_changed', chat_id: 's', user_id: 'me', role: 'member', pts: 1 })
    expect(c.noteTyping('s', 'hi')).toBe(true)
    expect(ws2.framesOf('typing')).toEqual([notice('s')])
    c.stop()
  })

  it('from the composer: while typing a new message, again at once after a send, not for an edit', async () => {
    const { client: c, ws } = await client()
    vi.useRealTimers()
    await c.openChat('a')
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(c) })
    await flushPromises()
    const input = w.find('[data-testid="composer-input"]')
    await input.setValue('h')
    await input.setValue('hi')
    await input.setValue('hi there')
    expect(ws.framesOf('typing')).toEqual([notice('a')])
    await w.find('[data-testid="composer"]').trigger('submit')
    expect(ws.framesOf('send')).toHaveLength(1)
    // The text was sent: nothing more until the user types again, then at once.
    await flushPromises()
    expect(ws.framesOf('typing')).toHaveLength(1)
    await input.setValue('n')
    expect(ws.framesOf('typing')).toHaveLength(2)
    // Cleared: nothing.
    await input.setValue('')
    expect(ws.framesOf('typing')).toHaveLength(2)
    // Editing a message is not typing one (in another chat: no throttle there).
    const edit = mount(Composer, {
      props: { chatId: 'b', replyTo: null, editing: msg(1, { chat_id: 'b', sender_id: 'me', text: 'old' }) },
      ...provide(c),
    })
    await flushPromises()
    await edit.find('[data-testid="composer-input"]').setValue('old, edited')
    expect(ws.framesOf('typing')).toHaveLength(2)
    edit.unmount()
    // Silent: no input at all.
    c.chats.setRole('a', 'silent')
    await flushPromises()
    expect(w.find('[data-testid="composer-input"]').exists()).toBe(false)
    w.unmount()
    c.stop()
  })

  it('a refused typing (by its ref) shows no error and pauses the notices', async () => {
    const { client: c, ws } = await client()
    c.noteTyping('a', 'h')
    ws.receive({ type: 'error', code: 'silenced', message: 'you may not post in this chat', chat_id: 'a', ref: lastRef(ws) })
    expect(c.state.toasts).toEqual([])
    // That chat refused: not again for a while; others still go.
    await vi.advanceTimersByTimeAsync(TYPING_EVERY_MS)
    expect(c.noteTyping('a', 'he')).toBe(false)
    await vi.advanceTimersByTimeAsync(TYPING_REFUSED_MS)
    expect(c.noteTyping('a', 'hel')).toBe(true)

    // Over the rate: quiet, no resubscribe, no notice anywhere until retry_after_ms.
    c.noteTyping('b', 'x')
    const subs = ws.framesOf('subscribe').length
    ws.receive({ type: 'error', code: 'too_many_requests', message: 'slow down', chat_id: 'b', retry_after_ms: 5000, ref: lastRef(ws) })
    await vi.advanceTimersByTimeAsync(4000)
    expect(c.noteTyping('a', 'hello')).toBe(false)
    await vi.advanceTimersByTimeAsync(1000)
    expect(ws.framesOf('subscribe')).toHaveLength(subs)
    expect(c.noteTyping('a', 'hello!')).toBe(true)
    // However late it comes: the ref says what it refuses.
    const late = lastRef(ws)
    await vi.advanceTimersByTimeAsync(30_000)
    ws.receive({ type: 'error', code: 'not_member', message: 'not a member', chat_id: 'a', ref: late })
    expect(c.state.toasts).toEqual([])
    expect(ws.framesOf('typing').map((f) => f.chat_id)).toEqual(['a', 'a', 'b', 'a'])
    await vi.advanceTimersByTimeAsync(TYPING_EVERY_MS)
    expect(c.noteTyping('a', 'hello!!')).toBe(false)
    c.stop()
  })

  it('errors without a typing ref are not taken for a refused notice', async () => {
    const { client: c, ws } = await client()
    // A `silenced` without a ref, just after a notice in that chat: not the notice's; told.
    c.noteTyping('b', 'h')
    ws.receive({ type: 'error', code: 'silenced', message: 'you may not post in this chat', chat_id: 'b' })
    expect(c.state.toasts.map((t) => t.text)).toEqual(['you may not post in this chat'])
    // ...and typing there is not paused by it.
    await vi.advanceTimersByTimeAsync(TYPING_EVERY_MS)
    expect(c.noteTyping('b', 'he')).toBe(true)
    // Just after a notice in the chat, a `too_many_requests` without a ref is a
    // refused subscribe: sent again, typing not paused.
    c.noteTyping('a', 'h')
    const subs = ws.framesOf('subscribe').length
    ws.receive({ type: 'error', code: 'too_many_requests', message: 'slow down', chat_id: 'a', retry_after_ms: 100 })
    await vi.advanceTimersByTimeAsync(100)
    expect(ws.framesOf('subscribe')).toHaveLength(subs + 1)
    expect(ws.framesOf('subscribe').at(-1)!.chat_id).toBe('a')
    expect(c.noteTyping('b', 'hel')).toBe(false) // only its own 3 s pace
    await vi.advanceTimersByTimeAsync(TYPING_EVERY_MS)
    expect(c.noteTyping('b', 'hell')).toBe(true)
    // Someone else's ref (not a notice of ours): told as before.
    ws.receive({ type: 'error', code: 'silenced', message: 'silent here', chat_id: 'a', ref: 'other-1' })
    expect(c.state.toasts.map((t) => t.text)).toContain('silent here')
    c.stop()
  })
})

describe('receiving typing', () => {
  it('shows a typist until expiry, a refresh extending it; skips the own user', async () => {
    const { client: c, ws } = await client()
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'me', expires_in_ms: 6000 })
    expect(c.typing.typists('a')).toEqual([])
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u2', expires_in_ms: 6000 })
    ws.receive({ type: 'typing', chat_id: 'zz', user_id: 'u2', expires_in_ms: 6000 })
    expect(c.typing.typists('a')).toEqual(['u2'])
    expect(c.typing.typists('zz')).toEqual([])
    await vi.advanceTimersByTimeAsync(3000)
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u3', expires_in_ms: 6000 })
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u2', expires_in_ms: 6000 })
    expect(c.typing.typists('a')).toEqual(['u2', 'u3'])
    await vi.advanceTimersByTimeAsync(5999)
    expect(c.typing.typists('a')).toEqual(['u2', 'u3'])
    await vi.advanceTimersByTimeAsync(1)
    expect(c.typing.typists('a')).toEqual([])
    expect(c.typing.byChat).toEqual({})
    c.stop()
  })

  it('a message from the typist in that chat ends it at once', async () => {
    const { client: c, ws } = await client()
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u2', expires_in_ms: 6000 })
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u3', expires_in_ms: 6000 })
    ws.receive({ type: 'typing', chat_id: 'b', user_id: 'u2', expires_in_ms: 6000 })
    ws.receive({ type: 'message', message: msg(1, { chat_id: 'a', sender_id: 'u2' }) })
    expect(c.typing.typists('a')).toEqual(['u3'])
    expect(c.typing.typists('b')).toEqual(['u2'])
    c.stop()
  })

  it('is bounded, and its timers go with it', () => {
    vi.useFakeTimers()
    const t = new TypingStore()
    for (let i = 0; i < MAX_TYPISTS_PER_CHAT + 5; i++) t.onTyping('a', `u${i}`, 6000 + i)
    expect(t.typists('a')).toHaveLength(MAX_TYPISTS_PER_CHAT)
    // The ones expiring first made room.
    expect(t.typists('a')[0]).toBe('u5')
    expect(vi.getTimerCount()).toBe(MAX_TYPISTS_PER_CHAT)
    t.stop('a', 'u7')
    expect(vi.getTimerCount()).toBe(MAX_TYPISTS_PER_CHAT - 1)
    t.dispose()
    expect(vi.getTimerCount()).toBe(0)
    expect(t.byChat).toEqual({})
  })

  it('shows "… is typing…" by display name under the messages and in the chat list', async () => {
    const { client: c, ws } = await client([
      entry(chat('a', 0, 'group', { title: 'Team' })),
      entry(chat('d', 0, 'direct')),
    ])
    vi.useRealTimers()
    c.users.put(user('u2', 'alice', { display_name: 'Alice L.', updated_at: 5 }))
    c.users.put(user('u3', 'bob', { display_name: 'Bob', updated_at: 5 }))
    c.users.put(user('u4', 'carol', { display_name: 'Carol', updated_at: 5 }))
    c.users.put(user('u5', 'dan', { display_name: 'Dan', updated_at: 5 }))
    await c.openChat('a')
    const pane = mount(MessagePane, { props: { chatId: 'a' }, ...provide(c) })
    const list = mount(ChatList, { props: { activeId: 'a' }, ...provide(c) })
    await flushPromises()
    const line = () => pane.find('[data-testid="typing-line"]').text()
    const item = (id: string) => list.find(`[data-testid="chat-item"][data-chat-id="${id}"]`)
    expect(line()).toBe('')
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u2', expires_in_ms: 6000 })
    ws.receive({ type: 'typing', chat_id: 'd', user_id: 'u2', expires_in_ms: 6000 })
    await flushPromises()
    expect(line()).toBe('Alice L. is typing…')
    expect(item('a').find('[data-testid="chat-typing"]').text()).toBe('Alice L. is typing…')
    expect(item('d').find('[data-testid="chat-typing"]').text()).toBe('typing…')
    expect(item('d').find('[data-testid="chat-preview"]').exists()).toBe(false)
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u3', expires_in_ms: 6000 })
    await flushPromises()
    expect(line()).toBe('Alice L. and Bob are typing…')
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u4', expires_in_ms: 6000 })
    ws.receive({ type: 'typing', chat_id: 'a', user_id: 'u5', expires_in_ms: 6000 })
    await flushPromises()
    expect(line()).toBe('Alice L., Bob and 2 others are typing…')
    // Renamed live.
    ws.receive({ type: 'user_updated', user: user('u3', 'bob', { display_name: 'Robert', updated_at: 9 }) })
    await flushPromises()
    expect(line()).toBe('Alice L., Robert and 2 others are typing…')
    // Alice sends: she is no longer typing there; the list shows the message again.
    ws.receive({ type: 'message', message: msg(1, { chat_id: 'a', sender_id: 'u2', text: 'done' }) })
    ws.receive({ type: 'message', message: msg(1, { chat_id: 'd', sender_id: 'u2', text: 'sent' }) })
    await flushPromises()
    expect(line()).toBe('Robert, Carol and Dan are typing…')
    expect(item('d').find('[data-testid="chat-typing"]').exists()).toBe(false)
    expect(item('d').find('[data-testid="chat-preview"]').text()).toContain('sent')
    pane.unmount()
    list.unmount()
    c.stop()
  })
})

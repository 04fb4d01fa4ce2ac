// Mentions: a chat's unread mentions from the list and chat answers, bumped by live
// messages mentioning the user past the read cursor (once, not by the user's own
// messages, not when already read), dropped as the cursor passes them, replaced by
// the next list; a chat asked again (once) when the cursor stops short of the
// server's count; the chat list's "@" badge (also in a muted chat); `@name` marked
// in message text only for the users the message mentions (the user's own more
// strongly), never arbitrary `@text`, always as text nodes.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ChatListEntry } from '../src/api/types'
import ChatList from '../src/components/ChatList.vue'
import MessageItem from '../src/components/MessageItem.vue'
import MessageText from '../src/components/MessageText'
import { CLIENT } from '../src/keys'
import { mentionNames, mentionPieces } from '../src/lib/mentions'
import { ChatsStore } from '../src/stores/chats'
import { type ChatClient, MENTIONS_REFRESH_MS } from '../src/stores/client'
import { MUTED_FOREVER } from '../src/stores/mute'
import { FakeWebSocket, msg } from './fakes'
import { chat, connectedClient, entry } from './fixture'

const provide = (client: ChatClient) => ({ global: { provide: { [CLIENT as symbol]: client } } })

/** Group `a`: 5 messages, 2 read, `mentions` of them mentioning the user; group `b`: none. */
function list(mentions = 1): ChatListEntry[] {
  return [
    { ...entry(chat('a', 5, 'group', { title: 'Team' }), 2), mentions },
    entry(chat('b', 2, 'group', { title: 'Other' })),
  ]
}

const mentioning = (seq: number, ids: string[] = ['me']) => msg(seq, { chat_id: 'a', mentions: ids, text: `hi @alice ${seq}` })

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => {
  vi.useRealTimers()
  document.body.innerHTML = ''
})

describe('ChatsStore mentions', () => {
  it('counts from the list; a live message mentioning the user past the cursor adds one, once', () => {
    const s = new ChatsStore('me')
    s.setList(list(2))
    expect(s.mentions('a')).toBe(2)
    expect(s.mentions('b')).toBe(0)
    s.onMessage(mentioning(6))
    expect(s.mentions('a')).toBe(3)
    // Replayed: counted once; one the server counted already (seq ≤ 5): not again.
    s.onMessage(mentioning(6))
    s.onMessage(mentioning(4))
    expect(s.mentions('a')).toBe(3)
    // Mentioning someone else, or nobody: nothing.
    s.onMessage(mentioning(7, ['u3']))
    s.onMessage(msg(8, { chat_id: 'a' }))
    expect(s.mentions('a')).toBe(3)
    expect(s.unread('a')).toBe(6)
  })

  it('a mention at or below the read cursor is read already', () => {
    const s = new ChatsStore('me')
    s.setList(list(0))
    s.advanceRead('a', 7)
    s.onMessage(mentioning(6))
    expect(s.mentions('a')).toBe(0)
  })

  it('moving the cursor drops the live mentions it passes, and the server count once past its seq', () => {
    const s = new ChatsStore('me')
    s.setList(list(1))
    s.onMessage(mentioning(6))
    s.onMessage(mentioning(8))
    expect(s.mentions('a')).toBe(3)
    // Short of the server's seq (5): its count stays (it says no seqs).
    s.advanceRead('a', 4)
    expect(s.mentions('a')).toBe(3)
    s.advanceRead('a', 6)
    expect(s.mentions('a')).toBe(1)
    s.advanceRead('a', 8)
    expect(s.mentions('a')).toBe(0)
  })

  it("the next list's count wins; live mentions after its seq are kept", () => {
    const s = new ChatsStore('me')
    s.setList(list(1))
    s.onMessage(mentioning(6))
    s.onMessage(mentioning(7))
    expect(s.mentions('a')).toBe(3)
    // The server counted up to seq 6 (2 unread mentions); 7 came after.
    s.setList([{ ...entry(chat('a', 6), 2), mentions: 2 }])
    expect(s.mentions('a')).toBe(3)
    s.setList([{ ...entry(chat('a', 7), 2), mentions: 0 }])
    expect(s.mentions('a')).toBe(0)
  })

  it('a chat answer sets the count', () => {
    const s = new ChatsStore('me')
    s.setList(list(0))
    s.applyView({ ...list(4)[0]!, history: 'all' })
    expect(s.mentions('a')).toBe(4)
  })
})

describe('client mentions', () => {
  it('a live mention bumps the count; reading it (here or on another device) drops it', async () => {
    const { client, ws } = await connectedClient(list(1))
    ws.receive({ type: 'message', message: mentioning(6) })
    expect(client.chats.mentions('a')).toBe(2)
    client.markRead('a', 5)
    expect(client.chats.mentions('a')).toBe(1)
    ws.receive({ type: 'read', chat_id: 'a', user_id: 'me', seq: 6 })
    expect(client.chats.mentions('a')).toBe(0)
    client.stop()
  })

  it("a read short of the count's seq asks the chat once and takes its count", async () => {
    const entries = list(2)
    const { client, api, ws } = await connectedClient(entries)
    vi.useFakeTimers()
    client.markRead('a', 3)
    // The server's count says no seqs: kept until the chat answers.
    expect(client.chats.mentions('a')).toBe(2)
    entries[0] = { ...entries[0]!, read_seq: 3, unread: 2, mentions: 1 }
    await vi.advanceTimersByTimeAsync(MENTIONS_REFRESH_MS - 1)
    expect(api.chat).not.toHaveBeenCalled()
    // The `read` went out before the ask.
    expect(ws.framesOf('read')).toEqual([{ type: 'read', chat_id: 'a', seq: 3 }])
    await vi.advanceTimersByTimeAsync(1)
    expect(api.chat).toHaveBeenCalledTimes(1)
    expect(api.chat).toHaveBeenCalledWith('a')
    expect(client.chats.mentions('a')).toBe(1)
    await vi.advanceTimersByTimeAsync(10 * MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(1)
    client.stop()
  })

  it('no ask when the cursor passes the count, or the count is 0', async () => {
    const { client, api, ws } = await connectedClient([{ ...list(2)[0]!, mentions: 2 }, { ...list()[1]!, mentions: 0 }])
    vi.useFakeTimers()
    client.markRead('a', 5)
    expect(client.chats.mentions('a')).toBe(0)
    client.markRead('b', 1)
    ws.receive({ type: 'read', chat_id: 'b', user_id: 'me', seq: 2 })
    await vi.advanceTimersByTimeAsync(10 * MENTIONS_REFRESH_MS)
    expect(api.chat).not.toHaveBeenCalled()
    client.stop()
  })

  it('a count of 0 with the cursor short of it asks nothing; live mentions are exact', async () => {
    const { client, api, ws } = await connectedClient(list(0))
    vi.useFakeTimers()
    ws.receive({ type: 'message', message: mentioning(6) })
    client.markRead('a', 3)
    ws.receive({ type: 'read', chat_id: 'a', user_id: 'me', seq: 6 })
    expect(client.chats.mentions('a')).toBe(0)
    await vi.advanceTimersByTimeAsync(10 * MENTIONS_REFRESH_MS)
    expect(api.chat).not.toHaveBeenCalled()
    client.stop()
  })

  it('quick cursor moves (here and on another device) make one ask; moves while it is out, one more after', async () => {
    const entries = [{ ...entry(chat('a', 10), 2), mentions: 3 }]
    const { client, api, ws } = await connectedClient(entries)
    vi.useFakeTimers()
    client.markRead('a', 3)
    client.markRead('a', 4)
    ws.receive({ type: 'read', chat_id: 'a', user_id: 'me', seq: 6 })
    client.markRead('a', 7)
    entries[0] = { ...entries[0]!, read_seq: 7, unread: 3, mentions: 2 }
    // The first answer is held back (as the server had it when asked).
    const first = { ...structuredClone(entries[0]!), history: 'all' as const }
    let answer!: () => void
    const held = new Promise<void>((r) => (answer = r))
    vi.mocked(api.chat).mockImplementationOnce(async () => {
      await held
      return first
    })
    await vi.advanceTimersByTimeAsync(MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(1)
    // While it is out: no second ask, one after it.
    client.markRead('a', 8)
    await vi.advanceTimersByTimeAsync(5 * MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(1)
    entries[0] = { ...entries[0]!, read_seq: 8, unread: 2, mentions: 1 }
    answer()
    await vi.advanceTimersByTimeAsync(0)
    expect(client.chats.mentions('a')).toBe(2)
    await vi.advanceTimersByTimeAsync(MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(2)
    expect(client.chats.mentions('a')).toBe(1)
    await vi.advanceTimersByTimeAsync(10 * MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(2)
    client.stop()
  })

  it('an answer counted at an older cursor than ours (our read not there yet) is asked again, once', async () => {
    const { client, api } = await connectedClient(list(2))
    vi.useFakeTimers()
    client.markRead('a', 3)
    await vi.advanceTimersByTimeAsync(MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(2)
    await vi.advanceTimersByTimeAsync(10 * MENTIONS_REFRESH_MS)
    expect(api.chat).toHaveBeenCalledTimes(2)
    expect(client.chats.mentions('a')).toBe(2)
    client.stop()
  })

  it('the chat list shows an "@" badge with the count beside the unread one, also when muted', async () => {
    const entries = list(1)
    entries[0]!.muted_until = MUTED_FOREVER
    const { client, ws } = await connectedClient(entries)
    const w = mount(ChatList, { props: { activeId: null }, ...provide(client) })
    await flushPromises()
    const badge = (id: string) => w.find(`[data-chat-id="${id}"] [data-testid="mention-badge"]`)
    expect(badge('a').text()).toBe('@1')
    expect(badge('a').classes()).not.toContain('badge-muted')
    expect(badge('b').exists()).toBe(false)
    ws.receive({ type: 'message', message: { ...mentioning(6), created_at: Date.now() } })
    await flushPromises()
    expect(badge('a').text()).toBe('@2')
    expect(badge('a').attributes('aria-label')).toBe('2 unread mentions')
    client.markRead('a', 6)
    await flushPromises()
    expect(badge('a').exists()).toBe(false)
    client.stop()
  })
})

describe('mention text', () => {
  const names = new Map([
    ['alice', true],
    ['ben.k', false],
  ])

  it('marks the names given, as written, case-insensitively, after the start or a non-name character', () => {
    expect(mentionPieces('hi @Ben.K. and (@alice), bye', names)).toEqual([
      { text: 'hi ' },
      { text: '@Ben.K', mention: 'other' },
      { text: '. and (' },
      { text: '@alice', mention: 'me' },
      { text: '), bye' },
    ])
  })

  it('leaves unknown names, email addresses and @ inside words alone', () => {
    for (const t of ['mail a@alice.com', 'ask @bob', '@alicee', 'x@alice', '@ben.kk', '@', '']) {
      expect(mentionPieces(t, names)).toEqual([{ text: t }])
    }
    expect(mentionPieces('@alice', new Map())).toEqual([{ text: '@alice' }])
  })

  it('names are the login names of the mentioned ids, known ones only, true for the user', () => {
    const login = (id: string) => ({ me: 'Alice', u2: 'ben.k' })[id] ?? ''
    expect([...mentionNames(['me', 'u2', 'u9'], 'me', login)]).toEqual([
      ['alice', true],
      ['ben.k', false],
    ])
    expect(mentionNames(undefined, 'me', login).size).toBe(0)
  })

  it('renders mentions as spans of text, links as links, no markup', () => {
    const w = mount(MessageText, { props: { text: '@alice see https://x.test/@alice <b>@bob</b>', mentions: names } })
    const marks = w.findAll('[data-testid="mention"]')
    expect(marks.map((m) => [m.text(), m.classes('mention-me')])).toEqual([['@alice', true]])
    expect(w.findAll('a')).toHaveLength(1)
    expect(w.element.querySelector('b')).toBeNull()
    expect(w.element.textContent).toBe('@alice see https://x.test/@alice <b>@bob</b>')
  })

  it('a message marks the mentioned names (the user more strongly) and is highlighted when it mentions the user', async () => {
    const { client } = await connectedClient(list(0))
    const m = msg(3, { chat_id: 'a', text: 'hey @alice and @name-u3, not @name-u4 or @nobody', mentions: ['me', 'u3'] })
    const w = mount(MessageItem, { props: { chatId: 'a', message: m, showAuthor: true }, ...provide(client) })
    await client.users.flush()
    await flushPromises()
    const marks = w.findAll('[data-testid="mention"]')
    expect(marks.map((x) => [x.text(), x.classes('mention-me')])).toEqual([
      ['@alice', true],
      ['@name-u3', false],
    ])
    expect(w.classes()).toContain('mentions-me')
    // Mentioning others only: their names marked, the message not highlighted.
    await w.setProps({ message: { ...m, mentions: ['u3'] } })
    expect(w.findAll('[data-testid="mention"]').map((x) => x.text())).toEqual(['@name-u3'])
    expect(w.classes()).not.toContain('mentions-me')
    // None: plain text.
    await w.setProps({ message: { ...m, mentions: undefined } })
    expect(w.findAll('[data-testid="mention"]')).toHaveLength(0)
    client.stop()
  })
})

// Mute: a chat's mute from the chat list, a chat's answer (GET, mute, unmute) and
// `muted` frames (without `muted_until`: unmuted); a mute whose time has passed
// counts as none; unread still counted while muted, but the page title (the only
// notice the client raises) leaves muted chats out; the header's Mute menu (1 hour,
// 8 hours, 1 day, forever) and Unmute calling PUT / DELETE /chats/{id}/mute with
// the right body and showing the chat answered; refusals told in a toast; the
// chat list's 🔕 and grey badge.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Api, ApiError } from '../src/api/http'
import type { ChatListEntry } from '../src/api/types'
import ChatList from '../src/components/ChatList.vue'
import ChatScreen from '../src/components/ChatScreen.vue'
import MessagePane from '../src/components/MessagePane.vue'
import { CLIENT } from '../src/keys'
import { ChatsStore } from '../src/stores/chats'
import type { ChatClient } from '../src/stores/client'
import { isMuted, MUTE_CHOICES, MUTED_FOREVER, mutedText } from '../src/stores/mute'
import { FakeWebSocket, msg } from './fakes'
import { chat, connectedClient, entry } from './fixture'

const HOUR = 3_600_000
const provide = (client: ChatClient) => ({ global: { provide: { [CLIENT as symbol]: client } } })

/** Group `a` (`unread` of 5 unread) and group `b` (2 unread), `a` muted until `mutedUntil` if given. */
function list(mutedUntil?: number, unread = 3): ChatListEntry[] {
  const a = entry(chat('a', 5, 'group', { title: 'Muted group' }), 5 - unread)
  if (mutedUntil !== undefined) a.muted_until = mutedUntil
  return [a, entry(chat('b', 2, 'group', { title: 'Other' }))]
}

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => {
  vi.restoreAllMocks()
  document.body.innerHTML = ''
})

describe('isMuted', () => {
  it('muted while the time is ahead; a time passed, none or no chat is not muted', () => {
    expect(isMuted({ mutedUntil: 2000 }, 1000)).toBe(true)
    expect(isMuted({ mutedUntil: MUTED_FOREVER }, Date.now())).toBe(true)
    expect(isMuted({ mutedUntil: 1000 }, 1000)).toBe(false)
    expect(isMuted({ mutedUntil: 500 }, 1000)).toBe(false)
    expect(isMuted({ mutedUntil: null }, 1000)).toBe(false)
    expect(isMuted(undefined, 1000)).toBe(false)
  })

  it('says until when: nothing for good, the time today, the day after', () => {
    const now = new Date(2026, 2, 2, 10, 0).getTime()
    expect(mutedText(MUTED_FOREVER, now)).toBe('Muted')
    expect(mutedText(new Date(2026, 2, 2, 14, 5).getTime(), now)).toBe('Muted until 14:05')
    expect(mutedText(new Date(2026, 2, 3, 9, 30).getTime(), now)).toMatch(/^Muted until .+ 09:30$/)
  })
})

describe('ChatsStore mute', () => {
  it('takes muted_until from the list (absent: not muted); unread still counts, the title count leaves it out', () => {
    const now = Date.now()
    const s = new ChatsStore('me')
    s.setList(list(now + HOUR))
    expect(s.get('a')!.mutedUntil).toBe(now + HOUR)
    expect(s.get('b')!.mutedUntil).toBeNull()
    expect(s.unread('a')).toBe(3)
    s.onMessage(msg(6, { chat_id: 'a' }))
    expect(s.unread('a')).toBe(4)
    expect(s.unreadNotMuted(now)).toBe(2)
    // Once its time has passed the chat counts again.
    expect(s.unreadNotMuted(now + HOUR)).toBe(6)
    // A list without it: unmuted (on another device while away).
    s.setList(list())
    expect(s.get('a')!.mutedUntil).toBeNull()
    expect(s.unreadNotMuted(now)).toBe(6)
  })

  it('a chat answer sets or clears the mute; an unknown chat is left alone', () => {
    const s = new ChatsStore('me')
    s.setList(list())
    s.applyView({ ...list(MUTED_FOREVER)[0]!, history: 'all' })
    expect(s.get('a')!.mutedUntil).toBe(MUTED_FOREVER)
    s.applyView({ ...list()[0]!, history: 'all' })
    expect(s.get('a')!.mutedUntil).toBeNull()
    s.setMuted('nope', 5)
    expect(s.get('nope')).toBeUndefined()
  })
})

describe('ChatClient mute', () => {
  it('a muted frame mutes the chat; without muted_until it unmutes; a chat not held is ignored', async () => {
    const { client, ws } = await connectedClient(list())
    const until = Date.now() + 8 * HOUR
    ws.receive({ type: 'muted', chat_id: 'a', muted_until: until })
    expect(client.chats.get('a')!.mutedUntil).toBe(until)
    expect(isMuted(client.chats.get('a'), Date.now())).toBe(true)
    ws.receive({ type: 'muted', chat_id: 'a' })
    expect(client.chats.get('a')!.mutedUntil).toBeNull()
    ws.receive({ type: 'muted', chat_id: 'zz', muted_until: until })
    expect(client.chats.get('zz')).toBeUndefined()
    expect(client.state.toasts).toEqual([])
    client.stop()
  })

  it('unread still counts in a muted chat', async () => {
    const { client, ws } = await connectedClient(list(MUTED_FOREVER))
    expect(client.chats.unread('a')).toBe(3)
    ws.receive({ type: 'message', message: msg(6, { chat_id: 'a' }) })
    expect(client.chats.unread('a')).toBe(4)
    expect(client.chats.get('a')!.mutedUntil).toBe(MUTED_FOREVER)
    client.stop()
  })

  it('takes the mute from a GET /chats/{id} answer', async () => {
    const entries = list()
    const { client, api, ws } = await connectedClient(entries)
    // Muted on another device meanwhile; the chat is fetched after someone left it.
    entries[0]!.muted_until = MUTED_FOREVER
    ws.receive({ type: 'member_removed', chat_id: 'a', user_id: 'u2', pts: 6 })
    await flushPromises()
    expect(api.chat).toHaveBeenCalledWith('a')
    expect(client.chats.get('a')!.mutedUntil).toBe(MUTED_FOREVER)
    client.stop()
  })

  it('mute sends the time from now (nothing for good), unmute deletes; the answer is applied', async () => {
    const now = 1_800_000_000_000
    vi.spyOn(Date, 'now').mockReturnValue(now)
    const { client, api } = await connectedClient(list())
    expect(await client.mute('a', HOUR)).toBe(true)
    expect(api.mute).toHaveBeenLastCalledWith('a', now + HOUR)
    expect(client.chats.get('a')!.mutedUntil).toBe(now + HOUR)
    expect(await client.mute('a', null)).toBe(true)
    expect(api.mute).toHaveBeenLastCalledWith('a', undefined)
    expect(client.chats.get('a')!.mutedUntil).toBe(MUTED_FOREVER)
    expect(await client.unmute('a')).toBe(true)
    expect(api.unmute).toHaveBeenCalledWith('a')
    expect(client.chats.get('a')!.mutedUntil).toBeNull()
    client.stop()
  })

  it('a refusal is a toast with the server message; the mute stays as it was', async () => {
    const { client, api } = await connectedClient(list())
    const refusals = [
      new ApiError('invalid_mute', 'the mute must end in the future, by 9999', 400),
      new ApiError('not_member', 'not a member of this chat', 403),
      new ApiError('too_many_requests', 'slow down', 429, 800),
    ]
    for (const e of refusals) vi.mocked(api.mute).mockRejectedValueOnce(e)
    for (const _ of refusals) expect(await client.mute('a', HOUR)).toBe(false)
    vi.mocked(api.unmute).mockRejectedValueOnce(new ApiError('network', 'network error: offline', 0))
    expect(await client.unmute('a')).toBe(false)
    expect(client.state.toasts.map((t) => t.text)).toEqual([
      'Could not mute: the mute must end in the future, by 9999',
      'Could not mute: not a member of this chat',
      'Could not mute: slow down',
      'Could not unmute: network error: offline',
    ])
    // A 401 ends the session instead: no toast.
    vi.mocked(api.mute).mockRejectedValueOnce(new ApiError('session_revoked', 'revoked', 401))
    expect(await client.mute('a', null)).toBe(false)
    expect(client.state.toasts).toHaveLength(4)
    expect(client.chats.get('a')!.mutedUntil).toBeNull()
    client.stop()
  })
})

describe('Api mute requests', () => {
  function api() {
    const view = { ...list(MUTED_FOREVER)[0]!, history: 'all' }
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => new Response(JSON.stringify(view), { status: 200 }))
    return { fetch, view, api: new Api({ token: () => 'tok', onUnauthorized: () => undefined, fetch: fetch as unknown as typeof globalThis.fetch }) }
  }

  it('PUT /chats/{id}/mute with {"until"} or {} for good; DELETE to unmute; the chat answered', async () => {
    const { fetch, view, api: a } = api()
    expect(await a.mute('42', 1_900_000_000_000)).toEqual(view)
    await a.mute('42')
    await a.unmute('42')
    const calls = fetch.mock.calls.map(([url, init]) => [url, init.method, init.body])
    expect(calls).toEqual([
      ['/api/v1/chats/42/mute', 'PUT', '{"until":1900000000000}'],
      ['/api/v1/chats/42/mute', 'PUT', '{}'],
      ['/api/v1/chats/42/mute', 'DELETE', undefined],
    ])
  })

  it('a refusal is an ApiError with its code', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ error: { code: 'invalid_mute', message: 'not in the future' } }), { status: 400 }))
    const a = new Api({ token: () => 'tok', onUnauthorized: () => undefined, fetch: fetch as unknown as typeof globalThis.fetch })
    const e = await a.mute('42', 1).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ApiError)
    expect((e as ApiError).code).toBe('invalid_mute')
    expect((e as ApiError).status).toBe(400)
  })
})

describe('mute in the chat header', () => {
  it('Mute offers 1 hour, 8 hours, 1 day and forever; a choice mutes, then Unmute unmutes', async () => {
    const now = Date.now()
    const { client, api } = await connectedClient(list(), { a: [msg(5, { chat_id: 'a' })] })
    await client.openChat('a')
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    const head = () => w.find('header.pane-head')
    expect(head().find('[data-testid="mute"]').attributes('data-muted')).toBe('false')
    expect(head().find('[data-testid="mute-menu"]').exists()).toBe(false)
    await head().find('[data-testid="mute-btn"]').trigger('click')
    const choices = head().findAll('[data-testid="mute-choice"]')
    expect(choices.map((b) => b.text())).toEqual(['For 1 hour', 'For 8 hours', 'For 1 day', 'Forever'])
    expect(MUTE_CHOICES.map((m) => m.ms)).toEqual([HOUR, 8 * HOUR, 24 * HOUR, null])

    // For 1 day: until a day from now.
    await choices[2]!.trigger('click')
    await flushPromises()
    const [, until] = vi.mocked(api.mute).mock.calls[0]!
    expect(until! - now).toBeGreaterThanOrEqual(24 * HOUR)
    expect(until! - Date.now()).toBeLessThanOrEqual(24 * HOUR)
    expect(head().find('[data-testid="mute-menu"]').exists()).toBe(false)
    const unmute = head().find('[data-testid="unmute-btn"]')
    expect(unmute.text()).toBe('🔕 Unmute')
    expect(unmute.attributes('title')).toBe(mutedText(until!))

    await unmute.trigger('click')
    await flushPromises()
    expect(api.unmute).toHaveBeenCalledWith('a')
    expect(head().find('[data-testid="unmute-btn"]').exists()).toBe(false)

    // Forever: no time sent.
    await head().find('[data-testid="mute-btn"]').trigger('click')
    await head().findAll('[data-testid="mute-choice"]')[3]!.trigger('click')
    await flushPromises()
    expect(api.mute).toHaveBeenLastCalledWith('a', undefined)
    expect(head().find('[data-testid="unmute-btn"]').attributes('title')).toBe('Muted')

    // Unmuted from another device: Mute again, live.
    FakeWebSocket.last.receive({ type: 'muted', chat_id: 'a' })
    await flushPromises()
    expect(head().find('[data-testid="mute-btn"]').exists()).toBe(true)
    w.unmount()
    client.stop()
  })

  it('a refused mute leaves Mute and tells why', async () => {
    const { client, api } = await connectedClient(list(), { a: [msg(5, { chat_id: 'a' })] })
    await client.openChat('a')
    vi.mocked(api.mute).mockRejectedValueOnce(new ApiError('too_many_requests', 'slow down', 429, 500))
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    await w.find('[data-testid="mute-btn"]').trigger('click')
    await w.findAll('[data-testid="mute-choice"]')[0]!.trigger('click')
    await flushPromises()
    expect(client.state.toasts.map((t) => t.text)).toEqual(['Could not mute: slow down'])
    expect(w.find('[data-testid="mute-btn"]').attributes('disabled')).toBeUndefined()
    expect(w.find('[data-testid="unmute-btn"]').exists()).toBe(false)
    w.unmount()
    client.stop()
  })
})

describe('muted chats in the list and the page title', () => {
  const item = (w: ReturnType<typeof mount>, id: string) => w.find(`[data-testid="chat-item"][data-chat-id="${id}"]`)

  it('a 🔕 and a grey badge that still counts; back to normal when unmuted', async () => {
    const { client, ws } = await connectedClient(list(MUTED_FOREVER))
    const w = mount(ChatList, { props: { activeId: null }, ...provide(client) })
    await flushPromises()
    const a = () => item(w, 'a')
    expect(a().find('[data-testid="chat-muted"]').attributes('aria-label')).toBe('Muted')
    expect(a().find('[data-testid="unread-badge"]').text()).toBe('3')
    expect(a().find('[data-testid="unread-badge"]').classes()).toContain('badge-muted')
    expect(item(w, 'b').find('[data-testid="chat-muted"]').exists()).toBe(false)
    expect(item(w, 'b').find('[data-testid="unread-badge"]').classes()).not.toContain('badge-muted')
    ws.receive({ type: 'message', message: msg(6, { chat_id: 'a', created_at: Date.now() }) })
    await flushPromises()
    expect(a().find('[data-testid="unread-badge"]').text()).toBe('4')
    ws.receive({ type: 'muted', chat_id: 'a' })
    await flushPromises()
    expect(a().find('[data-testid="chat-muted"]').exists()).toBe(false)
    expect(a().find('[data-testid="unread-badge"]').classes()).not.toContain('badge-muted')
    client.stop()
  })

  it('a mute whose time has passed shows as not muted', async () => {
    const { client } = await connectedClient(list(Date.now() - 1000))
    const w = mount(ChatList, { props: { activeId: null }, ...provide(client) })
    await flushPromises()
    expect(item(w, 'a').find('[data-testid="chat-muted"]').exists()).toBe(false)
    expect(item(w, 'a').find('[data-testid="unread-badge"]').classes()).not.toContain('badge-muted')
    client.stop()
  })

  it("no notice for a muted chat: the page title leaves its unread out, new messages too", async () => {
    const { client, ws } = await connectedClient(list())
    const w = mount(ChatScreen, { props: { client }, attachTo: document.body })
    await flushPromises()
    expect(document.title).toBe('(5) Chat')
    ws.receive({ type: 'muted', chat_id: 'a', muted_until: Date.now() + HOUR })
    await flushPromises()
    expect(document.title).toBe('(2) Chat')
    ws.receive({ type: 'message', message: msg(6, { chat_id: 'a', created_at: Date.now() }) })
    await flushPromises()
    expect(document.title).toBe('(2) Chat')
    expect(item(w, 'a').find('[data-testid="unread-badge"]').text()).toBe('4')
    // A message in a chat that is not muted still tells.
    ws.receive({ type: 'message', message: msg(3, { chat_id: 'b', created_at: Date.now() }) })
    await flushPromises()
    expect(document.title).toBe('(3) Chat')
    ws.receive({ type: 'muted', chat_id: 'a' })
    await flushPromises()
    expect(document.title).toBe('(7) Chat')
    w.unmount()
    client.stop()
  })
})

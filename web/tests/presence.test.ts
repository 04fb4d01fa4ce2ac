// Presence: the store (statuses by user, `hidden` per chat, a group's online count
// from its listed members or the server's count, bounded), the client (frames
// applied, `get_presence` with a ref when a chat is subscribed or opened and every
// minute while it is open, refusals quiet, forgotten after a reconnect, the
// user's own setting) and what the screen shows (online dot in the chat list and
// members panel, "online" / "last seen …" / "N online" in the chat header, the
// setting in the profile editor).
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/http'
import type { ChatListEntry } from '../src/api/types'
import ChatList from '../src/components/ChatList.vue'
import MembersPanel from '../src/components/MembersPanel.vue'
import MessagePane from '../src/components/MessagePane.vue'
import ProfileEditor from '../src/components/ProfileEditor.vue'
import { CLIENT } from '../src/keys'
import { seenAgo } from '../src/lib/time'
import type { ChatClient } from '../src/stores/client'
import { PRESENCE_EVERY_MS, PRESENCE_LIST_CHATS } from '../src/stores/client'
import {
  MAX_PRESENCE_CHATS,
  MAX_PRESENCE_USERS,
  PresenceStore,
  presenceText,
} from '../src/stores/presence'
import { FakeWebSocket, user } from './fakes'
import { chat, connectedClient, entry } from './fixture'

const NOW = 1_700_000_000_000
const provide = (client: ChatClient) => ({ global: { provide: { [CLIENT as symbol]: client } } })

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => {
  vi.useRealTimers()
  document.body.innerHTML = ''
})

/** A `get_presence` of the chat as the client sends it: with a ref `presence:<chat>:<n>`. */
const ask = (chatId: string) => ({
  type: 'get_presence',
  chat_id: chatId,
  ref: expect.stringMatching(new RegExp(`^presence:${chatId}:\\d+$`)),
})
const asked = (ws: FakeWebSocket) => ws.framesOf('get_presence').map((f) => f.chat_id)

/** A group `g` and a direct chat `d` (with u2), both subscribed. */
const twoChats = () => [entry(chat('g', 0, 'group', { title: 'Team', member_count: 3 })), entry(chat('d', 0, 'direct'))]

/** A connected client whose chats' subscribes are answered. */
async function client(list: ChatListEntry[] = twoChats()) {
  const r = await connectedClient(list)
  for (const e of list) r.ws.receive({ type: 'subscribed', chat_id: e.chat.id, last_seq: 0, last_pts: 0, read_seq: 0 })
  return r
}

describe('PresenceStore', () => {
  it('keeps online / offline by user, hidden by chat', () => {
    const p = new PresenceStore()
    expect(p.shown('d', 'u2')).toBeNull()
    p.onPresence('d', 'u2', 'online')
    expect(p.shown('d', 'u2')).toEqual({ online: true })
    // The same user in another chat: the same fact.
    expect(p.shown('g', 'u2')).toEqual({ online: true })
    p.onPresence('d', 'u2', 'offline', NOW)
    expect(p.shown('d', 'u2')).toEqual({ online: false, lastSeen: NOW })
    // Hidden in the group only (shows to contacts): still shown in the direct chat.
    p.onPresence('g', 'u2', 'hidden')
    expect(p.shown('g', 'u2')).toBeNull()
    expect(p.shown('d', 'u2')).toEqual({ online: false, lastSeen: NOW })
    // Shown again there.
    p.onPresence('g', 'u2', 'online')
    expect(p.shown('g', 'u2')).toEqual({ online: true })
    // Offline without a time keeps the one known.
    p.onPresence('d', 'u2', 'offline')
    expect(p.shown('d', 'u2')).toEqual({ online: false, lastSeen: null })
    p.onPresence('d', 'u2', 'offline', NOW)
    p.onPresence('d', 'u2', 'offline')
    expect(p.users.u2).toEqual({ online: false, lastSeen: NOW })
  })

  it("counts a listed group's members online, live", () => {
    const p = new PresenceStore()
    expect(p.online('g')).toBeNull()
    p.onList({
      chat_id: 'g',
      users: [
        { user_id: 'me', status: 'online' },
        { user_id: 'u2', status: 'offline', last_seen: NOW },
        { user_id: 'u3', status: 'hidden' },
        { user_id: 'u4', status: 'online' },
      ],
      online: 2,
    })
    expect(p.online('g')).toBe(2)
    expect(p.shown('g', 'u3')).toBeNull()
    expect(p.shown('g', 'u2')).toEqual({ online: false, lastSeen: NOW })
    p.onPresence('g', 'u2', 'online')
    expect(p.online('g')).toBe(3)
    p.onPresence('g', 'u4', 'hidden')
    expect(p.online('g')).toBe(2)
    // A member who came after the list: counted too.
    p.onPresence('g', 'u5', 'online')
    expect(p.online('g')).toBe(3)
    // Known online from another chat, the user counts here as well.
    p.onPresence('d', 'me', 'offline', NOW)
    expect(p.online('g')).toBe(2)
  })

  it("takes a big group's count from the server", () => {
    const p = new PresenceStore()
    p.onList({ chat_id: 'big', users: [], online: 140 })
    expect(p.online('big')).toBe(140)
    p.onCount('big', 151)
    expect(p.online('big')).toBe(151)
    // A count for a chat never listed.
    p.onCount('big2', 7)
    expect(p.online('big2')).toBe(7)
  })

  it('is bounded: the users and chats changed least recently are forgotten', () => {
    const p = new PresenceStore()
    for (let i = 0; i < MAX_PRESENCE_USERS + 5; i++) p.onPresence('d', `u${i}`, 'online')
    expect(Object.keys(p.users)).toHaveLength(MAX_PRESENCE_USERS)
    expect(p.shown('d', 'u4')).toBeNull()
    expect(p.shown('d', 'u5')).toEqual({ online: true })
    // A change makes a user recent again.
    p.onPresence('d', 'u5', 'offline', NOW)
    p.onPresence('d', 'new', 'online')
    expect(p.users.u5).toBeDefined()
    expect(p.users.u6).toBeUndefined()
    for (let i = 0; i < MAX_PRESENCE_CHATS + 3; i++) p.onCount(`c${i}`, i)
    expect(Object.keys(p.chats)).toHaveLength(MAX_PRESENCE_CHATS)
    expect(p.online('c2')).toBeNull()
    expect(p.online('c3')).toBe(3)
  })

  it('forgets a chat, or everything', () => {
    const p = new PresenceStore()
    p.onList({ chat_id: 'g', users: [{ user_id: 'u2', status: 'hidden' }, { user_id: 'u3', status: 'online' }], online: 1 })
    p.onPresence('d', 'u2', 'online')
    p.clearChat('g')
    expect(p.online('g')).toBeNull()
    expect(p.shown('g', 'u2')).toEqual({ online: true })
    p.clear()
    expect(p.users).toEqual({})
    expect(p.chats).toEqual({})
  })

  it('says "online", "last seen …", "offline" or nothing', () => {
    const now = new Date(2026, 2, 4, 15, 30).getTime()
    expect(presenceText(null, now)).toBe('')
    expect(presenceText({ online: true }, now)).toBe('online')
    expect(presenceText({ online: false, lastSeen: null }, now)).toBe('offline')
    expect(presenceText({ online: false, lastSeen: now - 20_000 }, now)).toBe('last seen just now')
    // A clock a little behind the server's.
    expect(seenAgo(now + 5000, now)).toBe('just now')
    expect(seenAgo(now - 60_000, now)).toBe('1 minute ago')
    expect(seenAgo(now - 45 * 60_000, now)).toBe('45 minutes ago')
    expect(seenAgo(new Date(2026, 2, 4, 9, 5).getTime(), now)).toBe('today at 09:05')
    expect(seenAgo(new Date(2026, 2, 3, 22, 40).getTime(), now)).toBe('yesterday at 22:40')
    expect(seenAgo(new Date(2026, 1, 20, 12, 0).getTime(), now)).not.toMatch(/ago|today|yesterday/)
  })
})

describe('ChatClient presence', () => {
  it('asks the direct chats when subscribed, a chat when opened and every minute while open', async () => {
    const { client: c, ws } = await client()
    // The direct chat (its dot in the list), not the group.
    expect(ws.framesOf('get_presence')).toEqual([ask('d')])
    vi.useFakeTimers({ now: NOW })
    await c.openChat('g')
    expect(asked(ws)).toEqual(['d', 'g'])
    await vi.advanceTimersByTimeAsync(PRESENCE_EVERY_MS - 1)
    expect(asked(ws)).toEqual(['d', 'g'])
    await vi.advanceTimersByTimeAsync(1)
    expect(asked(ws)).toEqual(['d', 'g', 'g'])
    // Another chat: asked at once, then its own minute.
    await vi.advanceTimersByTimeAsync(PRESENCE_EVERY_MS / 2)
    await c.openChat('d')
    expect(asked(ws)).toEqual(['d', 'g', 'g', 'd'])
    await vi.advanceTimersByTimeAsync(PRESENCE_EVERY_MS)
    expect(asked(ws)).toEqual(['d', 'g', 'g', 'd', 'd'])
    // The same chat again (a search hit in it): not asked again.
    await c.openChat('d')
    expect(asked(ws)).toHaveLength(5)
    // Resubscribed while open (e.g. after a refused subscribe): asked.
    ws.receive({ type: 'subscribed', chat_id: 'g', last_seq: 0, last_pts: 0, read_seq: 0 })
    ws.receive({ type: 'subscribed', chat_id: 'd', last_seq: 0, last_pts: 0, read_seq: 0 })
    expect(asked(ws)).toHaveLength(6)
    // No chat open: no more asking.
    await c.openChat(null)
    await vi.advanceTimersByTimeAsync(3 * PRESENCE_EVERY_MS)
    expect(asked(ws)).toHaveLength(6)
    const refs = ws.framesOf('get_presence').map((f) => f.ref)
    expect(new Set(refs).size).toBe(refs.length)
    c.stop()
  })

  it(`asks only the ${PRESENCE_LIST_CHATS} direct chats at the top of the list`, async () => {
    const list = Array.from({ length: PRESENCE_LIST_CHATS + 5 }, (_, i) =>
      entry(chat(`d${i}`, 1, 'direct', { last_message: { seq: 1, sender_id: 'u2', preview: 'hi', at: NOW - i * 1000, deleted: false } })),
    )
    const { client: c, ws } = await client(list)
    expect(asked(ws)).toEqual(list.slice(0, PRESENCE_LIST_CHATS).map((e) => e.chat.id))
    c.stop()
  })

  it('applies presence, presence_list and online_count; skips the own user and unknown chats', async () => {
    const { client: c, ws } = await client()
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'online' })
    expect(c.presence.shown('d', 'u2')).toEqual({ online: true })
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'offline', last_seen: NOW })
    expect(c.presence.shown('d', 'u2')).toEqual({ online: false, lastSeen: NOW })
    // One always sees oneself: a `hidden` about the user is for the others.
    ws.receive({ type: 'presence_list', chat_id: 'g', users: [{ user_id: 'me', status: 'online' }, { user_id: 'u3', status: 'online' }], online: 2 })
    ws.receive({ type: 'presence', chat_id: 'g', user_id: 'me', status: 'hidden' })
    expect(c.presence.shown('g', 'me')).toEqual({ online: true })
    expect(c.presence.online('g')).toBe(2)
    ws.receive({ type: 'presence', chat_id: 'zz', user_id: 'u9', status: 'online' })
    ws.receive({ type: 'presence_list', chat_id: 'zz', users: [{ user_id: 'u9', status: 'online' }], online: 1 })
    ws.receive({ type: 'online_count', chat_id: 'zz', online: 5 })
    expect(c.presence.users.u9).toBeUndefined()
    expect(c.presence.chats.zz).toBeUndefined()
    ws.receive({ type: 'online_count', chat_id: 'g', online: 120 })
    expect(c.presence.online('g')).toBe(120)
    expect(c.state.toasts).toEqual([])
    c.stop()
  })

  it('takes a refused get_presence quietly (by its ref)', async () => {
    const { client: c, ws } = await client()
    const subs = ws.framesOf('subscribe').length
    const ref = String(ws.framesOf('get_presence')[0]!.ref)
    ws.receive({ type: 'error', code: 'too_many_requests', message: 'slow down', chat_id: 'd', retry_after_ms: 100, ref })
    ws.receive({ type: 'error', code: 'not_member', message: 'not a member', chat_id: 'd', ref })
    ws.receive({ type: 'error', code: 'internal', message: 'oops', chat_id: 'd', ref })
    await new Promise((r) => setTimeout(r, 150))
    expect(c.state.toasts).toEqual([])
    // Not taken for a refused subscribe either.
    expect(ws.framesOf('subscribe')).toHaveLength(subs)
    c.stop()
  })

  it('forgets what it held after a reconnect, and asks again', async () => {
    const { client: c, ws } = await client()
    await c.openChat('g')
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'online' })
    ws.receive({ type: 'online_count', chat_id: 'g', online: 3 })
    ws.serverClose(1012)
    await new Promise((r) => setTimeout(r, 20))
    const ws2 = FakeWebSocket.last
    expect(ws2).not.toBe(ws)
    ws2.ready('me')
    await flushPromises()
    await new Promise((r) => setTimeout(r, 0))
    expect(c.presence.shown('d', 'u2')).toBeNull()
    expect(c.presence.online('g')).toBeNull()
    for (const id of ['g', 'd']) ws2.receive({ type: 'subscribed', chat_id: id, last_seq: 0, last_pts: 0, read_seq: 0 })
    expect(asked(ws2).sort()).toEqual(['d', 'g'])
    c.stop()
  })

  it('forgets a chat left', async () => {
    const { client: c, ws } = await client()
    ws.receive({ type: 'presence_list', chat_id: 'd', users: [{ user_id: 'me', status: 'online' }, { user_id: 'u2', status: 'hidden' }], online: 1 })
    expect(c.presence.chats.d).toBeDefined()
    ws.receive({ type: 'chat_hidden', chat_id: 'd', user_id: 'me' })
    expect(c.presence.chats.d).toBeUndefined()
    c.stop()
  })

  it("reads and writes the user's setting, and follows presence_visibility", async () => {
    const { client: c, ws, api } = await client()
    expect(c.state.presenceVisibility).toBeNull()
    vi.mocked(api.presenceSetting).mockResolvedValueOnce('contacts')
    expect(await c.loadPresenceVisibility()).toBe('contacts')
    expect(c.state.presenceVisibility).toBe('contacts')
    expect(await c.setPresenceVisibility('nobody')).toBe('nobody')
    expect(api.setPresenceSetting).toHaveBeenCalledWith('nobody')
    expect(c.state.presenceVisibility).toBe('nobody')
    ws.receive({ type: 'presence_visibility', visibility: 'everyone' })
    expect(c.state.presenceVisibility).toBe('everyone')
    c.stop()
  })
})

describe('presence on screen', () => {
  it('an online dot on a direct chat in the list, with a text alternative; none when offline or hidden', async () => {
    const { client: c, ws } = await client()
    c.users.put(user('u2', 'bob', { display_name: 'Bob', updated_at: 1 }))
    const w = mount(ChatList, { props: { activeId: null }, ...provide(c) })
    await flushPromises()
    const item = (id: string) => w.find(`[data-testid="chat-item"][data-chat-id="${id}"]`)
    expect(item('d').find('[data-testid="presence-dot"]').exists()).toBe(false)
    ws.receive({ type: 'presence_list', chat_id: 'd', users: [{ user_id: 'me', status: 'online' }, { user_id: 'u2', status: 'online' }], online: 2 })
    ws.receive({ type: 'presence', chat_id: 'g', user_id: 'u2', status: 'online' })
    await flushPromises()
    const dot = item('d').find('[data-testid="presence-dot"]')
    expect(dot.exists()).toBe(true)
    expect(dot.attributes('title')).toBe('Online')
    expect(dot.text()).toBe('online')
    expect(dot.attributes('aria-hidden')).toBeUndefined()
    // Groups have no dot.
    expect(item('g').find('[data-testid="presence-dot"]').exists()).toBe(false)
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'offline', last_seen: Date.now() })
    await flushPromises()
    expect(item('d').find('[data-testid="presence-dot"]').exists()).toBe(false)
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'online' })
    await flushPromises()
    expect(item('d').find('[data-testid="presence-dot"]').exists()).toBe(true)
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'hidden' })
    await flushPromises()
    expect(item('d').find('[data-testid="presence-dot"]').exists()).toBe(false)
    w.unmount()
    c.stop()
  })

  it('the header says "online" or "last seen …" in a direct chat, "N online" in a group, nothing when hidden', async () => {
    const { client: c, ws } = await client()
    c.users.put(user('u2', 'bob', { display_name: 'Bob', updated_at: 1 }))
    await c.openChat('d')
    const pane = mount(MessagePane, { props: { chatId: 'd' }, ...provide(c) })
    await flushPromises()
    const status = () => pane.find('[data-testid="chat-presence"]')
    expect(status().exists()).toBe(false)
    ws.receive({ type: 'presence_list', chat_id: 'd', users: [{ user_id: 'me', status: 'online' }, { user_id: 'u2', status: 'online' }], online: 2 })
    await flushPromises()
    expect(status().text()).toBe('online')
    expect(pane.find('.pane-head [data-testid="presence-dot"]').exists()).toBe(true)
    // The header's dot is said by the text beside it.
    expect(pane.find('.pane-head [data-testid="presence-dot"]').attributes('aria-hidden')).toBe('true')
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'offline', last_seen: Date.now() - 5.5 * 60_000 })
    await flushPromises()
    expect(status().text()).toBe('last seen 5 minutes ago')
    expect(pane.find('.pane-head [data-testid="presence-dot"]').exists()).toBe(false)
    ws.receive({ type: 'presence', chat_id: 'd', user_id: 'u2', status: 'hidden' })
    await flushPromises()
    expect(status().exists()).toBe(false)
    expect(pane.find('[data-testid="chat-login"]').text()).toBe('@bob')
    pane.unmount()

    await c.openChat('g')
    const group = mount(MessagePane, { props: { chatId: 'g' }, ...provide(c) })
    await flushPromises()
    const gstatus = () => group.find('[data-testid="chat-presence"]')
    expect(gstatus().exists()).toBe(false)
    ws.receive({
      type: 'presence_list',
      chat_id: 'g',
      users: [
        { user_id: 'me', status: 'online' },
        { user_id: 'u2', status: 'hidden' },
        { user_id: 'u3', status: 'offline', last_seen: NOW },
      ],
      online: 1,
    })
    await flushPromises()
    expect(gstatus().text()).toBe('1 online')
    ws.receive({ type: 'presence', chat_id: 'g', user_id: 'u3', status: 'online' })
    await flushPromises()
    expect(gstatus().text()).toBe('2 online')
    ws.receive({ type: 'online_count', chat_id: 'g', online: 57 })
    await flushPromises()
    expect(gstatus().text()).toBe('57 online')
    group.unmount()
    c.stop()
  })

  it('the members panel shows each member as shown to the user', async () => {
    const { client: c, ws, api } = await client()
    vi.mocked(api.members).mockResolvedValue([
      { user_id: 'me', role: 'admin' },
      { user_id: 'u2', role: 'member' },
      { user_id: 'u3', role: 'member' },
      { user_id: 'u4', role: 'member' },
    ] as never)
    const w = mount(MembersPanel, { props: { chatId: 'g' }, ...provide(c) })
    await flushPromises()
    ws.receive({
      type: 'presence_list',
      chat_id: 'g',
      users: [
        { user_id: 'me', status: 'online' },
        { user_id: 'u2', status: 'online' },
        { user_id: 'u3', status: 'offline', last_seen: Date.now() - 30_000 },
        { user_id: 'u4', status: 'hidden' },
      ],
      online: 2,
    })
    await flushPromises()
    const row = (id: string) => w.findAll('[data-testid="member"]').find((m) => m.find(`[data-user-id="${id}"]`).exists())!
    expect(row('u2').find('[data-testid="presence-dot"]').exists()).toBe(true)
    expect(row('u2').find('[data-testid="member-presence"]').text()).toBe('online')
    expect(row('u3').find('[data-testid="presence-dot"]').exists()).toBe(false)
    expect(row('u3').find('[data-testid="member-presence"]').text()).toBe('last seen just now')
    expect(row('u4').find('[data-testid="presence-dot"]').exists()).toBe(false)
    expect(row('u4').find('[data-testid="member-presence"]').exists()).toBe(false)
    expect(row('me').find('[data-testid="member-presence"]').text()).toBe('online')
    w.unmount()
    c.stop()
  })
})

describe('ProfileEditor: who can see when I am online', () => {
  async function editor(setting: 'everyone' | 'contacts' | 'nobody' = 'contacts') {
    const env = await connectedClient([])
    vi.mocked(env.api.presenceSetting).mockResolvedValue(setting)
    const w = mount(ProfileEditor, { ...provide(env.client), attachTo: document.body })
    await flushPromises()
    const radio = (v: string) => w.find(`[data-testid="presence-visibility-${v}"]`).element as HTMLInputElement
    const save = async () => {
      await w.find('[data-testid="profile-editor"]').trigger('submit')
      await flushPromises()
    }
    return { ...env, w, radio, save }
  }

  it('shows the setting read from the server, follows another device, saves a change with Save', async () => {
    const { w, radio, save, api, client: c, ws } = await editor('contacts')
    expect(api.presenceSetting).toHaveBeenCalledTimes(1)
    expect(w.find('[data-testid="presence-visibility"] legend').text()).toBe("Who can see when I'm online")
    expect(['everyone', 'contacts', 'nobody'].map((v) => radio(v).checked)).toEqual([false, true, false])
    expect(w.find('[data-testid="presence-visibility"]').attributes('disabled')).toBeUndefined()
    expect(w.find('[data-testid="profile-save"]').attributes('disabled')).toBeDefined()
    // Changed on another device while open: followed.
    ws.receive({ type: 'presence_visibility', visibility: 'everyone' })
    await flushPromises()
    expect(radio('everyone').checked).toBe(true)
    // Picked here: nothing sent before Save.
    await w.find('[data-testid="presence-visibility-nobody"]').setValue(true)
    expect(radio('nobody').checked).toBe(true)
    expect(api.setPresenceSetting).not.toHaveBeenCalled()
    expect(w.find('[data-testid="profile-save"]').attributes('disabled')).toBeUndefined()
    await save()
    expect(api.setPresenceSetting).toHaveBeenCalledWith('nobody')
    expect(c.state.presenceVisibility).toBe('nobody')
    expect(w.emitted('close')).toHaveLength(1)
    c.stop()
  })

  it('says clearly when the change fails, and stays open', async () => {
    const { w, save, api, client: c } = await editor('everyone')
    vi.mocked(api.setPresenceSetting).mockRejectedValueOnce(new ApiError('too_many_requests', 'slow down', 429, 4000))
    await w.find('[data-testid="presence-visibility-contacts"]').setValue(true)
    await save()
    const error = w.find('[data-testid="profile-error"]')
    expect(error.attributes('role')).toBe('alert')
    expect(error.text()).toBe('Could not change who can see when you are online: Too many profile changes in a short time. Try again in 4 s.')
    expect(w.find('[data-testid="presence-visibility"]').attributes('aria-invalid')).toBe('true')
    expect(w.emitted('close')).toBeUndefined()
    expect(c.state.presenceVisibility).toBe('everyone')
    // Save again: sent again.
    await save()
    expect(api.setPresenceSetting).toHaveBeenCalledTimes(2)
    expect(c.state.presenceVisibility).toBe('contacts')
    expect(w.emitted('close')).toHaveLength(1)
    c.stop()
  })

  it('says so when the setting cannot be read, and reads it again on request', async () => {
    const env = await connectedClient([])
    vi.mocked(env.api.presenceSetting).mockRejectedValueOnce(new ApiError('network', 'network error', 0))
    const w = mount(ProfileEditor, { ...provide(env.client), attachTo: document.body })
    await flushPromises()
    const error = w.find('[data-testid="presence-visibility-error"]')
    expect(error.attributes('role')).toBe('alert')
    expect(error.text()).toContain('Could not load this setting: Cannot reach the server.')
    expect(w.find('[data-testid="presence-visibility"]').attributes('disabled')).toBeDefined()
    await w.find('[data-testid="presence-visibility-retry"]').trigger('click')
    await flushPromises()
    expect(w.find('[data-testid="presence-visibility-error"]').exists()).toBe(false)
    expect((w.find('[data-testid="presence-visibility-everyone"]').element as HTMLInputElement).checked).toBe(true)
    env.client.stop()
  })
})

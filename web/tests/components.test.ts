import { flushPromises, mount } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import type { Api } from '../src/api/http'
import ChatList from '../src/components/ChatList.vue'
import LoginView from '../src/components/LoginView.vue'
import MessagePane from '../src/components/MessagePane.vue'
import { CLIENT } from '../src/keys'
import { SessionStore } from '../src/stores/session'
import { MemoryStorage, msg } from './fakes'
import { chat, connectedClient, entry } from './fixture'

describe('ChatList', () => {
  it('shows chats by last activity with name, author, preview and unread badge', async () => {
    const { client } = await connectedClient([
      entry(chat('a', 3, 'group', { title: 'Old group', last_message: { seq: 3, sender_id: 'u2', preview: 'hey', at: 100, deleted: false } }), 1),
      entry(chat('b', 1, 'direct', { last_message: { seq: 1, sender_id: 'me', preview: 'yo', at: 200, deleted: false } }), 1),
    ])
    await flushPromises()
    const w = mount(ChatList, { props: { activeId: null }, global: { provide: { [CLIENT as symbol]: client } } })
    await flushPromises()
    const items = w.findAll('[data-testid="chat-item"]')
    expect(items.map((i) => i.find('[data-testid="chat-name"]').text())).toEqual(['name-u2', 'Old group'])
    expect(items[0]!.find('[data-testid="chat-preview"]').text()).toBe('You: yo')
    expect(items[1]!.find('[data-testid="chat-preview"]').text()).toBe('name-u2: hey')
    expect(items[0]!.find('[data-testid="unread-badge"]').exists()).toBe(false)
    expect(items[1]!.find('[data-testid="unread-badge"]').text()).toBe('2')
    // Live: a new message moves the chat up and raises its badge.
    client.onFrame({ type: 'message', message: msg(4, { chat_id: 'a', created_at: 300, text: 'news' }) })
    await flushPromises()
    const first = w.findAll('[data-testid="chat-item"]')[0]!
    expect(first.find('[data-testid="chat-name"]').text()).toBe('Old group')
    expect(first.find('[data-testid="unread-badge"]').text()).toBe('3')
    client.stop()
  })
})

describe('LoginView', () => {
  it('says the session expired and keeps the name', () => {
    const st = new MemoryStorage()
    st.setItem('chat.session', JSON.stringify({ user: { id: '1', name: 'alice', created_at: 0 }, token: 't', expires_at: 1 }))
    const session = new SessionStore(st)
    const w = mount(LoginView, { props: { session } })
    expect(w.find('[data-testid="session-notice"]').text()).toContain('expired')
    expect((w.find('input[name=name]').element as HTMLInputElement).value).toBe('alice')
  })

  it('logs in through the API and stores the session', async () => {
    const session = new SessionStore(new MemoryStorage())
    const s = { user: { id: '1', name: 'bob', created_at: 0 }, token: 'tok', expires_at: 4_000_000_000 }
    const api = { login: vi.fn(async () => s), register: vi.fn() } as unknown as Api
    const w = mount(LoginView, { props: { session, api } })
    await w.find('input[name=name]').setValue('bob')
    await w.find('input[name=password]').setValue('password1')
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(api.login).toHaveBeenCalledWith('bob', 'password1')
    expect(session.token).toBe('tok')
    session.dispose()
  })
})

describe('MessagePane', () => {
  it('shows history with its beginning, then a send as pending and then sent, once', async () => {
    const history = { a: [msg(1, { chat_id: 'a', text: 'first' }), msg(2, { chat_id: 'a', text: '<b>bold?</b>' })] }
    const { client, ws } = await connectedClient([entry(chat('a', 2), 2)], history)
    await client.openChat('a')
    const w = mount(MessagePane, { props: { chatId: 'a' }, global: { provide: { [CLIENT as symbol]: client } } })
    await flushPromises()
    expect(w.find('[data-testid="history-start"]').exists()).toBe(true)
    expect(w.findAll('[data-testid="message-text"]').map((t) => t.text())).toEqual(['first', '<b>bold?</b>'])
    expect(w.find('b').exists()).toBe(false)

    await w.find('[data-testid="composer-input"]').setValue('hello')
    await w.find('[data-testid="composer"]').trigger('submit')
    const row = () => w.findAll('[data-testid="message"]').at(-1)!
    expect(row().attributes('data-status')).toBe('pending')
    const sent = ws.framesOf('send')[0] as { client_msg_id: string }
    const m = msg(3, { chat_id: 'a', sender_id: 'me', text: 'hello', client_msg_id: sent.client_msg_id })
    ws.receive({ type: 'message', message: m })
    ws.receive({ type: 'ack', chat_id: 'a', client_msg_id: m.client_msg_id, seq: 3, message: m, duplicate: false })
    await flushPromises()
    expect(row().attributes('data-status')).toBe('sent')
    expect(w.findAll('[data-testid="message-text"]').filter((t) => t.text() === 'hello')).toHaveLength(1)
    client.stop()
  })

  it('offers retry for a failed send', async () => {
    const { client, ws } = await connectedClient([entry(chat('a', 0))])
    await client.openChat('a')
    const w = mount(MessagePane, { props: { chatId: 'a' }, global: { provide: { [CLIENT as symbol]: client } } })
    await flushPromises()
    await w.find('[data-testid="composer-input"]').setValue('nope')
    await w.find('[data-testid="composer"]').trigger('submit')
    const id = (ws.framesOf('send')[0] as { client_msg_id: string }).client_msg_id
    ws.receive({ type: 'rejected', chat_id: 'a', client_msg_id: id, code: 'silenced', message: 'silent' })
    await flushPromises()
    expect(w.find('[data-status="failed"]').exists()).toBe(true)
    await w.find('[data-testid="retry"]').trigger('click')
    expect(ws.framesOf('send')).toHaveLength(2)
    expect(w.find('[data-status="pending"]').exists()).toBe(true)
    client.stop()
  })
})

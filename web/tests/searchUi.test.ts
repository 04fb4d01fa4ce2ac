import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/http'
import type { SearchHit } from '../src/api/types'
import ChatScreen from '../src/components/ChatScreen.vue'
import MessagePane from '../src/components/MessagePane.vue'
import { CLIENT } from '../src/keys'
import { msg } from './fakes'
import { chat, connectedClient, entry, tallPane } from './fixture'

const many = (id: string, n: number) => Array.from({ length: n }, (_, i) => msg(i + 1, { chat_id: id, text: `history ${i + 1}` }))

function hit(chatId: string, seq: number, text: string, word: string): SearchHit {
  const i = text.indexOf(word)
  return { chat_id: chatId, seq, id: String(seq), sender_id: 'u2', created_at: 1_700_000_000_000, text, highlights: [[i, i + word.length]] }
}

async function screen() {
  const env = await connectedClient(
    [entry(chat('a', 300, 'group', { title: 'Team' }), 300), entry(chat('b', 0, 'group', { title: 'Other' }))],
    { a: many('a', 300) },
  )
  const w = mount(ChatScreen, { props: { client: env.client }, attachTo: document.body })
  await flushPromises()
  return { ...env, w }
}

afterEach(() => {
  document.body.innerHTML = ''
})

tallPane()

describe('global search', () => {
  it('replaces the chat list with hits; a click opens the chat at the message; Escape closes it', async () => {
    const { client, api, w } = await screen()
    const text = '🦘🦘 the quokka said hi'
    vi.mocked(api.search).mockResolvedValue({ hits: [hit('a', 40, text, 'quokka')], partial: false })
    const input = w.find('[data-testid="search-input"]')
    await input.setValue('quokka')
    await input.trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(api.search).toHaveBeenCalledTimes(1)
    expect(vi.mocked(api.search).mock.calls[0]![0]).toEqual({ q: 'quokka', limit: 20 })
    expect(w.find('[data-testid="chat-list"]').exists()).toBe(false)
    const h = w.find('[data-testid="search-hit"]')
    expect(h.find('[data-testid="hit-chat"]').text()).toBe('Team')
    expect(h.find('[data-testid="hit-author"]').text()).toBe('name-u2:')
    expect(h.find('[data-testid="hit-text"]').text()).toBe(text)
    expect(h.findAll('mark').map((m) => m.text())).toEqual(['quokka'])

    await h.trigger('click')
    await flushPromises()
    expect(api.history).toHaveBeenLastCalledWith('a', { around: 40, limit: 50 })
    expect(w.find('[data-testid="chat-title"]').text()).toBe('Team')
    const row = w.find('[data-testid="message"][data-seq="40"]')
    expect(row.attributes('data-flash')).toBe('true')
    expect(client.state.focus).toBeNull()
    // Still searching: the results stay beside the chat.
    expect(w.find('[data-testid="search-results"]').exists()).toBe(true)

    await w.find('[data-testid="search-input"]').trigger('keydown', { key: 'Escape' })
    expect(w.find('[data-testid="chat-list"]').exists()).toBe(true)
    expect((w.find('[data-testid="search-input"]').element as HTMLInputElement).value).toBe('')
    w.unmount()
    client.stop()
  })

  it('says when nothing matches, and explains an invalid query', async () => {
    const { client, api, w } = await screen()
    const input = w.find('[data-testid="search-input"]')
    vi.mocked(api.search).mockResolvedValueOnce({ hits: [], partial: false })
    await input.setValue('zzz')
    await input.trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(w.find('[data-testid="search-empty"]').text()).toContain('No messages match zzz')
    vi.mocked(api.search).mockRejectedValueOnce(new ApiError('invalid_query', 'a search has at most 16 words', 400))
    await input.setValue('a b c d e f g h i j k l m n o p q')
    await input.trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(w.find('[data-testid="search-empty"]').exists()).toBe(false)
    const err = w.find('[data-testid="search-error"]')
    expect(err.attributes('role')).toBe('alert')
    expect(err.text()).toContain('at most 16 words')
    w.unmount()
    client.stop()
  })

  it('loads more results by the cursor', async () => {
    const { client, api, w } = await screen()
    vi.mocked(api.search)
      .mockResolvedValueOnce({ hits: [hit('a', 300, 'history 300', 'history')], next_cursor: 's1.1', partial: false })
      .mockResolvedValueOnce({ hits: [hit('a', 299, 'history 299', 'history')], partial: false })
    const input = w.find('[data-testid="search-input"]')
    await input.setValue('history')
    await input.trigger('keydown', { key: 'Enter' })
    await flushPromises()
    await w.find('[data-testid="search-more"]').trigger('click')
    await flushPromises()
    expect(vi.mocked(api.search).mock.calls[1]![0]).toEqual({ q: 'history', limit: 20, before: 's1.1' })
    expect(w.findAll('[data-testid="search-hit"]').map((h) => h.attributes('data-seq'))).toEqual(['300', '299'])
    expect(w.find('[data-testid="search-more"]').exists()).toBe(false)
    w.unmount()
    client.stop()
  })
})

describe('search in a chat', () => {
  it('searches only that chat and jumps to a hit there, then pages newer back to the end', async () => {
    const { client, api } = await connectedClient([entry(chat('a', 300, 'group', { title: 'Team' }), 300)], { a: many('a', 300) })
    await client.openChat('a')
    const w = mount(MessagePane, { props: { chatId: 'a' }, global: { provide: { [CLIENT as symbol]: client } }, attachTo: document.body })
    await flushPromises()
    vi.mocked(api.search).mockResolvedValue({ hits: [hit('a', 40, 'history 40', '40')], partial: false })
    await w.find('[data-testid="chat-search-btn"]').trigger('click')
    const input = w.find('[data-testid="chat-search-input"]')
    expect(document.activeElement).toBe(input.element)
    await input.setValue('40')
    await input.trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(vi.mocked(api.search).mock.calls[0]![0]).toEqual({ q: '40', limit: 20, chat_id: 'a' })
    const h = w.find('[data-testid="chat-search-panel"] [data-testid="search-hit"]')
    expect(h.find('[data-testid="hit-chat"]').exists()).toBe(false)
    expect(h.find('[data-testid="hit-author"]').text()).toBe('name-u2')
    await h.trigger('click')
    await flushPromises()
    expect(w.find('[data-seq="40"]').attributes('data-flash')).toBe('true')
    expect(w.find('[data-seq="300"]').exists()).toBe(false)
    expect(w.find('[data-testid="loading-newer"]').exists()).toBe(true)
    // ↓ from a moved window: the newest messages again.
    await w.find('[data-testid="to-bottom"]').trigger('click')
    await flushPromises()
    expect(w.find('[data-seq="300"]').exists()).toBe(true)
    expect(w.find('[data-testid="loading-newer"]').exists()).toBe(false)
    await w.find('[data-testid="chat-search-input"]').trigger('keydown', { key: 'Escape' })
    expect(w.find('[data-testid="chat-search-input"]').exists()).toBe(false)
    expect(w.find('[data-testid="chat-search-panel"]').exists()).toBe(false)
    w.unmount()
    client.stop()
  })
})

// A ChatClient wired to a fake API and a FakeWebSocket, for store and component tests.
import { afterAll, beforeAll, vi } from 'vitest'
import type { Api } from '../src/api/http'
import type { Chat, ChatListEntry, Message } from '../src/api/types'
import { ChatClient } from '../src/stores/client'
import { MUTED_FOREVER } from '../src/stores/mute'
import { SessionStore } from '../src/stores/session'
import { FakeWebSocket, historyPage, MemoryStorage, user } from './fakes'

export const flush = () => new Promise((r) => setTimeout(r, 0))

export function chat(id: string, lastSeq: number, kind: Chat['kind'] = 'group', over: Partial<Chat> = {}): Chat {
  return {
    id, kind, title: kind === 'group' ? `G${id}` : '', created_by: 'u2', created_at: 1,
    last_seq: lastSeq, last_pts: lastSeq, member_count: 2, last_message: null, ...over,
  }
}

export const entry = (c: Chat, read = 0): ChatListEntry => ({ chat: c, role: 'member', read_seq: read, unread: c.last_seq - read, mentions: 0 })

/** A session store logged in as `me` (alice), far from expiry. */
export function loggedIn(): SessionStore {
  const session = new SessionStore(new MemoryStorage(), () => 0)
  session.set({
    user: user('me', 'alice'),
    token: 'tok',
    expires_at: 4_000_000_000,
    refresh_token: 'rt',
    refresh_expires_at: 4_000_000_000,
    session_id: 's1',
  })
  return session
}

export async function connectedClient(list: ChatListEntry[], history: Record<string, Message[]> = {}) {
  const session = loggedIn()
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
    history: vi.fn(async (id: string, q: { before?: number; after?: number; around?: number; limit?: number }) =>
      structuredClone(historyPage(history[id] ?? [], q)),
    ),
    search: vi.fn(async () => ({ hits: [], partial: false })),
    // The user's mute is kept on the list entry, as the server keeps it on the membership.
    mute: vi.fn(async (id: string, until?: number) => {
      const e = list.find((x) => x.chat.id === id)!
      e.muted_until = until ?? MUTED_FOREVER
      return structuredClone(e)
    }),
    unmute: vi.fn(async (id: string) => {
      const e = list.find((x) => x.chat.id === id)!
      delete e.muted_until
      return structuredClone(e)
    }),
    presenceSetting: vi.fn(async () => 'everyone'),
    setPresenceSetting: vi.fn(async (v: string) => v),
  } as unknown as Api
  const client = new ChatClient(session, {
    api,
    socket: { WebSocket: FakeWebSocket as unknown as new (u: string) => WebSocket, url: () => 'ws://t/ws', delay: () => 10 },
  })
  client.start()
  FakeWebSocket.last.ready('me')
  await flush()
  await flush()
  return { client, api, session, ws: FakeWebSocket.last }
}

/** jsdom lays nothing out: every element would measure 0 and a message pane
 *  would load page after page to fill itself. Call at a test file's top
 *  level for a tall list in a short pane there. */
export function tallPane(): void {
  const sizes = { scrollHeight: 5000, clientHeight: 500 }
  const saved: Record<string, PropertyDescriptor | undefined> = {}
  beforeAll(() => {
    for (const [k, v] of Object.entries(sizes)) {
      saved[k] = Object.getOwnPropertyDescriptor(HTMLElement.prototype, k) ?? Object.getOwnPropertyDescriptor(Element.prototype, k)
      Object.defineProperty(HTMLElement.prototype, k, { configurable: true, get: () => v })
    }
  })
  afterAll(() => {
    for (const k of Object.keys(sizes)) {
      delete (HTMLElement.prototype as unknown as Record<string, unknown>)[k]
      if (saved[k] && !Object.getOwnPropertyDescriptor(Element.prototype, k)) Object.defineProperty(HTMLElement.prototype, k, saved[k]!)
    }
  })
}

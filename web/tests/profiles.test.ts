// Profiles in the stores: the users cache (newer copies only, refetch in batches),
// `user_updated`, `sync_profiles` after every `ready` (first without `since`, then
// since the last `as_of`; `complete: false` refetches every user held), the user's
// own changes over HTTP, and the HTTP requests those send.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Api, ApiError } from '../src/api/http'
import { USERS_BATCH, UsersStore } from '../src/stores/users'
import { FakeWebSocket, user } from './fakes'
import { chat, connectedClient, entry, flush } from './fixture'

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => vi.useRealTimers())

/** Drops the socket and lets the client reconnect (the fixture's backoff is 10 ms). */
async function reconnect(ws: FakeWebSocket): Promise<FakeWebSocket> {
  ws.serverClose(1012)
  await new Promise((r) => setTimeout(r, 20))
  const next = FakeWebSocket.last
  expect(next).not.toBe(ws)
  next.ready('me')
  await flush()
  return next
}

describe('UsersStore', () => {
  it('shows the display name, keeps the login name, and never takes an older copy', async () => {
    const fetch = vi.fn(async (ids: string[]) => ids.map((id) => user(id, `login-${id}`, { display_name: `Shown ${id}` })))
    const users = new UsersStore(fetch)
    expect(users.name('u1')).toBe('…')
    await users.flush()
    expect(users.name('u1')).toBe('Shown u1')
    expect(users.login('u1')).toBe('login-u1')
    expect(users.put(user('u1', 'login-u1', { display_name: 'New', updated_at: 10 }))).toBe(true)
    // A slow answer from before the change does not undo it.
    expect(users.put(user('u1', 'login-u1', { display_name: 'Old', updated_at: 5 }))).toBe(false)
    expect(users.name('u1')).toBe('New')
  })

  it('refetches users in batches of at most 500 ids', async () => {
    const fetch = vi.fn(async (ids: string[]) => ids.map((id) => user(id, id)))
    const users = new UsersStore(fetch)
    const ids = Array.from({ length: 2 * USERS_BATCH + 1 }, (_, i) => `u${i}`)
    await users.refresh(ids)
    expect(fetch.mock.calls.map((c) => c[0].length)).toEqual([500, 500, 1])
    expect(users.held()).toHaveLength(ids.length)
  })
})

describe('ChatClient profiles', () => {
  it('user_updated replaces the user held, everywhere it is shown', async () => {
    const { client, ws } = await connectedClient([entry(chat('d', 0, 'direct'))])
    await flush()
    expect(client.chatName('d')).toBe('name-u2')
    ws.receive({ type: 'user_updated', user: user('u2', 'name-u2', { display_name: 'Bob Builder', avatar: 'v1', updated_at: 7 }) })
    expect(client.users.byId.u2).toMatchObject({ display_name: 'Bob Builder', avatar: 'v1' })
    expect(client.chatName('d')).toBe('Bob Builder')
    // Removed avatar: absent in the next copy.
    ws.receive({ type: 'user_updated', user: user('u2', 'name-u2', { display_name: 'Bob Builder', updated_at: 8 }) })
    expect(client.users.byId.u2!.avatar).toBeUndefined()
    client.stop()
  })

  it('sync_profiles: first without since, then since the last as_of after each reconnect', async () => {
    const { client, ws } = await connectedClient([entry(chat('a', 0))])
    expect(ws.framesOf('sync_profiles')).toEqual([{ type: 'sync_profiles' }])
    // Before the answer the client knows no watermark; it keeps the one it gets.
    ws.receive({ type: 'profiles', users: [], as_of: 1000, complete: true })
    const ws2 = await reconnect(ws)
    expect(ws2.framesOf('sync_profiles')).toEqual([{ type: 'sync_profiles', since: 1000 }])
    // What changed while away is applied, the watermark moves on.
    ws2.receive({
      type: 'profiles',
      users: [user('u2', 'name-u2', { display_name: 'Renamed', updated_at: 1500 })],
      as_of: 2000,
      complete: true,
    })
    expect(client.users.name('u2')).toBe('Renamed')
    const ws3 = await reconnect(ws2)
    expect(ws3.framesOf('sync_profiles')).toEqual([{ type: 'sync_profiles', since: 2000 }])
    client.stop()
  })

  it('sync_profiles sent again when no answer came before the reconnect keeps the last as_of', async () => {
    const { client, ws } = await connectedClient([entry(chat('a', 0))])
    ws.receive({ type: 'profiles', users: [], as_of: 1000, complete: true })
    const ws2 = await reconnect(ws)
    const ws3 = await reconnect(ws2) // ws2's answer never came
    expect(ws3.framesOf('sync_profiles')).toEqual([{ type: 'sync_profiles', since: 1000 }])
    client.stop()
  })

  it('complete: false refetches every user held', async () => {
    const { client, ws, api } = await connectedClient([entry(chat('d', 0, 'direct'))])
    ws.receive({ type: 'profiles', users: [], as_of: 1000, complete: true })
    client.users.put(user('u3', 'carol'))
    await flush()
    const calls = vi.mocked(api.users).mock.calls.length
    const ws2 = await reconnect(ws)
    vi.mocked(api.users).mockImplementation(async (ids: string[]) =>
      ids.map((id) => user(id, `name-${id}`, { display_name: `Fresh ${id}`, updated_at: 3000 })),
    )
    ws2.receive({ type: 'profiles', users: [], as_of: 5000, complete: false })
    await flush()
    const refetched = vi.mocked(api.users).mock.calls.slice(calls).flatMap((c) => c[0])
    expect(refetched.sort()).toEqual(['me', 'u2', 'u3'])
    expect(client.users.name('u3')).toBe('Fresh u3')
    expect(client.chatName('d')).toBe('Fresh u2')
    const ws3 = await reconnect(ws2)
    expect(ws3.framesOf('sync_profiles')).toEqual([{ type: 'sync_profiles', since: 5000 }])
    client.stop()
  })

  it('a sync_profiles refused by the rate limit is sent again after retry_after_ms', async () => {
    const { client, ws } = await connectedClient([entry(chat('a', 0))])
    ws.receive({ type: 'error', code: 'too_many_requests', message: 'slow down', retry_after_ms: 15 })
    expect(client.state.toasts).toEqual([])
    await new Promise((r) => setTimeout(r, 30))
    expect(ws.framesOf('sync_profiles')).toEqual([{ type: 'sync_profiles' }, { type: 'sync_profiles' }])
    client.stop()
  })

  it("the user's own profile: from the server at start, from user_updated and from its answers, into the session", async () => {
    const { client, ws, api, session } = await connectedClient([entry(chat('a', 0))])
    // At start the client asked who it is: the stored session may be older.
    expect(api.me).toHaveBeenCalledTimes(1)
    // Another device renamed the user.
    ws.receive({ type: 'user_updated', user: user('me', 'alice', { display_name: 'Alice L.', updated_at: 10 }) })
    expect(client.users.name('me')).toBe('Alice L.')
    expect(session.user?.display_name).toBe('Alice L.')
    Object.assign(api, {
      updateMe: vi.fn(async () => user('me', 'alice', { display_name: 'Alice', about: 'hi', updated_at: 20 })),
      putAvatar: vi.fn(async () => user('me', 'alice', { display_name: 'Alice', about: 'hi', avatar: 'a1', updated_at: 30 })),
      deleteAvatar: vi.fn(async () => user('me', 'alice', { display_name: 'Alice', about: 'hi', updated_at: 40 })),
    })
    await client.updateProfile({ display_name: 'Alice', about: 'hi' })
    expect(client.users.byId.me).toMatchObject({ display_name: 'Alice', about: 'hi' })
    await client.setAvatar(new Blob(['x'], { type: 'image/png' }))
    expect(client.users.byId.me!.avatar).toBe('a1')
    expect(session.user?.avatar).toBe('a1')
    await client.removeAvatar()
    expect(client.users.byId.me!.avatar).toBeUndefined()
    // Reconnects do not ask again.
    await reconnect(ws)
    expect(api.me).toHaveBeenCalledTimes(1)
    client.stop()
  })
})

describe('Api profile requests', () => {
  function api(answer: Response) {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => answer)
    return { fetch, api: new Api({ token: () => 'tok', onUnauthorized: () => undefined, fetch: fetch as unknown as typeof globalThis.fetch }) }
  }
  const ok = (body: unknown) => new Response(JSON.stringify(body), { status: 200 })

  it('PATCH /me sends JSON', async () => {
    const { fetch, api: a } = api(ok(user('me', 'alice', { display_name: 'A' })))
    expect((await a.updateMe({ display_name: 'A' })).display_name).toBe('A')
    const [url, init] = fetch.mock.calls[0]!
    expect(url).toBe('/api/v1/me')
    expect(init.method).toBe('PATCH')
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json')
    expect(init.body).toBe('{"display_name":"A"}')
  })

  it('PUT /me/avatar sends the image bytes as they are', async () => {
    const { fetch, api: a } = api(ok(user('me', 'alice', { avatar: 't' })))
    const img = new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], { type: 'image/png' })
    await a.putAvatar(img)
    const [url, init] = fetch.mock.calls[0]!
    expect(url).toBe('/api/v1/me/avatar')
    expect(init.method).toBe('PUT')
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('image/png')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
    expect(init.body).toBe(img)
  })

  it('a refused upload is an ApiError with its code', async () => {
    const { api: a } = api(new Response(JSON.stringify({ error: { code: 'too_large', message: 'at most 5 MiB' } }), { status: 413 }))
    const e = await a.putAvatar(new Blob(['x'], { type: 'image/jpeg' })).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ApiError)
    expect((e as ApiError).code).toBe('too_large')
    expect((e as ApiError).status).toBe(413)
  })
})

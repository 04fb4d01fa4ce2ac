import { afterEach, describe, expect, it, vi } from 'vitest'
import { Api, ApiError } from '../src/api/http'
import type { Session } from '../src/api/types'
import { SessionStore } from '../src/stores/session'
import { MemoryStorage, user } from './fakes'

const NOW = 1_800_000_000_000
const session = (expiresInS: number, token = 't1', id = 'u1', refresh = `r-${token}`): Session => ({
  user: user(id, 'alice'),
  token,
  expires_at: Math.floor(NOW / 1000) + expiresInS,
  refresh_token: refresh,
  refresh_expires_at: Math.floor(NOW / 1000) + 30 * 86_400,
  session_id: 's1',
})
/** A session from before refresh tokens: it ends with its access token. */
const legacy = (expiresInS: number): Session => {
  const s = session(expiresInS) as Partial<Session>
  delete s.refresh_token
  delete s.refresh_expires_at
  return s as Session
}
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

afterEach(() => vi.useRealTimers())

describe('SessionStore', () => {
  it('keeps the session in storage and restores it', () => {
    const st = new MemoryStorage()
    const a = new SessionStore(st, () => NOW)
    a.set(session(3600))
    const b = new SessionStore(st, () => NOW)
    expect(b.token).toBe('t1')
    expect(b.user?.name).toBe('alice')
    a.dispose()
    b.dispose()
  })

  it('follows a change of the own profile, keeping tokens, and ignores other users', () => {
    const st = new MemoryStorage()
    const a = new SessionStore(st, () => NOW)
    a.set(session(3600))
    a.updateUser(user('u1', 'alice', { display_name: 'Alice L.', avatar: 't1', updated_at: 5 }))
    a.updateUser(user('u9', 'mallory', { display_name: 'Not me' }))
    expect(a.user).toMatchObject({ name: 'alice', display_name: 'Alice L.', avatar: 't1' })
    expect(a.token).toBe('t1')
    const b = new SessionStore(st, () => NOW)
    expect(b.user?.display_name).toBe('Alice L.')
    expect(b.token).toBe('t1')
    a.dispose()
    b.dispose()
  })

  it('drops an ended session at start and says why, keeping the name', () => {
    const st = new MemoryStorage()
    st.setItem('chat.session', JSON.stringify(legacy(-5)))
    const s = new SessionStore(st, () => NOW)
    expect(s.token).toBeNull()
    expect(s.state.expired).toBe('token_expired')
    expect(s.state.lastName).toBe('alice')
    expect(st.getItem('chat.session')).toBeNull()
  })

  it('expires by itself when a session without a refresh token runs out', () => {
    vi.useFakeTimers()
    vi.setSystemTime(NOW)
    const s = new SessionStore(new MemoryStorage(), () => Date.now())
    s.set(legacy(60))
    vi.advanceTimersByTime(59_000)
    expect(s.state.session).not.toBeNull()
    vi.advanceTimersByTime(2_000)
    expect(s.state.session).toBeNull()
    expect(s.state.expired).toBe('token_expired')
  })

  it('expire() on a 401 or close 4001; logout() clears without a notice', () => {
    const st = new MemoryStorage()
    const s = new SessionStore(st, () => NOW)
    s.set(session(3600))
    s.expire('invalid_token')
    expect(s.state).toMatchObject({ session: null, expired: 'invalid_token' })
    s.set(session(3600))
    s.logout()
    expect(s.state).toMatchObject({ session: null, expired: null })
    expect(st.getItem('chat.session')).toBeNull()
  })

  it('follows another tab: login, token renewal, logout', () => {
    const st = new MemoryStorage()
    const s = new SessionStore(st, () => NOW)
    st.setItem('chat.session', JSON.stringify(session(3600, 't2')))
    s.syncFromStorage()
    expect(s.token).toBe('t2')
    st.removeItem('chat.session')
    s.syncFromStorage()
    expect(s.state.session).toBeNull()
  })

  it('ignores garbage in storage', () => {
    const st = new MemoryStorage()
    st.setItem('chat.session', '{not json')
    expect(new SessionStore(st, () => NOW).state.session).toBeNull()
  })

  it('renews a minute before the access token expires, and stores the new pair', async () => {
    vi.useFakeTimers()
    vi.setSystemTime(NOW)
    const st = new MemoryStorage()
    const refresh = vi.fn(async (rt: string) => {
      expect(rt).toBe('r-t1')
      return json(200, { ...session(900, 't2'), expires_at: Math.floor(Date.now() / 1000) + 900 })
    })
    const s = new SessionStore(st, () => Date.now(), refresh)
    s.set(session(900))
    await vi.advanceTimersByTimeAsync(839_000)
    expect(refresh).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(2_000)
    expect(refresh).toHaveBeenCalledTimes(1)
    expect(s.token).toBe('t2')
    expect(JSON.parse(st.getItem('chat.session')!).refresh_token).toBe('r-t2')
    s.dispose()
  })

  it('an access token expired at start is renewed, not dropped', async () => {
    const st = new MemoryStorage()
    st.setItem('chat.session', JSON.stringify(session(-5)))
    const refresh = vi.fn(async () => json(200, session(900, 't2')))
    const s = new SessionStore(st, () => NOW, refresh)
    expect(s.state.expired).toBeNull()
    await vi.waitFor(() => expect(s.token).toBe('t2'))
    s.dispose()
  })

  it('renews once for many callers; a refused refresh ends the session with its code', async () => {
    const refresh = vi.fn(async () => json(401, { error: { code: 'session_revoked', message: 'x' } }))
    const s = new SessionStore(new MemoryStorage(), () => NOW, refresh)
    s.set(session(900))
    const all = await Promise.all([s.renew(), s.renew(), s.renew()])
    expect(all).toEqual([false, false, false])
    expect(refresh).toHaveBeenCalledTimes(1)
    expect(s.state).toMatchObject({ session: null, expired: 'session_revoked' })
  })

  it('a server that cannot renew now keeps the session and is asked again', async () => {
    vi.useFakeTimers()
    vi.setSystemTime(NOW)
    const refresh = vi
      .fn()
      .mockResolvedValueOnce(json(503, { error: { code: 'unavailable', message: 'x' } }))
      .mockResolvedValueOnce(json(200, session(900, 't2')))
    const s = new SessionStore(new MemoryStorage(), () => Date.now(), refresh)
    s.set(session(30))
    await vi.advanceTimersByTimeAsync(1)
    expect(refresh).toHaveBeenCalledTimes(1)
    expect(s.token).toBe('t1')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(refresh).toHaveBeenCalledTimes(2)
    expect(s.token).toBe('t2')
    s.dispose()
  })

  it('adopts the pair another tab renewed instead of spending the old token', async () => {
    const st = new MemoryStorage()
    const refresh = vi.fn(async () => json(200, session(900, 't3')))
    const s = new SessionStore(st, () => NOW, refresh)
    s.set(session(900))
    // The other tab renewed and stored its pair; no storage event yet.
    st.setItem('chat.session', JSON.stringify(session(900, 't2')))
    expect(await s.renew()).toBe(true)
    expect(refresh).not.toHaveBeenCalled()
    expect(s.token).toBe('t2')
    s.dispose()
  })
})

describe('Api and an expired access token', () => {
  it('renews and retries once; a refusal that a renewal cannot cure ends the session', async () => {
    let token = 'old'
    const fetch = vi.fn(async (_url: string, init?: RequestInit) => {
      const auth = (init?.headers as Record<string, string>).Authorization
      if (auth === 'Bearer old') return json(401, { error: { code: 'token_expired', message: 'x' } })
      if (auth === 'Bearer revoked') return json(401, { error: { code: 'session_revoked', message: 'x' } })
      return json(200, { id: 'u1', name: 'alice', created_at: 0 })
    })
    const renew = vi.fn(async () => {
      token = 'new'
      return true
    })
    const unauthorized = vi.fn()
    const api = new Api({ token: () => token, onUnauthorized: unauthorized, renew, fetch: fetch as typeof globalThis.fetch })
    expect((await api.me()).name).toBe('alice')
    expect(renew).toHaveBeenCalledTimes(1)
    expect(unauthorized).not.toHaveBeenCalled()
    token = 'revoked'
    await expect(api.me()).rejects.toBeInstanceOf(ApiError)
    expect(unauthorized).toHaveBeenCalledWith('session_revoked')
    expect(renew).toHaveBeenCalledTimes(1)
  })
})

import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Session } from '../src/api/types'
import { SessionStore } from '../src/stores/session'
import { MemoryStorage } from './fakes'

const NOW = 1_800_000_000_000
const session = (expiresInS: number, token = 't1', id = 'u1'): Session => ({
  user: { id, name: 'alice', created_at: 0 },
  token,
  expires_at: Math.floor(NOW / 1000) + expiresInS,
})

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

  it('drops an expired token at start and says why, keeping the name', () => {
    const st = new MemoryStorage()
    st.setItem('chat.session', JSON.stringify(session(-5)))
    const s = new SessionStore(st, () => NOW)
    expect(s.token).toBeNull()
    expect(s.state.expired).toBe('token_expired')
    expect(s.state.lastName).toBe('alice')
    expect(st.getItem('chat.session')).toBeNull()
  })

  it('expires by itself when the token runs out', () => {
    vi.useFakeTimers()
    vi.setSystemTime(NOW)
    const s = new SessionStore(new MemoryStorage(), () => Date.now())
    s.set(session(60))
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
})

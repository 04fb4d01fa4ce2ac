// The login session: the access token, the refresh token and their expiries, kept
// in localStorage so that every tab of the browser shares it (and a logout in one
// tab logs out the others).
//
// The access token lives minutes; the store renews it with the refresh token a
// minute before it expires, and whenever the server answers `token_expired`. A
// refresh token is good once (the server ends a session whose spent token comes
// back), so tabs renew one at a time under a Web Lock and adopt a pair another tab
// stored. A session the server ended (`session_revoked`, `invalid_token`) or that
// ran out is dropped and the user is asked to log in again.

import { reactive } from 'vue'
import type { RequestBody, Session, User } from '../api/types'

const KEY = 'chat.session'
/** Renew this long before the access token expires. */
const RENEW_AHEAD_MS = 60_000
/** After a failed renewal (network, 429, 503), try again this much later. */
const RETRY_MS = 10_000

export interface SessionState {
  session: Session | null
  /** Why the user must log in again (token_expired, session_revoked...), if so. */
  expired: string | null
  /** Name of the last user, to prefill the login form after an expiry. */
  lastName: string
}

/** How the store reaches POST /auth/refresh (injected in tests). */
export type Refresh = (refreshToken: string) => Promise<Response>

const defaultRefresh: Refresh = (refreshToken) =>
  fetch('/api/v1/auth/refresh', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ refresh_token: refreshToken } satisfies RequestBody<'refresh'>),
  })

/** Runs `fn` while holding the browser-wide refresh lock (where there is one). */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  if (!locks) return fn()
  let out: T | undefined
  await locks.request('chat.refresh', async () => {
    out = await fn()
  })
  return out as T
}

export class SessionStore {
  readonly state: SessionState
  private timer: ReturnType<typeof setTimeout> | null = null
  private renewing: Promise<boolean> | null = null

  constructor(
    private readonly storage: Storage | null = typeof localStorage !== 'undefined' ? localStorage : null,
    private readonly now: () => number = Date.now,
    private readonly refresh: Refresh = defaultRefresh,
  ) {
    this.state = reactive<SessionState>({ session: null, expired: null, lastName: '' })
    const saved = this.read()
    if (saved) {
      this.state.lastName = saved.user.name
      if (this.isLive(saved)) {
        this.state.session = saved
        this.armTimer()
      } else {
        this.storage?.removeItem(KEY)
        this.state.expired = 'token_expired'
      }
    }
  }

  /** The access token (it may have just expired: requests then renew it). */
  get token(): string | null {
    const s = this.state.session
    return s && this.isLive(s) ? s.token : null
  }

  get user(): User | null {
    return this.state.session?.user ?? null
  }

  /** Whether the session can still be used: its access token, or a refresh. */
  isLive(s: Session): boolean {
    const until = s.refresh_token ? s.refresh_expires_at : s.expires_at
    return until * 1000 > this.now()
  }

  set(s: Session): void {
    this.state.session = s
    this.state.expired = null
    this.state.lastName = s.user.name
    this.storage?.setItem(KEY, JSON.stringify(s))
    this.armTimer()
  }

  /**
   * The user's own profile changed (here or on another device): the stored copy
   * follows, so the next page load starts from it. Tokens and timers stay as they are.
   */
  updateUser(u: User): void {
    const s = this.state.session
    if (!s || s.user.id !== u.id) return
    const next = { ...s, user: u }
    this.state.session = next
    this.storage?.setItem(KEY, JSON.stringify(next))
  }

  logout(): void {
    this.clear(null)
  }

  /** The server or the clock says the session is over. */
  expire(reason: string): void {
    if (!this.state.session) return
    this.clear(reason)
  }

  /**
   * Gets a fresh access token. True when there is one; false when the session is
   * over (then `expire` was called); throws when the server could not be reached
   * or asked to wait (the session stays; try again later).
   */
  renew(): Promise<boolean> {
    if (!this.renewing) {
      this.renewing = withLock(() => this.renewOnce()).finally(() => {
        this.renewing = null
      })
    }
    return this.renewing
  }

  private async renewOnce(): Promise<boolean> {
    const mine = this.state.session
    if (!mine) return false
    // Another tab may have renewed while this one waited for the lock.
    const saved = this.read()
    if (saved && saved.session_id === mine.session_id && saved.refresh_token !== mine.refresh_token) {
      this.set(saved)
      return true
    }
    if (!mine.refresh_token) {
      this.expire('token_expired')
      return false
    }
    const res = await this.refresh(mine.refresh_token)
    if (res.ok) {
      const next = (await res.json()) as Session
      if (this.state.session?.session_id === mine.session_id) this.set(next)
      return true
    }
    if (res.status === 401) {
      let code = 'token_expired'
      try {
        code = ((await res.json()) as { error?: { code?: string } }).error?.code ?? code
      } catch {
        // not JSON: keep the default
      }
      this.expire(code)
      return false
    }
    throw new Error(`refresh answered ${res.status}`)
  }

  /** Another tab changed the stored session (logged in, out, or renewed). */
  syncFromStorage(): void {
    const saved = this.read()
    const mine = this.state.session
    if (!saved) {
      if (mine) this.clear(null)
      return
    }
    if (!mine || saved.token !== mine.token) {
      if (mine && saved.user.id !== mine.user.id) this.clear(null)
      if (this.isLive(saved)) this.set(saved)
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private clear(reason: string | null) {
    this.dispose()
    this.state.session = null
    this.state.expired = reason
    this.storage?.removeItem(KEY)
  }

  private read(): Session | null {
    try {
      const raw = this.storage?.getItem(KEY)
      if (!raw) return null
      const s = JSON.parse(raw) as Session
      if (typeof s?.token !== 'string' || typeof s.expires_at !== 'number' || !s.user?.id) return null
      return s
    } catch {
      return null
    }
  }

  /** Renews a minute before the access token expires (or ends the session then). */
  private armTimer(delay?: number) {
    this.dispose()
    const s = this.state.session
    if (!s) return
    const ahead = s.refresh_token ? RENEW_AHEAD_MS : 0
    // setTimeout takes at most 2^31-1 ms; a longer wait is re-armed when it fires.
    const left = Math.min(delay ?? s.expires_at * 1000 - ahead - this.now(), 2 ** 31 - 1)
    this.timer = setTimeout(() => {
      const cur = this.state.session
      if (!cur) return
      if (!this.isLive(cur)) return this.expire('token_expired')
      if (cur.expires_at * 1000 - ahead > this.now()) return this.armTimer()
      this.renew().catch(() => this.armTimer(RETRY_MS))
    }, Math.max(0, left))
  }
}

// The login session: the token and its expiry, kept in localStorage so that every
// tab of the browser shares it (and a logout in one tab logs out the others). An
// expired token is dropped and the user is asked to log in again.

import { reactive } from 'vue'
import type { Session, User } from '../api/types'

const KEY = 'chat.session'

export interface SessionState {
  session: Session | null
  /** Why the user must log in again (token_expired, invalid_token...), if so. */
  expired: string | null
  /** Name of the last user, to prefill the login form after an expiry. */
  lastName: string
}

export class SessionStore {
  readonly state: SessionState
  private timer: ReturnType<typeof setTimeout> | null = null

  constructor(
    private readonly storage: Storage | null = typeof localStorage !== 'undefined' ? localStorage : null,
    private readonly now: () => number = Date.now,
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

  get token(): string | null {
    const s = this.state.session
    return s && this.isLive(s) ? s.token : null
  }

  get user(): User | null {
    return this.state.session?.user ?? null
  }

  isLive(s: Session): boolean {
    return s.expires_at * 1000 > this.now()
  }

  set(s: Session): void {
    this.state.session = s
    this.state.expired = null
    this.state.lastName = s.user.name
    this.storage?.setItem(KEY, JSON.stringify(s))
    this.armTimer()
  }

  logout(): void {
    this.clear(null)
  }

  /** The server or the clock says the token is no longer valid. */
  expire(reason: string): void {
    if (!this.state.session) return
    this.clear(reason)
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

  private armTimer() {
    this.dispose()
    const s = this.state.session
    if (!s) return
    // setTimeout takes at most 2^31-1 ms; a longer wait is re-armed when it fires.
    const left = Math.min(s.expires_at * 1000 - this.now(), 2 ** 31 - 1)
    this.timer = setTimeout(() => {
      const cur = this.state.session
      if (cur && !this.isLive(cur)) this.expire('token_expired')
      else this.armTimer()
    }, Math.max(0, left))
  }
}

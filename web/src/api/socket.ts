// The one WebSocket of a logged-in client: authenticates with an `auth` frame,
// reconnects with backoff after any drop (including close codes 4008 slow consumer
// and 1012 server restart), notices dead connections by a ping heartbeat, and
// reports its state. Resuming subscriptions is the owner's job, in `onReady`.

import { backoffDelay } from '../lib/backoff'
import type { ClientFrame, ServerFrame, ServerFrameOf } from './types'
import { AUTH_CODES } from './http'

export type ConnState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed'

/** Close code: authentication missing, invalid or expired: do not reconnect. */
export const CLOSE_AUTH = 4001

type WsCtor = new (url: string) => WebSocket

export interface SocketOptions {
  url: () => string
  token: () => string | null
  onFrame: (frame: ServerFrame) => void
  onReady: (frame: ServerFrameOf<'ready'>) => void
  onState: (state: ConnState) => void
  /** The server refused the token: the session is over. */
  onAuthFailed: (code: string) => void
  /**
   * Renews an expired access token (true: reconnect with the new one; false: the
   * session is over; a throw: try again after the usual backoff).
   */
  renew?: () => Promise<boolean>
  WebSocket?: WsCtor
  delay?: (attempt: number) => number
  /** Ping interval; a connection silent for `idleMs` is considered dead. */
  pingMs?: number
  idleMs?: number
  /** Failed attempts in a row after which the state shows `offline`. */
  offlineAfter?: number
}

export function wsUrl(loc: Location = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`
}

export class ChatSocket {
  state: ConnState = 'closed'
  private ws: WebSocket | null = null
  private ready = false
  private stopped = true
  private attempt = 0
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private pingTimer: ReturnType<typeof setInterval> | null = null
  private lastFrameAt = 0
  private authCode: string | null = null
  private readonly onOnline = () => this.reconnectNow()

  constructor(private readonly opts: SocketOptions) {}

  get isReady(): boolean {
    return this.ready
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.attempt = 0
    if (typeof window !== 'undefined') window.addEventListener('online', this.onOnline)
    this.open()
  }

  stop(): void {
    this.stopped = true
    if (typeof window !== 'undefined') window.removeEventListener('online', this.onOnline)
    this.clearTimers()
    this.drop(1000)
    this.setState('closed')
  }

  /** Sends a frame if authenticated; false means "not now" (the caller keeps it). */
  send(frame: ClientFrame): boolean {
    if (!this.ready || !this.ws || this.ws.readyState !== 1) return false
    this.ws.send(JSON.stringify(frame))
    return true
  }

  /** Drops the connection and reconnects at once (network came back, or a test). */
  reconnectNow(): void {
    if (this.stopped || this.ready) return
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
    this.drop(1000)
    this.open()
  }

  private setState(s: ConnState) {
    if (this.state === s) return
    this.state = s
    this.opts.onState(s)
  }

  private open() {
    const Ctor = this.opts.WebSocket ?? WebSocket
    this.ready = false
    this.authCode = null
    if (this.attempt === 0) this.setState('connecting')
    let ws: WebSocket
    try {
      ws = new Ctor(this.opts.url())
    } catch {
      this.scheduleRetry()
      return
    }
    this.ws = ws
    ws.onopen = () => {
      const token = this.opts.token()
      if (!token) {
        this.opts.onAuthFailed('auth_required')
        this.stop()
        return
      }
      ws.send(JSON.stringify({ type: 'auth', token } satisfies ClientFrame))
    }
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws) return
      this.lastFrameAt = Date.now()
      let frame: ServerFrame
      try {
        frame = JSON.parse(String(ev.data)) as ServerFrame
      } catch {
        return
      }
      if (frame.type === 'ready') {
        this.ready = true
        this.attempt = 0
        this.startHeartbeat()
        this.setState('connected')
        this.opts.onReady(frame)
        return
      }
      if (frame.type === 'error' && AUTH_CODES.has(frame.code) && !frame.ref) {
        this.authCode = frame.code
      }
      this.opts.onFrame(frame)
    }
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return
      this.onClosed(ev.code)
    }
    ws.onerror = () => {
      // A close event follows; nothing to do here.
    }
  }

  private onClosed(code: number) {
    this.ws = null
    this.ready = false
    this.stopHeartbeat()
    if (this.stopped) return
    if (code === CLOSE_AUTH) {
      const reason = this.authCode ?? 'invalid_token'
      const renew = this.opts.renew
      if (reason === 'token_expired' && renew) {
        // The access token ran out: renew it, then resume as after any drop.
        this.setState('reconnecting')
        renew().then(
          (ok) => {
            if (this.stopped) return
            if (ok) this.open()
            else this.stop()
          },
          () => {
            if (!this.stopped) this.scheduleRetry()
          },
        )
        return
      }
      this.stop()
      this.opts.onAuthFailed(reason)
      return
    }
    this.scheduleRetry()
  }

  private scheduleRetry() {
    this.attempt += 1
    const offline =
      (typeof navigator !== 'undefined' && navigator.onLine === false) ||
      this.attempt > (this.opts.offlineAfter ?? 5)
    this.setState(offline ? 'offline' : 'reconnecting')
    const delay = (this.opts.delay ?? backoffDelay)(this.attempt)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      if (!this.stopped) this.open()
    }, delay)
  }

  /** Forgets the current socket (its late events are ignored) and closes it. */
  private drop(code: number) {
    const ws = this.ws
    this.ws = null
    this.ready = false
    this.stopHeartbeat()
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
      try {
        ws.close(code)
      } catch {
        // already closed
      }
    }
  }

  private startHeartbeat() {
    this.stopHeartbeat()
    const pingMs = this.opts.pingMs ?? 20_000
    const idleMs = this.opts.idleMs ?? 45_000
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastFrameAt > idleMs) {
        // No pong, no event: the connection is dead even if the browser thinks not.
        this.drop(4000)
        this.scheduleRetry()
        return
      }
      this.send({ type: 'ping' })
    }, pingMs)
  }

  private stopHeartbeat() {
    if (this.pingTimer) clearInterval(this.pingTimer)
    this.pingTimer = null
  }

  private clearTimers() {
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
    this.stopHeartbeat()
  }
}

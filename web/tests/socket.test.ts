import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ChatSocket, type ConnState } from '../src/api/socket'
import { FakeWebSocket } from './fakes'

function setup(token: string | null = 'tok') {
  const states: ConnState[] = []
  const frames: unknown[] = []
  const ready = vi.fn()
  const authFailed = vi.fn()
  const s = new ChatSocket({
    url: () => 'ws://test/ws',
    token: () => token,
    onFrame: (f) => frames.push(f),
    onReady: ready,
    onState: (x) => states.push(x),
    onAuthFailed: authFailed,
    WebSocket: FakeWebSocket as unknown as new (u: string) => WebSocket,
    delay: (n) => 100 * n,
    pingMs: 1000,
    idleMs: 2500,
    offlineAfter: 3,
  })
  return { s, states, frames, ready, authFailed }
}

beforeEach(() => {
  vi.useFakeTimers()
  FakeWebSocket.instances = []
})
afterEach(() => vi.useRealTimers())

describe('ChatSocket', () => {
  it('authenticates with an auth frame and reports connected on ready', () => {
    const { s, states, ready } = setup()
    s.start()
    expect(states).toEqual(['connecting'])
    FakeWebSocket.last.open()
    expect(FakeWebSocket.last.sent).toEqual([{ type: 'auth', token: 'tok' }])
    expect(s.send({ type: 'ping' })).toBe(false) // not before ready
    FakeWebSocket.last.receive({ type: 'ready', user_id: 'u1', gateway: 'g' })
    expect(states).toEqual(['connecting', 'connected'])
    expect(ready).toHaveBeenCalledTimes(1)
    expect(s.send({ type: 'ping' })).toBe(true)
  })

  it.each([1012, 4008, 1006])('reconnects after close %i and calls onReady again', (code) => {
    const { s, states, ready } = setup()
    s.start()
    FakeWebSocket.last.ready()
    FakeWebSocket.last.serverClose(code)
    expect(states[states.length - 1]).toBe('reconnecting')
    expect(s.send({ type: 'ping' })).toBe(false)
    vi.advanceTimersByTime(100)
    expect(FakeWebSocket.instances).toHaveLength(2)
    FakeWebSocket.last.ready()
    expect(ready).toHaveBeenCalledTimes(2)
    expect(states[states.length - 1]).toBe('connected')
  })

  it('backs off and shows offline after several failed attempts', () => {
    const { s, states } = setup()
    s.start()
    for (let i = 1; i <= 4; i++) {
      FakeWebSocket.last.serverClose(1006)
      vi.advanceTimersByTime(100 * i - 1)
      expect(FakeWebSocket.instances).toHaveLength(i)
      vi.advanceTimersByTime(1)
      expect(FakeWebSocket.instances).toHaveLength(i + 1)
    }
    expect(states).toContain('reconnecting')
    expect(states[states.length - 1]).toBe('offline')
    FakeWebSocket.last.ready()
    expect(states[states.length - 1]).toBe('connected')
  })

  it('close 4001 ends the session: no reconnect', () => {
    const { s, authFailed } = setup()
    s.start()
    FakeWebSocket.last.open()
    FakeWebSocket.last.receive({ type: 'error', code: 'token_expired', message: 'expired' })
    FakeWebSocket.last.serverClose(4001)
    expect(authFailed).toHaveBeenCalledWith('token_expired')
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(1)
    expect(s.state).toBe('closed')
  })

  it('pings, and drops a connection that went silent', () => {
    const { s } = setup()
    s.start()
    FakeWebSocket.last.ready()
    vi.advanceTimersByTime(1000)
    expect(FakeWebSocket.last.framesOf('ping')).toHaveLength(1)
    vi.advanceTimersByTime(2000) // nothing heard for 3 s > idleMs
    expect(FakeWebSocket.instances[0]!.closedWith).toBe(4000)
    expect(s.state).toBe('reconnecting')
    vi.advanceTimersByTime(100)
    expect(FakeWebSocket.instances).toHaveLength(2)
  })

  it('stop() closes and never reconnects', () => {
    const { s } = setup()
    s.start()
    FakeWebSocket.last.ready()
    s.stop()
    expect(FakeWebSocket.last.closedWith).toBe(1000)
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(1)
  })

  it('passes other frames to onFrame', () => {
    const { s, frames } = setup()
    s.start()
    FakeWebSocket.last.ready()
    FakeWebSocket.last.receive({ type: 'pong' })
    expect(frames).toEqual([{ type: 'pong' }])
  })
})

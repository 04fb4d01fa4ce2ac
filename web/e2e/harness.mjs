// A tiny test harness for the end-to-end run: named steps in order, a pass/fail
// line per step, and the closing "N passed, N failed" line. The steps share one
// story (users, chats, a server), so after a failure the rest are skipped.

export class Harness {
  passed = 0
  failed = 0
  skipped = 0
  failures = []
  #broken = false

  /** Runs one step; a step after a failed one is skipped. */
  async step(name, fn, { timeoutMs = 60_000 } = {}) {
    if (this.#broken) {
      this.skipped += 1
      console.log(`- skip ${name}`)
      return
    }
    const t0 = Date.now()
    let timer
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`step timed out after ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
      this.passed += 1
      console.log(`ok   ${name} (${Date.now() - t0} ms)`)
    } catch (e) {
      this.failed += 1
      this.#broken = true
      this.failures.push({ name, error: e })
      console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`)
    } finally {
      clearTimeout(timer)
    }
  }

  summary() {
    const skipped = this.skipped ? `, ${this.skipped} skipped` : ''
    return `e2e: ${this.passed} passed, ${this.failed} failed${skipped}`
  }
}

/** Polls `fn` until it returns a truthy value; throws `what` on timeout. */
export async function until(fn, what, timeoutMs = 15_000, everyMs = 100) {
  const end = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what} (last: ${String(last)})`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`)
}

export function assertEq(actual, expected, msg) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

/** The HTTP API from node, for seeding data. */
export class NodeApi {
  constructor(base, token = null) {
    this.base = base
    this.token = token
  }

  /** One request; over a rate limit (429), waits as told and sends it again
   * (the server's default limits are on: seeding sends faster than a user). */
  async req(method, path, body) {
    for (;;) {
      const res = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: {
          'Content-Type': 'application/json',
          ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const text = await res.text()
      const data = text ? JSON.parse(text) : null
      if (res.status === 429) {
        await new Promise((r) => setTimeout(r, data?.error?.retry_after_ms ?? 1000))
        continue
      }
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
      return data
    }
  }

  async login(name, password) {
    const s = await this.req('POST', '/auth/login', { name, password })
    this.token = s.token
    return s
  }
}

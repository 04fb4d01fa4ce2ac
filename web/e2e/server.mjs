// Starts and stops the real server binary for the end-to-end tests:
// `chat standalone --listen ADDR --data-dir DIR [--web-dir DIST]` (without it, the client
// embedded in the binary at build time is the one tested). The address is read
// from its "chat standalone listening on http://ADDR" line; stdout and stderr keep
// being drained (into a log file) so the server never blocks on a full pipe.

import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'

const LISTENING = /chat standalone listening on http:\/\/(\S+)/

/**
 * @param {{ bin: string, dataDir: string, webDir?: string, listen?: string, logFile: string, timeoutMs?: number }} o
 * @returns {Promise<{ url: string, addr: string, port: number, stop: () => Promise<number | null>, proc: import('node:child_process').ChildProcess }>}
 */
export async function startServer(o) {
  const log = createWriteStream(o.logFile, { flags: 'a' })
  const args = ['standalone', '--listen', o.listen ?? '127.0.0.1:0', '--data-dir', o.dataDir]
  if (o.webDir) args.push('--web-dir', o.webDir)
  log.write(`\n=== ${new Date().toISOString()} ${o.bin} ${args.join(' ')}\n`)
  const proc = spawn(o.bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Info logs go to stdout too; keep them down so the address line comes first.
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
  })
  live.add(proc)
  proc.on('exit', () => live.delete(proc))
  proc.stderr.on('data', (d) => log.write(d))
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig)))

  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not print its address in time')), o.timeoutMs ?? 30_000)
    const rl = createInterface({ input: proc.stdout })
    let found = false
    rl.on('line', (line) => {
      log.write(`${line}\n`)
      const m = !found && line.match(LISTENING)
      if (m) {
        found = true
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    proc.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    proc.on('exit', (code) => {
      clearTimeout(timer)
      if (!found) reject(new Error(`server exited with ${code} before listening (see ${o.logFile})`))
    })
  })
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1))

  async function stop() {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode
    proc.kill('SIGTERM')
    const t = setTimeout(() => proc.kill('SIGKILL'), 15_000)
    const r = await exited
    clearTimeout(t)
    return r
  }
  return { url: `http://${addr}`, addr, port, stop, proc }
}

/** Every server still running: killed if the test process exits by any path. */
const live = new Set()
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const p of live) p.kill('SIGKILL')
    process.exit(130)
  })
}

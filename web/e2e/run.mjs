// End-to-end tests: the real server binary started here, Debian's Chromium driven by
// playwright-core, two browser contexts as two users. Prints one line per step and
// "e2e: N passed, N failed"; exits non-zero on any failure; always stops the server.
//
// The client tested is the one embedded in the binary at build time (what a user gets);
// E2E_WEB_DIR=dist tests a build in that directory instead.
//
// Env: CHAT_BIN (default ../target/debug/chat from web/), E2E_WEB_DIR, E2E_KEEP=1 keeps
// the data dir.

import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { frameValidator } from '../scripts/frame-schema.mjs'
import { Harness } from './harness.mjs'
import { startServer } from './server.mjs'
import * as chat from './steps-chat.mjs'
import * as mentions from './steps-mentions.mjs'
import * as more from './steps-more.mjs'
import * as mute from './steps-mute.mjs'
import * as pins from './steps-pins.mjs'
import * as presence from './steps-presence.mjs'
import * as profiles from './steps-profiles.mjs'
import * as reactions from './steps-reactions.mjs'
import * as search from './steps-search.mjs'
import * as typing from './steps-typing.mjs'

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = resolve(web, process.env.CHAT_BIN ?? '../target/debug/chat')
const webDir = process.env.E2E_WEB_DIR ? resolve(web, process.env.E2E_WEB_DIR) : undefined
const shots = join(web, 'e2e', 'screenshots')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

const needed = [['server binary (CHAT_BIN)', bin], ['chromium (e2e/install-browser.sh)', CHROMIUM]]
if (webDir) needed.push(['web build (npm run build)', join(webDir, 'index.html')])
for (const [what, path] of needed) {
  if (!existsSync(path)) {
    console.error(`missing ${what}: ${path}`)
    console.log('e2e: 0 passed, 1 failed')
    process.exit(1)
  }
}
mkdirSync(shots, { recursive: true })
const tmp = mkdtempSync(join(tmpdir(), 'chat-e2e-'))
const dataDir = join(tmp, 'data')
const logFile = join(tmp, 'server.log')
const rnd = Math.random().toString(36).slice(2, 7)

const h = new Harness()
/** Shared state of the story. */
const t = {
  url: '', server: null, browser: null, shots, password: 'correct horse battery',
  A: { name: `alice_${rnd}` }, B: { name: `bob_${rnd}` },
  group: `Team ${rnd}`, history: `History ${rnd}`,
  dialogs: [], pageErrors: [], cspViolations: [],
  /** WebSocket frames seen, by direction and type, and those docs/frames.schema.json refuses. */
  frames: { sent: {}, received: {}, problems: [] },
  log: (s) => console.log(`     ${s}`),
  /** Records dialogs, page errors and CSP violations of a page. */
  watch(page) {
    page.on('dialog', (d) => {
      t.dialogs.push(`${d.type()}: ${d.message()}`)
      void d.dismiss()
    })
    page.on('pageerror', (e) => t.pageErrors.push(String(e)))
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to (execute|load|apply)/i.test(m.text())) t.cspViolations.push(m.text())
    })
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => checkFrame('sent', f.payload))
      ws.on('framereceived', (f) => checkFrame('received', f.payload))
    })
  },
  /** Starts the server again on the same data dir and the same port. */
  async restart() {
    const listen = `127.0.0.1:${t.server.port}`
    let lastErr
    for (let i = 0; i < 20; i++) {
      try {
        t.server = await startServer({ bin, dataDir, webDir, listen, logFile })
        t.log(`server restarted at ${t.server.url}`)
        return
      } catch (e) {
        lastErr = e // the port may linger for a moment
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    throw lastErr
  },
}

const frames = frameValidator()
/** Counts a frame by type and records what the frame schema finds wrong with it. */
function checkFrame(dir, payload) {
  let frame
  try {
    frame = JSON.parse(String(payload))
  } catch {
    t.frames.problems.push(`${dir}: not JSON: ${String(payload).slice(0, 80)}`)
    return
  }
  const type = String(frame?.type)
  t.frames[dir][type] = (t.frames[dir][type] ?? 0) + 1
  const problems = frames.check(frame, dir === 'sent' ? '#/$defs/ClientFrame' : '#/$defs/ServerFrame')
  if (problems.length && t.frames.problems.length < 20) t.frames.problems.push(`${dir} ${type}: ${problems.join('; ')}`)
}

let code = 1
try {
  await h.step('server starts', async () => {
    t.server = await startServer({ bin, dataDir, webDir, logFile })
    t.url = t.server.url
    t.log(`server at ${t.url}, data in ${dataDir}`)
  })
  await h.step(webDir ? `the server serves the client from ${webDir}` : 'the server serves the client embedded in it', async () => {
    const page = await fetch(`${t.url}/`)
    const html = await page.text()
    const src = html.match(/<script type="module"[^>]* src="([^"]+)"/)?.[1]
    if (page.status !== 200 || !/text\/html/.test(page.headers.get('content-type') ?? '') || !src) {
      throw new Error(`GET / answered ${page.status} ${page.headers.get('content-type')}: ${html.slice(0, 200)}`)
    }
    const asset = await fetch(new URL(src, t.url), { headers: { 'accept-encoding': 'gzip' } })
    const js = await asset.text()
    if (asset.status !== 200 || !/javascript/.test(asset.headers.get('content-type') ?? '') || js.length < 1000) {
      throw new Error(`GET ${src} answered ${asset.status} ${asset.headers.get('content-type')}, ${js.length} bytes`)
    }
    t.log(`GET / and ${src} (${js.length} bytes) served`)
  })
  await h.step('browser starts', async () => {
    // launch() gives the browser a fresh, empty user data dir of its own.
    t.browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
    for (const u of [t.A, t.B]) {
      u.ctx = await t.browser.newContext({ viewport: { width: 1280, height: 800 } })
      u.page = await u.ctx.newPage()
      t.watch(u.page)
    }
  })
  const steps = [
    ['the app is served under its CSP', chat.serveUnderCsp],
    ['login screen', chat.loginScreen],
    ['two users register', chat.registerTwo],
    ['a direct chat by user name', chat.directChat],
    ['messages: sent, live, once, badges', chat.exchange],
    ['unread badges and new-messages line, across tabs', chat.unreadAcrossTabs],
    ['edit own message', chat.editMessage],
    ['delete own message', chat.deleteMessage],
    ['reply with a quote', chat.replyQuoted],
    ['forward to another chat', chat.forwardMessage],
    ['failed send shows retry', chat.failedSendRetry],
    ['remove and add a group member (admin)', chat.membership],
    ['user content is text, links are safe', chat.contentIsText],
    ['300 messages seeded through the API', more.seedHistory],
    ['scroll back to the beginning, each page once', more.scrollBack],
    ['read only when visible; jump to first unread', more.readByVisibility],
    ['search: find, open at the message, page newer, more, errors, in a chat', search.searchMessages],
    ['server restart: reconnect and resume', more.restartResume],
    ['phone-sized screen', more.mobile],
    ['expired or refused token asks to log in again', more.expiry],
    ['logout', more.logout],
    // After the steps that find A's chats by her login name: from here on she has a display name.
    ['profile: display name, about and an avatar uploaded (scaled down in the page)', profiles.editProfile],
    ['profile: the other user sees it live (chat list, messages, members, profile card)', profiles.liveProfile],
    ['profile: a tab offline during a rename shows it after reconnecting (sync_profiles)', profiles.resumeProfiles],
    ['typing: the other member sees "… is typing…" until the message (or expiry)', typing.typingIndicator],
    ['reactions: picker, chips live on both sides, toggled, refused past 3, from history after a reload', reactions.reactions],
    ['pins: the admin pins from the menu, both see the bar (live, after a reload), the member cannot; unpinned, gone for both', pins.pins],
    ['mute: B mutes the group for good (🔕), A writes: the badge counts, grey, the title does not; B unmutes', mute.mute],
    ['mentions: A writes "@B" in the group, B sees an "@" badge, the name marked when open, the badge gone once read', mentions.mentions],
    ['presence: A sees B online (dot, header, group count, members panel)', presence.presenceOnline],
    ['presence: "last seen …" once B leaves the page, online again when back', presence.presenceLastSeen],
    ['presence: B shows it to nobody, A sees no status (live, asked again, after B leaves)', presence.presenceNobody],
    ['every WebSocket frame matches docs/frames.schema.json', more.framesMatchSchema],
    ['no dialogs, page errors or CSP violations', more.clean],
  ]
  for (const [name, fn] of steps) await h.step(name, () => fn(t), { timeoutMs: 90_000 })
  code = h.failed ? 1 : 0
} catch (e) {
  console.error(e)
} finally {
  const browserClosed = t.browser?.close().catch(() => undefined)
  await Promise.race([browserClosed, new Promise((r) => setTimeout(r, 10_000))])
  const stopped = await t.server?.stop().catch(() => undefined)
  if (h.failed) console.log(`     server log: ${logFile} (exit ${stopped})`)
  else if (!process.env.E2E_KEEP) rmSync(tmp, { recursive: true, force: true })
  console.log(`     screenshots: ${shots}`)
  console.log(h.summary())
  process.exit(code)
}

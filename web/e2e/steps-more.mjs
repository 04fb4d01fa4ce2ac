// Steps: 300 messages of history scrolled back page by page, read detection by
// visibility with "jump to first unread", a server restart survived with resume,
// the phone-sized layout, token renewal and expiry, and logout.

import { assert, assertEq, NodeApi, until } from './harness.mjs'
import {
  badge, chatItem, connState, countText, login, messageRow, openChat, send, seqs, shot, waitBadge,
  waitConnected, waitText,
} from './pages.mjs'

const HISTORY = 300

/** Seeds HISTORY messages as A (so A has nothing unread there, B has all of them). */
export async function seedHistory(t) {
  const api = new NodeApi(t.url)
  await api.login(t.A.name, t.password)
  const bob = await api.req('GET', `/users/by-name/${t.B.name}`)
  const chat = await api.req('POST', '/chats', { kind: 'group', title: t.history, members: [bob.id] })
  t.historyId = chat.id
  let next = 1
  const worker = async () => {
    while (next <= HISTORY) {
      const i = next++
      await api.req('POST', `/chats/${chat.id}/messages`, { client_msg_id: `seed-${i}`, text: `history ${i}` })
    }
  }
  await Promise.all(Array.from({ length: 6 }, worker))
  await waitBadge(t.B.page, t.history, (n) => n === HISTORY, 'B has the whole history unread')
}

export async function scrollBack(t) {
  const a = t.A.page
  const pages = []
  const onRequest = (r) => {
    const u = new URL(r.url())
    if (u.pathname === `/api/v1/chats/${t.historyId}/messages`) pages.push(u.search)
  }
  a.on('request', onRequest)
  await openChat(a, t.history)
  await waitText(a, `history ${HISTORY}`)
  const scroller = a.getByTestId('messages')
  const box = await scroller.boundingBox()
  await a.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
  // Scroll up with the wheel like a user. Whenever a page is prepended, the message
  // on top of the view must stay where the wheel put it (no jump).
  const WHEEL = 500
  const jumps = []
  for (let i = 0; i < 200 && (await a.getByTestId('history-start').count()) === 0; i++) {
    const before = await topMessage(a)
    await a.mouse.wheel(0, -WHEEL)
    // The wheel is applied when the page's main thread gets to it, which can
    // take longer than a frame while an older page is being rendered: wait
    // for the view to move (at most 2 s; at the top it cannot), then let a
    // prepend that came with it settle.
    await a
      .waitForFunction((prev) => document.querySelector('[data-testid="messages"]').scrollTop !== prev, before.scrollTop, { timeout: 2000 })
      .catch(() => {})
    await a.waitForTimeout(120)
    const after = await a.evaluate((seq) => {
      const sc = document.querySelector('[data-testid="messages"]')
      const el = sc.querySelector(`[data-seq="${seq}"]`)
      return { top: el.getBoundingClientRect().top - sc.getBoundingClientRect().top, atTop: sc.scrollTop === 0 }
    }, before.seq)
    // The wheel moves the view by WHEEL px, or less when it hits the top.
    const expected = Math.min(WHEEL, before.scrollTop)
    const moved = after.top - before.top
    if (!after.atTop && Math.abs(moved - expected) > 60) jumps.push(`${before.seq}: moved ${Math.round(moved)}px, not ${expected}`)
  }
  await a.getByTestId('history-start').waitFor({ timeout: 5000 })
  assertEq(jumps, [], 'the view stays in place while older pages load')
  const held = await seqs(a)
  assertEq(held.length, HISTORY, 'every message held once')
  assert(held.every((s, i) => s === i + 1), 'seqs 1..300 in order')
  const count = pages.length
  // At the beginning: more scrolling asks for nothing.
  for (let i = 0; i < 5; i++) {
    await scroller.evaluate((el) => (el.scrollTop = 0))
    await a.waitForTimeout(200)
  }
  assertEq(pages.length, count, 'no request after the beginning was reached')
  const befores = pages.filter((q) => q.includes('before='))
  assertEq(new Set(befores).size, befores.length, `each older page loaded once (${befores.join(' ')})`)
  assert(befores.length >= 5, `paged back in steps (${pages.join(' ')})`)
  a.off('request', onRequest)
  await shot(a, t.shots, 'history-beginning')
}

/** The first message at least partly visible in the pane, and its offset from the pane's top. */
function topMessage(page) {
  return page.evaluate(() => {
    const sc = document.querySelector('[data-testid="messages"]')
    const top = sc.getBoundingClientRect().top
    for (const el of sc.querySelectorAll('[data-testid="message"][data-seq]')) {
      const r = el.getBoundingClientRect()
      if (r.bottom > top + 1) return { seq: Number(el.getAttribute('data-seq')), top: r.top - top, scrollTop: sc.scrollTop }
    }
    return null
  })
}

export async function readByVisibility(t) {
  const b = t.B.page
  await openChat(b, t.history)
  await b.getByTestId('unread-separator').waitFor()
  // Only what was on screen counts as read.
  const left = await until(async () => {
    const n = await badge(b, t.history)
    return n > 0 && n < HISTORY ? n : 0
  }, 'some, not all, read')
  assert(left > HISTORY / 2, `most still unread (${left})`)
  await b.getByTestId('jump-unread').click()
  await until(async () => (await badge(b, t.history)) < left, 'jumping reads further')
  await b.getByTestId('messages').evaluate((el) => (el.scrollTop = el.scrollHeight))
  await waitBadge(b, t.history, (n) => n === 0, 'all read at the bottom')
}

export async function restartResume(t) {
  const a = t.A.page
  const b = t.B.page
  await openChat(a, t.B.name)
  await openChat(b, t.A.name)
  const code = await t.server.stop()
  t.log(`server stopped (${code})`)
  for (const p of [a, b]) {
    await until(async () => (await connState(p)) !== 'connected', 'client notices the drop')
  }
  await send(a, 'sent while offline')
  await until(async () => (await messageRow(a, 'sent while offline').getAttribute('data-status')) === 'pending', 'shown as pending while offline')
  await t.restart()
  // Messages stored right after the restart: replayed by since_seq or delivered live.
  const api = new NodeApi(t.url)
  await api.login(t.B.name, t.password)
  const chats = await api.req('GET', '/chats')
  const direct = chats.chats.find((c) => c.chat.kind === 'direct').chat.id
  for (let i = 1; i <= 5; i++) {
    await api.req('POST', `/chats/${direct}/messages`, { client_msg_id: `after-${i}`, text: `after restart ${i}` })
  }
  await waitConnected(a, 30_000)
  await waitConnected(b, 30_000)
  for (const p of [a, b]) {
    for (let i = 1; i <= 5; i++) await waitText(p, `after restart ${i}`, 1, 20_000)
    await waitText(p, 'sent while offline', 1, 20_000)
    const s = await seqs(p)
    assert(s.every((x, i) => i === 0 || x === s[i - 1] + 1), `no gap, no duplicate: ${s.join(',')}`)
  }
  await until(async () => (await messageRow(a, 'sent while offline').getAttribute('data-status')) === 'sent', 'pending → sent after reconnect')
  await shot(a, t.shots, 'after-restart')
}

export async function mobile(t) {
  const ctx = await t.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, hasTouch: true, isMobile: true })
  t.M = { ctx }
  const m = await ctx.newPage()
  t.M.page = m
  t.watch(m)
  await login(m, t.url, t.A.name, t.password)
  await chatItem(m, t.B.name).waitFor()
  await shot(m, t.shots, 'mobile-list')
  assert(!(await m.getByTestId('message-pane').isVisible().catch(() => false)), 'list alone on a phone')
  await openChat(m, t.B.name)
  assert(!(await m.getByTestId('chat-list').isVisible()), 'chat alone on a phone')
  await waitText(m, 'after restart 5')
  const overflow = await m.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  assert(overflow <= 0, `no horizontal scrolling (${overflow}px)`)
  await send(m, 'from the phone')
  await waitText(t.B.page, 'from the phone')
  await shot(m, t.shots, 'mobile-chat')
  await m.getByTestId('back').click()
  await m.getByTestId('chat-list').waitFor()
}

export async function expiry(t) {
  const m = t.M.page
  // An access token past its expiry, the session still live: renewed with the
  // refresh token, and the chat goes on without a word to the user.
  const before = await m.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('chat.session'))
    s.expires_at = Math.floor(Date.now() / 1000) - 10
    localStorage.setItem('chat.session', JSON.stringify(s))
    return s.refresh_token
  })
  await m.reload()
  await chatItem(m, t.B.name).waitFor()
  await m.waitForFunction(
    (old) => JSON.parse(localStorage.getItem('chat.session') ?? '{}').refresh_token !== old,
    before,
  )
  const renewed = await m.evaluate(() => JSON.parse(localStorage.getItem('chat.session')))
  assert(renewed.expires_at * 1000 > Date.now(), 'a fresh access token')
  assert(!(await m.getByTestId('session-notice').isVisible().catch(() => false)), 'no notice')
  // A session past its end: dropped at start, the user is asked to log in again.
  await m.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('chat.session'))
    s.expires_at = Math.floor(Date.now() / 1000) - 10
    s.refresh_expires_at = Math.floor(Date.now() / 1000) - 5
    localStorage.setItem('chat.session', JSON.stringify(s))
  })
  await m.reload()
  await m.getByTestId('session-notice').waitFor()
  assertEq(await m.inputValue('input[name=name]'), t.A.name, 'name kept for the new login')
  // A token the server refuses (401 / close 4001): the same.
  await login(m, t.url, t.A.name, t.password)
  await m.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('chat.session'))
    s.token = `${s.token.slice(0, -4)}AAAA`
    localStorage.setItem('chat.session', JSON.stringify(s))
  })
  await m.reload()
  await m.getByTestId('session-notice').waitFor({ timeout: 15_000 })
  await shot(m, t.shots, 'mobile-session-expired')
  await t.M.ctx.close()
}

export async function logout(t) {
  const a = t.A.page
  const token = await a.evaluate(() => JSON.parse(localStorage.getItem('chat.session')).token)
  await a.getByTestId('logout').click()
  await a.getByTestId('login-form').waitFor()
  assertEq(await a.evaluate(() => localStorage.getItem('chat.session')), null, 'token removed')
  // Ended on the server too: the old token is refused.
  const code = await a.evaluate(async (tok) => {
    for (let i = 0; i < 50; i++) {
      const r = await fetch('/api/v1/me', { headers: { Authorization: `Bearer ${tok}` } })
      if (r.status === 401) return (await r.json()).error.code
      await new Promise((ok) => setTimeout(ok, 100))
    }
    return 'still accepted'
  }, token)
  assertEq(code, 'session_revoked', 'the logged-out token')
  assertEq(await countText(a, 'Hi Alice'), 0, 'no chat left on screen')
}

export async function clean(t) {
  assertEq(t.dialogs, [], 'no alert/confirm dialogs')
  assertEq(t.pageErrors, [], 'no uncaught page errors')
  assertEq(t.cspViolations, [], 'no Content-Security-Policy violations')
}

export async function framesMatchSchema(t) {
  const { sent, received, problems } = t.frames
  const count = (m) => Object.values(m).reduce((a, b) => a + b, 0)
  const list = (m) => Object.entries(m).map(([k, n]) => `${k} ${n}`).join(', ')
  t.log(`sent ${count(sent)}: ${list(sent)}`)
  t.log(`received ${count(received)}: ${list(received)}`)
  if (!count(sent) || !count(received)) throw new Error('no WebSocket frames were seen')
  assertEq(problems, [], 'frames the schema refuses')
}

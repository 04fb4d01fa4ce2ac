// Steps: profiles. A logs in again and sets a display name, an about text and an
// avatar (a large JPEG drawn in the page at run time: the editor scales it down to
// 512 px before PUT /me/avatar); B sees the new name and the image live, without a
// reload, in the chat list, the group's message list, the members panel and A's
// profile card. Then B's third tab is cut off (its WebSocket goes through a route
// the test controls) while A renames herself again; after it reconnects, the new
// name shows there too, brought by `sync_profiles` since the last `as_of`.

import { assert, assertEq, until } from './harness.mjs'
import { chatItem, connState, login, messageRow, openChat, send, shot, waitConnected, waitText } from './pages.mjs'

/** Whether the avatar <img> inside `locator` has loaded (under the page's CSP), and its natural size. */
function imageState(locator) {
  return locator.evaluate((img) => ({ loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth, src: img.getAttribute('src') }))
}

async function waitImage(locator, what) {
  await locator.waitFor({ timeout: 15_000 })
  return until(async () => {
    const s = await imageState(locator)
    return s.loaded ? s : null
  }, `${what}: avatar image loaded`)
}

/** A photo-sized JPEG (2400×1800), drawn in the page: no binary fixture in the repository. */
async function photo(page) {
  const b64 = await page.evaluate(() => {
    const c = document.createElement('canvas')
    c.width = 2400
    c.height = 1800
    const g = c.getContext('2d')
    const grad = g.createLinearGradient(0, 0, 2400, 1800)
    grad.addColorStop(0, '#f6d365')
    grad.addColorStop(1, '#fda085')
    g.fillStyle = grad
    g.fillRect(0, 0, 2400, 1800)
    g.fillStyle = '#2f6fde'
    g.beginPath()
    g.arc(1200, 900, 600, 0, Math.PI * 2)
    g.fill()
    g.fillStyle = '#fff'
    g.font = 'bold 500px sans-serif'
    g.textAlign = 'center'
    g.textBaseline = 'middle'
    g.fillText('A', 1200, 920)
    return c.toDataURL('image/jpeg', 0.92).split(',')[1]
  })
  return Buffer.from(b64, 'base64')
}

/**
 * Records, in the page, what the client uploads to PUT /me/avatar: type, bytes and
 * the decoded size (the browser does not show a Blob body to the test otherwise).
 */
function recordUploads() {
  const orig = window.fetch
  window.__uploads = []
  window.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url
    if (init?.method === 'PUT' && url.endsWith('/api/v1/me/avatar') && init.body instanceof Blob) {
      const bmp = await createImageBitmap(init.body)
      window.__uploads.push({ type: init.body.type, bytes: init.body.size, width: bmp.width, height: bmp.height })
    }
    return orig(input, init)
  }
}

export async function editProfile(t) {
  const a = t.A.page
  const b = t.B.page
  const rnd = t.A.name.slice(t.A.name.indexOf('_') + 1)
  t.A.display = `Alice Liddell ${rnd}`
  t.A.about = 'Down the rabbit hole.\nCurious, and then curiouser.'
  await a.addInitScript(recordUploads)
  await login(a, t.url, t.A.name, t.password)
  // A message of A's in the group, where B's message list shows authors' avatars.
  await openChat(a, t.group)
  await send(a, 'profile hello')
  await openChat(b, t.group)
  await waitText(b, 'profile hello')
  const before = messageRow(b, 'profile hello')
  assertEq(await before.getByTestId('message-author').textContent(), t.A.name, 'author by login name before')
  assertEq(await before.locator('.msg-avatar [data-testid="avatar"]').getAttribute('data-avatar'), 'initials', 'initials before')

  await a.getByTestId('me-button').click()
  const editor = a.getByTestId('profile-editor')
  await editor.waitFor()
  assert((await editor.getByTestId('profile-login').textContent()).includes(`@${t.A.name}`), 'login name shown')
  await editor.getByTestId('profile-display-name-input').fill(t.A.display)
  await editor.getByTestId('profile-about-input').fill(t.A.about)
  const original = await photo(a)
  await editor.getByTestId('avatar-file').setInputFiles({ name: 'IMG_2041.jpg', mimeType: 'image/jpeg', buffer: original })
  const preview = editor.locator('[data-testid="profile-avatar"] img')
  await until(async () => ((await preview.getAttribute('src').catch(() => '')) ?? '').startsWith('data:image/jpeg'), 'preview from a data: URL')
  await shot(a, t.shots, 'profile-editor')

  const answer = (method, path) => a.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path)
  const [patch, res] = await Promise.all([
    answer('PATCH', '/api/v1/me'),
    answer('PUT', '/api/v1/me/avatar'),
    editor.getByTestId('profile-save').click(),
  ])
  const patched = await patch.json()
  assertEq([patch.status(), patched.display_name, patched.about], [200, t.A.display, t.A.about], 'PATCH /me answer')
  const [up] = await a.evaluate(() => window.__uploads)
  t.log(`uploaded ${up.bytes} bytes, ${up.type} ${up.width}×${up.height}, for a ${original.length}-byte 2400×1800 photo`)
  assertEq([up.type, Math.max(up.width, up.height)], ['image/jpeg', 512], 'a JPEG scaled to 512 px on the long side')
  assertEq(res.request().headers()['content-type'], 'image/jpeg', 'Content-Type of the upload')
  assertEq(res.status(), 200, 'PUT /me/avatar answer')
  const me = await res.json()
  assert(typeof me.avatar === 'string' && me.avatar.length > 0, `an avatar tag (${JSON.stringify(me)})`)
  t.A.avatar = me.avatar
  await editor.waitFor({ state: 'detached' })
  await until(async () => (await a.getByTestId('me-name').textContent()) === t.A.display, 'own header shows the display name')
  const own = await waitImage(a.locator('[data-testid="me-button"] img'), 'own header')
  assertEq(own.src, `/api/v1/users/${me.id}/avatar?v=${encodeURIComponent(me.avatar)}`, 'avatar URL')
  t.A.id = me.id
}

export async function liveProfile(t) {
  const b = t.B.page
  // Message list of the group, open since before the change: name and image, no reload.
  const row = messageRow(b, 'profile hello')
  await until(async () => (await row.getByTestId('message-author').textContent()) === t.A.display, 'B: author renamed live')
  const inList = await waitImage(row.locator('.msg-avatar img'), 'B message list')
  assertEq(inList.width, 160, 'the server serves a 160 px avatar')
  // Chat list: the direct chat is named after A's display name, with her image.
  await chatItem(b, t.A.display).waitFor({ timeout: 15_000 })
  assertEq(await chatItem(b, t.A.name).count(), 0, 'no chat under the login name any more')
  await waitImage(chatItem(b, t.A.display).locator('img'), 'B chat list')
  const preview = await chatItem(b, t.group).getByTestId('chat-preview').textContent()
  assert(preview.includes(t.A.display), `group preview by the display name: ${preview}`)
  // Members panel: display name, @login, image; A's profile card with the about text.
  await b.getByTestId('members-btn').click()
  const panel = b.getByTestId('members-panel')
  const member = panel.getByTestId('member').filter({ hasText: t.A.display })
  await member.waitFor()
  assertEq(await member.getByTestId('member-login').textContent(), `@${t.A.name}`, 'login name in the members panel')
  await waitImage(member.locator('img'), 'B members panel')
  await member.getByTestId('member-open').click()
  const card = b.getByTestId('profile-card')
  await card.waitFor()
  assertEq(await card.getByTestId('profile-display-name').textContent(), t.A.display, 'card: display name')
  assertEq(await card.getByTestId('profile-login').textContent(), `@${t.A.name}`, 'card: login name')
  assertEq(await card.getByTestId('profile-about').textContent(), t.A.about, 'card: about with its line break')
  await waitImage(card.locator('img'), 'B profile card')
  await shot(b, t.shots, 'profile-live')
  await card.getByTestId('profile-card-close').click()
  await b.getByTestId('members-btn').click()
  // The direct chat's header too.
  await openChat(b, t.A.display)
  assertEq(await b.getByTestId('chat-login').textContent(), `@${t.A.name}`, 'direct chat header: login name')
}

export async function resumeProfiles(t) {
  const a = t.A.page
  // B's third tab, its WebSocket relayed by the test so that it can be cut off alone.
  const net = { online: true, current: null, held: null, sent: [], received: [] }
  const b3 = await t.B.ctx.newPage()
  t.watch(b3)
  await b3.routeWebSocket(/\/ws$/, (ws) => {
    if (!net.online) {
      // Accepted and left mute: the client waits for its `ready` until let go.
      net.held = ws
      return
    }
    const server = ws.connectToServer()
    const relay = { ws, server, open: true }
    // Only what crosses a live relay is recorded: what the page really sent and got.
    ws.onMessage((m) => {
      if (!relay.open) return
      net.sent.push(JSON.parse(String(m)))
      server.send(m)
    })
    server.onMessage((m) => {
      if (!relay.open) return
      net.received.push(JSON.parse(String(m)))
      ws.send(m)
    })
    net.current = relay
  })
  const framesOf = (list, type) => list.filter((f) => f.type === type)
  await b3.goto(t.url)
  await waitConnected(b3)
  await chatItem(b3, t.A.display).waitFor({ timeout: 15_000 })
  const first = await until(() => framesOf(net.received, 'profiles')[0], 'B3: first profiles answer')
  assertEq(framesOf(net.sent, 'sync_profiles')[0], { type: 'sync_profiles' }, 'first sync_profiles without since')
  assertEq(first.users, [], 'the first answer is only a starting point')

  // Offline: the connection is dropped and the next attempts hang.
  net.online = false
  net.current.open = false
  net.current.ws.close({ code: 1001, reason: 'test: offline' })
  net.current.server.close({ code: 1001, reason: 'test: offline' })
  await until(async () => (await connState(b3)) !== 'connected', 'B3 notices the drop')

  t.A.display2 = `${t.A.display} II`
  await a.getByTestId('me-button').click()
  const editor = a.getByTestId('profile-editor')
  await editor.getByTestId('profile-display-name-input').fill(t.A.display2)
  await editor.getByTestId('profile-save').click()
  await editor.waitFor({ state: 'detached' })
  // B's first tab, online, has it live; B3 does not.
  await chatItem(t.B.page, t.A.display2).waitFor({ timeout: 15_000 })
  assertEq(await chatItem(b3, t.A.display).count(), 1, 'B3, offline, still shows the old name')

  // Online again: the hanging attempt is let go, the next one goes through.
  await until(() => net.held, 'B3 tries to reconnect')
  const mark = net.received.length
  const markSent = net.sent.length
  net.online = true
  net.held.close({ code: 1012, reason: 'test: online' })
  await waitConnected(b3, 30_000)
  await chatItem(b3, t.A.display2).waitFor({ timeout: 15_000 })
  const syncs = framesOf(net.sent, 'sync_profiles')
  assertEq(syncs.at(-1), { type: 'sync_profiles', since: first.as_of }, 'after the reconnect: since the last as_of')
  const answer = framesOf(net.received, 'profiles').at(-1)
  const alice = answer.users.find((u) => u.name === t.A.name)
  assert(alice && alice.display_name === t.A.display2 && alice.avatar === t.A.avatar, `profiles brings A's new name: ${JSON.stringify(answer)}`)
  assert(answer.complete === true, 'complete')
  t.log(`B3 after reconnect sent: ${net.sent.slice(markSent).map((f) => f.type === 'sync_profiles' ? JSON.stringify(f) : f.type).join(', ')}`)
  t.log(`B3 after reconnect got: ${net.received.slice(mark).map((f) => f.type === 'user_updated' ? `user_updated(${f.user.display_name})` : f.type === 'profiles' ? `profiles(${f.users.map((u) => u.display_name).join('|')}, complete=${f.complete})` : f.type === 'subscribed' ? `subscribed(${f.chat_id})` : f.type).join(', ')}`)
  // B3 never got a user_updated for it: the name came by sync_profiles.
  assert(
    !framesOf(net.received, 'user_updated').some((f) => f.user.display_name === t.A.display2),
    'B3 had no user_updated with the new name',
  )
  await openChat(b3, t.A.display2)
  await shot(b3, t.shots, 'profile-resume')
  await b3.close()
}

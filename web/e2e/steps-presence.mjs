// Steps: presence. With B's page open, A sees B online: a dot on their direct
// chat in the list, "online" in its header, "2 online" in the group's and B
// "online" in its members panel. B's page goes away (to another site: its
// WebSocket closes): A sees "last seen just now" and no dot, live, and the group
// "1 online"; B comes back: "online" again. Then B chooses "Nobody" in the profile
// editor (PUT /me/presence): A sees no status at all — not live, not when asking
// again (GET /chats/{id}/presence says `hidden`), not after B leaves. B chooses
// "Everyone" again at the end.

import { assert, assertEq, until } from './harness.mjs'
import { chatItem, openChat, shot, waitConnected } from './pages.mjs'

const status = (page) => page.getByTestId('chat-presence')
/** The header's presence text, or '' when it shows none. */
async function statusText(page) {
  // allTextContents does not wait: the text may go at any moment.
  const [text] = await status(page).allTextContents()
  return (text ?? '').trim()
}
const waitStatus = (page, pred, what, timeoutMs = 15_000) =>
  until(async () => pred(await statusText(page)), what, timeoutMs)
const dots = (page, name) => chatItem(page, name).getByTestId('presence-dot').count()

/** The member row of `name` in the open members panel. */
const memberRow = (page, name) => page.getByTestId('members-panel').getByTestId('member').filter({ hasText: name })

/** B's page leaves the app (its WebSocket closes), then, with `back`, returns to it. */
async function away(t) {
  await t.B.page.goto('about:blank')
}
async function back(t) {
  await t.B.page.goto(t.url)
  await t.B.page.getByTestId('me-name').waitFor()
  await waitConnected(t.B.page)
}

/** B's presence setting, chosen in the profile editor and saved. */
async function choose(t, visibility, screenshot) {
  const b = t.B.page
  await b.getByTestId('me-button').click()
  const editor = b.getByTestId('profile-editor')
  await editor.waitFor()
  const radio = editor.getByTestId(`presence-visibility-${visibility}`)
  // The setting is read when the editor opens: the choices are enabled then.
  await until(async () => radio.isEnabled(), 'B: the presence setting is loaded')
  await radio.check()
  if (screenshot) await shot(b, t.shots, screenshot)
  const [res] = await Promise.all([
    b.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === '/api/v1/me/presence'),
    editor.getByTestId('profile-save').click(),
  ])
  assertEq([res.status(), (await res.json()).visibility], [200, visibility], 'PUT /me/presence answer')
  await editor.waitFor({ state: 'detached' })
}

export async function presenceOnline(t) {
  const a = t.A.page
  await waitConnected(t.B.page)
  await openChat(a, t.B.name)
  await waitStatus(a, (s) => s === 'online', 'A: the direct chat says "online"')
  await until(async () => (await dots(a, t.B.name)) === 1, "A: an online dot on B's chat in the list")
  const dot = chatItem(a, t.B.name).getByTestId('presence-dot')
  assertEq([await dot.getAttribute('title'), (await dot.textContent()).trim()], ['Online', 'online'], 'the dot says it in words too')
  assertEq(await dots(a, t.group), 0, 'no dot on a group')
  await shot(a, t.shots, 'presence-online')

  await openChat(a, t.group)
  await waitStatus(a, (s) => s === '2 online', 'A: the group says "2 online"')
  await a.getByTestId('members-btn').click()
  await until(
    async () => (await memberRow(a, t.B.name).getByTestId('member-presence').allTextContents())[0] === 'online',
    'A: B online in the members panel',
  )
  assertEq(await memberRow(a, t.B.name).getByTestId('presence-dot').count(), 1, 'a dot on B in the members panel')
  await shot(a, t.shots, 'presence-group')
  await a.getByTestId('members-btn').click()
}

export async function presenceLastSeen(t) {
  const a = t.A.page
  await openChat(a, t.B.name)
  await waitStatus(a, (s) => s === 'online', 'A: B online before')
  const left = Date.now()
  await away(t)
  const seen = await waitStatus(a, (s) => /^last seen /.test(s) && s, 'A: "last seen …" once B is gone')
  t.log(`A: "${seen}" ${Date.now() - left} ms after B's page left`)
  assert(/^last seen (just now|1 minute ago)$/.test(seen), `a recent last-seen time: "${seen}"`)
  await until(async () => (await dots(a, t.B.name)) === 0, 'A: no dot on B once gone')
  await shot(a, t.shots, 'presence-last-seen')
  await openChat(a, t.group)
  await waitStatus(a, (s) => s === '1 online', 'A: the group says "1 online"')

  await back(t)
  await waitStatus(a, (s) => s === '2 online', 'A: "2 online" again when B is back')
  await openChat(a, t.B.name)
  await waitStatus(a, (s) => s === 'online', 'A: B online again')
}

export async function presenceNobody(t) {
  const a = t.A.page
  await openChat(a, t.B.name)
  await waitStatus(a, (s) => s === 'online', 'A: B online before')
  await choose(t, 'nobody', 'presence-setting')
  await waitStatus(a, (s) => s === '', 'A: no status once B shows it to nobody')
  assertEq(await dots(a, t.B.name), 0, 'no dot in the list')
  // Asked again (as on opening the chat): still nothing.
  const chatId = await chatItem(a, t.B.name).getAttribute('data-chat-id')
  const listed = await a.evaluate(async (id) => {
    const token = JSON.parse(localStorage.getItem('chat.session')).token
    const r = await fetch(`/api/v1/chats/${id}/presence`, { headers: { Authorization: `Bearer ${token}` } })
    return r.json()
  }, chatId)
  const bob = listed.users.find((u) => u.user_id !== t.A.id)
  assertEq([bob?.status, bob?.last_seen], ['hidden', undefined], `GET /chats/{id}/presence: B hidden (${JSON.stringify(listed)})`)
  await openChat(a, t.group)
  await waitStatus(a, (s) => s === '1 online', 'A: the group counts only A')
  await a.getByTestId('members-btn').click()
  await memberRow(a, t.B.name).waitFor()
  await until(async () => (await memberRow(a, t.B.name).getByTestId('member-presence').count()) === 0, 'A: nothing of B in the members panel')
  await a.getByTestId('members-btn').click()
  await openChat(a, t.B.name)
  await shot(a, t.shots, 'presence-hidden')

  // B leaves: still nothing (no last-seen time either).
  await away(t)
  await new Promise((r) => setTimeout(r, 1500))
  assertEq(await statusText(a), '', 'A: no "last seen" of a user who shows nobody')
  await back(t)
  await choose(t, 'everyone')
  await waitStatus(a, (s) => s === 'online', 'A: B online again once shown to everyone')
}

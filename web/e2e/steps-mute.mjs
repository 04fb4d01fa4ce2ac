// Steps: mute. In the group B opens "Mute" in its header and chooses "Forever"
// (PUT /chats/{id}/mute with {}): the header says "🔕 Unmute", the chat list shows
// a 🔕 beside the group, and B's page is told with a `muted` frame. B moves to
// another chat and A writes in the group: B's unread badge still goes up, grey,
// while the page title does not count it. B opens the group (read) and unmutes
// (DELETE): the 🔕 goes; A's next message counts in the title again, the badge
// in its usual colour.

import { assert, assertEq, until } from './harness.mjs'
import { badge, chatItem, openChat, send, shot, waitBadge, waitText } from './pages.mjs'

const FOREVER = 253402300799999

/** The unread count of the page title ("(3) Chat"; "Chat": 0). */
async function titleCount(page) {
  const m = (await page.title()).match(/^\((\d+)\) /)
  return m ? Number(m[1]) : 0
}

/** Whether the list shows the chat as muted: [🔕 shown, badge grey (null without a badge)]. */
async function listMute(page, name) {
  const item = chatItem(page, name)
  const icon = (await item.getByTestId('chat-muted').count()) > 0
  const [grey] = await item.getByTestId('unread-badge').evaluateAll((els) => els.map((e) => e.classList.contains('badge-muted')))
  return [icon, grey ?? null]
}

/** Does `action` and returns the JSON of the answer to `method` /chats/{id}/mute. */
async function muteCall(page, method, action) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && /^\/api\/v1\/chats\/\d+\/mute$/.test(new URL(r.url()).pathname)),
    action(),
  ])
  assertEq(res.status(), 200, `${method} /chats/{id}/mute status`)
  return { body: res.request().postData(), chat: await res.json() }
}

export async function mute(t) {
  const a = t.A.page
  const b = t.B.page
  const mutedBefore = t.frames.received.muted ?? 0
  await openChat(a, t.group)
  await openChat(b, t.group)
  assertEq(await listMute(b, t.group), [false, null], 'the group is not muted yet')

  // B mutes the group for good from its header.
  await b.getByTestId('mute-btn').click()
  const choices = (await b.getByTestId('mute-choice').allTextContents()).map((s) => s.trim())
  assertEq(choices, ['For 1 hour', 'For 8 hours', 'For 1 day', 'Forever'], 'the mute menu')
  await shot(b, t.shots, 'mute-menu')
  const muted = await muteCall(b, 'PUT', () => b.getByTestId('mute-choice').filter({ hasText: 'Forever' }).click())
  assertEq(JSON.parse(muted.body), {}, 'for good: no time sent')
  assertEq(muted.chat.muted_until, FOREVER, 'the chat answered is muted for good')
  await b.getByTestId('unmute-btn').waitFor()
  await until(async () => (await listMute(b, t.group))[0], 'B: 🔕 beside the group')
  await until(async () => (t.frames.received.muted ?? 0) > mutedBefore, 'B: a muted frame')
  await shot(b, t.shots, 'mute-muted')

  // Elsewhere, B's badge still counts A's message, grey; the title does not.
  await openChat(b, t.history)
  const title0 = await titleCount(b)
  const first = `While muted ${Date.now().toString(36)}`
  await send(a, first)
  await waitText(a, first)
  await waitBadge(b, t.group, (n) => n === 1, 'B: unread still counted while muted')
  assertEq(await listMute(b, t.group), [true, true], 'B: 🔕 and a grey badge')
  assertEq(await titleCount(b), title0, 'B: the title leaves the muted chat out')
  await shot(b, t.shots, 'mute-badge')

  // B reads it and unmutes.
  await openChat(b, t.group)
  await waitText(b, first)
  await waitBadge(b, t.group, (n) => n === 0, 'B: read in the open chat')
  const unmuted = await muteCall(b, 'DELETE', () => b.getByTestId('unmute-btn').click())
  assert(!('muted_until' in unmuted.chat), `the chat answered is not muted: ${JSON.stringify(unmuted.chat)}`)
  await b.getByTestId('mute-btn').waitFor()
  await until(async () => !(await listMute(b, t.group))[0], 'B: no 🔕 any more')
  await shot(b, t.shots, 'mute-unmuted')

  // Unmuted: A's next message counts in the title again, the badge in its colour.
  await openChat(b, t.history)
  const second = `After unmute ${Date.now().toString(36)}`
  await send(a, second)
  await waitBadge(b, t.group, (n) => n === 1, 'B: a badge again')
  assertEq(await listMute(b, t.group), [false, false], 'B: a badge in its usual colour')
  await until(async () => (await titleCount(b)) === title0 + 1, 'B: the title counts it')
  await openChat(b, t.group)
  await waitBadge(b, t.group, (n) => n === 0, 'B: read')
  assertEq(await badge(b, t.group), 0, 'B: nothing left unread in the group')
}

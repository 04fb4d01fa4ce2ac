// Steps: pins. In the group (A its admin, B a member) B and A each write a
// message. B's message menu has no "Pin". A pins B's message from its menu: both
// see the pins bar with its text and a pin beside the message, B live; B's bar has
// no ×. A pins her own message too: "1 of 2" on both sides, hers first. B clicks
// the bar: her message is shown (flashed) and the bar moves on to "2 of 2", his.
// B reloads: the bar comes back (the chat list carries the pins). A unpins hers
// from the menu ("Unpin") and his with the bar's ×: the bar goes away for both.

import { assert, assertEq, until } from './harness.mjs'
import { messageRow, openChat, send, shot, waitConnected, waitText } from './pages.mjs'

/** What the pins bar shows: [text, count] ('' without a count), or null without a bar. */
async function bar(page) {
  if (!(await page.getByTestId('pins-bar').count())) return null
  const [text] = await page.getByTestId('pins-text').allTextContents()
  const [count] = await page.getByTestId('pins-count').allTextContents()
  return [text ?? '', count ?? '']
}

async function waitBar(page, expected, what) {
  let last
  await until(async () => JSON.stringify((last = await bar(page))) === JSON.stringify(expected), `${what}: ${JSON.stringify(expected)} (last: ${JSON.stringify(last)})`)
}

/** The labels of a message's menu (opened, read, closed). */
async function menuItems(row) {
  await row.getByTestId('msg-menu').click()
  const items = await row.getByRole('menuitem').allTextContents()
  await row.getByTestId('msg-menu').click()
  return items.map((s) => s.trim())
}

/** Chooses "Pin" or "Unpin" (`label`) in a message's menu. */
async function pinFromMenu(row, label) {
  await row.getByTestId('msg-menu').click()
  const item = row.getByTestId('act-pin')
  assertEq((await item.textContent()).trim(), label, 'the menu item')
  await item.click()
}

export async function pins(t) {
  const a = t.A.page
  const b = t.B.page
  const sentBefore = t.frames.sent.pin ?? 0
  await openChat(a, t.group)
  await openChat(b, t.group)
  const tag = Date.now().toString(36)
  const his = `Pin this one ${tag}`
  const hers = `And this one too ${tag}`
  await send(b, his)
  await waitText(a, his)
  await send(a, hers)
  await waitText(b, hers)
  assertEq(await bar(a), null, 'no pins yet')

  // B, a plain member, cannot pin.
  const itemsB = await menuItems(messageRow(b, his))
  assert(itemsB.includes('Forward') && !itemsB.includes('Pin'), `B's menu has no Pin: ${itemsB.join(', ')}`)

  // A, the admin, pins his message: both see the bar, B live.
  await pinFromMenu(messageRow(a, his), 'Pin')
  await waitBar(a, [his, ''], 'A sees the pins bar')
  await waitBar(b, [his, ''], 'B sees it live')
  for (const p of [a, b]) await messageRow(p, his).getByTestId('pin-mark').waitFor()
  assertEq(await a.getByTestId('pins-unpin').count(), 1, 'A may unpin from the bar')
  assertEq(await b.getByTestId('pins-unpin').count(), 0, 'B has no unpin button')
  await shot(a, t.shots, 'pins-bar')

  // A pins hers too: the latest pinned comes first.
  await pinFromMenu(messageRow(a, hers), 'Pin')
  await waitBar(a, [hers, '1 of 2'], 'A sees two pins, hers first')
  await waitBar(b, [hers, '1 of 2'], 'B sees two pins live')
  await shot(b, t.shots, 'pins-live')

  // B clicks the bar: her message is shown, and the bar moves on to his.
  await b.getByTestId('pins-open').click()
  await until(async () => (await messageRow(b, hers).getAttribute('data-flash')) === 'true', 'her message flashes for B')
  await waitBar(b, [his, '2 of 2'], 'the bar moved on')
  await shot(b, t.shots, 'pins-cycle')
  await b.getByTestId('pins-open').click()
  await until(async () => (await messageRow(b, his).getAttribute('data-flash')) === 'true', 'his message flashes for B')
  await waitBar(b, [hers, '1 of 2'], 'back to the latest')

  // After a reload the pins come with the chat.
  await b.reload()
  await waitConnected(b)
  await openChat(b, t.group)
  await waitBar(b, [hers, '1 of 2'], 'B after a reload')
  assert(!(await menuItems(messageRow(b, hers))).includes('Unpin'), 'B still has no Unpin')

  // A unpins hers from the menu, then his with the bar's ×: the bar goes for both.
  await pinFromMenu(messageRow(a, hers), 'Unpin')
  await waitBar(a, [his, ''], 'A: one pin left')
  await waitBar(b, [his, ''], 'B: one pin left, live')
  await a.getByTestId('pins-unpin').click()
  await waitBar(a, null, 'A: no pins bar')
  await waitBar(b, null, 'B: no pins bar, live')
  for (const p of [a, b]) assertEq(await p.getByTestId('pin-mark').count(), 0, 'no pin beside the messages')
  assertEq((t.frames.sent.pin ?? 0) - sentBefore, 4, 'pin frames sent (2 pins, 2 unpins, by A)')
  assert((t.frames.received.pinned ?? 0) >= 8, 'pinned events were received on both sides')
}

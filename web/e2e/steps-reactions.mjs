// Steps: reactions. In the group B writes a message; A opens the picker under it
// and reacts 👍: B sees the chip "👍 1" live. B clicks the chip: both see "👍 2",
// highlighted (pressed) on each side, since both reacted. A takes hers back: both
// see "👍 1", B's still pressed. A adds ❤️ (her own), a fourth reaction of hers
// is refused with a toast, then A reloads the page: the chips come from history
// (GET .../messages carries them), hers pressed, B's not.

import { assert, assertEq, until } from './harness.mjs'
import { messageRow, openChat, send, shot, waitConnected, waitText } from './pages.mjs'

/** The chips under a message row: [text, aria-pressed] each, in order. */
async function chips(row) {
  return row
    .getByTestId('reaction-chip')
    .evaluateAll((els) => els.map((e) => [e.textContent.trim(), e.getAttribute('aria-pressed')]))
}

async function waitChips(row, expected, what) {
  let last
  await until(async () => JSON.stringify((last = await chips(row))) === JSON.stringify(expected), `${what}: ${JSON.stringify(expected)}`)
  return last
}

/** Opens the picker under `row` (the add button shows on hover) and picks `emoji`. */
async function pick(page, row, emoji, screenshot) {
  await row.hover()
  await row.getByTestId('react-add').click()
  const picker = row.getByTestId('react-picker')
  await picker.waitFor()
  if (screenshot) await screenshot()
  await picker.getByRole('button', { name: `React with ${emoji}` }).click()
  await picker.waitFor({ state: 'detached' })
}

export async function reactions(t) {
  const a = t.A.page
  const b = t.B.page
  const sentBefore = t.frames.sent.react ?? 0
  await openChat(a, t.group)
  await openChat(b, t.group)
  const text = `React to this ${Date.now().toString(36)}`
  await send(b, text)
  await waitText(a, text)
  const rowA = messageRow(a, text)
  const rowB = messageRow(b, text)
  assertEq(await chips(rowA), [], 'no reactions yet')

  // A reacts through the picker: eight common emoji, each labelled.
  await pick(a, rowA, '👍', async () => {
    const picks = rowA.getByTestId('react-pick')
    assertEq(await picks.count(), 8, 'the picker offers 8 emoji')
    assertEq(await picks.first().getAttribute('aria-label'), 'React with 👍', 'labelled for screen readers')
    await shot(a, t.shots, 'reactions-picker')
  })
  await waitChips(rowA, [['👍 1', 'true']], 'A sees her reaction')
  await waitChips(rowB, [['👍 1', 'false']], 'B sees it live')
  assertEq(
    await rowB.getByTestId('reaction-chip').getAttribute('aria-label'),
    '👍 1 reaction',
    "B's chip is labelled",
  )

  // B joins in by clicking the chip.
  await rowB.getByTestId('reaction-chip').click()
  await waitChips(rowB, [['👍 2', 'true']], "B's click counts (highlighted: his own)")
  await waitChips(rowA, [['👍 2', 'true']], 'A sees it live')
  assertEq(
    await rowB.getByTestId('reaction-chip').getAttribute('aria-label'),
    '👍 2 reactions, including yours',
    "B's chip says it includes his",
  )
  await shot(b, t.shots, 'reactions-live')

  // A takes hers back.
  await rowA.getByTestId('reaction-chip').click()
  await waitChips(rowA, [['👍 1', 'false']], 'A took hers back')
  await waitChips(rowB, [['👍 1', 'true']], 'B sees it live, his still highlighted')

  // A adds ❤️, 😂 and 🎉 (three of her own); a fourth is refused with a toast.
  for (const e of ['❤️', '😂', '🎉']) await pick(a, rowA, e)
  const expected = [['👍 1', 'false'], ['❤️ 1', 'true'], ['😂 1', 'true'], ['🎉 1', 'true']]
  await waitChips(rowA, expected, 'A sees her three')
  await waitChips(rowB, expected.map(([c], i) => [c, i === 0 ? 'true' : 'false']), 'B sees them live')
  await pick(a, rowA, '👀')
  const toast = a.getByTestId('toast').filter({ hasText: 'Could not react' })
  await toast.first().waitFor()
  const said = await toast.first().textContent()
  assert(/at most 3/.test(said), `the refusal says why: ${said}`)
  t.log(`refused: ${said}`)
  await waitChips(rowA, expected, 'the refused one is not shown')

  // After a reload the chips come from history, hers highlighted.
  await a.reload()
  await waitConnected(a)
  const history = a.waitForResponse((r) => r.request().method() === 'GET' && /\/api\/v1\/chats\/[^/]+\/messages$/.test(new URL(r.url()).pathname))
  await openChat(a, t.group)
  const page = await (await history).json()
  const stored = page.messages.find((m) => m.text === text)
  assertEq(
    stored?.reactions,
    [{ emoji: '👍', count: 1 }, { emoji: '❤️', count: 1, mine: true }, { emoji: '😂', count: 1, mine: true }, { emoji: '🎉', count: 1, mine: true }],
    'the history page carries the reactions as A sees them',
  )
  await waitChips(messageRow(a, text), expected, 'A after a reload')
  await shot(a, t.shots, 'reactions-history')
  const sent = (t.frames.sent.react ?? 0) - sentBefore
  assertEq(sent, 7, 'react frames sent (5 by A, 1 refused, 1 by B)')
  assert((t.frames.received.reaction ?? 0) > 0, 'reaction events were received')
}

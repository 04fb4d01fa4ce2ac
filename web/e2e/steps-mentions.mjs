// Steps: mentions. B has another chat open; in the group A writes "hello @<B's
// login name>": A's own message marks the name (as someone else's), the server's
// ack carrying the mention. B's chat list shows an "@" badge with 1 beside the
// unread one. B opens the group: the name is marked as B's own, the message is
// highlighted, and once read the "@" badge goes. An `@name` of nobody in the chat
// is left plain.

import { assert, assertEq, until } from './harness.mjs'
import { chatItem, messageRow, openChat, send, shot, waitBadge, waitText } from './pages.mjs'

/** The "@" badge of a chat in the list: its count (0 when there is none). */
async function mentionBadge(page, name) {
  // allTextContents does not wait: the badge may vanish at any moment.
  const [text] = await chatItem(page, name).getByTestId('mention-badge').allTextContents()
  return text ? Number(text.replace('@', '')) : 0
}

/** The mentions marked in the message holding `text`: [text, the reader's own]. */
async function marks(page, text) {
  return messageRow(page, text)
    .getByTestId('mention')
    .evaluateAll((els) => els.map((e) => [e.textContent, e.classList.contains('mention-me')]))
}

export async function mentions(t) {
  const a = t.A.page
  const b = t.B.page
  await openChat(a, t.group)
  await openChat(b, t.history)
  assertEq(await mentionBadge(b, t.group), 0, 'B: no mentions in the group yet')

  const text = `hello @${t.B.name} ${Date.now().toString(36)}`
  await send(a, text)
  await waitText(a, text)
  await until(async () => (await marks(a, text)).length === 1, 'A: the name marked in her message')
  assertEq(await marks(a, text), [[`@${t.B.name}`, false]], "A: B's name marked as someone else's")

  await until(async () => (await mentionBadge(b, t.group)) === 1, 'B: an "@" badge with 1 on the group')
  await waitBadge(b, t.group, (n) => n === 1, 'B: one unread beside it')
  await shot(b, t.shots, 'mentions-badge')

  await openChat(b, t.group)
  await waitText(b, text)
  assertEq(await marks(b, text), [[`@${t.B.name}`, true]], "B: B's own name marked")
  assertEq(await messageRow(b, text).getAttribute('data-mentions-me'), 'true', 'B: the message is highlighted')
  await waitBadge(b, t.group, (n) => n === 0, 'B: read in the open chat')
  await until(async () => (await mentionBadge(b, t.group)) === 0, 'B: the "@" badge gone once read')
  await shot(b, t.shots, 'mentions-read')
  await shot(a, t.shots, 'mentions-sent')

  // Nobody by that name in the chat: plain text, no badge.
  const plain = `ask @nobody_${Date.now().toString(36)} later`
  await send(a, plain)
  await waitText(b, plain)
  assertEq(await marks(b, plain), [], 'B: an unknown @name is left plain')
  assert((await messageRow(b, plain).getAttribute('data-mentions-me')) === null, 'B: a message not mentioning B is not highlighted')
  assertEq(await mentionBadge(b, t.group), 0, 'B: still no "@" badge')
}

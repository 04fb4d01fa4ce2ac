// Steps: typing indicators. A types in the group without sending; B, in the same
// chat, sees "<A's display name> is typing…" under the messages (and in the chat
// list), A does not see herself; it goes as soon as her message arrives. Then A
// types in their direct chat and stops: B's chat list says "typing…" there until
// the notice expires (6 s after her last one).

import { assert, assertEq, until } from './harness.mjs'
import { chatItem, openChat, shot, waitText } from './pages.mjs'

const line = (page) => page.getByTestId('typing-line').textContent()

export async function typingIndicator(t) {
  const a = t.A.page
  const b = t.B.page
  const alice = t.A.display2 ?? t.A.display ?? t.A.name
  const sentBefore = t.frames.sent.typing ?? 0
  await openChat(a, t.group)
  await openChat(b, t.group)
  assertEq(await line(b), '', 'B: nobody is typing yet')

  const input = a.getByTestId('composer-input')
  await input.pressSequentially('Typing, not sent yet', { delay: 40 })
  const shown = `${alice} is typing…`
  await until(async () => (await line(b)) === shown, `B sees "${shown}"`)
  const listed = await chatItem(b, t.group).getByTestId('chat-typing').textContent()
  assertEq(listed, shown, 'B: the group in the chat list says who is typing')
  assertEq(await line(a), '', 'A does not see herself typing')
  // 20 keystrokes in about a second: one notice (at most one every 3 s).
  const sent = (t.frames.sent.typing ?? 0) - sentBefore
  assert(sent >= 1 && sent <= 2, `A sent ${sent} typing notices while typing`)
  await shot(b, t.shots, 'typing')

  // Sent: the line goes with the message, long before the notice would expire.
  await input.press('Enter')
  await waitText(b, 'Typing, not sent yet')
  const gone = Date.now()
  await until(async () => (await line(b)) === '', 'B: the line goes with the message', 1000, 50)
  t.log(`B: the line went ${Date.now() - gone} ms after the message showed`)
  assertEq(await chatItem(b, t.group).getByTestId('chat-typing').count(), 0, 'the list shows the message again')

  // Typed and left there: B's list shows it for the direct chat until it expires.
  await openChat(a, t.B.name)
  const since = Date.now()
  await a.getByTestId('composer-input').fill('a draft')
  const direct = chatItem(b, alice)
  await until(async () => (await direct.getByTestId('chat-typing').count()) === 1, 'B: "typing…" in the chat list')
  assertEq(await direct.getByTestId('chat-typing').textContent(), 'typing…', 'a direct chat says only "typing…"')
  await until(async () => (await direct.getByTestId('chat-typing').count()) === 0, 'B: it expires', 12_000, 100)
  const after = Date.now() - since
  t.log(`B: "typing…" expired after ${after} ms`)
  assert(after >= 5000, `expired after the notice's 6 s, not before (${after} ms)`)
  await a.getByTestId('composer-input').fill('')
  assert((t.frames.received.typing ?? 0) > 0, 'typing events were received')
}

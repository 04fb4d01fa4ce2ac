// Reactions: `reaction` events counted on the message held only when newer than it
// (by pts), the user's own reaction counted once whether its event or its ack comes
// first, a replay replacing the message whole; `react` going out with a ref and its
// refusal told in a toast; the chips under a message (toggling the user's own) and
// the picker, and neither for a silent member or a deleted message.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ClientFrame, Message, ServerFrame } from '../src/api/types'
import MessagePane from '../src/components/MessagePane.vue'
import { CLIENT } from '../src/keys'
import { QUICK_REACTIONS } from '../src/lib/reactions'
import type { ChatClient } from '../src/stores/client'
import { Outbox } from '../src/stores/outbox'
import { Timeline } from '../src/stores/timeline'
import { FakeWebSocket, msg } from './fakes'
import { chat, connectedClient, entry } from './fixture'

const provide = (client: ChatClient) => ({ global: { provide: { [CLIENT as symbol]: client } } })

/** A `reaction` event of chat `a`. */
const reaction = (seq: number, user_id: string, emoji: string, added: boolean, pts: number): ServerFrame => ({
  type: 'reaction',
  chat_id: 'a',
  seq,
  user_id,
  emoji,
  added,
  pts,
})

/** A timeline of chat c1 holding messages 1..3 (pts = seq) as user `me`. */
async function held() {
  const tl = new Timeline('c1', 'me', async () => ({ messages: [msg(1), msg(2), msg(3)], last_seq: 3 }))
  await tl.loadInitial(0, 3)
  return tl
}

beforeEach(() => {
  FakeWebSocket.instances = []
})
afterEach(() => {
  vi.useRealTimers()
  document.body.innerHTML = ''
})

describe('Timeline.onReaction', () => {
  it('counts a newer event and takes its pts; ignores an older or equal one', async () => {
    const tl = await held()
    tl.onReaction(2, 'u3', '👍', true, 10)
    expect(tl.find(2)).toMatchObject({ pts: 10, reactions: [{ emoji: '👍', count: 1 }] })
    expect(tl.find(2)!.reactions![0]!.mine).toBeFalsy()
    // Older than the message (already counted in what it holds): nothing.
    tl.onReaction(2, 'u4', '👍', true, 9)
    tl.onReaction(2, 'u4', '👍', true, 10)
    expect(tl.find(2)).toMatchObject({ pts: 10, reactions: [{ emoji: '👍', count: 1 }] })
    tl.onReaction(2, 'u4', '👍', true, 11)
    tl.onReaction(2, 'me', '🎉', true, 12)
    expect(tl.find(2)!.reactions).toEqual([
      { emoji: '👍', count: 2 },
      { emoji: '🎉', count: 1, mine: true },
    ])
  })

  it('counts down, sets mine for the own user only, and drops an emoji at 0', async () => {
    const tl = await held()
    Object.assign(tl.find(1)!, {
      pts: 5,
      reactions: [
        { emoji: '👍', count: 2, mine: true },
        { emoji: '❤️', count: 1 },
      ],
    })
    tl.onReaction(1, 'u2', '👍', false, 6)
    expect(tl.find(1)!.reactions).toEqual([
      { emoji: '👍', count: 1, mine: true },
      { emoji: '❤️', count: 1 },
    ])
    tl.onReaction(1, 'me', '👍', false, 7)
    tl.onReaction(1, 'u2', '❤️', false, 8)
    expect(tl.find(1)).toMatchObject({ pts: 8, reactions: [] })
    // Taking back what is not counted changes nothing but the pts.
    tl.onReaction(1, 'u2', '😂', false, 9)
    expect(tl.find(1)).toMatchObject({ pts: 9, reactions: [] })
  })

  it('ignores a message not held; a newer copy of a held one replaces it, an older one not', async () => {
    const tl = await held()
    tl.onReaction(7, 'u2', '👍', true, 20)
    expect(tl.find(7)).toBeUndefined()
    tl.updateHeld(msg(7, { pts: 21 }))
    expect(tl.find(7)).toBeUndefined()
    tl.updateHeld(msg(3, { pts: 22, reactions: [{ emoji: '👀', count: 3, mine: true }] }))
    tl.updateHeld(msg(3, { pts: 21, reactions: [] }))
    expect(tl.find(3)!.reactions).toEqual([{ emoji: '👀', count: 3, mine: true }])
  })
})

/** A connected client with chat `a` open, holding messages 1..2 of u2 (pts 1, 2). */
async function openA(role: 'member' | 'silent' = 'member', history: Message[] = [msg(1, { chat_id: 'a' }), msg(2, { chat_id: 'a' })]) {
  const list = [{ ...entry(chat('a', history.length), history.length), role }]
  const r = await connectedClient(list, { a: history })
  await r.client.openChat('a')
  return r
}

/** The `react` frames sent, and the ref of the last one. */
const reacts = (ws: FakeWebSocket) => ws.framesOf('react')
const lastRef = (ws: FakeWebSocket) => String(reacts(ws).at(-1)!.ref)

describe('ChatClient reactions', () => {
  it('counts the own reaction once when its event comes before the ack', async () => {
    const { client, ws } = await openA()
    expect(client.toggleReaction('a', 2, '👍')).toBe(true)
    expect(reacts(ws)).toEqual([{ type: 'react', chat_id: 'a', seq: 2, emoji: '👍', ref: expect.stringMatching(/^react-/) }])
    const tl = client.timeline('a')!
    ws.receive(reaction(2, 'me', '👍', true, 3))
    expect(tl.find(2)!.reactions).toEqual([{ emoji: '👍', count: 1, mine: true }])
    const answer = msg(2, { chat_id: 'a', pts: 3, reactions: [{ emoji: '👍', count: 1, mine: true }] })
    ws.receive({ type: 'ack', chat_id: 'a', ref: lastRef(ws), seq: 2, message: answer, duplicate: false })
    expect(tl.find(2)).toMatchObject({ pts: 3, reactions: [{ emoji: '👍', count: 1, mine: true }] })
    // Not a new message: the chat list and the read cursor do not move.
    expect(client.chats.get('a')!.chat.last_message).toBeNull()
    expect(client.state.toasts).toEqual([])
    client.stop()
  })

  it('counts the own reaction once when the ack comes before its event', async () => {
    const { client, ws } = await openA()
    const tl = client.timeline('a')!
    // Someone else's reaction is in the ack (pts 3) before its event arrives.
    client.toggleReaction('a', 2, '👍')
    const answer = msg(2, { chat_id: 'a', pts: 4, reactions: [{ emoji: '👍', count: 2, mine: true }] })
    ws.receive({ type: 'ack', chat_id: 'a', ref: lastRef(ws), seq: 2, message: answer, duplicate: false })
    expect(tl.find(2)).toMatchObject({ pts: 4, reactions: [{ emoji: '👍', count: 2, mine: true }] })
    ws.receive(reaction(2, 'u3', '👍', true, 3))
    ws.receive(reaction(2, 'me', '👍', true, 4))
    expect(tl.find(2)).toMatchObject({ pts: 4, reactions: [{ emoji: '👍', count: 2, mine: true }] })
    // A later change counts.
    ws.receive(reaction(2, 'u3', '👍', false, 5))
    expect(tl.find(2)).toMatchObject({ pts: 5, reactions: [{ emoji: '👍', count: 1, mine: true }] })
    client.stop()
  })

  it('takes the own reaction back with remove, and an ack answers it', async () => {
    const { client, ws } = await openA('member', [msg(1, { chat_id: 'a', pts: 3, reactions: [{ emoji: '❤️', count: 2, mine: true }] })])
    client.toggleReaction('a', 1, '❤️')
    expect(reacts(ws)).toEqual([{ type: 'react', chat_id: 'a', seq: 1, emoji: '❤️', remove: true, ref: expect.any(String) }])
    const answer = msg(1, { chat_id: 'a', pts: 4, reactions: [{ emoji: '❤️', count: 1 }] })
    ws.receive({ type: 'ack', chat_id: 'a', ref: lastRef(ws), seq: 1, message: answer, duplicate: false })
    ws.receive(reaction(1, 'me', '❤️', false, 4))
    expect(client.timeline('a')!.find(1)!.reactions).toEqual([{ emoji: '❤️', count: 1 }])
    client.stop()
  })

  it('a replayed message replaces the one held with its reactions; the reaction pts is resumed from', async () => {
    const { client, ws } = await openA()
    ws.receive(reaction(1, 'u2', '😂', true, 3))
    ws.receive(reaction(1, 'me', '😂', true, 4))
    ws.serverClose(1012)
    await new Promise((r) => setTimeout(r, 20))
    FakeWebSocket.last.ready('me')
    await flushPromises()
    expect(FakeWebSocket.last.framesOf('subscribe')).toEqual([{ type: 'subscribe', chat_id: 'a', since_seq: 2, since_pts: 4 }])
    // Missed while away: u2 took theirs back and u3 reacted 👀.
    FakeWebSocket.last.receive({
      type: 'message',
      message: msg(1, { chat_id: 'a', pts: 6, reactions: [{ emoji: '😂', count: 1, mine: true }, { emoji: '👀', count: 1 }] }),
    })
    expect(client.timeline('a')!.find(1)).toMatchObject({
      pts: 6,
      reactions: [{ emoji: '😂', count: 1, mine: true }, { emoji: '👀', count: 1 }],
    })
    // An event the replay holds already is not counted again.
    FakeWebSocket.last.receive(reaction(1, 'u3', '👀', true, 6))
    expect(client.timeline('a')!.find(1)!.reactions![1]).toEqual({ emoji: '👀', count: 1 })
    client.stop()
  })

  it('a refusal is a toast with the server message; the message stays as it was', async () => {
    const { client, ws } = await openA('member', [msg(1, { chat_id: 'a', reactions: [{ emoji: '👍', count: 1, mine: true }] })])
    client.toggleReaction('a', 1, '🎉')
    const quota = 'at most 3 reactions of yours on a message: take one back first'
    ws.receive({ type: 'rejected', chat_id: 'a', ref: lastRef(ws), code: 'quota_exceeded', message: quota })
    expect(client.state.toasts.map((t) => t.text)).toEqual([`Could not react: ${quota}`])
    client.toggleReaction('a', 1, '👍')
    ws.receive({ type: 'error', chat_id: 'a', ref: lastRef(ws), code: 'too_many_requests', message: 'slow down', retry_after_ms: 500 })
    expect(client.state.toasts.at(-1)!.text).toBe('Could not take back the reaction: slow down')
    client.toggleReaction('a', 1, '😮')
    ws.receive({ type: 'rejected', chat_id: 'a', ref: lastRef(ws), code: 'message_deleted', message: 'the message was deleted' })
    expect(client.state.toasts.at(-1)!.text).toBe('Could not react: the message was deleted')
    expect(client.timeline('a')!.find(1)!.reactions).toEqual([{ emoji: '👍', count: 1, mine: true }])
    client.stop()
  })

  it('sends nothing for a silent member or a deleted message', async () => {
    const silent = await openA('silent')
    expect(silent.client.toggleReaction('a', 1, '👍')).toBe(false)
    expect(reacts(silent.ws)).toEqual([])
    silent.client.stop()
    const { client, ws } = await openA('member', [msg(1, { chat_id: 'a', deleted: true, text: '' })])
    expect(client.toggleReaction('a', 1, '👍')).toBe(false)
    expect(reacts(ws)).toEqual([])
    client.stop()
  })
})

describe('Outbox.react', () => {
  it('sends a react with a ref (remove only when taking back) and tells what its ack answered', () => {
    const sent: ClientFrame[] = []
    const toasts: string[] = []
    const box = new Outbox({
      socket: { send: (f: ClientFrame) => (sent.push(f), true) },
      timeline: () => undefined,
      timelines: () => [],
      toast: (t) => toasts.push(t),
    })
    box.react('c1', 4, '👀')
    box.react('c1', 4, '👀', true)
    expect(sent).toEqual([
      { type: 'react', chat_id: 'c1', seq: 4, emoji: '👀', ref: expect.stringMatching(/^react-/) },
      { type: 'react', chat_id: 'c1', seq: 4, emoji: '👀', remove: true, ref: expect.stringMatching(/^unreact-/) },
    ])
    const [a, b] = sent.map((f) => (f as { ref: string }).ref)
    expect(box.onAck(null, a)).toBe('react')
    expect(box.onAck(null, b)).toBe('unreact')
    // Answered once: a repeat of the answer is no longer ours.
    expect(box.onAck(null, a)).toBeUndefined()
    expect(box.onFailure(a!, 'quota_exceeded', 'too many')).toBe(false)
    expect(toasts).toEqual([])
  })
})

describe('reaction chips and picker', () => {
  const history = () => [
    msg(1, {
      chat_id: 'a',
      text: 'hello',
      pts: 5,
      reactions: [
        { emoji: '👍', count: 2, mine: true },
        { emoji: '😂', count: 1 },
      ],
    }),
    msg(2, { chat_id: 'a', text: 'plain' }),
  ]
  const rowOf = (w: ReturnType<typeof mount>, seq: number) => w.find(`[data-testid="message"][data-seq="${seq}"]`)

  it('shows chips with counts, mine highlighted and pressed, labelled for screen readers', async () => {
    const { client } = await openA('member', history())
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    const chips = rowOf(w, 1).findAll('[data-testid="reaction-chip"]')
    expect(chips.map((c) => c.text())).toEqual(['👍 2', '😂 1'])
    expect(chips.map((c) => c.attributes('aria-pressed'))).toEqual(['true', 'false'])
    expect(chips.map((c) => c.classes('on'))).toEqual([true, false])
    expect(chips.map((c) => c.attributes('aria-label'))).toEqual(['👍 2 reactions, including yours', '😂 1 reaction'])
    expect(rowOf(w, 2).findAll('[data-testid="reaction-chip"]')).toHaveLength(0)
    // Live: a new emoji on the other message shows as a chip.
    client.onFrame(reaction(2, 'u2', '🙏', true, 9))
    await flushPromises()
    expect(rowOf(w, 2).find('[data-testid="reaction-chip"]').text()).toBe('🙏 1')
    client.stop()
  })

  it('clicking a chip takes the own reaction back or adds it', async () => {
    const { client, ws } = await openA('member', history())
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    const chip = (i: number) => rowOf(w, 1).findAll('[data-testid="reaction-chip"]')[i]!
    await chip(0).trigger('click')
    await chip(1).trigger('click')
    expect(reacts(ws).map(({ emoji, remove }) => [emoji, remove ?? false])).toEqual([
      ['👍', true],
      ['😂', false],
    ])
    // The answer shows: 😂 is now the user's too.
    const refs = reacts(ws).map((f) => String(f.ref))
    ws.receive(reaction(1, 'me', '👍', false, 6))
    ws.receive({
      type: 'ack',
      chat_id: 'a',
      ref: refs[1],
      seq: 1,
      duplicate: false,
      message: msg(1, { chat_id: 'a', text: 'hello', pts: 7, reactions: [{ emoji: '👍', count: 1 }, { emoji: '😂', count: 2, mine: true }] }),
    })
    ws.receive(reaction(1, 'me', '😂', true, 7))
    await flushPromises()
    expect(rowOf(w, 1).findAll('[data-testid="reaction-chip"]').map((c) => [c.text(), c.attributes('aria-pressed')])).toEqual([
      ['👍 1', 'false'],
      ['😂 2', 'true'],
    ])
    client.stop()
  })

  it('the add button opens a picker of common emoji; a pick sends it and closes the picker', async () => {
    const { client, ws } = await openA('member', history())
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client), attachTo: document.body })
    await flushPromises()
    const add = rowOf(w, 2).find('[data-testid="react-add"]')
    expect(add.attributes('aria-label')).toBe('Add reaction')
    expect(add.attributes('aria-expanded')).toBe('false')
    await add.trigger('click')
    const picks = rowOf(w, 2).findAll('[data-testid="react-pick"]')
    expect(picks.map((p) => p.text())).toEqual([...QUICK_REACTIONS])
    expect(QUICK_REACTIONS).toHaveLength(8)
    expect(picks.map((p) => p.attributes('aria-label'))[0]).toBe('React with 👍')
    expect(rowOf(w, 2).find('[data-testid="react-add"]').attributes('aria-expanded')).toBe('true')
    await flushPromises()
    expect(document.activeElement).toBe(picks[0]!.element)
    await picks[3]!.trigger('click')
    expect(reacts(ws).map(({ seq, emoji, remove }) => [seq, emoji, remove])).toEqual([[2, '🎉', undefined]])
    expect(rowOf(w, 2).find('[data-testid="react-picker"]').exists()).toBe(false)
    // On a message with the user's 👍, the picker shows it pressed and picking it takes it back.
    await rowOf(w, 1).find('[data-testid="react-add"]').trigger('click')
    const thumbs = rowOf(w, 1).findAll('[data-testid="react-pick"]').find((p) => p.attributes('data-emoji') === '👍')!
    expect(thumbs.attributes('aria-pressed')).toBe('true')
    await thumbs.trigger('click')
    expect(reacts(ws).at(-1)).toMatchObject({ seq: 1, emoji: '👍', remove: true })
    // The message menu opens it too; Escape closes it.
    await rowOf(w, 2).find('[data-testid="msg-menu"]').trigger('click')
    await rowOf(w, 2).find('[data-testid="act-react"]').trigger('click')
    const picker = rowOf(w, 2).find('[data-testid="react-picker"]')
    expect(picker.attributes('aria-label')).toBe('Choose a reaction')
    await picker.trigger('keydown', { key: 'Escape' })
    expect(rowOf(w, 2).find('[data-testid="react-picker"]').exists()).toBe(false)
    w.unmount()
    client.stop()
  })

  it('a silent member sees the chips but cannot react', async () => {
    const { client, ws } = await openA('silent', history())
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    const chips = rowOf(w, 1).findAll('[data-testid="reaction-chip"]')
    expect(chips.map((c) => c.text())).toEqual(['👍 2', '😂 1'])
    expect(chips.every((c) => c.attributes('disabled') !== undefined)).toBe(true)
    await chips[1]!.trigger('click')
    expect(w.find('[data-testid="react-add"]').exists()).toBe(false)
    await rowOf(w, 1).find('[data-testid="msg-menu"]').trigger('click')
    expect(rowOf(w, 1).find('[data-testid="act-react"]').exists()).toBe(false)
    expect(reacts(ws)).toEqual([])
    client.stop()
  })

  it('a deleted message shows its chips but no way to react', async () => {
    const deleted = msg(1, { chat_id: 'a', text: '', deleted: true, reactions: [{ emoji: '🎉', count: 3 }] })
    const { client, ws } = await openA('member', [deleted, msg(2, { chat_id: 'a' })])
    const w = mount(MessagePane, { props: { chatId: 'a' }, ...provide(client) })
    await flushPromises()
    const chip = rowOf(w, 1).find('[data-testid="reaction-chip"]')
    expect(chip.text()).toBe('🎉 3')
    expect(chip.attributes('disabled')).toBeDefined()
    expect(rowOf(w, 1).find('[data-testid="react-add"]').exists()).toBe(false)
    expect(rowOf(w, 2).find('[data-testid="react-add"]').exists()).toBe(true)
    await chip.trigger('click')
    expect(reacts(ws)).toEqual([])
    client.stop()
  })
})

// Commands the client sends over the WebSocket and their answers: sends (pending →
// sent by ack, or failed with retry), edits, deletes, forwards, reactions, pins, and read
// cursors (debounced, forward only). A command that cannot go out now (no connection)
// waits and is resent on the next `ready`, with the same client_msg_id, so the
// server stores it once whatever happens.

import type { ChatSocket } from '../api/socket'
import type { ClientFrame, ClientFrameOf, Id } from '../api/types'
import { newClientMsgId, newRef } from '../lib/ids'
import type { Timeline } from './timeline'

/** A send with no answer after this long is shown as failed (the server says `timeout` at 10 s). */
export const SEND_TIMEOUT_MS = 15_000
export const READ_DEBOUNCE_MS = 250

type Frame = ClientFrame

export interface OutboxDeps {
  socket: Pick<ChatSocket, 'send'>
  timeline: (chatId: Id) => Timeline | undefined
  timelines: () => Iterable<Timeline>
  toast: (text: string) => void
}

interface RefInfo {
  what: 'edit' | 'delete' | 'forward' | 'react' | 'unreact' | 'pin' | 'unpin'
  chatId: Id
}

/** What a refused command says it could not do. */
const VERB: Record<RefInfo['what'], string> = {
  edit: 'edit',
  delete: 'delete',
  forward: 'forward',
  react: 'react',
  unreact: 'take back the reaction',
  pin: 'pin',
  unpin: 'unpin',
}

export class Outbox {
  private timers = new Map<string, ReturnType<typeof setTimeout>>()
  private refs = new Map<string, RefInfo>()
  /** Read cursors to send, by chat. */
  private reads = new Map<Id, number>()
  private readTimer: ReturnType<typeof setTimeout> | null = null

  constructor(private readonly d: OutboxDeps) {}

  send(tl: Timeline, text: string, replyToSeq?: number): string {
    const clientMsgId = newClientMsgId()
    tl.addPending({ clientMsgId, text, replyToSeq, createdAt: Date.now() })
    this.transmit(tl, clientMsgId)
    return clientMsgId
  }

  retry(tl: Timeline, clientMsgId: string): void {
    tl.markPending(clientMsgId)
    this.transmit(tl, clientMsgId)
  }

  /** Drops a failed message the user gave up on. */
  discard(tl: Timeline, clientMsgId: string): void {
    this.clearTimer(clientMsgId)
    tl.dropPending(clientMsgId)
  }

  edit(chatId: Id, seq: number, text: string): boolean {
    return this.command({ type: 'edit', chat_id: chatId, seq, text }, 'edit', chatId)
  }

  remove(chatId: Id, seq: number): boolean {
    return this.command({ type: 'delete', chat_id: chatId, seq }, 'delete', chatId)
  }

  /**
   * Adds the user's reaction to a message or, with `remove`, takes it back. The
   * `ack` carries the message with its reactions as the user sees them.
   */
  react(chatId: Id, seq: number, emoji: string, remove = false): boolean {
    const frame: ClientFrameOf<'react'> = { type: 'react', chat_id: chatId, seq, emoji }
    if (remove) frame.remove = true
    return this.command(frame, remove ? 'unreact' : 'react', chatId)
  }

  /**
   * Pins a message or, with `unpin`, unpins it. The `ack` carries nothing: the
   * chat's pins change with the `pinned` event.
   */
  pin(chatId: Id, seq: number, unpin = false): boolean {
    const frame: ClientFrameOf<'pin'> = { type: 'pin', chat_id: chatId, seq }
    if (unpin) frame.unpin = true
    return this.command(frame, unpin ? 'unpin' : 'pin', chatId)
  }

  forward(fromChatId: Id, seq: number, toChatId: Id): boolean {
    const id = newClientMsgId()
    const ok = this.d.socket.send({
      type: 'forward',
      from_chat_id: fromChatId,
      seq,
      to_chat_id: toChatId,
      client_msg_id: id,
    })
    if (ok) this.refs.set(id, { what: 'forward', chatId: toChatId })
    else this.d.toast('Not connected: try again in a moment')
    return ok
  }

  /** Queues the read cursor of a chat; sent after a short quiet period. */
  read(chatId: Id, seq: number): void {
    if (seq <= (this.reads.get(chatId) ?? 0)) return
    this.reads.set(chatId, seq)
    if (!this.readTimer) {
      this.readTimer = setTimeout(() => {
        this.readTimer = null
        this.flushReads()
      }, READ_DEBOUNCE_MS)
    }
  }

  flushReads(): void {
    for (const [chatId, seq] of [...this.reads]) {
      if (this.d.socket.send({ type: 'read', chat_id: chatId, seq })) this.reads.delete(chatId)
    }
  }

  /** The connection is (re)established: everything still waiting goes out. */
  onReady(): void {
    for (const tl of this.d.timelines()) {
      for (const p of tl.state.pending) if (p.status === 'pending') this.transmit(tl, p.clientMsgId)
    }
    this.flushReads()
  }

  /**
   * An `ack` for a send, forward or command: the timer stops (the message itself is
   * upserted by the caller). Tells what the command was (by its ref), if ours.
   */
  onAck(clientMsgId: string | null | undefined, ref: string | null | undefined): RefInfo['what'] | undefined {
    let what: RefInfo['what'] | undefined
    if (clientMsgId) {
      this.clearTimer(clientMsgId)
      const info = this.refs.get(clientMsgId)
      if (info?.what === 'forward') this.d.toast('Message forwarded')
      what = info?.what
      this.refs.delete(clientMsgId)
    }
    if (ref) {
      what = this.refs.get(ref)?.what ?? what
      this.refs.delete(ref)
    }
    return what
  }

  /** A `rejected` or `error` answer carrying our id. True when it was ours. */
  onFailure(id: string, code: string, message: string): boolean {
    for (const tl of this.d.timelines()) {
      if (tl.pendingById(id)) {
        this.clearTimer(id)
        tl.markFailed(id, failureText(code, message))
        return true
      }
    }
    const info = this.refs.get(id)
    if (info) {
      this.refs.delete(id)
      this.d.toast(`Could not ${VERB[info.what]}: ${failureText(code, message)}`)
      return true
    }
    return false
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    if (this.readTimer) clearTimeout(this.readTimer)
    this.readTimer = null
  }

  private transmit(tl: Timeline, clientMsgId: string) {
    const p = tl.pendingById(clientMsgId)
    if (!p) return
    const frame: ClientFrameOf<'send'> = { type: 'send', chat_id: tl.chatId, client_msg_id: clientMsgId, text: p.text }
    if (p.replyToSeq) frame.reply_to_seq = p.replyToSeq
    this.clearTimer(clientMsgId)
    // Not connected: it stays pending and goes out on the next `ready`; the
    // answer timer starts only once it is on the wire.
    if (!this.d.socket.send(frame)) return
    this.timers.set(
      clientMsgId,
      setTimeout(() => {
        this.timers.delete(clientMsgId)
        if (tl.pendingById(clientMsgId)?.status === 'pending') tl.markFailed(clientMsgId, 'no answer from the server')
      }, SEND_TIMEOUT_MS),
    )
  }

  private command(frame: Frame & { ref?: string }, what: RefInfo['what'], chatId: Id): boolean {
    const ref = newRef(what)
    frame.ref = ref
    const ok = this.d.socket.send(frame)
    if (ok) this.refs.set(ref, { what, chatId })
    else this.d.toast('Not connected: try again in a moment')
    return ok
  }

  private clearTimer(id: string) {
    const t = this.timers.get(id)
    if (t) clearTimeout(t)
    this.timers.delete(id)
  }
}

export function failureText(code: string, message: string): string {
  switch (code) {
    case 'silenced':
      return 'you may not post in this chat'
    case 'text_too_long':
    case 'empty_text':
      return message
    case 'timeout':
      return 'no answer from the server'
    case 'not_member':
      return 'you are no longer a member of this chat'
    default:
      return message || code
  }
}

// The chat list: every chat of the user with its role, read cursor and unread
// count, kept current by WebSocket events and ordered by last activity.
//
// Pins: a chat's pinned messages are its summary's `pins` (the latest pinned
// first), as of its `last_pts`. A `pinned` event or a `subscribed` frame replaces
// them unless the summary held is newer; a deletion drops the message from them;
// of two copies of a summary the pins of the newer by `last_pts` are kept, so a
// summary fetched before a `pinned` event never undoes it.
//
// Mute: a chat's `mutedUntil` is the user's mute as the chat list, a chat's
// answer (GET, mute, unmute) or the last `muted` frame told it (see ./mute).
//
// Mentions: a chat's unread messages that mention the user are the server's count
// (the list, a chat's answer: `mentions`, as of the chat's `last_seq` then,
// `mentionsAsOf`) plus the seqs after it of the live messages whose `mentions`
// name the user beyond the read cursor. Moving the cursor drops the seqs it
// passes, and the server's count once it passes `mentionsAsOf` (a cursor that
// stops before keeps it: the server's count says no seqs; `mentionsUnsure` then,
// and the client asks the chat again). The next list or chat answer replaces the
// count. A muted chat counts them too.

import { reactive } from 'vue'
import type { Chat, ChatListEntry, ChatView, Id, Message, Role } from '../api/types'
import { isMuted } from './mute'

export interface ChatState {
  chat: Chat
  role: Role
  /** The user's read cursor: every seq at or below it is read. Only moves forward. */
  readSeq: number
  /** The other member of a direct chat, once known. */
  peerId: Id | null
  /** Until when (Unix ms) the user muted the chat; null: not muted. */
  mutedUntil: number | null
  /** Unread messages mentioning the user as the server counted them... */
  mentions: number
  /** ...when the chat's last seq was this. */
  mentionsAsOf: number
  /** Seqs after `mentionsAsOf` of unread messages mentioning the user, learned live. */
  mentionSeqs: number[]
}

const PREVIEW_CHARS = 120
const NO_PINS: number[] = []

export function preview(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim()
  return t.length > PREVIEW_CHARS ? `${t.slice(0, PREVIEW_CHARS)}…` : t
}

export function unreadOf(c: ChatState): number {
  return Math.max(0, c.chat.last_seq - c.readSeq)
}

/** Unread messages that mention the user. */
export function mentionsOf(c: ChatState): number {
  return c.mentions + c.mentionSeqs.length
}

export function activityOf(c: ChatState): number {
  return c.chat.last_message?.at ?? c.chat.created_at
}

export class ChatsStore {
  readonly byId: Record<Id, ChatState> = reactive({})

  constructor(private readonly me: Id) {}

  /** Chats by last activity, newest first. */
  get sorted(): ChatState[] {
    return Object.values(this.byId).sort((a, b) => {
      const d = activityOf(b) - activityOf(a)
      return d !== 0 ? d : a.chat.id < b.chat.id ? 1 : -1
    })
  }

  /** Unread in the chats not muted at `now`: what the page title counts (muted chats raise nothing). */
  unreadNotMuted(now: number): number {
    return Object.values(this.byId).reduce((n, c) => (isMuted(c, now) ? n : n + unreadOf(c)), 0)
  }

  get(id: Id): ChatState | undefined {
    return this.byId[id]
  }

  /** Seqs of the chat's pinned messages, the latest pinned first. */
  pins(id: Id): number[] {
    return this.byId[id]?.chat.pins ?? NO_PINS
  }

  unread(id: Id): number {
    const c = this.byId[id]
    return c ? unreadOf(c) : 0
  }

  mentions(id: Id): number {
    const c = this.byId[id]
    return c ? mentionsOf(c) : 0
  }

  /**
   * The server's count may hold mentions the cursor has passed: some is left and
   * the cursor stands short of its seq (the live seqs are exact).
   */
  mentionsUnsure(id: Id): boolean {
    const c = this.byId[id]
    return !!c && c.mentions > 0 && c.readSeq < c.mentionsAsOf
  }

  /** Replaces the list with the server's (initial load, or after a reconnect). */
  setList(entries: ChatListEntry[]): void {
    const seen = new Set<Id>()
    for (const e of entries) {
      seen.add(e.chat.id)
      const cur = this.byId[e.chat.id]
      if (cur) {
        cur.chat = mergeChat(cur.chat, e.chat)
        cur.role = e.role
        cur.readSeq = Math.max(cur.readSeq, e.read_seq)
        cur.mutedUntil = e.muted_until ?? null
      } else {
        this.byId[e.chat.id] = { ...newState(e.chat, e.role, e.read_seq), mutedUntil: e.muted_until ?? null }
      }
      this.setMentions(e.chat.id, e.mentions, e.chat.last_seq)
    }
    for (const id of Object.keys(this.byId)) if (!seen.has(id)) delete this.byId[id]
  }

  /** A chat the user was added to or created (chat_created, member_added). */
  upsert(chat: Chat, role: Role, readSeq = 0): ChatState {
    const cur = this.byId[chat.id]
    if (cur) {
      cur.chat = mergeChat(cur.chat, chat)
      cur.role = role
      return cur
    }
    this.byId[chat.id] = newState(chat, role, readSeq)
    return this.byId[chat.id]!
  }

  updateChat(chat: Chat): void {
    const cur = this.byId[chat.id]
    if (cur) cur.chat = mergeChat(cur.chat, chat)
  }

  /** A chat as GET /chats/{id}, mute or unmute answered it: its summary, the user's mute and mentions. */
  applyView(v: ChatView): void {
    this.updateChat(v.chat)
    this.setMuted(v.chat.id, v.muted_until)
    this.setMentions(v.chat.id, v.mentions, v.chat.last_seq)
  }

  /** The server's count of unread mentions as of `asOf` (the chat's last seq it told with it). */
  private setMentions(id: Id, count: number, asOf: number): void {
    const c = this.byId[id]
    if (!c) return
    c.mentions = count
    c.mentionsAsOf = asOf
    dropRead(c)
  }

  /** The user's mute of a chat (a `muted` frame, an answer): until then, or none (undefined). */
  setMuted(id: Id, until: number | undefined): void {
    const c = this.byId[id]
    if (c) c.mutedUntil = until ?? null
  }

  remove(id: Id): void {
    delete this.byId[id]
  }

  setPeer(id: Id, peer: Id): void {
    const c = this.byId[id]
    if (c) c.peerId = peer
  }

  setRole(id: Id, role: Role): void {
    const c = this.byId[id]
    if (c) c.role = role
  }

  /** A new (or replayed) message: last activity, preview, unread, mentions. */
  onMessage(m: Message): void {
    const c = this.byId[m.chat_id]
    if (!c) return
    // Counted once: by the server up to `mentionsAsOf`, by its seq after.
    if (m.mentions?.includes(this.me) && m.seq > c.readSeq && m.seq > c.mentionsAsOf && !c.mentionSeqs.includes(m.seq)) {
      c.mentionSeqs.push(m.seq)
    }
    if (m.seq > c.chat.last_seq) c.chat.last_seq = m.seq
    const last = c.chat.last_message
    if (!last || m.seq >= last.seq) {
      c.chat.last_message = {
        seq: m.seq,
        sender_id: m.sender_id,
        preview: m.deleted ? '' : preview(m.text),
        at: m.created_at,
        deleted: m.deleted,
      }
    }
    // Sending moves the sender's cursor to the message.
    if (m.sender_id === this.me) this.advanceRead(m.chat_id, m.seq)
  }

  onEdited(chatId: Id, seq: number, text: string): void {
    const last = this.byId[chatId]?.chat.last_message
    if (last && last.seq === seq) last.preview = preview(text)
  }

  /** A deleted message: no longer the preview, nor pinned (the server tells no `pinned` for it). */
  onDeleted(chatId: Id, seq: number, pts: number): void {
    const c = this.byId[chatId]
    if (!c) return
    const last = c.chat.last_message
    if (last && last.seq === seq) {
      last.deleted = true
      last.preview = ''
    }
    const pins = c.chat.pins
    if (pins?.includes(seq)) c.chat.pins = pins.filter((s) => s !== seq)
    if (pts > c.chat.last_pts) c.chat.last_pts = pts
  }

  /**
   * The chat's pins as of change position `pts` (a `pinned` event, a `subscribed`
   * frame): taken unless the summary held is newer.
   */
  setPins(chatId: Id, pins: number[], pts: number): void {
    const c = this.byId[chatId]
    if (!c || pts < c.chat.last_pts) return
    c.chat.pins = pins
    c.chat.last_pts = pts
  }

  onSubscribed(chatId: Id, lastSeq: number, readSeq: number): void {
    const c = this.byId[chatId]
    if (!c) return
    if (lastSeq > c.chat.last_seq) c.chat.last_seq = lastSeq
    this.advanceRead(chatId, readSeq)
  }

  /** Moves the cursor forward; false when it was already there or beyond. */
  advanceRead(chatId: Id, seq: number): boolean {
    const c = this.byId[chatId]
    if (!c || seq <= c.readSeq) return false
    c.readSeq = seq
    dropRead(c)
    return true
  }
}

function newState(chat: Chat, role: Role, readSeq: number): ChatState {
  return { chat, role, readSeq, peerId: null, mutedUntil: null, mentions: 0, mentionsAsOf: 0, mentionSeqs: [] }
}

/** Mentions the read cursor has passed are read: the live seqs at or below it, the server's count once past its seq. */
function dropRead(c: ChatState): void {
  if (c.readSeq >= c.mentionsAsOf) c.mentions = 0
  // Those the server's count holds are counted there.
  const after = Math.max(c.readSeq, c.mentionsAsOf)
  if (c.mentionSeqs.some((s) => s <= after)) c.mentionSeqs = c.mentionSeqs.filter((s) => s > after)
}

/**
 * Keeps the newer of two copies of a chat's summary (events may race the list):
 * the last message by `last_seq`, the pins by `last_pts`.
 */
function mergeChat(cur: Chat, next: Chat): Chat {
  let merged = next
  if (next.last_seq < cur.last_seq) merged = { ...merged, last_seq: cur.last_seq, last_message: cur.last_message }
  if (next.last_pts < cur.last_pts) merged = { ...merged, last_pts: cur.last_pts, pins: cur.pins ?? [] }
  return merged
}

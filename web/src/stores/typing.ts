// Who is typing where (the `typing` events of the other members): per chat, the
// users typing and until when, in the order they started. An entry goes at its
// expiry (`expires_in_ms` after the last notice), on a message from that user in
// that chat, or with the chat. One timer per entry, cleared with it; bounded per
// chat and in all.

import { reactive } from 'vue'
import type { Id } from '../api/types'

/** Most users held as typing in one chat (a new one pushes out the one expiring first). */
export const MAX_TYPISTS_PER_CHAT = 20
/** Most chats held with someone typing (a new one pushes out the one expiring first). */
export const MAX_TYPING_CHATS = 100
/** Longest an entry is kept without a refresh, whatever the server says. */
export const MAX_TYPING_MS = 30_000

export interface Typist {
  userId: Id
  /** Date.now() at which it goes unless refreshed. */
  until: number
}

export class TypingStore {
  /** Chat → users typing there, in the order they started. No empty lists. */
  readonly byChat: Record<Id, Typist[]> = reactive<Record<Id, Typist[]>>({})
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()

  /** A `typing` event: shown for `ms` from now unless refreshed or stopped first. */
  onTyping(chatId: Id, userId: Id, ms: number): void {
    if (!(ms > 0)) return this.stop(chatId, userId)
    const until = Date.now() + Math.min(ms, MAX_TYPING_MS)
    if (!this.byChat[chatId]) {
      this.makeRoomForChat()
      this.byChat[chatId] = []
    }
    const list = this.byChat[chatId]!
    const held = list.find((t) => t.userId === userId)
    if (held) held.until = until
    else {
      if (list.length >= MAX_TYPISTS_PER_CHAT) this.stop(chatId, soonest(list)!.userId)
      list.push({ userId, until })
    }
    const k = key(chatId, userId)
    clearTimeout(this.timers.get(k))
    this.timers.set(
      k,
      setTimeout(() => this.stop(chatId, userId), until - Date.now()),
    )
  }

  /** The user stopped (a message from them, or the notice expired). */
  stop(chatId: Id, userId: Id): void {
    const k = key(chatId, userId)
    clearTimeout(this.timers.get(k))
    this.timers.delete(k)
    const list = this.byChat[chatId]
    if (!list) return
    const i = list.findIndex((t) => t.userId === userId)
    if (i >= 0) list.splice(i, 1)
    if (!list.length) delete this.byChat[chatId]
  }

  /** The user ids typing in a chat, in the order they started. */
  typists(chatId: Id): Id[] {
    return this.byChat[chatId]?.map((t) => t.userId) ?? []
  }

  /** Forgets a chat (left or removed). */
  clearChat(chatId: Id): void {
    for (const t of [...(this.byChat[chatId] ?? [])]) this.stop(chatId, t.userId)
  }

  dispose(): void {
    for (const chatId of Object.keys(this.byChat)) this.clearChat(chatId)
  }

  private makeRoomForChat(): void {
    const chats = Object.keys(this.byChat)
    if (chats.length < MAX_TYPING_CHATS) return
    let first: Id | null = null
    let at = Infinity
    for (const id of chats) {
      const u = soonest(this.byChat[id]!)!.until
      if (u < at) [first, at] = [id, u]
    }
    if (first !== null) this.clearChat(first)
  }
}

const key = (chatId: Id, userId: Id) => `${chatId}:${userId}`

function soonest(list: Typist[]): Typist | undefined {
  return list.reduce<Typist | undefined>((a, t) => (!a || t.until < a.until ? t : a), undefined)
}

/**
 * The line under a chat's messages: "Alice is typing…", "Alice and Bob are
 * typing…", "Alice, Bob and Carol are typing…", "Alice, Bob and 2 others are
 * typing…"; empty for nobody.
 */
export function typingText(names: string[]): string {
  const [a, b, c] = names
  switch (names.length) {
    case 0:
      return ''
    case 1:
      return `${a} is typing…`
    case 2:
      return `${a} and ${b} are typing…`
    case 3:
      return `${a}, ${b} and ${c} are typing…`
    default:
      return `${a}, ${b} and ${names.length - 2} others are typing…`
  }
}

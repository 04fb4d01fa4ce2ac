// Pinned messages. A chat's pins are part of its summary (`chat.pins` in the
// ChatsStore: seqs, the latest pinned first); here are who may pin, and copies of
// the pinned messages a chat's timeline does not hold, for the pins bar to show
// their text. Each is fetched once (GET /chats/{id}/messages, a page of one
// `around` its seq), dropped when edited (fetched again if still wanted) or
// deleted (no longer pinned), and all are forgotten after a reconnect (changes
// were missed meanwhile).

import { reactive } from 'vue'
import type { ChatKind, Id, Message, Role } from '../api/types'

/**
 * Who may pin and unpin messages (the server's rule): in a group an admin or a
 * moderator, in a direct chat either member (who may post).
 */
export function mayPin(kind: ChatKind, role: Role | undefined): boolean {
  if (!role) return false
  return kind === 'direct' ? role !== 'silent' : role === 'admin' || role === 'moder'
}

/** Fetches one message of a chat; undefined when the user may not see it (or it is gone). */
export type FetchMessage = (chatId: Id, seq: number) => Promise<Message | undefined>

export class PinnedMessages {
  /** By chat, then seq: the message, or null when the server had none to show. */
  readonly byChat: Record<Id, Record<number, Message | null>> = reactive({})
  /** Fetches in flight, by `<chat>:<seq>`: an answer lands only while its own is there. */
  private loading = new Map<string, object>()

  constructor(private readonly fetch: FetchMessage) {}

  /** The copy held: the message, null (not to be seen), or undefined (not fetched). */
  get(chatId: Id, seq: number): Message | null | undefined {
    return this.byChat[chatId]?.[seq]
  }

  /** Fetches a pinned message unless held or on its way; a failure leaves it unfetched. */
  async load(chatId: Id, seq: number): Promise<void> {
    const key = `${chatId}:${seq}`
    if (this.get(chatId, seq) !== undefined || this.loading.has(key)) return
    const token = {}
    this.loading.set(key, token)
    try {
      const m = await this.fetch(chatId, seq)
      if (this.loading.get(key) === token) (this.byChat[chatId] ??= {})[seq] = m ?? null
    } catch {
      // Fetched again when the bar shows it next.
    } finally {
      if (this.loading.get(key) === token) this.loading.delete(key)
    }
  }

  /** Drops the copy of one message (edited, deleted), or all of a chat's (left), and their fetches. */
  forget(chatId: Id, seq?: number): void {
    for (const key of [...this.loading.keys()]) {
      if (seq === undefined ? key.startsWith(`${chatId}:`) : key === `${chatId}:${seq}`) this.loading.delete(key)
    }
    if (seq === undefined) delete this.byChat[chatId]
    else if (this.byChat[chatId]) delete this.byChat[chatId][seq]
  }

  clear(): void {
    this.loading.clear()
    for (const id of Object.keys(this.byChat)) delete this.byChat[id]
  }
}

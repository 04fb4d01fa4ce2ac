// Who is online (the `presence`, `presence_list` and `online_count` frames).
//
// Online or offline is a fact about a user, the same in every chat: kept by user
// id, with the last-seen time. Whether it may be shown is not: the server tells
// each chat apart (a user showing presence to contacts only is `hidden` in groups
// and shown in their direct chats), so `hidden` is kept per chat, never by user.
// Per chat there is also what the "N online" of a group is made of: the members
// listed by the last `presence_list` (small groups, counted from the users'
// facts, so that every `presence` frame changes it at once), or the server's own
// count (groups above the presence group limit: `online_count`, which lists
// nobody).
//
// Nothing here is ever sure for long (a dead gateway's users expire without a
// frame): the client asks again when it opens a chat and every minute while it is
// open. Bounded: the users and chats changed least recently are forgotten beyond
// MAX_PRESENCE_USERS and MAX_PRESENCE_CHATS (shown as unknown until asked again).

import { reactive } from 'vue'
import type { Id, ServerFrameOf } from '../api/types'
import { seenAgo } from '../lib/time'

/** Most users whose status is held. */
export const MAX_PRESENCE_USERS = 2000
/** Most chats whose members' visibility and online count are held. */
export const MAX_PRESENCE_CHATS = 300
/** Most members of one chat held from a `presence_list` (the server lists at most its group limit, 100 by default). */
export const MAX_LISTED_MEMBERS = 1000

export type UserStatus = ServerFrameOf<'presence'>['status']

export interface Seen {
  online: boolean
  /** Unix ms the user was last seen (with `online: false`, when the server knows it). */
  lastSeen: number | null
}

export interface ChatPresence {
  /** The members listed by the last `presence_list`; null for a chat only counted (or never listed). */
  members: Id[] | null
  /** Members who do not show their presence in this chat. */
  hidden: Id[]
  /** The server's count of members online, for a chat whose members are not listed. */
  count: number | null
}

/** What to show of a user in a chat: online, offline (maybe with a last-seen time), or nothing. */
export type Shown = { online: true } | { online: false; lastSeen: number | null } | null

export class PresenceStore {
  /** User → online or offline. Never `hidden`: that is per chat. */
  readonly users: Record<Id, Seen> = reactive<Record<Id, Seen>>({})
  readonly chats: Record<Id, ChatPresence> = reactive<Record<Id, ChatPresence>>({})
  /** Least recently changed first (a Set keeps insertion order). */
  private readonly userOrder = new Set<Id>()
  private readonly chatOrder = new Set<Id>()

  /** A `presence` frame: a member came online, went offline, or is hidden in that chat from now on. */
  onPresence(chatId: Id, userId: Id, status: UserStatus, lastSeen?: number): void {
    const chat = this.chat(chatId)
    const i = chat.hidden.indexOf(userId)
    if (status === 'hidden') {
      if (i < 0) chat.hidden.push(userId)
    } else {
      if (i >= 0) chat.hidden.splice(i, 1)
      this.see(userId, status === 'online', lastSeen)
    }
    // A member who joined after the list: counted from now on.
    if (chat.members && !chat.members.includes(userId) && chat.members.length < MAX_LISTED_MEMBERS) {
      chat.members.push(userId)
    }
  }

  /** A `presence_list`: every member as the server shows them to us, or (above the group limit) a count only. */
  onList(f: Pick<ServerFrameOf<'presence_list'>, 'chat_id' | 'users' | 'online'>): void {
    const chat = this.chat(f.chat_id)
    // A listed chat has at least the asker in it: none listed means a big group, counted.
    if (!f.users.length) {
      chat.members = null
      chat.hidden = []
      chat.count = f.online
      return
    }
    const users = f.users.slice(0, MAX_LISTED_MEMBERS)
    chat.members = users.map((u) => u.user_id)
    chat.hidden = users.filter((u) => u.status === 'hidden').map((u) => u.user_id)
    chat.count = null
    for (const u of users) if (u.status !== 'hidden') this.see(u.user_id, u.status === 'online', u.last_seen)
  }

  /** An `online_count`: a big group's members online now. */
  onCount(chatId: Id, online: number): void {
    const chat = this.chat(chatId)
    chat.members = null
    chat.count = online
  }

  /** What to show of `userId` in `chatId`; null: nothing (hidden there, or unknown). */
  shown(chatId: Id, userId: Id): Shown {
    if (this.chats[chatId]?.hidden.includes(userId)) return null
    const seen = this.users[userId]
    if (!seen) return null
    return seen.online ? { online: true } : { online: false, lastSeen: seen.lastSeen }
  }

  /** Members of a chat online now, as far as we know; null when unknown. */
  online(chatId: Id): number | null {
    const chat = this.chats[chatId]
    if (!chat) return null
    if (!chat.members) return chat.count
    return chat.members.filter((id) => !chat.hidden.includes(id) && this.users[id]?.online).length
  }

  /** Forgets a chat (left or removed). */
  clearChat(chatId: Id): void {
    delete this.chats[chatId]
    this.chatOrder.delete(chatId)
  }

  /** Forgets everything: what was held may have changed unseen (the connection was down). */
  clear(): void {
    for (const id of Object.keys(this.users)) delete this.users[id]
    for (const id of Object.keys(this.chats)) delete this.chats[id]
    this.userOrder.clear()
    this.chatOrder.clear()
  }

  private see(userId: Id, online: boolean, lastSeen: number | undefined): void {
    const held = this.users[userId]
    // An offline frame without a time keeps the one known.
    const at = online ? null : (lastSeen ?? held?.lastSeen ?? null)
    if (held) {
      held.online = online
      held.lastSeen = at
    } else {
      this.users[userId] = { online, lastSeen: at }
    }
    touch(this.userOrder, userId, MAX_PRESENCE_USERS, (id) => delete this.users[id])
  }

  private chat(chatId: Id): ChatPresence {
    if (!this.chats[chatId]) this.chats[chatId] = { members: null, hidden: [], count: null }
    touch(this.chatOrder, chatId, MAX_PRESENCE_CHATS, (id) => delete this.chats[id])
    return this.chats[chatId]!
  }
}

/** Marks `id` as the most recent of `order`; beyond `max`, the least recent is forgotten. */
function touch(order: Set<Id>, id: Id, max: number, forget: (id: Id) => void): void {
  order.delete(id)
  order.add(id)
  if (order.size > max) {
    const oldest = order.values().next().value!
    order.delete(oldest)
    forget(oldest)
  }
}

/**
 * What the UI says of a status: "online", "last seen 5 minutes ago", "offline"
 * (no time known), or '' for nothing to show.
 */
export function presenceText(shown: Shown, now: number = Date.now()): string {
  if (!shown) return ''
  if (shown.online) return 'online'
  return shown.lastSeen === null ? 'offline' : `last seen ${seenAgo(shown.lastSeen, now)}`
}

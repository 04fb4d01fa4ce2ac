// The logged-in client: owns the HTTP API, the WebSocket and the stores, applies
// every server frame to them, and resumes every chat by `since_seq` after a
// reconnect. Components read its stores and call its actions.
//
// Profiles: `user_updated` frames replace the user held; after every `ready` a
// `sync_profiles` asks for what changed while the socket was down (since the
// `as_of` of the last `profiles` answer, kept for the page's life; the first time
// without `since`, which only gives a starting point). An answer that is not
// `complete` means: fetch every user held again.
//
// Typing: while the user types in a chat, `typing` goes out at most once every
// TYPING_EVERY_MS per chat (not for a silent member, not while disconnected;
// again at once after a send), with a ref `typing:<chat>:<n>`. Nothing answers it
// unless refused: an `error` with such a ref, taken quietly — typing pauses for
// `retry_after_ms` after `too_many_requests`, for TYPING_REFUSED_MS in a chat that
// refused it. Other members' `typing` events go to `typing` (a TypingStore).
//
// Presence: `presence`, `presence_list` and `online_count` frames go to
// `presence` (a PresenceStore). A user's own status is always theirs to see, so
// frames about them are skipped. Frames only tell changes, and not all of them
// (a dead gateway's users expire untold), so the client asks with `get_presence`
// (ref `presence:<chat>:<n>`; a refusal is taken quietly, the next ask comes
// soon): for the open chat when it opens and every PRESENCE_EVERY_MS, and when a
// chat is subscribed, for the open chat and for the direct chats at the top of
// the list (their online dot; not every chat: each ask counts as a history read).
// Over the WebSocket rather than HTTP: the answer comes in order with the frames,
// so an older answer never undoes a newer frame. After a reconnect what was held
// is forgotten (frames were missed) and asked again. The user's own setting (who
// sees them online) is `state.presenceVisibility`: read and written over HTTP,
// changed live by `presence_visibility`.
//
// Reactions: `toggleReaction` sends a `react` (ref `react-…`, through the outbox;
// a refusal is a toast). Its `ack` carries the message as the user sees it, which
// replaces the one held unless that is newer (by pts); `reaction` events count on
// the message held when newer than it (Timeline.onReaction), so the user's own
// reaction counts once whether its event or its ack comes first.
//
// Pins: a chat's pins are its summary's `pins` (ChatsStore), replaced by a
// `pinned` event and by the `subscribed` frame, each as of its pts, and dropping
// a message on `deleted`. `togglePin` sends a `pin` (ref `pin-…` / `unpin-…`,
// through the outbox; the ack carries nothing, a refusal is a toast). A pinned
// message the chat's timeline does not hold is fetched for the pins bar into
// `pinned` (PinnedMessages), forgotten after a reconnect.
//
// Mute: a chat's mute (ChatsStore `mutedUntil`, see ./mute) comes with the chat
// list and every chat answer (GET /chats/{id}, mute, unmute), and changes with
// `muted` frames (the user, on any device). `mute` and `unmute` call the HTTP API
// and apply the chat it answers; a refusal is a toast.
//
// Mentions: a chat's unread mentions (ChatsStore, `mentionsOf`) come with the chat
// list and every chat answer, grow with live messages whose `mentions` name the
// user, and drop as the read cursor passes them. The server's count says no seqs:
// when the cursor moves (here, or a `read` or `subscribed` frame) but stops short
// of the seq it was counted at, the chat is asked again (GET /chats/{id}) after
// MENTIONS_REFRESH_MS, one ask per chat at a time (moves meanwhile: one more
// after it; an answer counted at an older cursor than ours, our `read` not there
// yet: once more). In a muted chat they show in the list but raise nothing (the
// page title counts unread of chats not muted only).

import { reactive, shallowReactive } from 'vue'
import { Api, AUTH_CODES, ApiError } from '../api/http'
import { ChatSocket, type ConnState, type SocketOptions, wsUrl } from '../api/socket'
import type {
  Chat,
  ChatView,
  ClientFrame,
  Id,
  Member,
  Message,
  PresenceVisibility,
  RequestBody,
  Role,
  ServerFrame,
  ServerFrameOf,
  User,
} from '../api/types'
import { ChatsStore } from './chats'
import { Outbox } from './outbox'
import { mayPin, PinnedMessages } from './pins'
import { PresenceStore } from './presence'
import type { SessionStore } from './session'
import { Timeline } from './timeline'
import { TypingStore } from './typing'
import { UsersStore } from './users'

export interface Toast {
  id: number
  text: string
}

/** A message the open chat's pane is asked to show (scroll to and flash): a search hit. */
export interface Focus {
  chatId: Id
  seq: number
  /** Tells two requests for the same message apart. */
  n: number
}

export interface ClientState {
  conn: ConnState
  activeId: Id | null
  /** Taken (set back to null) by the pane once it has shown the message. */
  focus: Focus | null
  listLoaded: boolean
  toasts: Toast[]
  /** Members of chats whose member list was asked for. */
  members: Record<Id, Member[]>
  /** Who may see when the user is online; null until read (`loadPresenceVisibility`). */
  presenceVisibility: PresenceVisibility | null
}

export interface ClientOptions {
  api?: Api
  socket?: Partial<SocketOptions>
}

/** Errors without a ref that need no toast (e.g. a chat we just left). */
const QUIET = new Set(['not_member', 'chat_not_found'])

/** A chat's `typing` goes out at most this often while the user types. */
export const TYPING_EVERY_MS = 3000
/** No `typing` in a chat for this long after it refused one (`silenced`, `not_member`). */
export const TYPING_REFUSED_MS = 60_000
/** Chats whose last `typing` is remembered (the oldest are forgotten beyond). */
const TYPING_CHATS_KEPT = 50
/** How the refs of `typing` and `get_presence` start (then `<chat>:<n>`). */
export const TYPING_REF = 'typing:'
export const PRESENCE_REF = 'presence:'

/** The open chat's presence is asked again this often (statuses expire untold). */
export const PRESENCE_EVERY_MS = 60_000
/** Direct chats at the top of the list whose presence is asked when subscribed. */
export const PRESENCE_LIST_CHATS = 30

/** A chat whose cursor stopped short of its server-counted mentions is asked again after this (the `read` goes first). */
export const MENTIONS_REFRESH_MS = 1000

interface TypingOut {
  /** The next one may go from then (0 after a send: at once)... */
  next: number
  /** ...unless the chat refused the last one: not before then. */
  refusedUntil: number
}

export class ChatClient {
  readonly api: Api
  readonly me: Id
  readonly users: UsersStore
  readonly chats: ChatsStore
  readonly timelines: Record<Id, Timeline> = shallowReactive<Record<Id, Timeline>>({})
  readonly state: ClientState
  readonly socket: ChatSocket
  readonly outbox: Outbox
  /** Who else is typing where. */
  readonly typing = new TypingStore()
  /** The user's own `typing` notices, by chat. */
  private readonly typingOut = new Map<Id, TypingOut>()
  /** No `typing` at all before then (the server said `too_many_requests`). */
  private typingPausedUntil = 0
  /** Who is online, as the server shows it to the user. */
  readonly presence = new PresenceStore()
  /** Pinned messages not held by their chat's timeline, for the pins bar. */
  readonly pinned: PinnedMessages
  /** Asks the open chat's presence again every PRESENCE_EVERY_MS. */
  private presenceTimer: ReturnType<typeof setInterval> | undefined
  /** Numbers the refs of `typing` and `get_presence`. */
  private refSeq = 0
  private toastSeq = 0
  private focusSeq = 0
  private stopped = false
  private readyCount = 0
  /** `as_of` of the last `profiles` answer (Unix ms): the next `sync_profiles` asks since then. */
  private profilesAsOf: number | null = null
  /** A `sync_profiles` was sent on this connection and not answered yet. */
  private profilesPending = false
  private profilesRetry: ReturnType<typeof setTimeout> | undefined
  /** Chats asked again for their mention count, by whether the cursor moved again meanwhile. */
  private readonly mentionsAsking = new Map<Id, { again: boolean }>()

  constructor(
    private readonly session: SessionStore,
    opts: ClientOptions = {},
  ) {
    const user = session.user
    if (!user) throw new Error('ChatClient needs a session')
    this.me = user.id
    this.api =
      opts.api ??
      new Api({
        token: () => session.token,
        onUnauthorized: (code) => session.expire(code),
        renew: () => session.renew(),
      })
    this.users = new UsersStore((ids) => this.api.users(ids))
    this.users.put(user)
    this.chats = new ChatsStore(this.me)
    this.pinned = new PinnedMessages(async (chatId, seq) => {
      const page = await this.api.history(chatId, { around: seq, limit: 1 })
      return page.messages.find((m) => m.seq === seq)
    })
    this.state = reactive<ClientState>({
      conn: 'closed',
      activeId: null,
      focus: null,
      listLoaded: false,
      toasts: [],
      members: {},
      presenceVisibility: null,
    })
    this.socket = new ChatSocket({
      url: () => wsUrl(),
      token: () => session.token,
      onFrame: (f) => this.onFrame(f),
      onReady: () => void this.onReady(),
      onState: (s) => (this.state.conn = s),
      onAuthFailed: (code) => session.expire(code),
      renew: () => session.renew(),
      ...opts.socket,
    })
    this.outbox = new Outbox({
      socket: this.socket,
      timeline: (id) => this.timelines[id],
      timelines: () => Object.values(this.timelines),
      toast: (t) => this.toast(t),
    })
  }

  start(): void {
    this.stopped = false
    this.socket.start()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.profilesRetry)
    clearInterval(this.presenceTimer)
    this.socket.stop()
    this.outbox.dispose()
    this.typing.dispose()
  }

  toast(text: string): void {
    const id = ++this.toastSeq
    this.state.toasts.push({ id, text })
    setTimeout(() => {
      const i = this.state.toasts.findIndex((t) => t.id === id)
      if (i >= 0) this.state.toasts.splice(i, 1)
    }, 5000)
  }

  // ---- connection ----

  /** Authenticated (first time or after a reconnect): refresh the list, resume every chat. */
  async onReady(): Promise<void> {
    // Presence frames were missed while the socket was down: asked again once subscribed.
    if (this.readyCount > 0) {
      this.presence.clear()
      // Edits to pinned messages not held were missed too: fetched again when shown.
      this.pinned.clear()
    }
    this.syncProfiles()
    // The user stored with the session may be older than the account's (changed
    // on another device while this page was closed): once per page load.
    if (this.readyCount === 0) {
      void Promise.resolve()
        .then(() => this.api.me())
        .then((u) => this.onUser(u), () => undefined)
    }
    try {
      await this.refreshList()
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) this.toast(`Could not load chats: ${(e as Error).message}`)
    }
    if (this.stopped) return
    for (const c of this.chats.sorted) this.subscribe(c.chat.id)
    this.outbox.onReady()
    if (++this.readyCount > 1) {
      for (const tl of Object.values(this.timelines)) void tl.refreshHeld().catch(() => undefined)
    }
  }

  async refreshList(): Promise<void> {
    const list = await this.api.chats()
    this.chats.setList(list)
    for (const id of Object.keys(this.timelines)) if (!this.chats.get(id)) delete this.timelines[id]
    if (this.state.activeId && !this.chats.get(this.state.activeId)) this.state.activeId = null
    this.state.listLoaded = true
    for (const c of this.chats.sorted) {
      if (c.chat.last_message) this.users.want(c.chat.last_message.sender_id)
      if (c.chat.kind === 'direct' && !c.peerId) void this.ensurePeer(c.chat.id)
    }
  }

  /** Highest change position (pts) seen per chat: edits, deletes and member
   * changes after it are replayed on resume. */
  private readonly ptsSeen: Record<Id, number> = {}

  private notePts(chatId: Id, pts: number | undefined): void {
    if (pts !== undefined && pts > (this.ptsSeen[chatId] ?? 0)) this.ptsSeen[chatId] = pts
  }

  /** Subscribes with since_seq = the highest seq held and since_pts = the newest
   * change seen, so the server sends what we missed: new messages, and edits,
   * deletes and member changes to what we hold. */
  subscribe(chatId: Id): void {
    const c = this.chats.get(chatId)
    if (!c) return
    const tl = this.timelines[chatId]
    const since = tl && tl.state.messages.length ? tl.resumeSeq(c.chat.last_seq) : c.chat.last_seq
    const frame: ClientFrame = { type: 'subscribe', chat_id: chatId, since_seq: since }
    const pts = this.ptsSeen[chatId]
    if (pts !== undefined) frame.since_pts = pts
    this.socket.send(frame)
  }

  /** Too far behind to resume by replay: forget what is held of the chat, take
   * its newest position from the server, subscribe from there, and reload its
   * newest page if it is open. */
  private async restartChat(chatId: Id): Promise<void> {
    delete this.timelines[chatId]
    delete this.ptsSeen[chatId]
    try {
      this.chats.applyView(await this.api.chat(chatId))
    } catch {
      return
    }
    this.subscribe(chatId)
    if (this.state.activeId === chatId) await this.openChat(chatId)
  }

  // ---- profiles ----

  /** Asks what changed in the profiles of the user's contacts since the last answer. */
  syncProfiles(): void {
    clearTimeout(this.profilesRetry)
    const frame: ClientFrame = { type: 'sync_profiles' }
    if (this.profilesAsOf !== null) frame.since = this.profilesAsOf
    this.profilesPending = this.socket.send(frame)
  }

  private onProfiles(f: ServerFrameOf<'profiles'>): void {
    this.profilesPending = false
    for (const u of f.users) this.onUser(u)
    if (!f.complete) void this.users.refresh(this.users.held())
    // Only after the refetch has started: its answers are at least this new.
    this.profilesAsOf = f.as_of
  }

  /** A newer copy of a user (a frame, or an answer to our own change). */
  private onUser(u: User): void {
    if (this.users.put(u) && u.id === this.me) this.session.updateUser(u)
  }

  // ---- frames ----

  onFrame(f: ServerFrame): void {
    if ('pts' in f && 'chat_id' in f) this.notePts(f.chat_id, f.pts)
    if (f.type === 'message') this.notePts(f.message.chat_id, f.message.pts)
    if (f.type === 'member_added') this.notePts(f.chat.id, f.pts)
    if (f.type === 'subscribed' && this.ptsSeen[f.chat_id] === undefined) this.notePts(f.chat_id, f.last_pts)
    switch (f.type) {
      case 'message':
        return this.onMessage(f.message)
      case 'ack': {
        const what = this.outbox.onAck(f.client_msg_id, f.ref)
        if (!f.message) return
        // A reaction's answer: the message (held, by pts) as the user sees it now;
        // not news for the chat list, the read cursor or the typing line.
        if (what === 'react' || what === 'unreact') return this.timelines[f.message.chat_id]?.updateHeld(f.message)
        return this.onMessage(f.message)
      }
      case 'rejected':
      case 'error': {
        const id = (f.type === 'rejected' ? f.client_msg_id : null) ?? f.ref
        if (id && this.outbox.onFailure(id, f.code, f.message)) return
        // An expired token is renewed when the server closes the socket (4001).
        if (f.type === 'error' && f.code === 'token_expired') return
        if (f.type === 'error' && AUTH_CODES.has(f.code)) return this.session.expire(f.code)
        if (f.type === 'error' && !f.chat_id && !id && f.code === 'too_many_requests' && this.profilesPending) {
          // The sync_profiles counts with the subscriptions of a reconnect: ask again later.
          this.profilesPending = false
          this.profilesRetry = setTimeout(() => this.syncProfiles(), f.retry_after_ms ?? 1000)
          return
        }
        if (f.type === 'error' && f.ref && this.refusedQuietly(f, f.ref)) return
        if (f.type === 'error' && f.chat_id && !id) {
          // A refused subscribe: too far behind to replay, or over the rate.
          if (f.code === 'replay_too_long') return void this.restartChat(f.chat_id)
          if (f.code === 'too_many_requests') {
            const chatId = f.chat_id
            setTimeout(() => this.subscribe(chatId), f.retry_after_ms ?? 1000)
            return
          }
        }
        if (!QUIET.has(f.code)) this.toast(f.message || f.code)
        return
      }
      case 'edited':
        this.chats.onEdited(f.chat_id, f.seq, f.text)
        this.timelines[f.chat_id]?.onEdited(f.seq, f.text, f.edited_at, f.pts)
        this.pinned.forget(f.chat_id, f.seq)
        return
      case 'deleted':
        // Unpinned too, if it was pinned (no `pinned` event tells it).
        this.chats.onDeleted(f.chat_id, f.seq, f.pts)
        this.timelines[f.chat_id]?.onDeleted(f.seq, f.pts)
        this.pinned.forget(f.chat_id, f.seq)
        return
      case 'reaction':
        this.timelines[f.chat_id]?.onReaction(f.seq, f.user_id, f.emoji, f.added, f.pts)
        return
      case 'pinned':
        return this.chats.setPins(f.chat_id, f.pins, f.pts)
      case 'subscribed': {
        const readBefore = this.chats.get(f.chat_id)?.readSeq
        this.chats.onSubscribed(f.chat_id, f.last_seq, f.read_seq)
        if (readBefore !== undefined && this.chats.get(f.chat_id)!.readSeq > readBefore) this.readMoved(f.chat_id)
        // The pins as they are now (absent: none); on resume, what changed while away.
        this.chats.setPins(f.chat_id, f.pins ?? [], f.last_pts)
        if (this.presenceWanted(f.chat_id)) this.askPresence(f.chat_id)
        return
      }
      case 'typing':
        if (f.user_id === this.me || !this.chats.get(f.chat_id)) return
        this.typing.onTyping(f.chat_id, f.user_id, f.expires_in_ms)
        return this.users.want(f.user_id)
      case 'presence':
        // One always sees oneself (a `hidden` about the user is for the others).
        if (f.user_id === this.me || !this.chats.get(f.chat_id)) return
        return this.presence.onPresence(f.chat_id, f.user_id, f.status, f.last_seen)
      case 'presence_list':
        if (this.chats.get(f.chat_id)) this.presence.onList(f)
        return
      case 'online_count':
        if (this.chats.get(f.chat_id)) this.presence.onCount(f.chat_id, f.online)
        return
      case 'muted':
        return this.chats.setMuted(f.chat_id, f.muted_until)
      case 'presence_visibility':
        this.state.presenceVisibility = f.visibility
        return
      case 'read':
        if (f.user_id === this.me && this.chats.advanceRead(f.chat_id, f.seq)) {
          this.timelines[f.chat_id]?.noteRead(f.seq, true)
          this.readMoved(f.chat_id)
        }
        return
      case 'chat_created':
        return this.onJoined(f.chat, f.members.find((m) => m.user_id === this.me)?.role ?? 'member', f.members)
      case 'chat_hidden':
        return this.onLeft(f.chat_id, false)
      case 'chat_shown':
        return this.onJoined(f.chat, 'member', null)
      case 'member_added':
        if (f.user_id === this.me) this.onJoined(f.chat, f.role, null)
        else this.chats.updateChat(f.chat)
        return void this.reloadMembers(f.chat.id)
      case 'member_removed':
        if (f.user_id === this.me) return this.onLeft(f.chat_id)
        // The event carries no chat summary: fetch it for the member count.
        void this.api.chat(f.chat_id).then((e) => this.chats.applyView(e), () => undefined)
        return void this.reloadMembers(f.chat_id)
      case 'role_changed':
        if (f.user_id === this.me) {
          this.chats.setRole(f.chat_id, f.role)
          // What the chat refused may be allowed now (a silent role is checked before sending).
          const out = this.typingOut.get(f.chat_id)
          if (out) out.refusedUntil = 0
        }
        return void this.reloadMembers(f.chat_id)
      case 'user_updated':
        return this.onUser(f.user)
      case 'profiles':
        return this.onProfiles(f)
      default:
        return
    }
  }

  private onMessage(m: Message): void {
    const c = this.chats.get(m.chat_id)
    const readBefore = c?.readSeq ?? 0
    this.chats.onMessage(m)
    this.typing.stop(m.chat_id, m.sender_id)
    const tl = this.timelines[m.chat_id]
    if (tl) {
      tl.upsert(m)
      tl.noteIncoming(m, readBefore)
    }
    this.users.want(m.sender_id)
  }

  private onJoined(chat: Chat, role: Role, members: Member[] | null): void {
    this.chats.upsert(chat, role)
    if (members) {
      this.state.members[chat.id] = members
      const peer = members.find((m) => m.user_id !== this.me)
      if (chat.kind === 'direct' && peer) this.chats.setPeer(chat.id, peer.user_id)
      for (const m of members) this.users.want(m.user_id)
    } else if (chat.kind === 'direct') {
      void this.ensurePeer(chat.id)
    }
  }

  private onLeft(chatId: Id, notice = true): void {
    const c = this.chats.get(chatId)
    if (c && notice) this.toast(`You left or were removed from ${this.chatName(chatId)}`)
    this.chats.remove(chatId)
    this.typing.clearChat(chatId)
    this.typingOut.delete(chatId)
    this.presence.clearChat(chatId)
    this.pinned.forget(chatId)
    delete this.timelines[chatId]
    delete this.state.members[chatId]
    if (this.state.activeId === chatId) this.state.activeId = null
    if (this.state.focus?.chatId === chatId) this.state.focus = null
  }

  // ---- typing ----

  /**
   * The user changed the text of a chat's composer (`text`: what it holds now):
   * tells the chat's other members, at most once every TYPING_EVERY_MS. True when
   * a `typing` went out.
   */
  noteTyping(chatId: Id, text: string): boolean {
    if (!text.trim()) return false
    const c = this.chats.get(chatId)
    if (!c || c.role === 'silent') return false
    const now = Date.now()
    const out = this.typingOut.get(chatId)
    if (now < this.typingPausedUntil || (out && (now < out.next || now < out.refusedUntil))) return false
    if (!this.socket.send({ type: 'typing', chat_id: chatId, ref: this.newRef(TYPING_REF, chatId) })) return false
    this.typingOut.delete(chatId) // re-inserted: the map is oldest first
    this.typingOut.set(chatId, { next: now + TYPING_EVERY_MS, refusedUntil: 0 })
    if (this.typingOut.size > TYPING_CHATS_KEPT) this.typingOut.delete(this.typingOut.keys().next().value!)
    return true
  }

  /** A refused `typing`: no more for a while, everywhere (over the rate) or in that chat. */
  private typingRefused(chatId: Id, f: ServerFrameOf<'error'>): void {
    const now = Date.now()
    if (f.code === 'too_many_requests') {
      this.typingPausedUntil = now + (f.retry_after_ms ?? 1000)
      return
    }
    const out = this.typingOut.get(chatId)
    if (out) out.refusedUntil = now + TYPING_REFUSED_MS
  }

  /** `<prefix><chat>:<n>`: tells the answer (or refusal) of a notice or question apart by its ref. */
  private newRef(prefix: string, chatId: Id): string {
    return `${prefix}${chatId}:${++this.refSeq}`
  }

  /**
   * An `error` refusing a `typing` or a `get_presence` of ours (by its ref): taken
   * quietly, the user did not ask for either. False for any other ref.
   */
  private refusedQuietly(f: ServerFrameOf<'error'>, ref: string): boolean {
    if (ref.startsWith(TYPING_REF)) {
      // The server names the chat; else the ref does (`typing:<chat>:<n>`).
      this.typingRefused(f.chat_id ?? ref.slice(TYPING_REF.length, ref.lastIndexOf(':')), f)
      return true
    }
    // The open chat's is asked again within PRESENCE_EVERY_MS.
    return ref.startsWith(PRESENCE_REF)
  }

  // ---- presence ----

  /** Asks who of a chat's members is online (answered by `presence_list`). */
  askPresence(chatId: Id): boolean {
    return this.socket.send({ type: 'get_presence', chat_id: chatId, ref: this.newRef(PRESENCE_REF, chatId) })
  }

  /** The open chat, or a direct chat near the top of the list (its online dot shows there). */
  private presenceWanted(chatId: Id): boolean {
    if (chatId === this.state.activeId) return true
    const c = this.chats.get(chatId)
    if (c?.chat.kind !== 'direct') return false
    return this.chats.sorted.slice(0, PRESENCE_LIST_CHATS).some((s) => s.chat.id === chatId)
  }

  /** A chat was opened: its presence now, then every PRESENCE_EVERY_MS while it stays open. */
  private watchPresence(chatId: Id): void {
    this.askPresence(chatId)
    clearInterval(this.presenceTimer)
    this.presenceTimer = setInterval(() => {
      if (this.state.activeId) this.askPresence(this.state.activeId)
      else clearInterval(this.presenceTimer)
    }, PRESENCE_EVERY_MS)
  }

  /** Reads who may see when the user is online (GET /me/presence). */
  async loadPresenceVisibility(): Promise<PresenceVisibility> {
    const v = await this.api.presenceSetting()
    this.state.presenceVisibility = v
    return v
  }

  /** Chooses who may see when the user is online; the answer is the setting now. */
  async setPresenceVisibility(v: PresenceVisibility): Promise<PresenceVisibility> {
    const now = await this.api.setPresenceSetting(v)
    this.state.presenceVisibility = now
    return now
  }

  // ---- names ----

  chatName(chatId: Id): string {
    const c = this.chats.get(chatId)
    if (!c) return ''
    if (c.chat.kind === 'group') return c.chat.title || 'Group'
    return c.peerId ? this.users.name(c.peerId) : c.chat.title || 'Direct chat'
  }

  /** The other member of a direct chat (the chat list does not say who it is). */
  async ensurePeer(chatId: Id): Promise<void> {
    const members = await this.loadMembers(chatId).catch(() => null)
    const peer = members?.find((m) => m.user_id !== this.me)
    if (peer) {
      this.chats.setPeer(chatId, peer.user_id)
      this.users.want(peer.user_id)
    }
  }

  async loadMembers(chatId: Id): Promise<Member[]> {
    const members = await this.api.members(chatId)
    this.state.members[chatId] = members
    for (const m of members) this.users.want(m.user_id)
    return members
  }

  private async reloadMembers(chatId: Id): Promise<void> {
    if (this.state.members[chatId]) await this.loadMembers(chatId).catch(() => undefined)
  }

  // ---- actions ----

  /**
   * Opens a chat: loads its newest page once; the "new messages" line starts at the
   * cursor. A window moved back by `openAt` goes back to the newest messages.
   */
  async openChat(chatId: Id | null): Promise<void> {
    const opened = chatId !== this.state.activeId
    this.state.activeId = chatId
    this.state.focus = null
    if (!chatId) return
    const c = this.chats.get(chatId)
    if (!c) return
    if (opened) this.watchPresence(chatId)
    const tl = this.ensureTimeline(chatId)
    tl.state.separatorSeq = c.readSeq
    try {
      if (tl.state.hasNewer) await tl.reload()
      else if (!tl.state.loaded) await tl.loadInitial(this.chats.unread(chatId), c.readSeq)
    } catch (e) {
      this.toast(`Could not load messages: ${(e as Error).message}`)
    }
  }

  /**
   * Opens a chat at one of its messages (a search hit, an old quoted message): the
   * timeline moves to the page around it unless it is held already, and the pane
   * scrolls to it (`state.focus`). Paging older and newer goes on from there.
   */
  async openAt(chatId: Id, seq: number): Promise<void> {
    const c = this.chats.get(chatId)
    if (!c) {
      this.toast('That chat is not in your list any more')
      return
    }
    if (chatId !== this.state.activeId) this.watchPresence(chatId)
    this.state.activeId = chatId
    const tl = this.ensureTimeline(chatId)
    tl.state.separatorSeq = c.readSeq
    this.state.focus = { chatId, seq, n: ++this.focusSeq }
    if (tl.state.loaded && tl.find(seq)) return
    try {
      await tl.jumpTo(seq)
    } catch (e) {
      this.toast(`Could not load messages: ${(e as Error).message}`)
    }
  }

  /** Back to a chat's newest messages from a window moved back by `openAt`. */
  async showLatest(chatId: Id): Promise<void> {
    const tl = this.timelines[chatId]
    if (!tl) return
    try {
      await tl.reload()
    } catch (e) {
      this.toast(`Could not load messages: ${(e as Error).message}`)
    }
  }

  private ensureTimeline(chatId: Id): Timeline {
    if (!this.timelines[chatId]) {
      this.timelines[chatId] = new Timeline(chatId, this.me, (q) => this.api.history(chatId, q))
    }
    return this.timelines[chatId]!
  }

  timeline(chatId: Id | null): Timeline | undefined {
    return chatId ? this.timelines[chatId] : undefined
  }

  send(chatId: Id, text: string, replyToSeq?: number): void {
    const tl = this.timelines[chatId]
    if (!tl || !text.trim()) return
    // Sent from a window moved back: to the newest messages, where it shows. The
    // reset is synchronous, so the ack lands in the window being reloaded.
    if (tl.state.hasNewer) void this.showLatest(chatId)
    this.outbox.send(tl, text, replyToSeq)
    // The message ends the notice for the others: typing again is told at once.
    const out = this.typingOut.get(chatId)
    if (out) out.next = 0
  }

  /** The user may react to messages of the chat (a member who may post). */
  canReact(chatId: Id): boolean {
    const role = this.chats.get(chatId)?.role
    return !!role && role !== 'silent'
  }

  /**
   * Adds the user's reaction `emoji` to a message, or takes it back when it is
   * theirs already. The message changes with the answer (or the `reaction` event,
   * whichever comes first); a refusal is a toast. False when nothing went out.
   */
  toggleReaction(chatId: Id, seq: number, emoji: string): boolean {
    const m = this.timelines[chatId]?.find(seq)
    if (!m || m.deleted || !this.canReact(chatId)) return false
    const mine = !!m.reactions?.some((r) => r.emoji === emoji && r.mine)
    return this.outbox.react(chatId, seq, emoji, mine)
  }

  /** The user may pin and unpin messages of the chat (an admin or moderator of a group, either member of a direct chat). */
  canPin(chatId: Id): boolean {
    const c = this.chats.get(chatId)
    return !!c && mayPin(c.chat.kind, c.role)
  }

  /**
   * Pins a message, or unpins it when it is pinned. The pins change with the
   * `pinned` event; a refusal is a toast. False when nothing went out.
   */
  togglePin(chatId: Id, seq: number): boolean {
    if (!this.canPin(chatId)) return false
    const unpin = this.chats.pins(chatId).includes(seq)
    if (!unpin && this.timelines[chatId]?.find(seq)?.deleted) return false
    return this.outbox.pin(chatId, seq, unpin)
  }

  /** A pinned message as held by the chat's timeline, else as fetched for the pins bar (null: not to be seen). */
  pinnedMessage(chatId: Id, seq: number): Message | null | undefined {
    return this.timelines[chatId]?.find(seq) ?? this.pinned.get(chatId, seq)
  }

  /**
   * Mutes a chat for the user for `forMs` from now, or for good (null). The chat
   * answered is applied; false when refused (told in a toast).
   */
  mute(chatId: Id, forMs: number | null): Promise<boolean> {
    return this.changeMute('mute', () => this.api.mute(chatId, forMs === null ? undefined : Date.now() + forMs))
  }

  /** Lifts the user's mute of a chat; false when refused (told in a toast). */
  unmute(chatId: Id): Promise<boolean> {
    return this.changeMute('unmute', () => this.api.unmute(chatId))
  }

  private async changeMute(verb: string, call: () => Promise<ChatView>): Promise<boolean> {
    try {
      this.chats.applyView(await call())
      return true
    } catch (e) {
      // A 401 ends the session, which says so itself.
      if (!(e instanceof ApiError && e.status === 401)) this.toast(`Could not ${verb}: ${(e as Error).message}`)
      return false
    }
  }

  /** Messages seen in the viewport with the window focused: the cursor moves forward. */
  markRead(chatId: Id, seq: number): void {
    if (!this.chats.advanceRead(chatId, seq)) return
    this.outbox.read(chatId, seq)
    this.readMoved(chatId)
  }

  /** A chat's cursor moved: asks the chat again if it may have passed some of the server's mention count. */
  private readMoved(chatId: Id, tries = 2): void {
    if (!this.chats.mentionsUnsure(chatId)) return
    const asking = this.mentionsAsking.get(chatId)
    if (asking) return void (asking.again = true)
    this.mentionsAsking.set(chatId, { again: false })
    setTimeout(() => void this.askMentions(chatId, tries), MENTIONS_REFRESH_MS)
  }

  private async askMentions(chatId: Id, tries: number): Promise<void> {
    const v = this.stopped || !this.chats.get(chatId) ? null : await this.api.chat(chatId).catch(() => null)
    const again = this.mentionsAsking.get(chatId)?.again
    this.mentionsAsking.delete(chatId)
    const c = this.chats.get(chatId)
    if (!v || !c || this.stopped) return
    this.chats.applyView(v)
    if (again) this.readMoved(chatId)
    else if (v.read_seq < c.readSeq && tries > 1) this.readMoved(chatId, tries - 1)
  }

  async createDirect(name: string): Promise<Id> {
    const user = await this.api.userByName(name.trim())
    this.users.put(user)
    if (user.id === this.me) throw new ApiError('invalid_members', 'That is you', 400)
    const chat = await this.api.createDirect(user.id)
    return this.adopt(chat, user.id)
  }

  async createGroup(title: string, names: string[]): Promise<Id> {
    const ids: Id[] = []
    for (const n of names.map((s) => s.trim()).filter(Boolean)) {
      const u = await this.api.userByName(n)
      this.users.put(u)
      if (u.id !== this.me && !ids.includes(u.id)) ids.push(u.id)
    }
    const chat = await this.api.createGroup(title.trim(), ids)
    return this.adopt(chat, null)
  }

  /** A chat created over HTTP: into the list and subscribed, without waiting for the event. */
  private async adopt(chat: Chat, peer: Id | null): Promise<Id> {
    const entry = await this.api.chat(chat.id).catch(() => null)
    const s = this.chats.upsert(entry?.chat ?? chat, entry?.role ?? 'member', entry?.read_seq ?? 0)
    if (entry) this.chats.applyView(entry)
    if (peer) this.chats.setPeer(chat.id, peer)
    if (s) this.subscribe(chat.id)
    return chat.id
  }

  async addMember(chatId: Id, name: string, role: Role = 'member'): Promise<void> {
    const u = await this.api.userByName(name.trim())
    this.users.put(u)
    const chat = await this.api.addMember(chatId, u.id, role)
    this.chats.updateChat(chat)
    await this.loadMembers(chatId)
  }

  /** Changes the user's display name and/or about text; the answer is the user now. */
  async updateProfile(patch: RequestBody<'updateMe'>): Promise<User> {
    const u = await this.api.updateMe(patch)
    this.onUser(u)
    return u
  }

  /** Sets the user's avatar from an image (PNG, JPEG or WebP). */
  async setAvatar(image: Blob): Promise<User> {
    const u = await this.api.putAvatar(image)
    this.onUser(u)
    return u
  }

  async removeAvatar(): Promise<User> {
    const u = await this.api.deleteAvatar()
    this.onUser(u)
    return u
  }

  async removeMember(chatId: Id, userId: Id): Promise<void> {
    const chat = await this.api.removeMember(chatId, userId)
    if (userId === this.me) return this.onLeft(chatId)
    this.chats.updateChat(chat)
    await this.loadMembers(chatId)
  }
}

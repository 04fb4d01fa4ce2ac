// The messages of one chat held by the client: a run of stored messages sorted by
// seq (from the oldest page loaded up to the newest), plus the user's own messages
// still pending or failed. A stored message is keyed by seq and a pending one by
// client_msg_id, so an `ack` and a `message` event for the same send, in either
// order, leave exactly one copy.
//
// The run is a window without gaps. Normally it reaches the chat's newest message
// and live messages append to it. `jumpTo(seq)` (a search hit opened in context)
// replaces it with the page around `seq`; until paging newer reaches the live end
// again (`hasNewer`), live messages are not added (they would leave a gap: they
// come by `loadNewer`), and the chat resumes from its newest seq, not the window's.
// Every reset starts a new epoch: an answer to a request of an earlier one is
// dropped, so a slow page never lands in a window it does not belong to.
//
// Reactions ride on the message's `pts`: a `reaction` event counts only on a
// message whose `pts` is older than the event's (then takes it), so an ack or a
// replay that already holds it, in whichever order they come, counts it once.

import { reactive } from 'vue'
import type { Id, Message, Reaction } from '../api/types'

export type PendingStatus = 'pending' | 'failed'

export interface PendingMessage {
  clientMsgId: string
  chatId: Id
  text: string
  replyToSeq?: number
  status: PendingStatus
  error?: string
  createdAt: number
}

export interface HistoryPage {
  messages: Message[]
  last_seq: number
}

export type FetchPage = (q: { before?: number; after?: number; around?: number; limit: number }) => Promise<HistoryPage>

export const PAGE = 50
export const MAX_PAGE = 200
/** Opening a chat loads back to its first unread message if there are at most this many. */
export const MAX_CATCHUP = 1000

export interface TimelineState {
  messages: Message[]
  pending: PendingMessage[]
  /** The first page has arrived. */
  loaded: boolean
  /** Older messages exist on the server (false once seq 1 is held). */
  hasOlder: boolean
  loadingOlder: boolean
  /**
   * Newer messages exist on the server than the newest held: the window was moved
   * back by `jumpTo` and does not reach the live end (they load by `loadNewer`).
   */
  hasNewer: boolean
  loadingNewer: boolean
  /** The "new messages" line goes after this seq. */
  separatorSeq: number
  error: string | null
}

export class Timeline {
  readonly state: TimelineState
  /** `before` values already asked for: each older page is loaded once. */
  private requestedBefore = new Set<number>()
  /** `after` values already asked for: each newer page is loaded once. */
  private requestedAfter = new Set<number>()
  /** Bumped by every reset: answers to an earlier epoch's requests are dropped. */
  private epoch = 0
  /** While detached (`hasNewer`): the highest seq that arrived live, not held. */
  private liveSeen = 0
  /** The window's first load (newest page, or the page of a jump) while in flight. */
  private loading: Promise<void> | null = null

  constructor(
    readonly chatId: Id,
    private readonly me: Id,
    private readonly fetchPage: FetchPage,
  ) {
    this.state = reactive<TimelineState>({
      messages: [],
      pending: [],
      loaded: false,
      hasOlder: true,
      loadingOlder: false,
      hasNewer: false,
      loadingNewer: false,
      separatorSeq: 0,
      error: null,
    })
  }

  get oldestSeq(): number {
    return this.state.messages[0]?.seq ?? 0
  }

  get newestSeq(): number {
    const m = this.state.messages
    return m.length ? m[m.length - 1]!.seq : 0
  }

  /**
   * Highest seq held with no hole below it (down to the oldest held): resume point.
   * A window moved back (`hasNewer`) follows no live end: `fallback` (the chat's
   * newest seq), as for a chat with nothing held; what lies between loads by paging.
   */
  resumeSeq(fallback: number): number {
    const m = this.state.messages
    if (!m.length || this.state.hasNewer) return fallback
    let s = m[0]!.seq
    for (let i = 1; i < m.length && m[i]!.seq === s + 1; i++) s = m[i]!.seq
    return s
  }

  find(seq: number): Message | undefined {
    const i = this.indexOf(seq)
    return i >= 0 ? this.state.messages[i] : undefined
  }

  /**
   * Loads the newest page, then (up to MAX_CATCHUP unread) older pages until the
   * first unread message is held, so the chat can open at the "new messages" line.
   */
  loadInitial(unread: number, readSeq: number): Promise<void> {
    // Opened twice, or while a jump loads: one load of the window, not two.
    if (this.loading) return this.loading
    return this.track(this.fetchInitial(unread, readSeq))
  }

  private async fetchInitial(unread: number, readSeq: number): Promise<void> {
    const st = this.state
    const epoch = this.epoch
    st.separatorSeq = readSeq
    const limit = Math.min(MAX_PAGE, Math.max(PAGE, unread + 20))
    try {
      const page = await this.fetchPage({ limit })
      if (epoch !== this.epoch) return
      for (const m of page.messages) this.put(m)
      if (page.messages.length < limit || this.oldestSeq <= 1) st.hasOlder = false
      if (!st.messages.length) st.hasOlder = false
      if (unread > 0 && unread <= MAX_CATCHUP) {
        while (st.hasOlder && this.oldestSeq > readSeq + 1) {
          const before = this.oldestSeq
          await this.fetchBefore(before, MAX_PAGE)
          if (epoch !== this.epoch) return
          if (this.oldestSeq === before) break
        }
      }
      st.loaded = true
      st.error = null
    } catch (e) {
      if (epoch !== this.epoch) return
      st.error = String((e as Error).message ?? e)
      throw e
    }
  }

  /**
   * Moves the window to the page around `seq` (a search hit, an old quoted
   * message): what is held is forgotten (pending sends stay), so the run has no
   * gap; older and newer pages then load from there. Live messages are left to
   * `loadNewer` until the window reaches the live end again.
   */
  jumpTo(seq: number, limit: number = PAGE): Promise<void> {
    this.reset()
    return this.track(this.fetchAround(seq, limit))
  }

  private async fetchAround(seq: number, limit: number): Promise<void> {
    const st = this.state
    const epoch = this.epoch
    // Detached from the start: a live message must not land in the empty window.
    st.hasNewer = true
    try {
      const page = await this.fetchPage({ around: seq, limit })
      if (epoch !== this.epoch) return
      if (!page.messages.length) {
        // Nothing there (any more, or not visible to us): the newest page instead.
        st.hasNewer = false
        await this.fetchInitial(0, st.separatorSeq)
        return
      }
      for (const m of page.messages) this.put(m)
      st.hasOlder = this.oldestSeq > 1
      this.settleNewer(page.last_seq, false)
      st.loaded = true
      st.error = null
    } catch (e) {
      if (epoch !== this.epoch) return
      st.error = String((e as Error).message ?? e)
      throw e
    }
  }

  /** Back to the newest messages (from a window moved back): loads like opening the chat. */
  reload(): Promise<void> {
    this.reset()
    return this.track(this.fetchInitial(0, this.state.separatorSeq))
  }

  /** Remembers the first load of this epoch's window until it ends. */
  private track(p: Promise<void>): Promise<void> {
    const tracked: Promise<void> = p.finally(() => {
      if (this.loading === tracked) this.loading = null
    })
    this.loading = tracked
    return tracked
  }

  /** Forgets the held messages (not the pending sends) and every request in flight. */
  private reset(): void {
    this.epoch++
    this.loading = null
    this.requestedBefore.clear()
    this.requestedAfter.clear()
    this.liveSeen = 0
    Object.assign(this.state, {
      messages: [],
      loaded: false,
      hasOlder: true,
      loadingOlder: false,
      hasNewer: false,
      loadingNewer: false,
      error: null,
    })
  }

  /**
   * After a page at the newer end: the window is attached again once it holds
   * everything the server and the socket reported (`lastSeq`, the newest seq seen
   * live), or the server had nothing more (`short`) and nothing newer came live.
   */
  private settleNewer(lastSeq: number, short: boolean): void {
    const newest = this.newestSeq
    this.state.hasNewer = !(newest >= Math.max(lastSeq, this.liveSeen) || (short && newest >= this.liveSeen))
  }

  /** Loads the page before the oldest message held, once; no-op at the beginning. */
  async loadOlder(): Promise<boolean> {
    const st = this.state
    if (!st.loaded || !st.hasOlder || st.loadingOlder) return false
    const before = this.oldestSeq
    if (before <= 1) {
      st.hasOlder = false
      return false
    }
    if (this.requestedBefore.has(before)) return false
    const epoch = this.epoch
    st.loadingOlder = true
    try {
      return (await this.fetchBefore(before, PAGE)) > 0
    } catch (e) {
      if (epoch === this.epoch) st.error = String((e as Error).message ?? e)
      return false
    } finally {
      if (epoch === this.epoch) st.loadingOlder = false
    }
  }

  /** Loads the page after the newest message held, once; no-op when it reaches the live end. */
  async loadNewer(): Promise<boolean> {
    const st = this.state
    if (!st.loaded || !st.hasNewer || st.loadingNewer) return false
    const after = this.newestSeq
    if (this.requestedAfter.has(after)) return false
    const epoch = this.epoch
    this.requestedAfter.add(after)
    st.loadingNewer = true
    try {
      const page = await this.fetchPage({ after, limit: PAGE })
      if (epoch !== this.epoch) return false
      for (const m of page.messages) this.put(m)
      // Nothing came: may be asked again (a seq seen live not yet readable).
      if (!page.messages.length) this.requestedAfter.delete(after)
      this.settleNewer(page.last_seq, page.messages.length < PAGE)
      return page.messages.length > 0
    } catch (e) {
      if (epoch !== this.epoch) return false
      this.requestedAfter.delete(after)
      st.error = String((e as Error).message ?? e)
      return false
    } finally {
      if (epoch === this.epoch) st.loadingNewer = false
    }
  }

  /** One page before `before`; remembers it so it is never asked for twice. */
  private async fetchBefore(before: number, limit: number): Promise<number> {
    const st = this.state
    const epoch = this.epoch
    this.requestedBefore.add(before)
    let page: HistoryPage
    try {
      page = await this.fetchPage({ before, limit })
    } catch (e) {
      // Allow another try of the same page later.
      if (epoch === this.epoch) this.requestedBefore.delete(before)
      throw e
    }
    if (epoch !== this.epoch) return 0
    for (const m of page.messages) this.put(m)
    if (page.messages.length < limit || this.oldestSeq <= 1) st.hasOlder = false
    return page.messages.length
  }

  /** Loads older pages until `seq` is held (for "jump to first unread"). */
  async loadUntil(seq: number): Promise<void> {
    while (this.state.hasOlder && this.oldestSeq > seq) {
      const before = this.oldestSeq
      await this.loadOlder()
      if (this.oldestSeq === before) break
    }
  }

  /**
   * Re-reads the newest page of what is held, to catch edits and deletes made while
   * disconnected: a resume by since_seq replays only messages after it.
   */
  async refreshHeld(): Promise<void> {
    if (!this.state.loaded || !this.state.messages.length) return
    const epoch = this.epoch
    const page = await this.fetchPage({ before: this.newestSeq + 1, limit: PAGE })
    if (epoch !== this.epoch) return
    for (const m of page.messages) this.updateHeld(m)
  }

  /**
   * A newer copy of a message that may be held (the answer to a reaction): replaces
   * it when held, by pts; one not held is not added (it would leave a gap).
   */
  updateHeld(m: Message): void {
    if (this.find(m.seq)) this.put(m)
  }

  /**
   * A stored message from an event, a replay or an ack. While the window does not
   * reach the live end, one newer than it is only noted (it comes by `loadNewer`).
   */
  upsert(m: Message): void {
    if (this.state.hasNewer && m.seq > this.newestSeq) {
      if (m.seq > this.liveSeen) this.liveSeen = m.seq
      if (m.sender_id === this.me) this.dropPending(m.client_msg_id)
      return
    }
    this.put(m)
  }

  /** A stored message into the window, by seq; the newer copy (by pts) wins. */
  private put(m: Message): void {
    const list = this.state.messages
    const i = this.indexOf(m.seq)
    if (i >= 0) {
      if (m.pts >= list[i]!.pts) list[i] = m
    } else {
      list.splice(-i - 1, 0, m)
    }
    if (m.sender_id === this.me) this.dropPending(m.client_msg_id)
  }

  onEdited(seq: number, text: string, editedAt: number, pts: number): void {
    const m = this.find(seq)
    if (m && pts >= m.pts) Object.assign(m, { text, edited_at: editedAt, pts })
  }

  onDeleted(seq: number, pts: number): void {
    const m = this.find(seq)
    if (m && pts >= m.pts) Object.assign(m, { text: '', deleted: true, pts })
  }

  /**
   * A `reaction` event: counted (±1, `mine` when it is the user's own, an emoji
   * dropped at 0) on the message held only when `pts` is newer than the message's,
   * which then takes it. A message not held, or holding it already, is left alone.
   */
  onReaction(seq: number, userId: Id, emoji: string, added: boolean, pts: number): void {
    const m = this.find(seq)
    if (!m || pts <= m.pts) return
    const list: Reaction[] = (m.reactions ?? []).map((r) => ({ ...r }))
    const i = list.findIndex((r) => r.emoji === emoji)
    const own = userId === this.me
    if (i >= 0) {
      const r = list[i]!
      r.count += added ? 1 : -1
      if (own) r.mine = added
      if (r.count <= 0) list.splice(i, 1)
    } else if (added) {
      list.push(own ? { emoji, count: 1, mine: true } : { emoji, count: 1 })
    }
    Object.assign(m, { reactions: list, pts })
  }

  addPending(p: Omit<PendingMessage, 'status' | 'chatId'>): PendingMessage {
    this.state.pending.push({ ...p, chatId: this.chatId, status: 'pending' })
    return this.state.pending[this.state.pending.length - 1]!
  }

  pendingById(id: string): PendingMessage | undefined {
    return this.state.pending.find((p) => p.clientMsgId === id)
  }

  markFailed(id: string, error: string): void {
    const p = this.pendingById(id)
    if (p) Object.assign(p, { status: 'failed', error })
  }

  markPending(id: string): void {
    const p = this.pendingById(id)
    if (p) Object.assign(p, { status: 'pending', error: undefined })
  }

  dropPending(id: string): void {
    const i = this.state.pending.findIndex((p) => p.clientMsgId === id)
    if (i >= 0) this.state.pending.splice(i, 1)
  }

  /**
   * The read cursor moved. From another tab (`external`), the "new messages" line
   * follows it; a new unread message after everything was read starts a new line.
   */
  noteRead(readSeq: number, external: boolean): void {
    if (external && readSeq > this.state.separatorSeq) this.state.separatorSeq = readSeq
  }

  /** A message from someone else arrived while `readSeq` was the cursor. */
  noteIncoming(m: Message, readSeq: number): void {
    if (m.sender_id === this.me || m.seq <= readSeq) return
    if (this.state.separatorSeq < readSeq) this.state.separatorSeq = readSeq
  }

  /** Binary search: index of `seq`, or -(insertion point) - 1. */
  private indexOf(seq: number): number {
    const list = this.state.messages
    let lo = 0
    let hi = list.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const s = list[mid]!.seq
      if (s === seq) return mid
      if (s < seq) lo = mid + 1
      else hi = mid - 1
    }
    return -lo - 1
  }
}

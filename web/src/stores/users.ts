// Users by id: fetched in batches (GET /users?ids=..., at most 500 per request) the
// first time a component asks for them, then kept current by `user_updated` frames,
// the answers to the user's own profile changes and `profiles` (sync_profiles).
// A copy older than the one held (`updated_at`) never replaces it, so a slow fetch
// cannot undo a live update.

import { reactive } from 'vue'
import type { Id, User } from '../api/types'

/** Most ids in one GET /users?ids= request. */
export const USERS_BATCH = 500

export class UsersStore {
  readonly byId: Record<Id, User> = reactive({})
  private wanted = new Set<Id>()
  private requested = new Set<Id>()
  private flushing: Promise<void> | null = null

  constructor(private readonly fetchUsers: (ids: Id[]) => Promise<User[]>) {}

  /** Keeps `u` unless the copy held is newer; true when it was taken. */
  put(u: User): boolean {
    const cur = this.byId[u.id]
    if (cur && (cur.updated_at ?? 0) > (u.updated_at ?? 0)) return false
    this.byId[u.id] = u
    return true
  }

  /** The user, if held (else fetched: the caller re-renders when it comes). */
  get(id: Id | null | undefined): User | undefined {
    if (!id) return undefined
    const u = this.byId[id]
    if (!u) this.want(id)
    return u
  }

  /** The name to show (display name), or a placeholder while it is being fetched. */
  name(id: Id | null | undefined): string {
    if (!id) return ''
    return this.get(id)?.display_name || this.byId[id]?.name || '…'
  }

  /** The login name (unique, never changes), or '' while unknown. */
  login(id: Id | null | undefined): string {
    return this.get(id)?.name ?? ''
  }

  /** Ids of every user held. */
  held(): Id[] {
    return Object.keys(this.byId)
  }

  want(id: Id): void {
    if (this.byId[id] || this.requested.has(id)) return
    this.wanted.add(id)
    if (!this.flushing) {
      this.flushing = Promise.resolve().then(() => this.flush())
    }
  }

  /** Fetches every wanted id; resolves when done (tests await it). */
  async flush(): Promise<void> {
    const ids = [...this.wanted]
    this.wanted.clear()
    this.flushing = null
    for (const id of ids) this.requested.add(id)
    await this.fetch(ids, true)
  }

  /** Fetches these users again, held or not (a `profiles` answer that is not complete). */
  refresh(ids: Id[]): Promise<void> {
    return this.fetch([...new Set(ids)], false)
  }

  private async fetch(ids: Id[], forgetOnError: boolean): Promise<void> {
    for (let i = 0; i < ids.length; i += USERS_BATCH) {
      const chunk = ids.slice(i, i + USERS_BATCH)
      try {
        for (const u of await this.fetchUsers(chunk)) this.put(u)
      } catch {
        // Ask again next time a component needs them.
        if (forgetOnError) for (const id of chunk) this.requested.delete(id)
      }
    }
  }
}

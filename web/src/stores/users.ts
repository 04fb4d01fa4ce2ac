// Names of users by id, fetched in batches (GET /users?ids=..., at most 500 per
// request) the first time a component asks for them.

import { reactive } from 'vue'
import type { Id, User } from '../api/types'

const BATCH = 500

export class UsersStore {
  readonly byId: Record<Id, User> = reactive({})
  private wanted = new Set<Id>()
  private requested = new Set<Id>()
  private flushing: Promise<void> | null = null

  constructor(private readonly fetchUsers: (ids: Id[]) => Promise<User[]>) {}

  put(u: User): void {
    this.byId[u.id] = u
  }

  /** The user's name, or a placeholder while it is being fetched. */
  name(id: Id | null | undefined): string {
    if (!id) return ''
    const u = this.byId[id]
    if (u) return u.name
    this.want(id)
    return '…'
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
    for (let i = 0; i < ids.length; i += BATCH) {
      const chunk = ids.slice(i, i + BATCH)
      try {
        for (const u of await this.fetchUsers(chunk)) this.put(u)
      } catch {
        // Ask again next time a component needs them.
        for (const id of chunk) this.requested.delete(id)
      }
    }
  }
}

// The HTTP API under /api/v1: relative URLs, JSON bodies, bearer token. Every error
// becomes an ApiError carrying the server's machine-readable code.

import type {
  Chat,
  ChatListEntry,
  ChatView,
  Id,
  Member,
  MessageResult,
  OkBody,
  OperationId,
  PresenceVisibility,
  QueryParams,
  RequestBody,
  Role,
  Session,
  SessionInfo,
  User,
} from './types'

export class ApiError extends Error {
  constructor(
    /** Machine-readable code from `error.code` (or `network` / `http_<status>`). */
    readonly code: string,
    message: string,
    /** HTTP status; 0 when the request never got an answer. */
    readonly status: number,
    /** With `too_many_requests`: milliseconds until a retry would be allowed. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/**
 * Codes that mean the token is no good any more: the user must log in again, except
 * after `token_expired`, which a refresh cures.
 */
export const AUTH_CODES = new Set(['token_expired', 'invalid_token', 'auth_required', 'session_revoked'])

export interface HttpOptions {
  /** The current token, or null when logged out. */
  token: () => string | null
  /** Called on a 401 that a refresh does not cure: the session is over. */
  onUnauthorized: (code: string) => void
  /**
   * Renews the access token after a `token_expired` (true: retry the request);
   * without it, `token_expired` ends the session like any other 401.
   */
  renew?: () => Promise<boolean>
  /** Injected in tests. */
  fetch?: typeof fetch
}

/** A history page: `before` or `after` a seq, or `around` one (alone), or the newest. */
export type HistoryQuery = QueryParams<'history'>

/** A search: `q` required; `before` is a previous page's `next_cursor`. */
export type SearchQuery = QueryParams<'search'>

/** Code of the ApiError thrown when the caller aborted the request (its AbortSignal). */
export const ABORTED = 'aborted'

export class Api {
  constructor(private readonly opts: HttpOptions) {}

  private async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    try {
      return await this.requestOnce<T>(method, path, body, signal)
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== 'token_expired' || !this.opts.renew) throw e
      // A renewal that cannot reach the server throws: the request fails as it is.
      if (!(await this.opts.renew().catch(() => false))) throw e
      return this.requestOnce<T>(method, path, body, signal)
    }
  }

  private async requestOnce<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    const token = this.opts.token()
    if (token) headers.Authorization = `Bearer ${token}`
    // A Blob (an image) is the body itself; anything else is sent as JSON.
    const raw = typeof Blob !== 'undefined' && body instanceof Blob
    if (raw) headers['Content-Type'] = body.type || 'application/octet-stream'
    else if (body !== undefined) headers['Content-Type'] = 'application/json'
    const doFetch = this.opts.fetch ?? fetch
    let res: Response
    try {
      res = await doFetch(`/api/v1${path}`, {
        method,
        headers,
        body: raw ? body : body === undefined ? undefined : JSON.stringify(body),
        signal,
      })
    } catch (e) {
      if (signal?.aborted) throw new ApiError(ABORTED, 'request cancelled', 0)
      throw new ApiError('network', `network error: ${String(e)}`, 0)
    }
    let text: string
    try {
      text = await res.text()
    } catch (e) {
      if (signal?.aborted) throw new ApiError(ABORTED, 'request cancelled', 0)
      throw new ApiError('network', `network error: ${String(e)}`, 0)
    }
    let data: unknown = null
    if (text) {
      try {
        data = JSON.parse(text)
      } catch {
        data = null
      }
    }
    if (!res.ok) {
      const err = (data as { error?: { code?: string; message?: string; retry_after_ms?: number } } | null)?.error
      const code = err?.code ?? `http_${res.status}`
      const e = new ApiError(code, err?.message ?? res.statusText ?? code, res.status, err?.retry_after_ms)
      const renewable = code === 'token_expired' && this.opts.renew
      if (res.status === 401 && token && !renewable) this.opts.onUnauthorized(code)
      throw e
    }
    return data as T
  }

  /** One operation of the document, by its operationId: body and answer typed from it. */
  private call<Op extends OperationId>(
    _op: Op,
    method: string,
    path: string,
    body?: RequestBody<Op>,
    signal?: AbortSignal,
  ): Promise<OkBody<Op>> {
    return this.request<OkBody<Op>>(method, path, body, signal)
  }

  register(name: string, password: string): Promise<Session> {
    return this.call('register', 'POST', '/auth/register', { name, password })
  }

  login(name: string, password: string): Promise<Session> {
    return this.call('login', 'POST', '/auth/login', { name, password })
  }

  /** Ends this session on the server (its tokens stop working everywhere). */
  logout(): Promise<void> {
    return this.call('logout', 'POST', '/auth/logout')
  }

  /** Ends every session of the user, this one too. */
  logoutEverywhere(): Promise<void> {
    return this.call('logoutEverywhere', 'DELETE', '/me/sessions')
  }

  async sessions(): Promise<SessionInfo[]> {
    const r = await this.call('sessions', 'GET', '/me/sessions')
    return r.sessions
  }

  me(): Promise<User> {
    return this.call('me', 'GET', '/me')
  }

  /** Changes the caller's display name and/or about text (at least one). */
  updateMe(patch: RequestBody<'updateMe'>): Promise<User> {
    return this.call('updateMe', 'PATCH', '/me', patch)
  }

  /** Sets the caller's avatar: the body is the image (PNG, JPEG or WebP). */
  putAvatar(image: Blob): Promise<User> {
    return this.request<OkBody<'putAvatar'>>('PUT', '/me/avatar', image)
  }

  deleteAvatar(): Promise<User> {
    return this.call('deleteAvatar', 'DELETE', '/me/avatar')
  }

  /** Who may see when the caller is online. */
  async presenceSetting(): Promise<PresenceVisibility> {
    const r = await this.call('presenceSetting', 'GET', '/me/presence')
    return r.visibility
  }

  /** Chooses who may see when the caller is online; the answer is the setting now. */
  async setPresenceSetting(visibility: PresenceVisibility): Promise<PresenceVisibility> {
    const r = await this.call('setPresenceSetting', 'PUT', '/me/presence', { visibility })
    return r.visibility
  }

  users(ids: Id[]): Promise<User[]> {
    return this.call('users', 'GET', `/users?ids=${ids.map(encodeURIComponent).join(',')}`)
  }

  userByName(name: string): Promise<User> {
    return this.call('userByName', 'GET', `/users/by-name/${encodeURIComponent(name)}`)
  }

  async chats(): Promise<ChatListEntry[]> {
    const r = await this.call('chatList', 'GET', '/chats')
    return r.chats
  }

  chat(id: Id): Promise<ChatView> {
    return this.call('getChat', 'GET', `/chats/${id}`)
  }

  /** Mutes the chat for the caller until `until` (Unix ms), or for good without it. */
  mute(chat: Id, until?: number): Promise<ChatView> {
    const body: RequestBody<'mute'> = {}
    if (until !== undefined) body.until = until
    return this.call('mute', 'PUT', `/chats/${chat}/mute`, body)
  }

  unmute(chat: Id): Promise<ChatView> {
    return this.call('unmute', 'DELETE', `/chats/${chat}/mute`)
  }

  createDirect(peer: Id): Promise<Chat> {
    return this.call('createChat', 'POST', '/chats', { kind: 'direct', members: [peer] })
  }

  createGroup(title: string, members: Id[]): Promise<Chat> {
    return this.call('createChat', 'POST', '/chats', { kind: 'group', title, members })
  }

  async members(chat: Id): Promise<Member[]> {
    const r = await this.call('members', 'GET', `/chats/${chat}/members`)
    return r.members
  }

  addMember(chat: Id, user: Id, role: Role = 'member'): Promise<Chat> {
    return this.call('addMember', 'POST', `/chats/${chat}/members`, { user_id: user, role })
  }

  setRole(chat: Id, user: Id, role: Role): Promise<Chat> {
    return this.call('setRole', 'PATCH', `/chats/${chat}/members/${user}`, { role })
  }

  removeMember(chat: Id, user: Id): Promise<Chat> {
    return this.call('removeMember', 'DELETE', `/chats/${chat}/members/${user}`)
  }

  history(chat: Id, q: HistoryQuery = {}): Promise<OkBody<'history'>> {
    const qs = query(q)
    return this.call('history', 'GET', `/chats/${chat}/messages${qs ? `?${qs}` : ''}`)
  }

  /** Messages the caller may read that match `q.q`, newest first, a page at a time. */
  search(q: SearchQuery, signal?: AbortSignal): Promise<OkBody<'search'>> {
    return this.call('search', 'GET', `/search?${query(q)}`, undefined, signal)
  }

  send(chat: Id, clientMsgId: string, text: string, replyToSeq?: number): Promise<MessageResult> {
    const body: RequestBody<'send'> = { client_msg_id: clientMsgId, text }
    if (replyToSeq) body.reply_to_seq = replyToSeq
    return this.call('send', 'POST', `/chats/${chat}/messages`, body)
  }

  read(chat: Id, seq: number): Promise<OkBody<'read'>> {
    return this.call('read', 'PUT', `/chats/${chat}/read`, { seq })
  }
}

/** A query string of the parameters that are set, in the order given. */
function query(q: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v))
  return params.toString()
}

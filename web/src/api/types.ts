// Wire types of the HTTP API (gateway/src/openapi.json) and the WebSocket protocol
// (docs/protocol.md). Ids are decimal strings: JavaScript numbers lose precision
// past 2^53. Seqs are numbers.

export type Id = string
export type Role = 'admin' | 'moder' | 'member' | 'silent'

export interface User {
  id: Id
  name: string
  created_at: number
}

export interface Session {
  user: User
  /** Access token (JWT), valid until `expires_at`. */
  token: string
  /** Unix seconds. */
  expires_at: number
  /** Spent at POST /auth/refresh for a new pair; presenting it twice ends the session. */
  refresh_token: string
  /** When the session ends unless refreshed before, Unix seconds. */
  refresh_expires_at: number
  session_id: Id
}

/** A live login session of the user (GET /me/sessions). */
export interface SessionInfo {
  id: Id
  device: string
  created_at: number
  used_at: number
  expires_at: number
  current: boolean
}

export interface LastMessage {
  seq: number
  sender_id: Id
  preview: string
  at: number
  deleted: boolean
}

export interface Chat {
  id: Id
  kind: 'direct' | 'group'
  title: string
  created_by: Id
  created_at: number
  last_seq: number
  last_pts: number
  member_count: number
  last_message?: LastMessage | null
}

export interface ChatListEntry {
  chat: Chat
  role: Role
  read_seq: number
  unread: number
}

export interface Member {
  user_id: Id
  role: Role
}

export interface ForwardedFrom {
  chat_id: Id
  seq: number
  sender_id: Id
}

export interface Message {
  id: Id
  chat_id: Id
  seq: number
  sender_id: Id
  client_msg_id: string
  text: string
  reply_to_seq?: number | null
  forwarded_from?: ForwardedFrom | null
  created_at: number
  edited_at?: number | null
  deleted: boolean
  pts: number
}

// ---- WebSocket: client → server ----

export type ClientFrame =
  | { type: 'auth'; token: string }
  | { type: 'subscribe'; chat_id: Id; since_seq?: number; since_pts?: number }
  | { type: 'unsubscribe'; chat_id: Id }
  | { type: 'send'; chat_id: Id; client_msg_id: string; text: string; reply_to_seq?: number }
  | { type: 'edit'; chat_id: Id; seq: number; text: string; ref?: string }
  | { type: 'delete'; chat_id: Id; seq: number; ref?: string }
  | { type: 'forward'; from_chat_id: Id; seq: number; to_chat_id: Id; client_msg_id: string }
  | { type: 'read'; chat_id: Id; seq: number }
  | { type: 'ping' }

// ---- WebSocket: server → client ----

export type ServerFrame =
  | { type: 'ready'; user_id: Id; gateway: string }
  | { type: 'subscribed'; chat_id: Id; last_seq: number; last_pts: number; read_seq: number }
  | { type: 'synced'; chat_id: Id; last_seq: number }
  | { type: 'unsubscribed'; chat_id: Id }
  | {
      type: 'ack'
      chat_id: Id
      client_msg_id?: string | null
      ref?: string | null
      seq?: number | null
      message?: Message | null
      duplicate?: boolean
    }
  | {
      type: 'rejected'
      chat_id: Id
      client_msg_id?: string | null
      ref?: string | null
      code: string
      message: string
    }
  | { type: 'error'; code: string; message: string; ref?: string | null; chat_id?: Id; retry_after_ms?: number }
  | { type: 'message'; message: Message }
  | { type: 'edited'; chat_id: Id; seq: number; text: string; edited_at: number; pts: number }
  | { type: 'deleted'; chat_id: Id; seq: number; pts: number }
  | { type: 'member_added'; chat: Chat; user_id: Id; role: Role; pts: number }
  | { type: 'member_removed'; chat_id: Id; user_id: Id; pts: number }
  | { type: 'role_changed'; chat_id: Id; user_id: Id; role: Role; pts: number }
  | { type: 'chat_created'; chat: Chat; members: Member[] }
  | { type: 'chat_hidden'; chat_id: Id; user_id: Id }
  | { type: 'chat_shown'; chat: Chat; user_id: Id }
  | { type: 'read'; chat_id: Id; user_id: Id; seq: number }
  | { type: 'pong' }

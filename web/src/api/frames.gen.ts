// GENERATED from docs/frames.schema.json by json-schema-to-typescript (web/scripts/gen-api.mjs): do not edit.
// Change the source, then regenerate with `npm run gen:api` in web/ and commit both;
// `npm run check:api` (run by web/test.sh) fails while this file is not current.

import type { components } from './openapi.gen'

type Schemas = components['schemas']

/**
 * The JSON text frames of the WebSocket at /ws (docs/protocol.md), as core/src/wire.rs defines them: ClientFrame (client to server), and ServerFrame plus Event (server to client). The shapes shared with the HTTP API (Id, Message, Chat, Member, User, Role, the error codes) are those of gateway/src/openapi.json. The web client's TypeScript types are generated from this file (web/src/api/frames.gen.ts, `npm run gen:api` in web/).
 */
export type WebSocketFrames = ClientFrame | ServerFrame
/**
 * A frame from the client. Unknown fields are ignored (newer clients work with older servers); an unknown `type` is answered by an `error` frame with code unknown_type.
 */
export type ClientFrame =
  | AuthFrame
  | SubscribeFrame
  | UnsubscribeFrame
  | SendFrame
  | EditFrame
  | DeleteFrame
  | ForwardFrame
  | ReactFrame
  | PinFrame
  | ReadFrame
  | TypingFrame
  | GetPresenceFrame
  | SyncProfilesFrame
  | PingFrame
export type Id = Schemas['Id']
/**
 * Idempotency key chosen by the client: 1 to 64 printable ASCII characters, no space
 */
export type ClientMsgId = string
/**
 * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
 */
export type Seq = number
/**
 * A frame from the server: an answer (ServerFrame in core/src/wire.rs) or a chat or user event (Event). The server sends no field beyond those listed.
 */
export type ServerFrame =
  | ReadyFrame
  | SubscribedFrame
  | SyncedFrame
  | UnsubscribedFrame
  | AckFrame
  | RejectedFrame
  | ErrorFrame
  | PongFrame
  | TypingEvent
  | PresenceEvent
  | OnlineCountEvent
  | PresenceListFrame
  | MutedFrame
  | PresenceVisibilityFrame
  | UserUpdatedFrame
  | ProfilesFrame
  | ChatMessageEvent
  | EditedEvent
  | DeletedEvent
  | ReactionEvent
  | PinnedEvent
  | ChatCreatedEvent
  | MemberAddedEvent
  | MemberRemovedEvent
  | ChatHiddenEvent
  | ChatShownEvent
  | RoleChangedEvent
  | ReadEvent
export type ErrorCode = Schemas['Error']['error']['code']
export type PresenceStatus = Schemas['PresenceStatus']
export type UserPresence = Schemas['UserPresence']
export type Visibility = Schemas['Visibility']
export type User = Schemas['User']
export type Message = Schemas['Message']
/**
 * A position in the chat's change stream
 */
export type Pts = number
export type Chat = Schemas['Chat']
export type Member = Schemas['Member']
export type Role = Schemas['Role']

/**
 * First frame of a connection (unless the upgrade carried a bearer token); answered by `ready`, or `error` and close 4001.
 */
export interface AuthFrame {
  type: 'auth'
  /**
   * The access token (JWT) from login or refresh
   */
  token: string
}
/**
 * Receive a chat's events; answered by `subscribed`, then (with since_pts) the changes after it, (with since_seq) every stored message after it and `synced`, then live events.
 */
export interface SubscribeFrame {
  type: 'subscribe'
  chat_id: Id
  /**
   * Highest seq the client holds; omitted means from now on
   */
  since_seq?: number
  /**
   * Highest change position the client has seen
   */
  since_pts?: number
}
/**
 * Stop receiving a chat's events; answered by `unsubscribed`.
 */
export interface UnsubscribeFrame {
  type: 'unsubscribe'
  chat_id: Id
}
/**
 * Post a message; answered by `ack` (with the stored message) or `rejected` / `error`.
 */
export interface SendFrame {
  type: 'send'
  chat_id: Id
  client_msg_id: ClientMsgId
  text: string
  /**
   * Seq of the message answered
   */
  reply_to_seq?: number
}
/**
 * Edit one's own message; answered by `ack` / `rejected` / `error` carrying `ref`.
 */
export interface EditFrame {
  type: 'edit'
  chat_id: Id
  seq: Seq
  text: string
  /**
   * Echoed in the answer
   */
  ref?: string
}
/**
 * Delete a message; answered by `ack` / `rejected` / `error` carrying `ref`.
 */
export interface DeleteFrame {
  type: 'delete'
  chat_id: Id
  seq: Seq
  /**
   * Echoed in the answer
   */
  ref?: string
}
/**
 * Forward a message to another chat; answered by `ack` / `rejected` / `error` carrying `client_msg_id`.
 */
export interface ForwardFrame {
  type: 'forward'
  from_chat_id: Id
  /**
   * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
   */
  seq: number
  to_chat_id: Id
  /**
   * Idempotency key chosen by the client: 1 to 64 printable ASCII characters, no space
   */
  client_msg_id: string
}
/**
 * Adds (or, with `remove`, takes back) the user's reaction to a message: one emoji. Answered by `ack` with the message as the user sees it (a repeat: `duplicate`), or `rejected` / `error` (`invalid_emoji`, `quota_exceeded`: at most 3 of one's own and 20 different on a message, `silenced`, `message_deleted`) with the `ref`.
 */
export interface ReactFrame {
  type: 'react'
  chat_id: Id
  seq: Seq
  emoji: string
  /**
   * Take the reaction back
   */
  remove?: boolean
  /**
   * Echoed in the answer
   */
  ref?: string
}
/**
 * Pins (or, with `unpin`, unpins) a message. In a group only an admin or a moderator may; in a direct chat either member. Answered by `ack` with the `ref` (a repeat: `duplicate`), or `rejected` / `error` (`forbidden`, `quota_exceeded`: at most 50 pins in a chat, `message_deleted`, `message_not_found`) with the `ref`.
 */
export interface PinFrame {
  type: 'pin'
  chat_id: Id
  seq: Seq
  /**
   * Unpin it
   */
  unpin?: boolean
  /**
   * Echoed in the answer
   */
  ref?: string
}
/**
 * Move the read cursor (forward only); answered by `ack` / `rejected` / `error`.
 */
export interface ReadFrame {
  type: 'read'
  chat_id: Id
  /**
   * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
   */
  seq: number
}
/**
 * The user is typing in the chat: its subscribers are told (ephemeral, never stored). Send it every few seconds while typing; nothing answers it unless it is refused (`not_member`, `silenced`, `too_many_requests`).
 */
export interface TypingFrame {
  type: 'typing'
  chat_id: Id
  /**
   * Echoed in the `error` frame if the notice is refused
   */
  ref?: string
}
/**
 * Asks who of a chat's members is online, as the user may see them (counts as a history read). Answered by `presence_list`, or an `error` (`not_member`, `chat_not_found`, `too_many_requests`) with the `ref`.
 */
export interface GetPresenceFrame {
  type: 'get_presence'
  chat_id: Id
  /**
   * Echoed in the answer or the `error`
   */
  ref?: string
}
/**
 * Asks for the profiles of the user's contacts (members of a chat with them, and themselves) changed since `since`: the `as_of` of the previous `profiles` answer. Without `since`, only a starting point. Answered by `profiles`.
 */
export interface SyncProfilesFrame {
  type: 'sync_profiles'
  /**
   * Unix ms: `as_of` of the previous `profiles` frame
   */
  since?: number
}
/**
 * Keep-alive; answered by `pong`.
 */
export interface PingFrame {
  type: 'ping'
}
/**
 * Authentication succeeded.
 */
export interface ReadyFrame {
  type: 'ready'
  user_id: Id
  /**
   * Instance id of the gateway serving the connection
   */
  gateway: string
}
/**
 * A subscription is active; missed changes and messages (if asked) follow, then live ones.
 */
export interface SubscribedFrame {
  type: 'subscribed'
  chat_id: Id
  /**
   * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
   */
  last_seq: number
  /**
   * Newest change position at subscribe time
   */
  last_pts: number
  /**
   * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
   */
  read_seq: number
  /**
   * The chat's pinned messages now, the latest pinned first; absent when none
   */
  pins?: Seq[]
}
/**
 * Every message up to last_seq requested by a since_seq subscribe was sent.
 */
export interface SyncedFrame {
  type: 'synced'
  chat_id: Id
  /**
   * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
   */
  last_seq: number
}
/**
 * The subscription ended (on request, or because the user left the chat).
 */
export interface UnsubscribedFrame {
  type: 'unsubscribed'
  chat_id: Id
}
/**
 * A command succeeded and is durable.
 */
export interface AckFrame {
  type: 'ack'
  chat_id: Id
  /**
   * For sends and forwards: the client's key
   */
  client_msg_id?: string
  /**
   * For edits, deletes and reactions: the client's ref
   */
  ref?: string
  /**
   * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
   */
  seq?: number
  /**
   * The message as stored
   */
  message?: Schemas['Message']
  /**
   * The command repeated an earlier one; for a send, message is the original
   */
  duplicate: boolean
}
/**
 * The writer refused a command; nothing changed.
 */
export interface RejectedFrame {
  type: 'rejected'
  chat_id: Id
  /**
   * The client's key
   */
  client_msg_id?: string
  /**
   * The client's ref
   */
  ref?: string
  code: ErrorCode
  /**
   * Explanation
   */
  message: string
}
/**
 * The gateway refused a frame; nothing changed.
 */
export interface ErrorFrame {
  type: 'error'
  code: ErrorCode
  /**
   * Explanation
   */
  message: string
  /**
   * The client's key or ref, when the frame had one
   */
  ref?: string
  /**
   * The chat the refused frame was about, when it named one
   */
  chat_id?: Schemas['Id']
  /**
   * With too_many_requests: milliseconds until the request would be allowed
   */
  retry_after_ms?: number
}
/**
 * Answer to `ping`.
 */
export interface PongFrame {
  type: 'pong'
}
/**
 * A member is typing in a chat you follow (yours come back too: skip your own user). Show it for `expires_in_ms` unless refreshed, or until a message from them arrives.
 */
export interface TypingEvent {
  type: 'typing'
  chat_id: Id
  user_id: Id
  expires_in_ms: number
}
/**
 * A member of a chat you follow came online, went offline, or no longer shows it here (`hidden`). Sent in direct chats and in groups up to the presence group limit (ephemeral, never replayed).
 */
export interface PresenceEvent {
  type: 'presence'
  chat_id: Id
  user_id: Id
  status: PresenceStatus
  /**
   * With `offline`: Unix ms the user was last seen
   */
  last_seen?: number
}
/**
 * A group above the presence group limit that you follow: members online now who show it to everyone. Sent every few seconds while it changes.
 */
export interface OnlineCountEvent {
  type: 'online_count'
  chat_id: Id
  online: number
}
/**
 * Answer to `get_presence`: each member as you may see them (empty above the presence group limit) and the number shown online.
 */
export interface PresenceListFrame {
  type: 'presence_list'
  chat_id: Id
  users: UserPresence[]
  online: number
  /**
   * The `ref` of `get_presence`
   */
  ref?: string
}
/**
 * To the user's own connections: they muted (or, without `muted_until`, unmuted) a chat from one of their devices.
 */
export interface MutedFrame {
  type: 'muted'
  chat_id: Id
  /**
   * Until when (Unix ms; 253402300799999 for good); absent: unmuted
   */
  muted_until?: number
}
/**
 * To the user only: their presence setting changed (`PUT /me/presence`, maybe on another device).
 */
export interface PresenceVisibilityFrame {
  type: 'presence_visibility'
  visibility: Visibility
}
/**
 * A user's profile changed (display name, about, avatar): sent live to the subscribers of every chat they are in and to their own connections. Replace the user you hold.
 */
export interface UserUpdatedFrame {
  type: 'user_updated'
  user: User
}
/**
 * Answer to `sync_profiles`: contacts whose profile changed since the time asked (a few seen before may come again).
 */
export interface ProfilesFrame {
  type: 'profiles'
  users: User[]
  /**
   * Unix ms: send it as `since` next time
   */
  as_of: number
  /**
   * False when too much changed, or `since` is older than 7 days: fetch the users you show again (`GET /users?ids=`)
   */
  complete: boolean
}
/**
 * A new message, or a replayed one (a message frame for a seq the client holds replaces it).
 */
export interface ChatMessageEvent {
  type: 'message'
  message: Message
}
/**
 * A message's text changed.
 */
export interface EditedEvent {
  type: 'edited'
  chat_id: Id
  seq: Seq
  text: string
  /**
   * Unix ms
   */
  edited_at: number
  pts: Pts
}
/**
 * A message was deleted: its text is gone, its seq stays.
 */
export interface DeletedEvent {
  type: 'deleted'
  chat_id: Id
  seq: Seq
  pts: Pts
}
/**
 * A member added or took back a reaction: apply it to the message you hold when `pts` is newer than the message's (count ±1, `mine` when `user_id` is you), then take its `pts`. On resume the message comes again whole, with its reactions.
 */
export interface ReactionEvent {
  type: 'reaction'
  chat_id: Id
  seq: Seq
  user_id: Id
  emoji: string
  added: boolean
  pts: Pts
}
/**
 * A message was pinned or unpinned: the chat's pins are now `pins` (the latest pinned first). A deleted message leaves the pins without a `pinned` event: drop it on `deleted`. On resume the `subscribed` frame carries the pins as they are.
 */
export interface PinnedEvent {
  type: 'pinned'
  chat_id: Id
  seq: Seq
  /**
   * Pinned (true) or unpinned
   */
  pinned: boolean
  /**
   * Who did it
   */
  user_id: Schemas['Id']
  /**
   * The chat's pins after the change
   */
  pins: Seq[]
  pts: Pts
}
/**
 * A chat was created; sent to each first member.
 */
export interface ChatCreatedEvent {
  type: 'chat_created'
  chat: Chat
  members: Member[]
}
/**
 * A member joined; chat is the chat as it is now.
 */
export interface MemberAddedEvent {
  type: 'member_added'
  chat: Chat
  user_id: Id
  role: Role
  pts: Pts
}
/**
 * A member left or was removed.
 */
export interface MemberRemovedEvent {
  type: 'member_removed'
  chat_id: Id
  user_id: Id
  pts: Pts
}
/**
 * To the user only: they left this direct chat; it leaves their chat list.
 */
export interface ChatHiddenEvent {
  type: 'chat_hidden'
  chat_id: Id
  user_id: Id
}
/**
 * To the user only: a direct chat they left is back in their list (the other member wrote; the message follows).
 */
export interface ChatShownEvent {
  type: 'chat_shown'
  chat: Chat
  user_id: Id
}
/**
 * A member's role changed.
 */
export interface RoleChangedEvent {
  type: 'role_changed'
  chat_id: Id
  user_id: Id
  role: Role
  pts: Pts
}
/**
 * The user's read cursor moved (sent to that user's other connections).
 */
export interface ReadEvent {
  type: 'read'
  chat_id: Id
  user_id: Id
  /**
   * A message's position in its chat (dense: 1, 2, 3, ...; 0 means none)
   */
  seq: number
}

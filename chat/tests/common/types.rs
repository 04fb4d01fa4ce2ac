//! Typed bodies of the HTTP API and frames of the WebSocket, as a client sees
//! them. Written here rather than borrowed from `chat_core`: they are what the
//! tests expect on the wire, and every struct refuses unknown fields, so a
//! changed response shape fails the test that received it.

use serde::{Deserialize, Serialize};

/// A decimal id string (users, chats, messages).
pub type Id = String;

/// A member's role in one chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Moder,
    Member,
    Silent,
}

/// Direct or group chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Direct,
    Group,
}

/// `GET /me`, `/users/…`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: Id,
    pub name: String,
    pub display_name: String,
    pub about: String,
    #[serde(default)]
    pub avatar: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Answer of register, login and refresh.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub user: User,
    pub token: String,
    pub expires_at: i64,
    pub refresh_token: String,
    pub refresh_expires_at: i64,
    pub session_id: Id,
}

/// A live login session, as `GET /me/sessions` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    pub id: Id,
    pub device: String,
    pub created_at: i64,
    pub used_at: i64,
    pub expires_at: i64,
    pub current: bool,
}

/// Answer of `GET /me/sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// The newest message of a chat, as the chat list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastMessage {
    pub seq: u64,
    pub sender_id: Id,
    pub preview: String,
    pub at: i64,
    pub deleted: bool,
}

/// A chat's description and counters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chat {
    pub id: Id,
    pub kind: ChatKind,
    pub title: String,
    pub created_by: Id,
    pub created_at: i64,
    pub last_seq: u64,
    pub last_pts: u64,
    pub member_count: u32,
    pub last_message: Option<LastMessage>,
    #[serde(default)]
    pub pins: Vec<u64>,
}

/// One entry of `GET /chats`, and the answer of `GET /chats/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatEntry {
    pub chat: Chat,
    pub role: Role,
    pub read_seq: u64,
    pub unread: u64,
    pub mentions: u32,
    #[serde(default)]
    pub muted_until: Option<i64>,
    /// `GET /chats/{id}` only.
    #[serde(default)]
    pub history: Option<String>,
}

/// `GET /chats`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatList {
    pub chats: Vec<ChatEntry>,
}

/// A member of a chat.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub user_id: Id,
    pub role: Role,
}

/// `GET /chats/{id}/members`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    pub members: Vec<Member>,
}

/// Where a forwarded message came from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedFrom {
    pub chat_id: Id,
    pub seq: u64,
    pub sender_id: Id,
}

/// A message, in history and in `message` frames.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub id: Id,
    pub chat_id: Id,
    pub seq: u64,
    pub sender_id: Id,
    pub client_msg_id: String,
    pub text: String,
    #[serde(default)]
    pub reply_to_seq: Option<u64>,
    #[serde(default)]
    pub forwarded_from: Option<ForwardedFrom>,
    pub created_at: i64,
    #[serde(default)]
    pub edited_at: Option<i64>,
    pub deleted: bool,
    pub pts: u64,
    /// Absent when there are none.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// Absent when there are none.
    #[serde(default)]
    pub mentions: Vec<Id>,
}

/// One emoji's reactions on a message, as the reader sees them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    pub emoji: String,
    pub count: u32,
    #[serde(default)]
    pub mine: bool,
}

/// Answer of send, edit, delete and forward.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageResult {
    pub message: Message,
    pub duplicate: bool,
}

/// `GET /chats/{id}/messages`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesPage {
    pub messages: Vec<Message>,
    pub last_seq: u64,
}

/// Answer of `PUT /chats/{id}/read`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadCursor {
    pub chat_id: Id,
    pub read_seq: u64,
}

/// Every error answer: `{"error": {"code", "message", "request_id"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// With `too_many_requests`.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// The request's id (an HTTP answer's; not in WebSocket error frames).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A frame from the server (docs/protocol.md, "Server → client frames").
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    Ready(Ready),
    Subscribed(Subscribed),
    Synced(Synced),
    Unsubscribed(Unsubscribed),
    Ack(Ack),
    Rejected(Rejected),
    Error(ErrorFrame),
    Pong(Pong),
    Message(MessageFrame),
    Edited(Edited),
    Deleted(Deleted),
    ChatCreated(ChatCreated),
    ChatHidden(ChatHidden),
    ChatShown(ChatShown),
    MemberAdded(MemberAdded),
    MemberRemoved(MemberRemoved),
    RoleChanged(RoleChanged),
    Read(ReadFrame),
    UserUpdated(UserUpdated),
    Profiles(Profiles),
    Typing(Typing),
    Reaction(ReactionEvent),
    Pinned(PinnedEvent),
    Muted(MutedFrame),
    Presence(PresenceFrame),
    OnlineCount(OnlineCount),
    PresenceList(PresenceList),
    PresenceVisibility(PresenceVisibility),
}

impl Frame {
    /// The frame's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Ready(_) => "ready",
            Frame::Subscribed(_) => "subscribed",
            Frame::Synced(_) => "synced",
            Frame::Unsubscribed(_) => "unsubscribed",
            Frame::Ack(_) => "ack",
            Frame::Rejected(_) => "rejected",
            Frame::Error(_) => "error",
            Frame::Pong(_) => "pong",
            Frame::Message(_) => "message",
            Frame::Edited(_) => "edited",
            Frame::Deleted(_) => "deleted",
            Frame::ChatCreated(_) => "chat_created",
            Frame::ChatHidden(_) => "chat_hidden",
            Frame::ChatShown(_) => "chat_shown",
            Frame::MemberAdded(_) => "member_added",
            Frame::MemberRemoved(_) => "member_removed",
            Frame::RoleChanged(_) => "role_changed",
            Frame::Read(_) => "read",
            Frame::UserUpdated(_) => "user_updated",
            Frame::Profiles(_) => "profiles",
            Frame::Typing(_) => "typing",
            Frame::Reaction(_) => "reaction",
            Frame::Pinned(_) => "pinned",
            Frame::Muted(_) => "muted",
            Frame::Presence(_) => "presence",
            Frame::OnlineCount(_) => "online_count",
            Frame::PresenceList(_) => "presence_list",
            Frame::PresenceVisibility(_) => "presence_visibility",
        }
    }

    /// The `pts` the frame carries (a message's, or a change event's).
    pub fn pts(&self) -> Option<u64> {
        match self {
            Frame::Message(m) => Some(m.message.pts),
            Frame::Edited(e) => Some(e.pts),
            Frame::Reaction(e) => Some(e.pts),
            Frame::Pinned(e) => Some(e.pts),
            Frame::Deleted(e) => Some(e.pts),
            Frame::MemberAdded(e) => Some(e.pts),
            Frame::MemberRemoved(e) => Some(e.pts),
            Frame::RoleChanged(e) => Some(e.pts),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    pub user_id: Id,
    pub gateway: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribed {
    pub chat_id: Id,
    pub last_seq: u64,
    pub last_pts: u64,
    pub read_seq: u64,
    #[serde(default)]
    pub pins: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Synced {
    pub chat_id: Id,
    pub last_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsubscribed {
    pub chat_id: Id,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub chat_id: Id,
    #[serde(default)]
    pub client_msg_id: Option<String>,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub message: Option<Message>,
    pub duplicate: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    pub chat_id: Id,
    #[serde(default)]
    pub client_msg_id: Option<String>,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorFrame {
    pub code: String,
    pub message: String,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    #[serde(default)]
    pub chat_id: Option<Id>,
    /// With `too_many_requests`.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// The request's id (an HTTP answer's; not in WebSocket error frames).
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pong {}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFrame {
    pub message: Message,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionEvent {
    pub chat_id: Id,
    pub seq: u64,
    pub user_id: Id,
    pub emoji: String,
    pub added: bool,
    pub pts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutedFrame {
    pub chat_id: Id,
    #[serde(default)]
    pub muted_until: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedEvent {
    pub chat_id: Id,
    pub seq: u64,
    pub pinned: bool,
    pub user_id: Id,
    pub pins: Vec<u64>,
    pub pts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edited {
    pub chat_id: Id,
    pub seq: u64,
    pub text: String,
    pub edited_at: i64,
    pub pts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deleted {
    pub chat_id: Id,
    pub seq: u64,
    pub pts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Typing {
    pub chat_id: Id,
    pub user_id: Id,
    pub expires_in_ms: u64,
}

/// One user's presence (a `presence` frame without its chat, a
/// `presence_list` entry, `GET /chats/{id}/presence`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPresence {
    pub user_id: Id,
    /// `online`, `offline` or `hidden`.
    pub status: String,
    #[serde(default)]
    pub last_seen: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceFrame {
    pub chat_id: Id,
    pub user_id: Id,
    pub status: String,
    #[serde(default)]
    pub last_seen: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineCount {
    pub chat_id: Id,
    pub online: u32,
}

/// `presence_list`, and the body of `GET /chats/{id}/presence` (without
/// `ref`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceList {
    pub chat_id: Id,
    pub users: Vec<UserPresence>,
    pub online: u32,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceVisibility {
    pub visibility: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdated {
    pub user: User,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    pub users: Vec<User>,
    pub as_of: i64,
    pub complete: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatHidden {
    pub chat_id: Id,
    pub user_id: Id,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatShown {
    pub chat: Chat,
    pub user_id: Id,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatCreated {
    pub chat: Chat,
    pub members: Vec<Member>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberAdded {
    pub chat: Chat,
    pub user_id: Id,
    pub role: Role,
    pub pts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRemoved {
    pub chat_id: Id,
    pub user_id: Id,
    pub pts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChanged {
    pub chat_id: Id,
    pub user_id: Id,
    pub role: Role,
    pub pts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadFrame {
    pub chat_id: Id,
    pub user_id: Id,
    pub seq: u64,
}

/// The seqs of some messages, in order.
pub fn seqs(msgs: &[Message]) -> Vec<u64> {
    msgs.iter().map(|m| m.seq).collect()
}

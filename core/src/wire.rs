//! Versioned wire formats: log records (commands and effects), the pub/sub envelope
//! and WebSocket frames. Every format is serde; the pub/sub header is binary so a
//! gateway can route an event without parsing its JSON.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::id::{ChatId, MessageId, UserId};
use crate::model::{Chat, ChatKind, ForwardedFrom, Member, Message, Role};

/// Version of [`CommandRecord`] and [`EffectRecord`] written by this build.
pub const RECORD_VERSION: u8 = 1;

/// Where the outcome of a command is to be sent: the gateway that accepted it and
/// that gateway's request number. Published on [`gateway_channel`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    /// The accepting gateway's instance id.
    pub gateway: String,
    /// Request number, unique within that gateway instance.
    pub request: u64,
}

/// A record of the `chat.commands` topic, keyed by `chat_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// Format version ([`RECORD_VERSION`]).
    pub v: u8,
    /// The user on whose behalf the command runs (from a verified token).
    pub actor: UserId,
    /// Unix milliseconds the gateway accepted the command (end-to-end latency starts here).
    pub accepted_at: i64,
    /// Where to send the outcome; `None` when nobody waits for it.
    #[serde(default)]
    pub reply_to: Option<ReplyTo>,
    /// What to do.
    pub cmd: Command,
}

/// A change to a chat. Only the writer that owns the chat's partition applies it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Create a chat with its first members; the actor becomes admin of a group.
    CreateChat {
        /// New chat id (for direct chats, [`crate::direct_chat_id`]).
        chat_id: ChatId,
        /// Direct or group.
        kind: ChatKind,
        /// Group title.
        title: String,
        /// Members other than the actor.
        members: Vec<UserId>,
    },
    /// Post a message.
    Send {
        /// Target chat.
        chat_id: ChatId,
        /// Id for the message, chosen by the gateway (used if the message is new).
        message_id: MessageId,
        /// The sender's idempotency key.
        client_msg_id: String,
        /// Text.
        text: String,
        /// Seq of the message answered.
        #[serde(default)]
        reply_to_seq: Option<u64>,
        /// Origin when forwarding (resolved and authorized by the gateway).
        #[serde(default)]
        forwarded_from: Option<ForwardedFrom>,
        /// Users the text names (`@name`, resolved by the gateway); the
        /// writer keeps those who are members.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
    },
    /// Replace a message's text.
    Edit {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// New text.
        text: String,
    },
    /// Delete a message (its seq stays, its text goes).
    Delete {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
    },
    /// Add (or remove) the actor's reaction to a message.
    React {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// The emoji (checked by [`crate::rules::check_emoji`]).
        emoji: String,
        /// Remove it instead.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        remove: bool,
    },
    /// Pin (or unpin) a message.
    Pin {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Unpin it instead.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unpin: bool,
    },
    /// Add a member to a group.
    AddMember {
        /// Chat.
        chat_id: ChatId,
        /// New member.
        user_id: UserId,
        /// Their role.
        role: Role,
    },
    /// Remove a member (or leave, when `user_id` is the actor).
    RemoveMember {
        /// Chat.
        chat_id: ChatId,
        /// Member removed.
        user_id: UserId,
        /// Also bar them from being added again (until an admin unbans).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ban: bool,
    },
    /// Change what the group's new members see of earlier messages.
    SetHistory {
        /// Chat.
        chat_id: ChatId,
        /// The new setting.
        history: crate::model::HistoryVisibility,
    },
    /// Lift a ban.
    Unban {
        /// Chat.
        chat_id: ChatId,
        /// The banned user.
        user_id: UserId,
    },
    /// The actor blocks (or unblocks) a user. Keyed by their direct chat
    /// (which need not exist), so that it is ordered with that chat's sends.
    Block {
        /// `direct_chat_id(actor, user_id)`.
        chat_id: ChatId,
        /// The user blocked or unblocked.
        user_id: UserId,
        /// Block (true) or unblock.
        blocked: bool,
    },
    /// Change a member's role.
    SetRole {
        /// Chat.
        chat_id: ChatId,
        /// Member.
        user_id: UserId,
        /// New role.
        role: Role,
    },
    /// Move the actor's read cursor forward.
    Read {
        /// Chat.
        chat_id: ChatId,
        /// Highest seq read.
        seq: u64,
    },
}

impl Command {
    /// The chat the command changes: the record key.
    pub fn chat_id(&self) -> ChatId {
        match self {
            Command::CreateChat { chat_id, .. }
            | Command::Send { chat_id, .. }
            | Command::Edit { chat_id, .. }
            | Command::Delete { chat_id, .. }
            | Command::React { chat_id, .. }
            | Command::Pin { chat_id, .. }
            | Command::AddMember { chat_id, .. }
            | Command::RemoveMember { chat_id, .. }
            | Command::Unban { chat_id, .. }
            | Command::SetHistory { chat_id, .. }
            | Command::Block { chat_id, .. }
            | Command::SetRole { chat_id, .. }
            | Command::Read { chat_id, .. } => *chat_id,
        }
    }
}

/// Something that happened to a chat, after it was persisted. This is also the
/// WebSocket frame clients receive (the `type` tag is the frame type).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A new message.
    Message {
        /// The message as stored.
        message: Message,
    },
    /// A message's text changed.
    Edited {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// New text.
        text: String,
        /// Unix milliseconds.
        edited_at: i64,
        /// Position in the chat's change stream.
        pts: u64,
    },
    /// A message was deleted.
    Deleted {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Position in the chat's change stream.
        pts: u64,
    },
    /// A member added or removed a reaction: apply it to the message you
    /// hold if its `pts` is newer than the message's.
    Reaction {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Who reacted.
        user_id: UserId,
        /// The emoji.
        emoji: String,
        /// Added (true) or removed.
        added: bool,
        /// Position in the chat's change stream (the message's new `pts`).
        pts: u64,
    },
    /// A message was pinned or unpinned: the chat's `pins` are now `pins`.
    Pinned {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Pinned (true) or unpinned.
        pinned: bool,
        /// Who did it.
        user_id: UserId,
        /// The chat's pins after the change, the latest pinned first.
        pins: Vec<u64>,
        /// Position in the chat's change stream.
        pts: u64,
    },
    /// A chat was created; sent to each first member.
    ChatCreated {
        /// The chat.
        chat: Chat,
        /// Its members.
        members: Vec<Member>,
    },
    /// A member joined.
    MemberAdded {
        /// The chat as it is now.
        chat: Chat,
        /// The new member.
        user_id: UserId,
        /// Their role.
        role: Role,
        /// Position in the chat's change stream.
        pts: u64,
    },
    /// A member left or was removed.
    MemberRemoved {
        /// Chat.
        chat_id: ChatId,
        /// The former member.
        user_id: UserId,
        /// Position in the chat's change stream.
        pts: u64,
    },
    /// A member left a direct chat: it leaves their chat list (sent to them
    /// only; the other member sees nothing).
    ChatHidden {
        /// Chat.
        chat_id: ChatId,
        /// The member who left it.
        user_id: UserId,
    },
    /// A direct chat a member had left is back in their list: the other
    /// member wrote (sent to the one who left, before the message).
    ChatShown {
        /// The chat, as it was before the message.
        chat: Chat,
        /// The member it is shown to again.
        user_id: UserId,
    },
    /// A member's role changed.
    RoleChanged {
        /// Chat.
        chat_id: ChatId,
        /// Member.
        user_id: UserId,
        /// New role.
        role: Role,
        /// Position in the chat's change stream.
        pts: u64,
    },
    /// A user's read cursor moved (sent to that user's other connections).
    Read {
        /// Chat.
        chat_id: ChatId,
        /// Reader.
        user_id: UserId,
        /// New cursor.
        seq: u64,
    },
}

impl Event {
    /// The chat the event belongs to.
    pub fn chat_id(&self) -> ChatId {
        match self {
            Event::Message { message } => message.chat_id,
            Event::ChatCreated { chat, .. }
            | Event::MemberAdded { chat, .. }
            | Event::ChatShown { chat, .. } => chat.id,
            Event::Edited { chat_id, .. }
            | Event::Deleted { chat_id, .. }
            | Event::Reaction { chat_id, .. }
            | Event::Pinned { chat_id, .. }
            | Event::MemberRemoved { chat_id, .. }
            | Event::ChatHidden { chat_id, .. }
            | Event::RoleChanged { chat_id, .. }
            | Event::Read { chat_id, .. } => *chat_id,
        }
    }
}

/// The outcome of a command for the one who sent it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
// Built once per command and moved, never stored in bulk: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Done (or already done before: `duplicate`).
    Ok {
        /// The message created, edited or found again.
        #[serde(default)]
        message: Option<Message>,
        /// The chat created or changed.
        #[serde(default)]
        chat: Option<Chat>,
        /// The command repeated an earlier one; nothing changed.
        #[serde(default)]
        duplicate: bool,
    },
    /// Refused; nothing changed.
    Rejected(Rejection),
}

/// A reply to the gateway that accepted a command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Request number within that gateway.
    pub request: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// A record of the `chat.events` topic, keyed by `chat_id`: what the writer did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectRecord {
    /// Format version ([`RECORD_VERSION`]).
    pub v: u8,
    /// Copied from the command, for end-to-end latency.
    pub accepted_at: i64,
    /// The persisted change, if any.
    #[serde(default)]
    pub event: Option<Event>,
    /// The chat's summary after the change, for the cache.
    #[serde(default)]
    pub chat: Option<Chat>,
    /// Where the outcome goes, if someone waits for it.
    #[serde(default)]
    pub reply_to: Option<ReplyTo>,
    /// The outcome for the actor.
    pub outcome: Outcome,
}

/// Pub/sub channel of a chat.
pub fn chat_channel(chat: ChatId) -> String {
    format!("chat:{chat}")
}

/// Pub/sub channel of a user.
pub fn user_channel(user: UserId) -> String {
    format!("user:{user}")
}

/// Pub/sub channel of a gateway instance (command replies).
pub fn gateway_channel(gateway: &str) -> String {
    format!("gw:{gateway}")
}

/// Pub/sub channel every gateway listens on for ended sessions
/// ([`PubKind::Revoked`]): any gateway may be serving the session's requests.
pub const SESSIONS_CHANNEL: &str = "sessions";

/// The JSON of a [`PubKind::Revoked`] envelope (whose `seq` is the user id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The session ended; `None`: every session of the user.
    pub session_id: Option<u64>,
}

/// What a pub/sub payload carries; tells the gateway how to route it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PubKind {
    /// A new message of `chat_id` with `seq`: delivered in seq order, gaps refilled.
    Message = 1,
    /// Any other chat event (edit, delete, member and role changes).
    ChatEvent = 2,
    /// The user was added to `chat_id`: subscribe their connections, then deliver.
    Joined = 3,
    /// The user was removed from `chat_id`: deliver, then unsubscribe.
    Left = 4,
    /// Any other user event (read cursor, chat created elsewhere).
    UserEvent = 5,
    /// A [`Reply`] for this gateway.
    Reply = 6,
    /// A member was removed from `chat_id` (on the chat's channel; `seq`
    /// carries the removed user's id): delivered to the chat's connections,
    /// and the removed user's stop following the chat — in order with the
    /// chat's messages, so none published after the removal reaches them.
    MemberLeft = 7,
    /// A login session ended (on [`SESSIONS_CHANNEL`]; `seq` carries the
    /// user's id, the JSON a [`Revocation`]): every gateway refuses its
    /// tokens and closes its connections.
    Revoked = 8,
}

impl PubKind {
    fn from_u8(b: u8) -> Option<PubKind> {
        Some(match b {
            1 => PubKind::Message,
            2 => PubKind::ChatEvent,
            3 => PubKind::Joined,
            4 => PubKind::Left,
            5 => PubKind::UserEvent,
            6 => PubKind::Reply,
            7 => PubKind::MemberLeft,
            8 => PubKind::Revoked,
            _ => return None,
        })
    }
}

/// How long a `typing` notice lasts without a refresh, in ms.
pub const TYPING_TTL_MS: u64 = 6_000;

/// Version byte of the pub/sub envelope.
pub const ENVELOPE_VERSION: u8 = 1;
const HEADER_LEN: usize = 2 + 8 + 8 + 8;

/// A pub/sub payload: a fixed binary header and the JSON frame, encoded once by
/// fanout and forwarded as the same bytes to every subscriber.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Routing kind.
    pub kind: PubKind,
    /// The chat concerned (0 for replies).
    pub chat_id: ChatId,
    /// Message seq for [`PubKind::Message`], the chat's newest seq for
    /// [`PubKind::Joined`], the removed user's id for [`PubKind::MemberLeft`],
    /// the user's id for [`PubKind::Revoked`], else 0.
    pub seq: u64,
    /// When the gateway accepted the originating command (Unix ms), for latency.
    pub accepted_at: i64,
    /// The WebSocket frame (JSON text), or the [`Reply`] JSON.
    pub json: Bytes,
}

impl Envelope {
    /// Encodes header and JSON into one buffer.
    pub fn encode(
        kind: PubKind,
        chat_id: ChatId,
        seq: u64,
        accepted_at: i64,
        json: &[u8],
    ) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + json.len());
        b.put_u8(ENVELOPE_VERSION);
        b.put_u8(kind as u8);
        b.put_u64(chat_id.0);
        b.put_u64(seq);
        b.put_i64(accepted_at);
        b.put_slice(json);
        b.freeze()
    }

    /// Decodes without copying the JSON; `None` for an unknown version or kind.
    pub fn decode(buf: Bytes) -> Option<Envelope> {
        if buf.len() < HEADER_LEN || buf[0] != ENVELOPE_VERSION {
            return None;
        }
        let kind = PubKind::from_u8(buf[1])?;
        let u = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&buf[i..i + 8]);
            a
        };
        Some(Envelope {
            kind,
            chat_id: ChatId(u64::from_be_bytes(u(2))),
            seq: u64::from_be_bytes(u(10)),
            accepted_at: i64::from_be_bytes(u(18)),
            json: buf.slice(HEADER_LEN..),
        })
    }
}

/// A frame from a WebSocket client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// Unknown fields are ignored so that newer clients work with older gateways.
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame of a connection (unless the upgrade carried a bearer token).
    Auth {
        /// The JWT from login.
        token: String,
    },
    /// Receive a chat's events; with `since_seq`, first every message after it.
    Subscribe {
        /// Chat.
        chat_id: ChatId,
        /// Highest seq the client holds; omitted means "from now on".
        #[serde(default)]
        since_seq: Option<u64>,
        /// Highest change position (`pts`) the client has seen: edits, deletes,
        /// member and role changes after it are sent too.
        #[serde(default)]
        since_pts: Option<u64>,
    },
    /// Stop receiving a chat's events.
    Unsubscribe {
        /// Chat.
        chat_id: ChatId,
    },
    /// Post a message; answered by `ack` (or `rejected` / `error`).
    Send {
        /// Chat.
        chat_id: ChatId,
        /// Idempotency key chosen by the client.
        client_msg_id: String,
        /// Text.
        text: String,
        /// Seq of the message answered.
        #[serde(default)]
        reply_to_seq: Option<u64>,
    },
    /// Edit one's own message.
    Edit {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// New text.
        text: String,
        /// Echoed in the answer.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Delete a message.
    Delete {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Echoed in the answer.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Add (or, with `remove`, take back) a reaction to a message.
    React {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// One emoji.
        emoji: String,
        /// Take the reaction back.
        #[serde(default)]
        remove: bool,
        /// Echoed in the answer.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Pin (or, with `unpin`, unpin) a message.
    Pin {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Unpin it.
        #[serde(default)]
        unpin: bool,
        /// Echoed in the answer.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Forward a message to another chat.
    Forward {
        /// Chat of the original.
        from_chat_id: ChatId,
        /// Seq of the original.
        seq: u64,
        /// Target chat.
        to_chat_id: ChatId,
        /// Idempotency key in the target chat.
        client_msg_id: String,
    },
    /// Move the read cursor.
    Read {
        /// Chat.
        chat_id: ChatId,
        /// Highest seq read.
        seq: u64,
    },
    /// The user is typing in a chat: told to its other subscribers for
    /// [`TYPING_TTL_MS`]; send it again every few seconds while typing.
    /// Never stored; no answer unless refused.
    Typing {
        /// Chat.
        chat_id: ChatId,
        /// Echoed in the `error` if the notice is refused.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Who of a chat's members is online, as the user may see it.
    /// Answered by `presence_list`.
    GetPresence {
        /// Chat.
        chat_id: ChatId,
        /// Echoed in the answer, or in the `error` if refused.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Profiles of the user's contacts changed since `since` (the `as_of` of
    /// the previous `profiles` answer); without it, only a starting point.
    /// Answered by `profiles`.
    SyncProfiles {
        /// Unix ms from the previous `profiles` frame.
        #[serde(default)]
        since: Option<i64>,
    },
    /// Keep-alive; answered by `pong`.
    Ping,
}

impl ClientFrame {
    /// The `type` of every client frame, as sent on the wire.
    pub const TYPES: &'static [&'static str] = &[
        "auth",
        "subscribe",
        "unsubscribe",
        "send",
        "edit",
        "delete",
        "forward",
        "react",
        "pin",
        "read",
        "typing",
        "get_presence",
        "sync_profiles",
        "ping",
    ];

    /// Parses one text frame. A frame that does not parse is classified by
    /// looking at it as plain JSON (only on that slow path): an unknown `type`,
    /// an id field that is not an id, or anything else wrong with its shape.
    pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        let err = match serde_json::from_str::<ClientFrame>(text) {
            Ok(f) => return Ok(f),
            Err(e) => e,
        };
        let Ok(serde_json::Value::Object(obj)) = serde_json::from_str(text) else {
            return Err(FrameError::BadJson(err.to_string()));
        };
        match obj.get("type").and_then(serde_json::Value::as_str) {
            None => return Err(FrameError::BadJson(err.to_string())),
            Some(t) if !Self::TYPES.contains(&t) => {
                return Err(FrameError::UnknownType(t.to_string()));
            }
            Some(_) => {}
        }
        for field in ["chat_id", "from_chat_id", "to_chat_id"] {
            if let Some(v) = obj.get(field)
                && serde_json::from_value::<ChatId>(v.clone()).is_err()
            {
                return Err(FrameError::InvalidId(field));
            }
        }
        Err(FrameError::BadJson(err.to_string()))
    }
}

/// Why a client frame was refused before it meant anything.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not JSON, or JSON of the wrong shape (a field missing or mistyped).
    #[error("{0}")]
    BadJson(String),
    /// A `type` the server does not know.
    #[error("unknown frame type {0:?}; expected one of {types}", types = ClientFrame::TYPES.join(", "))]
    UnknownType(String),
    /// An id field (named) that is not a decimal 64-bit id.
    #[error("{0} is not a valid id")]
    InvalidId(&'static str),
}

impl FrameError {
    /// The machine-readable code of the refusal.
    pub fn code(&self) -> crate::error::Code {
        use crate::error::Code;
        match self {
            FrameError::BadJson(_) => Code::BadJson,
            FrameError::UnknownType(_) => Code::UnknownType,
            FrameError::InvalidId(_) => Code::InvalidId,
        }
    }
}

/// A frame to a WebSocket client other than an [`Event`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authentication succeeded.
    Ready {
        /// The authenticated user.
        user_id: UserId,
        /// Instance id of the gateway serving the connection.
        gateway: String,
    },
    /// A subscription is active; missed messages (if asked) follow, then live ones.
    Subscribed {
        /// Chat.
        chat_id: ChatId,
        /// Newest seq at subscribe time.
        last_seq: u64,
        /// Newest change position at subscribe time.
        last_pts: u64,
        /// The user's read cursor.
        read_seq: u64,
        /// The chat's pinned messages, the latest pinned first (absent when
        /// none): a resumed client takes them as they are now.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pins: Vec<u64>,
    },
    /// Every message up to `last_seq` requested by a `since_seq` subscribe was sent.
    Synced {
        /// Chat.
        chat_id: ChatId,
        /// Highest seq sent.
        last_seq: u64,
    },
    /// The subscription ended (on request, or because the user left the chat).
    Unsubscribed {
        /// Chat.
        chat_id: ChatId,
    },
    /// A command succeeded.
    Ack {
        /// Chat.
        chat_id: ChatId,
        /// For sends and forwards: the client's key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
        /// For edits and deletes: the client's `ref`.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// Seq of the message concerned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        /// The message as stored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<Message>,
        /// The send repeated an earlier one with the same key; `message` is the original.
        #[serde(default)]
        duplicate: bool,
    },
    /// The writer refused a command; nothing changed.
    Rejected {
        /// Chat.
        chat_id: ChatId,
        /// The client's key or ref.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
        /// The client's `ref`.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// Machine-readable code.
        code: crate::error::Code,
        /// Explanation.
        message: String,
    },
    /// The gateway refused a frame; nothing changed.
    Error {
        /// Machine-readable code.
        code: crate::error::Code,
        /// Explanation.
        message: String,
        /// The client's key or ref, when the frame had one.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The chat the refused frame was about, when it named one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chat_id: Option<ChatId>,
        /// With `too_many_requests`: milliseconds until the request would
        /// be allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// A member is typing in a chat (ephemeral: never stored nor replayed).
    Typing {
        /// Chat.
        chat_id: ChatId,
        /// Who types.
        user_id: UserId,
        /// Show it for this long unless another `typing` or a message from
        /// them comes first.
        expires_in_ms: u64,
    },
    /// A member came online or went offline (ephemeral: never stored nor
    /// replayed). Told in direct chats and in groups up to the presence
    /// group limit; `hidden` when the user stopped showing it here.
    Presence {
        /// Chat.
        chat_id: ChatId,
        /// Who.
        user_id: UserId,
        /// Online, offline or hidden.
        status: crate::presence::Status,
        /// With `offline`: Unix ms the user was last seen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen: Option<i64>,
    },
    /// Members of a big group online now (instead of `presence` frames;
    /// sent every few seconds while it changes).
    OnlineCount {
        /// Chat.
        chat_id: ChatId,
        /// Members online who show it to everyone.
        online: u32,
    },
    /// The user muted or unmuted a chat (to their own devices).
    Muted {
        /// Chat.
        chat_id: ChatId,
        /// Until when (Unix ms; [`crate::model::MUTED_FOREVER`] for good);
        /// absent: unmuted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        muted_until: Option<i64>,
    },
    /// The user changed who may see their presence (to their own devices).
    PresenceVisibility {
        /// The new choice.
        visibility: crate::presence::Visibility,
    },
    /// Answer to `get_presence`.
    PresenceList {
        /// Chat.
        chat_id: ChatId,
        /// Each member as the user may see them; empty for groups above the
        /// presence group limit.
        users: Vec<crate::presence::UserPresence>,
        /// Members shown online (in big groups: those who show it to
        /// everyone).
        online: u32,
        /// The client's `ref`.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// A user's profile changed (to their contacts, live: members of a chat
    /// with them, and their own devices).
    UserUpdated {
        /// The user as they are now.
        user: crate::model::User,
    },
    /// Answer to `sync_profiles`: the profiles of contacts changed since the
    /// time asked (and maybe a few seen before: replacing is harmless).
    Profiles {
        /// Changed users, oldest change first.
        users: Vec<crate::model::User>,
        /// Send this as `since` next time.
        as_of: i64,
        /// False when too much changed (or `since` is too old) to list: fetch
        /// the users you show again (`GET /users?ids=`).
        complete: bool,
    },
    /// Answer to `ping`.
    Pong,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_roundtrip() {
        let b = Envelope::encode(PubKind::Message, ChatId(7), 42, 1234, br#"{"type":"x"}"#);
        let e = Envelope::decode(b).unwrap();
        assert_eq!(e.kind, PubKind::Message);
        assert_eq!(e.chat_id, ChatId(7));
        assert_eq!(e.seq, 42);
        assert_eq!(e.accepted_at, 1234);
        assert_eq!(&e.json[..], br#"{"type":"x"}"#);
        assert!(Envelope::decode(Bytes::from_static(b"short")).is_none());
    }

    #[test]
    fn client_frames_parse_and_refuse_unknowns() {
        let f: ClientFrame = serde_json::from_str(
            r#"{"type":"send","chat_id":"5","client_msg_id":"a","text":"hi"}"#,
        )
        .unwrap();
        assert!(matches!(
            f,
            ClientFrame::Send {
                chat_id: ChatId(5),
                ..
            }
        ));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"nope"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"read","chat_id":"1"}"#).is_err());
    }

    #[test]
    fn client_frame_errors_are_classified_without_reading_messages() {
        use crate::error::Code;
        let code = |t: &str| ClientFrame::parse(t).unwrap_err().code();
        assert_eq!(code("not json"), Code::BadJson);
        assert_eq!(code("[1,2]"), Code::BadJson);
        assert_eq!(code(r#"{"chat_id":"1"}"#), Code::BadJson);
        assert_eq!(code(r#"{"type":"nope"}"#), Code::UnknownType);
        assert_eq!(code(r#"{"type":7}"#), Code::BadJson);
        assert_eq!(
            code(r#"{"type":"subscribe","chat_id":"x"}"#),
            Code::InvalidId
        );
        assert_eq!(
            code(r#"{"type":"subscribe","chat_id":-1}"#),
            Code::InvalidId
        );
        assert_eq!(
            ClientFrame::parse(
                r#"{"type":"forward","from_chat_id":"1","seq":1,"to_chat_id":"y","client_msg_id":"a"}"#
            ),
            Err(FrameError::InvalidId("to_chat_id"))
        );
        assert_eq!(code(r#"{"type":"read","chat_id":"1"}"#), Code::BadJson);
        assert_eq!(
            ClientFrame::parse(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        );
    }

    #[test]
    fn every_client_frame_type_is_listed() {
        let frames = [
            ClientFrame::Auth { token: "t".into() },
            ClientFrame::Subscribe {
                chat_id: ChatId(1),
                since_seq: None,
                since_pts: None,
            },
            ClientFrame::Unsubscribe { chat_id: ChatId(1) },
            ClientFrame::Send {
                chat_id: ChatId(1),
                client_msg_id: "a".into(),
                text: "t".into(),
                reply_to_seq: None,
            },
            ClientFrame::Edit {
                chat_id: ChatId(1),
                seq: 1,
                text: "t".into(),
                reference: None,
            },
            ClientFrame::Delete {
                chat_id: ChatId(1),
                seq: 1,
                reference: None,
            },
            ClientFrame::Forward {
                from_chat_id: ChatId(1),
                seq: 1,
                to_chat_id: ChatId(2),
                client_msg_id: "a".into(),
            },
            ClientFrame::Read {
                chat_id: ChatId(1),
                seq: 1,
            },
            ClientFrame::React {
                chat_id: ChatId(1),
                seq: 1,
                emoji: "👍".into(),
                remove: false,
                reference: None,
            },
            ClientFrame::Pin {
                chat_id: ChatId(1),
                seq: 1,
                unpin: false,
                reference: None,
            },
            ClientFrame::SyncProfiles { since: Some(1) },
            ClientFrame::GetPresence {
                chat_id: ChatId(1),
                reference: None,
            },
            ClientFrame::Typing {
                chat_id: ChatId(1),
                reference: None,
            },
            ClientFrame::Ping,
        ];
        let mut types: Vec<String> = frames
            .iter()
            .map(|f| {
                serde_json::to_value(f).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        types.sort();
        let mut listed: Vec<&str> = ClientFrame::TYPES.to_vec();
        listed.sort();
        assert_eq!(types, listed);
    }

    #[test]
    fn command_record_roundtrip() {
        let r = CommandRecord {
            v: RECORD_VERSION,
            actor: UserId(1),
            accepted_at: 5,
            reply_to: Some(ReplyTo {
                gateway: "g".into(),
                request: 9,
            }),
            cmd: Command::Read {
                chat_id: ChatId(3),
                seq: 4,
            },
        };
        let j = serde_json::to_vec(&r).unwrap();
        assert_eq!(serde_json::from_slice::<CommandRecord>(&j).unwrap(), r);
    }
}

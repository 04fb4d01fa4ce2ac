//! Domain types: users, chats, members and roles, messages.

use serde::{Deserialize, Serialize};

use crate::id::{ChatId, MessageId, UserId};

/// A member's role in one chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including changing roles. The creator of a group is its admin.
    Admin,
    /// Moderator: may add members and delete any message.
    Moder,
    /// Ordinary member: reads and posts.
    Member,
    /// May read, may not post.
    Silent,
}

impl Role {
    /// The stable name stored in databases and caches.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Moder => "moder",
            Role::Member => "member",
            Role::Silent => "silent",
        }
    }

    /// Parses a stored role name.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "moder" => Role::Moder,
            "member" => Role::Member,
            "silent" => Role::Silent,
            _ => return None,
        })
    }

    /// Admins and moderators.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Moder)
    }
}

/// Direct (exactly two people) or group chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// A one-to-one conversation; unique per pair of users, no roles beyond member.
    Direct,
    /// A group with a title and roles.
    Group,
}

impl ChatKind {
    /// The stable name stored in databases.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Direct => "direct",
            ChatKind::Group => "group",
        }
    }

    /// Parses a stored kind name.
    pub fn parse(s: &str) -> Option<ChatKind> {
        match s {
            "direct" => Some(ChatKind::Direct),
            "group" => Some(ChatKind::Group),
            _ => None,
        }
    }
}

/// A user as others see them: the account and its profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Unique login name (never changes).
    pub name: String,
    /// The name shown to others (1–64 characters, changeable); the login
    /// name until the user sets one.
    pub display_name: String,
    /// A few lines about the user; empty when none.
    #[serde(default)]
    pub about: String,
    /// The avatar's tag (a hash of the image) when the user has one:
    /// `GET /users/{id}/avatar?v={tag}` serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last profile change (`created_at` until one).
    pub updated_at: i64,
}

impl User {
    /// A new account's public part: no profile set yet.
    pub fn new(id: UserId, name: String, created_at: i64) -> User {
        User {
            id,
            display_name: name.clone(),
            name,
            about: String::new(),
            avatar: None,
            created_at,
            updated_at: created_at,
        }
    }
}

/// What a user sets of their profile (`PATCH /me`); `None` keeps a field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New about text.
    pub about: Option<String>,
}

/// A user's avatar as stored: the re-encoded image and its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Avatar {
    /// Hash of the image (hex), also its ETag and the `v` of its URL.
    pub tag: String,
    /// Media type of `bytes` (`image/webp`).
    pub content_type: String,
    /// The image.
    pub bytes: Vec<u8>,
}

/// A user with the secret needed to log in; never leaves the server.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Public part.
    pub user: User,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
}

/// A chat's durable description and counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// The chat's id.
    pub id: ChatId,
    /// Direct or group.
    pub kind: ChatKind,
    /// Group title; for direct chats empty (clients show the other member's name).
    pub title: String,
    /// Who created it.
    pub created_by: UserId,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Sequence number of the newest message (0 when empty).
    pub last_seq: u64,
    /// Position of the newest change in the chat's change stream.
    pub last_pts: u64,
    /// Number of members.
    pub member_count: u32,
    /// Preview of the newest message, if any.
    pub last_message: Option<LastMessage>,
    /// Seqs of the pinned messages, the latest pinned first (at most
    /// [`crate::rules::MAX_PINS`]); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pins: Vec<u64>,
}

/// The newest message of a chat, as shown in the chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    /// Its sequence number.
    pub seq: u64,
    /// Its author.
    pub sender_id: UserId,
    /// The first characters of its text (empty when deleted).
    pub preview: String,
    /// Unix milliseconds it was sent.
    pub at: i64,
    /// Whether it was deleted since.
    pub deleted: bool,
}

/// Maximum characters of text kept in a [`LastMessage::preview`].
pub const PREVIEW_CHARS: usize = 120;

impl LastMessage {
    /// The preview of a message.
    pub fn of(m: &Message) -> LastMessage {
        LastMessage {
            seq: m.seq,
            sender_id: m.sender_id,
            preview: m.text.chars().take(PREVIEW_CHARS).collect(),
            at: m.created_at,
            deleted: m.deleted,
        }
    }
}

/// A member of a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
}

/// What a group's new members see of the messages from before they joined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryVisibility {
    /// All of it.
    #[default]
    All,
    /// Only what was sent after they joined (members named at creation see
    /// everything).
    FromJoin,
}

/// A group's settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSettings {
    /// What new members see of earlier messages.
    pub history: HistoryVisibility,
}

/// A user barred from a group: removed, and not added again until an admin
/// lifts the ban.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The banned user.
    pub user_id: UserId,
    /// Who banned them.
    pub banned_by: UserId,
    /// When, Unix ms.
    pub banned_at: i64,
}

/// A login session of a user (lives on the user's shard): what its refresh
/// token is checked against. The token itself is never stored, only a hash
/// of its secret; each refresh replaces the secret and counts `generation`
/// up, so a token presented again after it was rotated is recognised (and
/// the session revoked: one of its two holders is not its owner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The user.
    pub user_id: UserId,
    /// The session's id (random, unique per user).
    pub id: u64,
    /// How many times the refresh token was rotated.
    pub generation: u64,
    /// Hash of the current refresh token's secret.
    pub secret_hash: String,
    /// What the client called itself at login (its User-Agent, shortened).
    pub device: String,
    /// Unix ms of the login.
    pub created_at: i64,
    /// Unix ms of the last refresh (or the login).
    pub used_at: i64,
    /// Unix ms after which the refresh token is refused.
    pub expires_at: i64,
    /// Unix ms of the logout or revocation; `None` while it lives.
    pub revoked_at: Option<i64>,
}

impl SessionRecord {
    /// Whether the session may still be used at `now` (Unix ms).
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Where a forwarded message came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedFrom {
    /// The chat of the original message.
    pub chat_id: ChatId,
    /// Its sequence number there.
    pub seq: u64,
    /// Its author.
    pub sender_id: UserId,
}

/// A message, as stored and as delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Globally unique id.
    pub id: MessageId,
    /// The chat.
    pub chat_id: ChatId,
    /// Dense per-chat sequence number, 1, 2, 3, … assigned by the writer; never changes.
    pub seq: u64,
    /// Author.
    pub sender_id: UserId,
    /// The sender's idempotency key: `(chat_id, sender_id, client_msg_id)` is unique.
    pub client_msg_id: String,
    /// Text; empty once deleted.
    pub text: String,
    /// The `seq` of the message this one answers, in the same chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_seq: Option<u64>,
    /// Set when the message is a forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<ForwardedFrom>,
    /// Unix milliseconds the writer accepted it.
    pub created_at: i64,
    /// Unix milliseconds of the last edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Deleted messages keep their seq and lose their text.
    #[serde(default)]
    pub deleted: bool,
    /// Position of this message's latest change in the chat's change stream
    /// (a reaction added or removed is a change too).
    pub pts: u64,
    /// Reactions, in the order of their first use, as the reader sees them
    /// (`mine`); absent when there are none, and in live `message` frames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Members the text mentions (`@name`), resolved when it was written;
    /// absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
}

/// One emoji's reactions on a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// How many members chose it.
    pub count: u32,
    /// The reader is one of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mine: bool,
}

/// One entry of a user's chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatListEntry {
    /// The chat.
    pub chat: Chat,
    /// The user's role in it.
    pub role: Role,
    /// Highest seq the user has read.
    pub read_seq: u64,
    /// `chat.last_seq - read_seq`.
    pub unread: u64,
    /// Unread messages that mention the user.
    pub mentions: u32,
    /// Until when (Unix ms) the user muted the chat: unread still counts,
    /// no notification is sent; [`MUTED_FOREVER`] for good; absent when
    /// not muted (or the time has passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<i64>,
}

/// The `muted_until` of a chat muted for good: 9999-12-31T23:59:59.999Z in
/// Unix ms (a JavaScript-safe integer a `Date` still holds).
pub const MUTED_FOREVER: i64 = 253_402_300_799_999;

/// Whether a mute until `until` still holds at `now` (Unix ms).
pub fn is_muted(until: Option<i64>, now: i64) -> bool {
    until.is_some_and(|u| u > now)
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A change of a chat's membership as its change stream keeps it: what a resume
/// replays besides messages. This is the stored record (its JSON is the
/// `chat_changes` row), owned by storage and independent of the client
/// protocol; the gateway renders it as a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MemberChange {
    /// A user joined or was added.
    Added {
        /// The member.
        user_id: UserId,
        /// Their role.
        role: Role,
    },
    /// A user left or was removed.
    Removed {
        /// The former member.
        user_id: UserId,
    },
    /// A member's role changed.
    RoleChanged {
        /// The member.
        user_id: UserId,
        /// The new role.
        role: Role,
    },
}

impl MemberChange {
    /// The member the change is about.
    pub fn user_id(&self) -> UserId {
        match self {
            MemberChange::Added { user_id, .. }
            | MemberChange::Removed { user_id }
            | MemberChange::RoleChanged { user_id, .. } => *user_id,
        }
    }

    /// The stored record.
    pub fn to_record(&self) -> String {
        // A fieldless-map enum of ids and roles always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored record. Rows written before the record existed hold the
    /// client's `member_added` / `member_removed` / `role_changed` frame; they
    /// are read too.
    pub fn from_record(json: &str) -> Option<MemberChange> {
        if let Ok(c) = serde_json::from_str(json) {
            return Some(c);
        }
        #[derive(Deserialize)]
        struct Legacy {
            #[serde(rename = "type")]
            kind: String,
            user_id: UserId,
            role: Option<Role>,
        }
        let l: Legacy = serde_json::from_str(json).ok()?;
        match (l.kind.as_str(), l.role) {
            ("member_added", Some(role)) => Some(MemberChange::Added {
                user_id: l.user_id,
                role,
            }),
            ("member_removed", _) => Some(MemberChange::Removed { user_id: l.user_id }),
            ("role_changed", Some(role)) => Some(MemberChange::RoleChanged {
                user_id: l.user_id,
                role,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_changes_are_stored_as_their_own_record_and_old_rows_still_read() {
        let added = MemberChange::Added {
            user_id: UserId(5),
            role: Role::Moder,
        };
        let record = added.to_record();
        assert_eq!(record, r#"{"kind":"added","user_id":"5","role":"moder"}"#);
        assert_eq!(MemberChange::from_record(&record), Some(added));
        // Rows written before the record existed hold the client's frame.
        let legacy =
            r#"{"type":"member_added","chat":{"id":"1"},"user_id":"5","role":"moder","pts":3}"#;
        assert_eq!(MemberChange::from_record(legacy), Some(added));
        let legacy = r#"{"type":"member_removed","chat_id":"1","user_id":"5","pts":4}"#;
        assert_eq!(
            MemberChange::from_record(legacy),
            Some(MemberChange::Removed { user_id: UserId(5) })
        );
        let legacy =
            r#"{"type":"role_changed","chat_id":"1","user_id":"5","role":"silent","pts":5}"#;
        assert_eq!(
            MemberChange::from_record(legacy),
            Some(MemberChange::RoleChanged {
                user_id: UserId(5),
                role: Role::Silent
            })
        );
        assert_eq!(MemberChange::from_record("{}"), None);
        assert_eq!(MemberChange::from_record(r#"{"type":"edited"}"#), None);
    }
}

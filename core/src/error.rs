//! Machine-readable error codes and the errors of the three interfaces.

use serde::{Deserialize, Serialize};

/// Every refusal the platform can give, as a stable snake_case code. The gateway
/// maps each to an HTTP status; WebSocket error frames carry the code as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The request body or frame is not valid JSON of the expected shape.
    BadJson,
    /// The frame's `type` is not one the server knows.
    UnknownType,
    /// A path or body id is not a decimal 64-bit number.
    InvalidId,
    /// A page `limit` or a position is out of range.
    InvalidLimit,
    /// A frame or body exceeds the configured size (or an image its
    /// largest width and height).
    TooLarge,
    /// Message text is empty or blank.
    EmptyText,
    /// Message text exceeds the configured limit.
    TextTooLong,
    /// `client_msg_id` is missing, too long or not printable ASCII.
    InvalidClientMsgId,
    /// `client_chat_id` (a group creation's idempotency key) is empty, too
    /// long or not printable ASCII.
    InvalidClientChatId,
    /// Group title empty or too long.
    InvalidTitle,
    /// User name has the wrong length or characters.
    InvalidName,
    /// Password has the wrong length.
    InvalidPassword,
    /// Display name empty, too long or with control characters.
    InvalidDisplayName,
    /// About text too long or with control characters.
    InvalidAbout,
    /// An upload is not a PNG, JPEG or WebP image, is damaged, or carries
    /// data after the image (a polyglot file).
    InvalidImage,
    /// A search holds no word, or too many, or is too long.
    InvalidQuery,
    /// A reaction is not one emoji (1 to 16 characters, at most 64 bytes,
    /// no letters, digits, spaces or control characters).
    InvalidEmoji,
    /// A mute's end is not a future time up to `MUTED_FOREVER`.
    InvalidMute,
    /// The user name is taken.
    NameTaken,
    /// Wrong name or password.
    InvalidCredentials,
    /// No token, or the connection did not authenticate first.
    AuthRequired,
    /// Token malformed, forged or signed with another key.
    InvalidToken,
    /// Token expired.
    TokenExpired,
    /// The session was logged out (or revoked after its refresh token was
    /// used twice): log in again.
    SessionRevoked,
    /// The user is not a member of the chat.
    NotMember,
    /// The member's role is silent: may read, may not post.
    Silenced,
    /// The role does not allow the operation.
    Forbidden,
    /// The other user blocked you: no direct messages to them, no adding
    /// them to groups.
    Blocked,
    /// A quota is used up: groups created today, members of a group, chats
    /// of a user.
    QuotaExceeded,
    /// The account was disabled by an administrator (`chat user disable`);
    /// told only to whoever gave its right password.
    AccountDisabled,
    /// The user is banned from the group: an admin must lift the ban before
    /// they can be added again.
    Banned,
    /// The chat does not exist.
    ChatNotFound,
    /// The message does not exist.
    MessageNotFound,
    /// The login session does not exist (or already ended).
    SessionNotFound,
    /// The user does not exist.
    UserNotFound,
    /// The user has no avatar (or, asked without a token, `v` is not its
    /// tag).
    AvatarNotFound,
    /// Something else that was named does not exist.
    NotFound,
    /// The path exists, not with this method.
    MethodNotAllowed,
    /// The message was deleted and cannot be edited or forwarded.
    MessageDeleted,
    /// Members and roles of a direct chat cannot change.
    DirectChat,
    /// A direct chat needs exactly one other, existing user.
    InvalidMembers,
    /// The user is already a member.
    AlreadyMember,
    /// The group's last admin may not leave while other members remain:
    /// make another member admin first.
    LastAdmin,
    /// The client could not keep up and its queue filled.
    SlowConsumer,
    /// A subscription's `since_seq` is further behind than a subscription
    /// replays: page history over HTTP, then subscribe from there.
    ReplayTooLong,
    /// The command was accepted but its outcome did not arrive in time; resend with
    /// the same `client_msg_id` to learn it.
    Timeout,
    /// The server is shutting down or a dependency is down; retry later.
    Unavailable,
    /// Over a rate limit, or too many requests in flight on this
    /// connection; `retry_after_ms` says when to retry.
    TooManyRequests,
    /// A bug or an unexpected failure; details are in the server log.
    Internal,
}

impl Code {
    /// The snake_case string of the code.
    pub fn as_str(self) -> &'static str {
        // The table below is checked against the serde names by a unit test.
        CODE_NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
            .unwrap_or("internal")
    }

    /// Every code (for labels known in advance, such as the metrics').
    pub fn all() -> impl Iterator<Item = Code> {
        CODE_NAMES.iter().map(|(c, _)| *c)
    }
}

const CODE_NAMES: &[(Code, &str)] = &[
    (Code::BadJson, "bad_json"),
    (Code::UnknownType, "unknown_type"),
    (Code::InvalidId, "invalid_id"),
    (Code::InvalidLimit, "invalid_limit"),
    (Code::TooLarge, "too_large"),
    (Code::EmptyText, "empty_text"),
    (Code::TextTooLong, "text_too_long"),
    (Code::InvalidClientMsgId, "invalid_client_msg_id"),
    (Code::InvalidClientChatId, "invalid_client_chat_id"),
    (Code::InvalidTitle, "invalid_title"),
    (Code::InvalidName, "invalid_name"),
    (Code::InvalidPassword, "invalid_password"),
    (Code::InvalidDisplayName, "invalid_display_name"),
    (Code::InvalidAbout, "invalid_about"),
    (Code::InvalidImage, "invalid_image"),
    (Code::InvalidQuery, "invalid_query"),
    (Code::InvalidEmoji, "invalid_emoji"),
    (Code::InvalidMute, "invalid_mute"),
    (Code::NameTaken, "name_taken"),
    (Code::InvalidCredentials, "invalid_credentials"),
    (Code::AuthRequired, "auth_required"),
    (Code::InvalidToken, "invalid_token"),
    (Code::TokenExpired, "token_expired"),
    (Code::SessionRevoked, "session_revoked"),
    (Code::NotMember, "not_member"),
    (Code::Silenced, "silenced"),
    (Code::Forbidden, "forbidden"),
    (Code::Banned, "banned"),
    (Code::AccountDisabled, "account_disabled"),
    (Code::QuotaExceeded, "quota_exceeded"),
    (Code::Blocked, "blocked"),
    (Code::ChatNotFound, "chat_not_found"),
    (Code::MessageNotFound, "message_not_found"),
    (Code::UserNotFound, "user_not_found"),
    (Code::AvatarNotFound, "avatar_not_found"),
    (Code::SessionNotFound, "session_not_found"),
    (Code::NotFound, "not_found"),
    (Code::MethodNotAllowed, "method_not_allowed"),
    (Code::MessageDeleted, "message_deleted"),
    (Code::DirectChat, "direct_chat"),
    (Code::InvalidMembers, "invalid_members"),
    (Code::AlreadyMember, "already_member"),
    (Code::LastAdmin, "last_admin"),
    (Code::SlowConsumer, "slow_consumer"),
    (Code::ReplayTooLong, "replay_too_long"),
    (Code::Timeout, "timeout"),
    (Code::Unavailable, "unavailable"),
    (Code::TooManyRequests, "too_many_requests"),
    (Code::Internal, "internal"),
];

/// A refused request: a code and a human-readable message safe to show the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Rejection {
    /// Machine-readable code.
    pub code: Code,
    /// Human-readable explanation.
    pub message: String,
}

impl Rejection {
    /// A rejection with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// Failure of a store (database) call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (name taken, `(chat_id, seq)` already used…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is unreachable or failed; the call may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded: a bug or a corrupted row.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store refused the data itself (a value out of range or too long,
    /// a constraint other than uniqueness): the same statement fails the same
    /// way every time, unlike [`StoreError::Unavailable`].
    #[error("refused by the store: {0}")]
    Rejected(String),
    /// A writer batch was refused because another writer has taken one of
    /// its log partitions since (see [`crate::ports::Fence`]); nothing of it
    /// was applied on that shard.
    #[error("fenced: {0}")]
    Fenced(String),
}

/// Failure of the partitioned log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log is closed (shutting down).
    #[error("log closed")]
    Closed,
    /// The broker is unreachable or refused the record; the call may be retried.
    #[error("log unavailable: {0}")]
    Unavailable(String),
}

/// Failure of the cache or pub/sub.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache is unreachable; callers fall back to the store.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// A cached value could not be decoded; callers treat it as a miss.
    #[error("corrupt cache entry: {0}")]
    Corrupt(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_match_serde() {
        for (code, name) in CODE_NAMES {
            assert_eq!(serde_json::to_value(code).unwrap(), *name);
            assert_eq!(code.as_str(), *name);
        }
    }
}

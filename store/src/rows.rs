//! Decoding rows into domain types, once for every database: [`Columns`] reads
//! the two kinds of column the schema has (every integer as `i64`, text as
//! `String`) from any sqlx row that can.

use chat_core::model::{
    Chat, ChatKind, ForwardedFrom, LastMessage, Member, MemberChange, Message, Reaction, Role, User,
};
use chat_core::model::{SessionRecord, UserRecord};
use chat_core::ports::Membership;
use chat_core::{ChatId, MessageId, StoreError, UserId};
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use crate::from_sql;

/// A corrupt column.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The columns of a row, by name.
pub trait Columns {
    /// An integer column.
    fn int(&self, c: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, c: &str) -> Result<Option<i64>, StoreError>;
    /// A text column.
    fn text(&self, c: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, c: &str) -> Result<Option<String>, StoreError>;
    /// A nullable binary column.
    fn opt_blob(&self, c: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

impl<R: Row> Columns for R
where
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    for<'s> &'s str: ColumnIndex<R>,
    R::Database: Database,
{
    fn int(&self, c: &str) -> Result<i64, StoreError> {
        self.try_get(c).map_err(|_| corrupt(c))
    }
    fn opt_int(&self, c: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(c).map_err(|_| corrupt(c))
    }
    fn text(&self, c: &str) -> Result<String, StoreError> {
        self.try_get(c).map_err(|_| corrupt(c))
    }
    fn opt_text(&self, c: &str) -> Result<Option<String>, StoreError> {
        self.try_get(c).map_err(|_| corrupt(c))
    }
    fn opt_blob(&self, c: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(c).map_err(|_| corrupt(c))
    }
}

/// A login session (the columns of [`crate::sql::SESSION_COLUMNS`]).
pub(crate) fn session(r: &impl Columns) -> Result<SessionRecord, StoreError> {
    let revoked_at = r.int("revoked_at")?;
    Ok(SessionRecord {
        user_id: UserId(from_sql(r.int("user_id")?)),
        id: from_sql(r.int("id")?),
        generation: u64::try_from(r.int("generation")?).map_err(|_| corrupt("generation"))?,
        secret_hash: r.text("secret_hash")?,
        device: r.text("device")?,
        created_at: r.int("created_at")?,
        used_at: r.int("used_at")?,
        expires_at: r.int("expires_at")?,
        revoked_at: (revoked_at != 0).then_some(revoked_at),
    })
}

fn role(r: &impl Columns) -> Result<Role, StoreError> {
    Role::parse(&r.text("role")?).ok_or_else(|| corrupt("role"))
}

/// A message's reactions to one emoji (the columns of `REACTIONS`).
pub(crate) fn reaction(r: &impl Columns) -> Result<(u64, Reaction), StoreError> {
    let seq = u64::try_from(r.int("seq")?).map_err(|_| corrupt("seq"))?;
    Ok((
        seq,
        Reaction {
            emoji: r.text("emoji")?,
            count: u32::try_from(r.int("n")?).map_err(|_| corrupt("n"))?,
            mine: r.int("mine")? != 0,
        },
    ))
}

/// A message (the columns of [`crate::sql::MESSAGE_COLUMNS`]).
pub(crate) fn message(r: &impl Columns) -> Result<Message, StoreError> {
    let forwarded_from = match (
        r.opt_int("fwd_chat_id")?,
        r.opt_int("fwd_seq")?,
        r.opt_int("fwd_sender_id")?,
    ) {
        (Some(c), Some(s), Some(u)) => Some(ForwardedFrom {
            chat_id: ChatId(from_sql(c)),
            seq: s as u64,
            sender_id: UserId(from_sql(u)),
        }),
        _ => None,
    };
    Ok(Message {
        chat_id: ChatId(from_sql(r.int("chat_id")?)),
        seq: r.int("seq")? as u64,
        id: MessageId(from_sql(r.int("id")?)),
        sender_id: UserId(from_sql(r.int("sender_id")?)),
        client_msg_id: r.text("client_msg_id")?,
        text: r.text("text")?,
        reply_to_seq: r.opt_int("reply_to_seq")?.map(|v| v as u64),
        forwarded_from,
        created_at: r.int("created_at")?,
        edited_at: r.opt_int("edited_at")?,
        deleted: r.int("deleted")? != 0,
        pts: r.int("pts")? as u64,
        reactions: Vec::new(),
        mentions: match r.opt_text("mentions")? {
            Some(j) => serde_json::from_str(&j).map_err(|_| corrupt("mentions"))?,
            None => Vec::new(),
        },
    })
}

/// A chat (the columns of [`crate::sql::CHAT_COLUMNS`]).
pub(crate) fn chat(r: &impl Columns) -> Result<Chat, StoreError> {
    let last_message = match r.opt_text("last_message")? {
        Some(j) => {
            Some(serde_json::from_str::<LastMessage>(&j).map_err(|_| corrupt("last_message"))?)
        }
        None => None,
    };
    Ok(Chat {
        id: ChatId(from_sql(r.int("id")?)),
        kind: ChatKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("kind"))?,
        title: r.text("title")?,
        created_by: UserId(from_sql(r.int("created_by")?)),
        created_at: r.int("created_at")?,
        last_seq: r.int("last_seq")? as u64,
        last_pts: r.int("last_pts")? as u64,
        member_count: r.int("member_count")? as u32,
        last_message,
        pins: match r.opt_text("pins")? {
            Some(j) => serde_json::from_str(&j).map_err(|_| corrupt("pins"))?,
            None => Vec::new(),
        },
    })
}

/// A message's mentions as stored: a JSON array of user ids, NULL when none.
pub(crate) fn mentions_json(users: &[UserId]) -> Option<String> {
    (!users.is_empty()).then(|| serde_json::to_string(users).unwrap_or_default())
}

/// A chat's pins as stored: a JSON array, NULL when none.
pub(crate) fn pins_json(pins: &[u64]) -> Option<String> {
    (!pins.is_empty()).then(|| serde_json::to_string(pins).unwrap_or_default())
}

/// Selects accounts (`u`) with their profiles (`p`) if they have one, in
/// the columns [`user`] and [`user_record`] read; a `WHERE` follows.
macro_rules! select_users {
    () => {
        "SELECT u.id, u.name, u.password_hash, u.created_at, p.display_name, p.about, \
         p.avatar_tag, p.updated_at FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id"
    };
}
pub(crate) use select_users;

/// A user as others see them ([`USER_COLUMNS`]): what is not set of the
/// profile reads as its default.
pub(crate) fn user(r: &impl Columns) -> Result<User, StoreError> {
    let name = r.text("name")?;
    let created_at = r.int("created_at")?;
    Ok(User {
        id: UserId(from_sql(r.int("id")?)),
        display_name: r.opt_text("display_name")?.unwrap_or_else(|| name.clone()),
        name,
        about: r.opt_text("about")?.unwrap_or_default(),
        avatar: r.opt_text("avatar_tag")?,
        created_at,
        // A row made only for a setting has 0: the profile is unchanged.
        updated_at: r.opt_int("updated_at")?.unwrap_or(0).max(created_at),
    })
}

/// An account with its profile ([`USER_COLUMNS`]).
pub(crate) fn user_record(r: &impl Columns) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user: user(r)?,
        password_hash: r.text("password_hash")?,
    })
}

/// A chat's member (`user_id, role`).
pub(crate) fn member(r: &impl Columns) -> Result<Member, StoreError> {
    Ok(Member {
        user_id: UserId(from_sql(r.int("user_id")?)),
        role: role(r)?,
    })
}

/// A ban (`user_id, banned_by, banned_at`).
pub(crate) fn ban(r: &impl Columns) -> Result<chat_core::model::Ban, StoreError> {
    Ok(chat_core::model::Ban {
        user_id: UserId(from_sql(r.int("user_id")?)),
        banned_by: UserId(from_sql(r.int("banned_by")?)),
        banned_at: r.int("banned_at")?,
    })
}

/// A user's membership (`chat_id, role, read_seq, muted_until`).
pub(crate) fn membership(r: &impl Columns) -> Result<Membership, StoreError> {
    Ok(Membership {
        chat_id: ChatId(from_sql(r.int("chat_id")?)),
        role: role(r)?,
        read_seq: r.int("read_seq")? as u64,
        muted_until: r.opt_int("muted_until")?,
        mentions: Vec::new(),
    })
}

/// An unread mention of a user (`chat_id, seq`).
pub(crate) fn mention(r: &impl Columns) -> Result<(ChatId, u64), StoreError> {
    Ok((
        ChatId(from_sql(r.int("chat_id")?)),
        u64::try_from(r.int("seq")?).map_err(|_| corrupt("seq"))?,
    ))
}

/// A recorded membership change (`pts, event`).
pub(crate) fn change(r: &impl Columns) -> Result<(u64, MemberChange), StoreError> {
    let record = r.text("event")?;
    let change = MemberChange::from_record(&record)
        .ok_or_else(|| StoreError::Corrupt(format!("change record {record:?}")))?;
    Ok((r.int("pts")? as u64, change))
}

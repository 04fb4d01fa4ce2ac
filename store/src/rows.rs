//! Decoding rows into domain types, shared by the SQL stores: the decoders are
//! generated per database row type by [`row_decoders!`].

use chat_core::StoreError;
use chat_core::model::Role;

/// A corrupt column.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn role_of(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| corrupt("role"))
}

/// Generates `message_from_row`, `chat_from_row` and `user_record_from_row` for
/// one row type (every integer column decodes as `i64`, text as `String`).
macro_rules! row_decoders {
    ($row:ty) => {
        pub(crate) fn message_from_row(
            r: &$row,
        ) -> Result<chat_core::model::Message, chat_core::StoreError> {
            use sqlx::Row as _;
            let g = |c: &str| r.try_get::<i64, _>(c).map_err(|_| $crate::rows::corrupt(c));
            let go = |c: &str| {
                r.try_get::<Option<i64>, _>(c)
                    .map_err(|_| $crate::rows::corrupt(c))
            };
            let forwarded_from = match (go("fwd_chat_id")?, go("fwd_seq")?, go("fwd_sender_id")?) {
                (Some(c), Some(s), Some(u)) => Some(chat_core::model::ForwardedFrom {
                    chat_id: chat_core::ChatId(from_sql(c)),
                    seq: s as u64,
                    sender_id: chat_core::UserId(from_sql(u)),
                }),
                _ => None,
            };
            Ok(chat_core::model::Message {
                chat_id: chat_core::ChatId(from_sql(g("chat_id")?)),
                seq: g("seq")? as u64,
                id: chat_core::MessageId(from_sql(g("id")?)),
                sender_id: chat_core::UserId(from_sql(g("sender_id")?)),
                client_msg_id: r
                    .try_get("client_msg_id")
                    .map_err(|_| $crate::rows::corrupt("client_msg_id"))?,
                text: r
                    .try_get("text")
                    .map_err(|_| $crate::rows::corrupt("text"))?,
                reply_to_seq: go("reply_to_seq")?.map(|v| v as u64),
                forwarded_from,
                created_at: g("created_at")?,
                edited_at: go("edited_at")?,
                deleted: g("deleted")? != 0,
                pts: g("pts")? as u64,
            })
        }

        pub(crate) fn chat_from_row(
            r: &$row,
        ) -> Result<chat_core::model::Chat, chat_core::StoreError> {
            use sqlx::Row as _;
            let g = |c: &str| r.try_get::<i64, _>(c).map_err(|_| $crate::rows::corrupt(c));
            let kind: String = r
                .try_get("kind")
                .map_err(|_| $crate::rows::corrupt("kind"))?;
            let last: Option<String> = r
                .try_get("last_message")
                .map_err(|_| $crate::rows::corrupt("last_message"))?;
            let last_message = match last {
                Some(j) => Some(
                    serde_json::from_str::<chat_core::model::LastMessage>(&j)
                        .map_err(|_| $crate::rows::corrupt("last_message"))?,
                ),
                None => None,
            };
            Ok(chat_core::model::Chat {
                id: chat_core::ChatId(from_sql(g("id")?)),
                kind: chat_core::model::ChatKind::parse(&kind)
                    .ok_or_else(|| $crate::rows::corrupt("kind"))?,
                title: r
                    .try_get("title")
                    .map_err(|_| $crate::rows::corrupt("title"))?,
                created_by: chat_core::UserId(from_sql(g("created_by")?)),
                created_at: g("created_at")?,
                last_seq: g("last_seq")? as u64,
                last_pts: g("last_pts")? as u64,
                member_count: g("member_count")? as u32,
                last_message,
            })
        }

        pub(crate) fn user_record_from_row(
            r: &$row,
        ) -> Result<chat_core::model::UserRecord, chat_core::StoreError> {
            use sqlx::Row as _;
            Ok(chat_core::model::UserRecord {
                user: chat_core::model::User {
                    id: chat_core::UserId(from_sql(
                        r.try_get("id").map_err(|_| $crate::rows::corrupt("id"))?,
                    )),
                    name: r
                        .try_get("name")
                        .map_err(|_| $crate::rows::corrupt("name"))?,
                    created_at: r
                        .try_get("created_at")
                        .map_err(|_| $crate::rows::corrupt("created_at"))?,
                },
                password_hash: r
                    .try_get("password_hash")
                    .map_err(|_| $crate::rows::corrupt("password_hash"))?,
            })
        }
    };
}

pub(crate) use row_decoders;

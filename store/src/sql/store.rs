//! [`Store`] on one database: reads, accounts, and batches (`exec.rs`).

use std::time::Instant;

use async_trait::async_trait;
use chat_core::model::{
    Avatar, Ban, Chat, ChatSettings, HistoryVisibility, Member, MemberChange, Message, Reaction,
    SessionRecord, User, UserRecord,
};
use chat_core::ports::{
    Change, ClientKey, Fence, HistoryPage, Membership, Mutation, SearchHits, Store,
};
use chat_core::presence::Visibility;
use chat_core::{ChatId, StoreError, UserId, name_key};
use sqlx::{Executor, IntoArguments, QueryBuilder};

use super::{Bind, CHUNK, SqlStore, message_columns, session_columns, unavailable};
use crate::dialect::Dialect;
use crate::metrics;
use crate::rows::{self, Columns};
use crate::to_sql;

/// `SELECT`s a chat's messages: `WHERE chat_id = ?` and `$rest`.
macro_rules! select_messages {
    ($rest:literal) => {
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE chat_id = ?",
            $rest
        )
    };
}

/// History pages: the newest, before a seq (both newest first), after a seq.
const LATEST: &str = select_messages!(" ORDER BY seq DESC LIMIT ?");
const BEFORE: &str = select_messages!(" AND seq < ? ORDER BY seq DESC LIMIT ?");
const AFTER: &str = select_messages!(" AND seq > ? ORDER BY seq ASC LIMIT ?");
const ONE: &str = select_messages!(" AND seq = ?");
/// The change stream's messages.
const CHANGED: &str = select_messages!(" AND pts > ? ORDER BY pts LIMIT ?");

/// Reactions to a range of messages: per message and emoji, how many, the
/// viewer's or not, in the order of first use.
const REACTIONS: &str = "SELECT seq, emoji, COUNT(*) AS n, \
     MAX(CASE WHEN user_id = ? THEN 1 ELSE 0 END) AS mine \
     FROM reactions WHERE chat_id = ? AND seq BETWEEN ? AND ? \
     GROUP BY seq, emoji ORDER BY seq, MIN(pts)";

/// The change stream's other events.
const EVENTS: &str =
    "SELECT pts, event FROM chat_changes WHERE chat_id = ? AND pts > ? ORDER BY pts LIMIT ?";

/// The latest recorded change about one member.
const LAST_CHANGE_ABOUT: &str = "SELECT pts, event FROM chat_changes \
     WHERE chat_id = ? AND user_id = ? ORDER BY pts DESC LIMIT 1";

/// Clamps a position to SQL's signed range.
fn pos(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Bind<D>,
{
    /// The rows `sql` selects with `params`.
    async fn fetch(
        &self,
        op: &'static str,
        sql: &'static str,
        params: &[i64],
    ) -> Result<Vec<D::Row>, StoreError> {
        let mut q = sqlx::query(sql);
        for p in params {
            q = q.bind(*p);
        }
        q.fetch_all(&self.pool).await.map_err(unavailable(op))
    }

    /// The rows `head` (ending in `IN (`) selects for `ids`, a chunk at a time.
    async fn fetch_in(
        &self,
        op: &'static str,
        head: &'static str,
        ids: impl Iterator<Item = i64>,
    ) -> Result<Vec<D::Row>, StoreError> {
        let ids: Vec<i64> = ids.collect();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut q = QueryBuilder::<D>::new(head);
            let mut sep = q.separated(", ");
            for id in super::padded(chunk) {
                sep.push_bind(*id);
            }
            q.push(")");
            out.extend(
                q.build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable(op))?,
            );
        }
        Ok(out)
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    D::Row: Columns,
    i64: Bind<D>,
    Option<i64>: Bind<D>,
    String: Bind<D>,
    Option<String>: Bind<D>,
    Option<Vec<u8>>: Bind<D>,
    &'static str: Bind<D>,
{
    async fn create_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        if !D::NAMES_IN_USERS {
            return unchecked(self.create_user_split(self, rec, None).await);
        }
        sqlx::query(
            "INSERT INTO users (id, name, name_key, password_hash, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(to_sql(rec.user.id.0))
        .bind(rec.user.name.clone())
        .bind(name_key(&rec.user.name))
        .bind(rec.password_hash.clone())
        .bind(rec.user.created_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable("create_user"))?;
        Ok(())
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        if !D::NAMES_IN_USERS {
            return match self.name_owner(&name_key(name)).await? {
                Some(id) => self.user_record(id).await,
                None => Ok(None),
            };
        }
        let row = sqlx::query(concat!(
            crate::rows::select_users!(),
            " WHERE u.name_key = ?"
        ))
        .bind(name_key(name))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable("user_by_name"))?;
        row.as_ref().map(rows::user_record).transpose()
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let head = concat!(crate::rows::select_users!(), " WHERE u.id IN (");
        let found = self
            .fetch_in("users", head, ids.iter().map(|id| to_sql(id.0)))
            .await?;
        found.iter().map(rows::user).collect()
    }

    async fn avatar(&self, user: UserId) -> Result<Option<Avatar>, StoreError> {
        let sql = "SELECT avatar_tag, avatar_type, avatar FROM user_profiles \
                   WHERE user_id = ? AND avatar_tag IS NOT NULL";
        let found = self.fetch("avatar", sql, &[to_sql(user.0)]).await?;
        let Some(r) = found.first() else {
            return Ok(None);
        };
        Ok(Some(Avatar {
            tag: r.text("avatar_tag")?,
            content_type: r.opt_text("avatar_type")?.unwrap_or_default(),
            bytes: r.opt_blob("avatar")?.unwrap_or_default(),
        }))
    }

    async fn presence_visibility(&self, user: UserId) -> Result<Visibility, StoreError> {
        let sql = "SELECT presence FROM user_profiles WHERE user_id = ?";
        let found = self.fetch("presence", sql, &[to_sql(user.0)]).await?;
        let stored = match found.first() {
            Some(r) => r.opt_text("presence")?,
            None => None,
        };
        // An unknown name (a newer release's) shows nothing rather than all.
        Ok(stored.map_or(Visibility::Everyone, |v| {
            Visibility::parse(&v).unwrap_or(Visibility::Nobody)
        }))
    }

    async fn profiles_since(&self, since: i64, limit: u32) -> Result<Vec<User>, StoreError> {
        // The profiles first (by the index on `updated_at`), then their accounts.
        let sql = concat!(
            "SELECT u.id, u.name, u.password_hash, u.created_at, p.display_name, p.about, ",
            "p.avatar_tag, p.updated_at FROM user_profiles p JOIN users u ON u.id = p.user_id ",
            "WHERE p.updated_at > ? ORDER BY p.updated_at, p.user_id LIMIT ?"
        );
        let found = self
            .fetch("profiles_since", sql, &[since, i64::from(limit)])
            .await?;
        found.iter().map(rows::user).collect()
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let head = "SELECT id, kind, title, created_by, created_at, last_seq, last_pts, \
                    member_count, last_message, pins FROM chats WHERE id IN (";
        let found = self
            .fetch_in("chats", head, ids.iter().map(|id| to_sql(id.0)))
            .await?;
        found.iter().map(rows::chat).collect()
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>, StoreError> {
        let sql = "SELECT user_id, role FROM members WHERE chat_id = ? ORDER BY user_id";
        let found = self.fetch("members", sql, &[to_sql(chat.0)]).await?;
        found.iter().map(rows::member).collect()
    }

    async fn bans(&self, chat: ChatId) -> Result<Vec<Ban>, StoreError> {
        let sql = "SELECT user_id, banned_by, banned_at FROM chat_bans WHERE chat_id = ? ORDER BY user_id";
        let found = self.fetch("bans", sql, &[to_sql(chat.0)]).await?;
        found.iter().map(rows::ban).collect()
    }

    async fn chat_settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        let sql = "SELECT history_from_join FROM chat_settings WHERE chat_id = ?";
        let found = self.fetch("chat_settings", sql, &[to_sql(chat.0)]).await?;
        let from_join = match found.first() {
            Some(r) => r.int("history_from_join")? != 0,
            None => false,
        };
        Ok(ChatSettings {
            history: if from_join {
                HistoryVisibility::FromJoin
            } else {
                HistoryVisibility::All
            },
        })
    }

    async fn joined_seq(&self, chat: ChatId, user: UserId) -> Result<u64, StoreError> {
        let sql = "SELECT joined_seq FROM member_joins WHERE chat_id = ? AND user_id = ?";
        let found = self
            .fetch("joined_seq", sql, &[to_sql(chat.0), to_sql(user.0)])
            .await?;
        match found.first() {
            Some(r) => Ok(r.int("joined_seq")?.max(0) as u64),
            None => Ok(0),
        }
    }

    async fn hidden(&self, chat: ChatId) -> Result<Vec<UserId>, StoreError> {
        let sql = "SELECT user_id FROM chat_hidden WHERE chat_id = ? ORDER BY user_id";
        let found = self.fetch("hidden", sql, &[to_sql(chat.0)]).await?;
        found
            .iter()
            .map(|r| Ok(UserId(crate::from_sql(r.int("user_id")?))))
            .collect()
    }

    async fn blocks(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let sql = "SELECT blocked_id FROM user_blocks WHERE user_id = ? ORDER BY blocked_id";
        let found = self.fetch("blocks", sql, &[to_sql(user.0)]).await?;
        found
            .iter()
            .map(|r| Ok(UserId(crate::from_sql(r.int("blocked_id")?))))
            .collect()
    }

    async fn blockers(&self, user: UserId, among: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let mut out = Vec::new();
        for chunk in among.chunks(CHUNK) {
            let mut q =
                QueryBuilder::<D>::new("SELECT user_id FROM user_blocks WHERE blocked_id = ");
            q.push_bind(to_sql(user.0));
            q.push(" AND user_id IN (");
            let mut sep = q.separated(", ");
            for id in super::padded(chunk) {
                sep.push_bind(to_sql(id.0));
            }
            q.push(")");
            let rows = q
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable("blockers"))?;
            for r in &rows {
                out.push(UserId(crate::from_sql(r.int("user_id")?)));
            }
        }
        Ok(out)
    }

    async fn session(&self, user: UserId, id: u64) -> Result<Option<SessionRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = ? AND id = ?"
        );
        let found = self
            .fetch("session", sql, &[to_sql(user.0), to_sql(id)])
            .await?;
        found.first().map(rows::session).transpose()
    }

    async fn sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id"
        );
        let found = self.fetch("sessions", sql, &[to_sql(user.0)]).await?;
        found.iter().map(rows::session).collect()
    }

    async fn messages(&self, chat: ChatId, page: HistoryPage) -> Result<Vec<Message>, StoreError> {
        let (sql, bound, limit, reverse) = match page {
            HistoryPage::Latest { limit } => (LATEST, None, limit, true),
            HistoryPage::Before { before, limit } => (BEFORE, Some(before), limit, true),
            HistoryPage::After { after, limit } => (AFTER, Some(after), limit, false),
        };
        let chat = to_sql(chat.0);
        let limit = i64::from(limit);
        let rows = match bound {
            Some(b) => self.fetch("messages", sql, &[chat, pos(b), limit]).await?,
            None => self.fetch("messages", sql, &[chat, limit]).await?,
        };
        let mut out = rows
            .iter()
            .map(rows::message)
            .collect::<Result<Vec<_>, _>>()?;
        if reverse {
            out.reverse();
        }
        Ok(out)
    }

    async fn search(
        &self,
        query: &chat_core::search::Query,
        chats: &[ChatId],
        before: Option<chat_core::MessageId>,
        limit: u32,
    ) -> Result<SearchHits, StoreError> {
        if chats.is_empty() || limit == 0 {
            return Ok(SearchHits::default());
        }
        // The index's newest matches in those chats, then their messages by
        // primary key.
        let [cond, id] = D::SEARCH;
        let sql = format!(
            "SELECT {} FROM (SELECT chat_id AS c, seq AS s, {id} AS r FROM message_search \
             WHERE {cond} AND {id} < ? AND chat_id IN ({}) ORDER BY {id} DESC LIMIT ?) h \
             JOIN messages ON messages.chat_id = h.c AND messages.seq = h.s ORDER BY h.r DESC",
            super::MESSAGE_COLUMNS,
            vec!["?"; chats.len()].join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(D::search_query(query, chats))
            .bind(before.map_or(i64::MAX, |b| to_sql(b.0)));
        for c in chats {
            q = q.bind(to_sql(c.0));
        }
        let rows = q
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable("search"))?;
        Ok(SearchHits {
            messages: rows
                .iter()
                .map(rows::message)
                .filter(|m| m.as_ref().map_or(true, |m| !m.deleted))
                .collect::<Result<_, _>>()?,
            partial: false,
        })
    }

    async fn message(&self, chat: ChatId, seq: u64) -> Result<Option<Message>, StoreError> {
        let found = self
            .fetch("message", ONE, &[to_sql(chat.0), pos(seq)])
            .await?;
        let row = found.first();
        row.map(rows::message).transpose()
    }

    async fn reactions(
        &self,
        chat: ChatId,
        first: u64,
        last: u64,
        viewer: UserId,
    ) -> Result<Vec<(u64, Reaction)>, StoreError> {
        let params = [to_sql(viewer.0), to_sql(chat.0), pos(first), pos(last)];
        let found = self.fetch("reactions", REACTIONS, &params).await?;
        found.iter().map(rows::reaction).collect()
    }

    async fn messages_by_client_ids(&self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::new();
        // Only the writer asks (before a batch): on SQLite, its own
        // connection's cache.
        let mut conn = self.writer("messages_by_client_ids").await?;
        let [head, tail] = &self.sql.client_keys;
        for chunk in keys.chunks(D::CLIENT_KEYS_CHUNK) {
            let mut q = QueryBuilder::<D>::new(head.as_str());
            let mut sep = q.separated(", ");
            for (chat, sender, key) in super::padded(chunk) {
                sep.push("(")
                    .push_bind_unseparated(to_sql(chat.0))
                    .push_unseparated(", ")
                    .push_bind_unseparated(to_sql(sender.0))
                    .push_unseparated(", ")
                    .push_bind_unseparated(key.clone())
                    .push_unseparated(")");
            }
            q.push(tail.as_str());
            let rows = q
                .build()
                .fetch_all(&mut *conn)
                .await
                .map_err(unavailable("messages_by_client_ids"))?;
            for r in &rows {
                out.push(rows::message(r)?);
            }
        }
        Ok(out)
    }

    async fn changes_since(
        &self,
        chat: ChatId,
        since_pts: u64,
        limit: u32,
    ) -> Result<Vec<Change>, StoreError> {
        let params = [to_sql(chat.0), pos(since_pts), i64::from(limit)];
        let msgs = self.fetch("changes_since", CHANGED, &params).await?;
        let events = self.fetch("changes_since", EVENTS, &params).await?;
        let msgs = msgs.iter().map(rows::message).collect::<Result<_, _>>()?;
        let events = events.iter().map(rows::change).collect::<Result<_, _>>()?;
        Ok(chat_core::ports::merge_changes(msgs, events, limit))
    }

    async fn last_member_change(
        &self,
        chat: ChatId,
        user: UserId,
    ) -> Result<Option<(u64, MemberChange)>, StoreError> {
        let found = self
            .fetch(
                "last_member_change",
                LAST_CHANGE_ABOUT,
                &[to_sql(chat.0), to_sql(user.0)],
            )
            .await?;
        found.first().map(rows::change).transpose()
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        let sql = "SELECT chat_id, role, read_seq, muted_until FROM memberships WHERE user_id = ?";
        let found = self.fetch("memberships", sql, &[to_sql(user.0)]).await?;
        let mut list: Vec<Membership> = found
            .iter()
            .map(rows::membership)
            .collect::<Result<_, _>>()?;
        // The unread mentions: those after each chat's cursor.
        let sql = "SELECT x.chat_id, x.seq FROM mentions x JOIN memberships m \
                   ON m.user_id = x.user_id AND m.chat_id = x.chat_id \
                   WHERE x.user_id = ? AND x.seq > m.read_seq ORDER BY x.chat_id, x.seq";
        let mentions = self.fetch("mentions", sql, &[to_sql(user.0)]).await?;
        if !mentions.is_empty() {
            let at: std::collections::HashMap<ChatId, usize> = list
                .iter()
                .enumerate()
                .map(|(i, m)| (m.chat_id, i))
                .collect();
            for row in &mentions {
                let (chat, seq) = rows::mention(row)?;
                if let Some(&i) = at.get(&chat) {
                    list[i].mentions.push(seq);
                }
            }
        }
        for m in &mut list {
            let extra = m
                .mentions
                .len()
                .saturating_sub(chat_core::rules::MAX_UNREAD_MENTIONS);
            m.mentions.drain(..extra);
        }
        Ok(list)
    }

    async fn apply_fenced(&self, fence: &Fence, batch: &[Mutation]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let batch: Vec<&Mutation> = batch.iter().collect();
        unchecked(self.apply_batch(fence, None, &batch).await)?;
        metrics::applied(started, batch.len());
        Ok(())
    }

    async fn acquire_fence(&self, topic: &str, partition: u32) -> Result<u64, StoreError> {
        unchecked(self.bump_fence(topic, partition, None).await)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable("ping"))?;
        Ok(())
    }
}

/// The result of a write made without a ring-state version (one database,
/// not a shard), which no shard can refuse for another version.
fn unchecked<T>(r: crate::Checked<T>) -> Result<T, StoreError> {
    r?.map_err(|m| {
        StoreError::Unavailable(format!(
            "refused for ring state v{} without a version given",
            m.shard_version
        ))
    })
}

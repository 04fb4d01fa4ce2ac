//! Writing: a batch as runs in one transaction, and accounts.

use chat_core::model::{Message, UserRecord};
use chat_core::ports::{Fence, Mutation};
use chat_core::{ChatId, StoreError, UserId};
use sqlx::{AssertSqlSafe, Database, Executor, IntoArguments, QueryBuilder};

use super::{Bind, CHUNK, SqlStore, Statements, unavailable};
use crate::dialect::{Dialect, UpdateFrom};
use crate::metrics::{self, ErrorKind};
use crate::rows::{self, Columns};
use crate::runs::{CounterRow, Run};
use crate::sharded::{Checked, Moved};
use crate::{from_sql, to_sql};

/// Times a batch is tried when deadlocks keep choosing it.
const DEADLOCK_ATTEMPTS: u32 = 6;

/// Whether a store error is a deadlock (SQLSTATE 40001, MySQL's 1213): the
/// transaction was rolled back and may simply run again.
fn is_deadlock(why: &str) -> bool {
    why.contains("(40001)")
}

impl<D: Dialect> SqlStore<D>
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
    /// Applies a batch in one transaction (see [`Self::apply_runs`]), again
    /// when the database chose it as a deadlock's victim: it was rolled back
    /// whole, and every mutation is idempotent. Two transactions on
    /// neighbouring keys can deadlock on InnoDB's gap locks (two logins of new
    /// users, each purging and inserting its sessions); that is no outage.
    pub(crate) async fn apply_batch(
        &self,
        fence: &Fence,
        version: Option<u64>,
        batch: &[&Mutation],
    ) -> Checked<()> {
        let mut wait = std::time::Duration::from_millis(2);
        let mut attempt = 1;
        loop {
            match self
                .apply_runs(fence, version, crate::runs::runs(batch.iter().copied()))
                .await
            {
                Err(StoreError::Unavailable(why))
                    if attempt < DEADLOCK_ATTEMPTS && is_deadlock(&why) =>
                {
                    metrics::error("apply", ErrorKind::DeadlockRetried);
                    tracing::debug!(attempt, "deadlock victim; applying the batch again");
                    // Apart, so that the two victims do not meet again.
                    let jitter = u64::from(std::process::id() ^ attempt)
                        .wrapping_mul(chat_core::now_ms() as u64)
                        % (wait.as_millis() as u64 + 1);
                    tokio::time::sleep(wait + std::time::Duration::from_millis(jitter)).await;
                    wait = (wait * 2).min(std::time::Duration::from_millis(200));
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    /// Applies runs of a batch (see [`crate::runs`]) in one transaction on the
    /// writer's connection: a batch of sends costs a handful of round trips,
    /// not a few per message.
    pub(crate) async fn apply_runs(
        &self,
        fence: &Fence,
        version: Option<u64>,
        runs: Vec<Run<'_>>,
    ) -> Checked<()> {
        let mut conn = self.writer("apply").await?;
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(unavailable("apply"))?;
        // The ring state first, then the fences: every transaction that
        // locks both (bumps, a migrator's records) takes them in this order.
        if let Err(moved) = check_version::<D>(&mut tx, version).await? {
            return Ok(Err(moved));
        }
        check_fence::<D>(&mut tx, fence).await?;
        for run in runs {
            match run {
                Run::Messages(msgs) => self.insert_messages(&mut tx, &msgs).await?,
                Run::Cursors(rows) => update_from(&mut tx, &D::ADVANCE_CURSORS, &rows, bind_cursor)
                    .await
                    .map_err(unavailable("apply"))?,
                Run::Counters(rows) => {
                    update_from(&mut tx, &D::UPDATE_COUNTERS, &rows, bind_counters)
                        .await
                        .map_err(unavailable("apply"))?
                }
                Run::One(m) => self
                    .apply_one(&mut tx, m)
                    .await
                    .map_err(unavailable("apply"))?,
            }
        }
        tx.commit().await.map_err(unavailable("apply"))?;
        Ok(Ok(()))
    }

    /// A new epoch for `(topic, partition)` (see [`Dialect::FENCE_BUMP`]).
    pub(crate) async fn bump_fence(
        &self,
        topic: &str,
        partition: u32,
        version: Option<u64>,
    ) -> Checked<u64> {
        let mut conn = self.writer("fence").await?;
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(unavailable("fence"))?;
        if let Err(moved) = check_version::<D>(&mut tx, version).await? {
            return Ok(Err(moved));
        }
        sqlx::query(D::FENCE_BUMP)
            .bind(topic.to_string())
            .bind(i64::from(partition))
            .execute(&mut *tx)
            .await
            .map_err(unavailable("fence"))?;
        let epoch = sqlx::query("SELECT epoch FROM writer_fences WHERE topic = ? AND part = ?")
            .bind(topic.to_string())
            .bind(i64::from(partition))
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable("fence"))?
            .int("epoch")?;
        tx.commit().await.map_err(unavailable("fence"))?;
        Ok(Ok(epoch as u64))
    }

    /// Raises `(topic, partition)`'s epoch to `epoch` (see
    /// [`Dialect::FENCE_RAISE`]).
    pub(crate) async fn raise_fence(
        &self,
        topic: &str,
        partition: u32,
        epoch: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer("fence").await?;
        sqlx::query(D::FENCE_RAISE)
            .bind(topic.to_string())
            .bind(i64::from(partition))
            .bind(epoch as i64)
            .execute(&mut *conn)
            .await
            .map_err(unavailable("fence"))?;
        Ok(())
    }

    /// Multi-row insert of messages; rows that already exist must be the very
    /// same messages (a retried batch), anything else is a conflict.
    async fn insert_messages(
        &self,
        conn: &mut D::Connection,
        msgs: &[&Message],
    ) -> Result<(), StoreError> {
        for chunk in msgs.chunks(CHUNK) {
            let mut q = self.sql.insert_rows::<D>(chunk);
            let done = q
                .build()
                .execute(&mut *conn)
                .await
                .map_err(unavailable("apply"))?;
            if D::rows_affected(&done) as usize == chunk.len() {
                continue;
            }
            for m in chunk {
                let stored = sqlx::query("SELECT id FROM messages WHERE chat_id = ? AND seq = ?")
                    .bind(to_sql(m.chat_id.0))
                    .bind(m.seq as i64)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(unavailable("apply"))?;
                if stored.map(|r| r.int("id")).transpose()? != Some(to_sql(m.id.0)) {
                    metrics::error("apply", ErrorKind::Conflict);
                    return Err(StoreError::Conflict(format!(
                        "message {} of chat {} conflicts with a stored one",
                        m.seq, m.chat_id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Applies one mutation of a kind that is not batched.
    async fn apply_one(&self, conn: &mut D::Connection, m: &Mutation) -> Result<(), sqlx::Error> {
        let q = match m {
            // Batched in runs (see `crate::runs`).
            Mutation::InsertMessage(_)
            | Mutation::ChatCounters { .. }
            | Mutation::AdvanceCursor { .. } => return Ok(()),
            Mutation::InsertChat(c) => {
                let last = c
                    .last_message
                    .as_ref()
                    .map(|l| serde_json::to_string(l).unwrap_or_default());
                sqlx::query(self.sql.insert_chat.clone())
                    .bind(to_sql(c.id.0))
                    .bind(c.kind.as_str())
                    .bind(c.title.clone())
                    .bind(to_sql(c.created_by.0))
                    .bind(c.created_at)
                    .bind(c.last_seq as i64)
                    .bind(c.last_pts as i64)
                    .bind(i64::from(c.member_count))
                    .bind(last)
                    .bind(crate::rows::pins_json(&c.pins))
            }
            Mutation::PutMember { chat_id, member } => sqlx::query(self.sql.put_member.clone())
                .bind(to_sql(chat_id.0))
                .bind(to_sql(member.user_id.0))
                .bind(member.role.as_str()),
            Mutation::RemoveMember { chat_id, user_id } => {
                sqlx::query("DELETE FROM members WHERE chat_id = ? AND user_id = ?")
                    .bind(to_sql(chat_id.0))
                    .bind(to_sql(user_id.0))
            }
            Mutation::PutBan { chat_id, ban } => sqlx::query(self.sql.put_ban.clone())
                .bind(to_sql(chat_id.0))
                .bind(to_sql(ban.user_id.0))
                .bind(to_sql(ban.banned_by.0))
                .bind(ban.banned_at),
            Mutation::RemoveBan { chat_id, user_id } => {
                sqlx::query("DELETE FROM chat_bans WHERE chat_id = ? AND user_id = ?")
                    .bind(to_sql(chat_id.0))
                    .bind(to_sql(user_id.0))
            }
            Mutation::PutChatSettings { chat_id, settings } => {
                sqlx::query(self.sql.put_chat_settings.clone())
                    .bind(to_sql(chat_id.0))
                    .bind(i64::from(
                        settings.history == chat_core::model::HistoryVisibility::FromJoin,
                    ))
            }
            Mutation::PutJoin {
                chat_id,
                user_id,
                joined_seq,
            } => sqlx::query(self.sql.put_join.clone())
                .bind(to_sql(chat_id.0))
                .bind(to_sql(user_id.0))
                .bind(*joined_seq as i64),
            Mutation::PutBlock {
                user_id,
                blocked_id,
                at,
            } => sqlx::query(self.sql.put_block.clone())
                .bind(to_sql(user_id.0))
                .bind(to_sql(blocked_id.0))
                .bind(*at),
            Mutation::RemoveBlock {
                user_id,
                blocked_id,
            } => sqlx::query("DELETE FROM user_blocks WHERE user_id = ? AND blocked_id = ?")
                .bind(to_sql(user_id.0))
                .bind(to_sql(blocked_id.0)),
            Mutation::PutHidden { chat_id, user_id } => sqlx::query(self.sql.put_hidden.clone())
                .bind(to_sql(chat_id.0))
                .bind(to_sql(user_id.0)),
            Mutation::RemoveHidden { chat_id, user_id } => {
                sqlx::query("DELETE FROM chat_hidden WHERE chat_id = ? AND user_id = ?")
                    .bind(to_sql(chat_id.0))
                    .bind(to_sql(user_id.0))
            }
            Mutation::PutSession(x) => sqlx::query(self.sql.put_session.clone())
                .bind(to_sql(x.user_id.0))
                .bind(to_sql(x.id))
                .bind(x.generation as i64)
                .bind(x.secret_hash.clone())
                .bind(x.device.clone())
                .bind(x.created_at)
                .bind(x.used_at)
                .bind(x.expires_at)
                .bind(x.revoked_at.unwrap_or(0)),
            Mutation::RotateSession {
                user_id,
                session_id,
                generation,
                secret_hash,
                used_at,
                expires_at,
            } => sqlx::query(
                "UPDATE sessions SET generation = ?, secret_hash = ?, used_at = ?, expires_at = ? \
                 WHERE user_id = ? AND id = ? AND generation = ? AND revoked_at = 0 \
                 AND expires_at > ?",
            )
            .bind(generation.saturating_add(1) as i64)
            .bind(secret_hash.clone())
            .bind(*used_at)
            .bind(*expires_at)
            .bind(to_sql(user_id.0))
            .bind(to_sql(*session_id))
            .bind(*generation as i64)
            .bind(*used_at),
            Mutation::RevokeSessions {
                user_id,
                session_id: Some(id),
                at,
            } => sqlx::query(
                "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id = ? AND revoked_at = 0",
            )
            .bind(*at)
            .bind(to_sql(user_id.0))
            .bind(to_sql(*id)),
            Mutation::RevokeSessions {
                user_id,
                session_id: None,
                at,
            } => sqlx::query(
                "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0",
            )
            .bind(*at)
            .bind(to_sql(user_id.0)),
            Mutation::PurgeSessions { user_id, before } => sqlx::query(
                "DELETE FROM sessions WHERE user_id = ? \
                 AND (expires_at < ? OR (revoked_at > 0 AND revoked_at < ?))",
            )
            .bind(to_sql(user_id.0))
            .bind(*before)
            .bind(*before),
            Mutation::SetPasswordHash {
                user_id,
                password_hash,
            } => sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
                .bind(password_hash.clone())
                .bind(to_sql(user_id.0)),
            Mutation::SetProfile { user_id, patch, at } => {
                sqlx::query(self.sql.set_profile.clone())
                    .bind(to_sql(user_id.0))
                    .bind(patch.display_name.clone())
                    .bind(patch.about.clone())
                    .bind(*at)
                    .bind(patch.display_name.clone())
                    .bind(patch.about.clone())
                    .bind(*at)
            }
            Mutation::SetPresenceVisibility {
                user_id,
                visibility,
            } => sqlx::query(self.sql.set_presence.clone())
                .bind(to_sql(user_id.0))
                .bind(visibility.as_str())
                .bind(visibility.as_str()),
            Mutation::SetAvatar {
                user_id,
                avatar,
                at,
            } => {
                let tag = avatar.as_ref().map(|a| a.tag.clone());
                let kind = avatar.as_ref().map(|a| a.content_type.clone());
                let bytes = avatar.as_ref().map(|a| a.bytes.clone());
                sqlx::query(self.sql.set_avatar.clone())
                    .bind(to_sql(user_id.0))
                    .bind(tag.clone())
                    .bind(kind.clone())
                    .bind(bytes.clone())
                    .bind(*at)
                    .bind(tag)
                    .bind(kind)
                    .bind(bytes)
                    .bind(*at)
            }
            Mutation::PutMembership {
                user_id,
                chat_id,
                role,
            } => sqlx::query(self.sql.put_membership.clone())
                .bind(to_sql(user_id.0))
                .bind(to_sql(chat_id.0))
                .bind(role.as_str()),
            Mutation::RemoveMembership { user_id, chat_id } => {
                sqlx::query("DELETE FROM memberships WHERE user_id = ? AND chat_id = ?")
                    .bind(to_sql(user_id.0))
                    .bind(to_sql(chat_id.0))
            }
            Mutation::EditMessage {
                chat_id,
                seq,
                text,
                edited_at,
                pts,
            } => sqlx::query(
                "UPDATE messages SET text = ?, edited_at = ?, pts = ? \
                 WHERE chat_id = ? AND seq = ? AND pts < ?",
            )
            .bind(text.clone())
            .bind(*edited_at)
            .bind(*pts as i64)
            .bind(to_sql(chat_id.0))
            .bind(*seq as i64)
            .bind(*pts as i64),
            Mutation::React {
                chat_id,
                seq,
                user_id,
                emoji,
                add,
                pts,
            } => {
                let row = if *add {
                    sqlx::query(self.sql.put_reaction.clone())
                        .bind(to_sql(chat_id.0))
                        .bind(*seq as i64)
                        .bind(to_sql(user_id.0))
                        .bind(emoji.clone())
                        .bind(*pts as i64)
                } else {
                    sqlx::query(
                        "DELETE FROM reactions \
                         WHERE chat_id = ? AND seq = ? AND user_id = ? AND emoji = ?",
                    )
                    .bind(to_sql(chat_id.0))
                    .bind(*seq as i64)
                    .bind(to_sql(user_id.0))
                    .bind(emoji.clone())
                };
                row.execute(&mut *conn).await?;
                sqlx::query("UPDATE messages SET pts = ? WHERE chat_id = ? AND seq = ? AND pts < ?")
                    .bind(*pts as i64)
                    .bind(to_sql(chat_id.0))
                    .bind(*seq as i64)
                    .bind(*pts as i64)
            }
            Mutation::DeleteMessage { chat_id, seq, pts } => sqlx::query(
                "UPDATE messages SET text = '', deleted = 1, pts = ? \
                 WHERE chat_id = ? AND seq = ? AND pts < ?",
            )
            .bind(*pts as i64)
            .bind(to_sql(chat_id.0))
            .bind(*seq as i64)
            .bind(*pts as i64),
            Mutation::PutMention {
                user_id,
                chat_id,
                seq,
            } => {
                // The mentions the member has read are dropped as a new one
                // comes (cheap: mentions are rare, cursors move all the
                // time), so a member keeps only their unread ones and one.
                sqlx::query(
                    "DELETE FROM mentions WHERE user_id = ? AND chat_id = ? AND seq <= \
                     (SELECT read_seq FROM memberships WHERE user_id = ? AND chat_id = ?)",
                )
                .bind(to_sql(user_id.0))
                .bind(to_sql(chat_id.0))
                .bind(to_sql(user_id.0))
                .bind(to_sql(chat_id.0))
                .execute(&mut *conn)
                .await?;
                sqlx::query(self.sql.put_mention.clone())
                    .bind(to_sql(user_id.0))
                    .bind(to_sql(chat_id.0))
                    .bind(*seq as i64)
            }
            Mutation::SetMute {
                user_id,
                chat_id,
                until,
            } => sqlx::query(
                "UPDATE memberships SET muted_until = ? WHERE user_id = ? AND chat_id = ?",
            )
            .bind(*until)
            .bind(to_sql(user_id.0))
            .bind(to_sql(chat_id.0)),
            Mutation::SetPins { chat_id, pins } => {
                sqlx::query("UPDATE chats SET pins = ? WHERE id = ?")
                    .bind(crate::rows::pins_json(pins))
                    .bind(to_sql(chat_id.0))
            }
            Mutation::RecordChange {
                chat_id,
                pts,
                change,
            } => sqlx::query(self.sql.record_change.clone())
                .bind(to_sql(chat_id.0))
                .bind(*pts as i64)
                .bind(change.to_record())
                .bind(to_sql(change.user_id().0)),
        };
        q.execute(conn).await?;
        Ok(())
    }

    /// Creates an account whose login name is kept unique in this store's
    /// `user_names` and whose row goes to `users` (this store again, or the
    /// user's shard). Not for [`Dialect::NAMES_IN_USERS`].
    pub(crate) async fn create_user_split(
        &self,
        users: &Self,
        rec: &UserRecord,
        version: Option<u64>,
    ) -> Checked<()> {
        let key = chat_core::name_key(&rec.user.name);
        let id = to_sql(rec.user.id.0);
        // The name first: its uniqueness decides. Taken by this same user
        // (a retry, or a copy a migration made) is no conflict.
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(unavailable("create_user"))?;
        if let Err(moved) = check_version::<D>(&mut tx, version).await? {
            return Ok(Err(moved));
        }
        let [insert, new] = D::INSERT_NEW;
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "{insert} user_names (name_key, user_id) VALUES (?, ?){new}"
        )))
        .bind(key.clone())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(unavailable("create_user"))?;
        if D::rows_affected(&inserted) == 0 {
            let owner = sqlx::query(AssertSqlSafe(format!(
                "SELECT user_id FROM user_names WHERE name_key = ?{}",
                D::LOCKING_READ
            )))
            .bind(key.clone())
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable("create_user"))?
            .int("user_id")?;
            if owner != id {
                metrics::error("create_user", ErrorKind::Conflict);
                return Err(StoreError::Conflict(format!("login name {key:?} is taken")));
            }
        }
        tx.commit().await.map_err(unavailable("create_user"))?;
        let user = async {
            let mut tx = users.pool.begin().await?;
            if let Err(moved) = check_version::<D>(&mut tx, version)
                .await
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?
            {
                return Ok(Err(moved));
            }
            sqlx::query(
                "INSERT INTO users (id, name, password_hash, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(rec.user.name.clone())
            .bind(rec.password_hash.clone())
            .bind(rec.user.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await;
        if !matches!(user, Ok(Ok(()))) {
            // Give the name back so another user may take it — on this shard
            // only while it still holds the name (a migration may have
            // moved it meanwhile: then a retry of this user finds it there).
            let give_back = async {
                let mut tx = self.pool.begin().await.ok()?;
                check_version::<D>(&mut tx, version).await.ok()?.ok()?;
                sqlx::query("DELETE FROM user_names WHERE name_key = ? AND user_id = ?")
                    .bind(key.clone())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .ok()?;
                tx.commit().await.ok()
            };
            give_back.await;
        }
        user.map_err(unavailable("create_user"))
    }

    /// The schema migrations applied, oldest first: version and description.
    pub async fn migrations(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable("migrations"))?;
        rows.iter()
            .map(|r| Ok((r.int("version")?, r.text("description")?)))
            .collect()
    }

    /// Every key this shard holds rows of, with the rows (see
    /// [`crate::Inventory`]).
    pub(crate) async fn inventory(&self) -> Result<crate::Inventory, StoreError> {
        const CHATS: &str = "SELECT c.id, \
            (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id) \
            + (SELECT COUNT(*) FROM members x WHERE x.chat_id = c.id) \
            + (SELECT COUNT(*) FROM chat_changes h WHERE h.chat_id = c.id) + 1 AS n \
            FROM chats c";
        const USERS: &str = "SELECT u.id, \
            (SELECT COUNT(*) FROM memberships m WHERE m.user_id = u.id) + 1 AS n FROM users u";
        let names = if D::NAMES_IN_USERS {
            "SELECT name_key FROM users"
        } else {
            "SELECT name_key FROM user_names"
        };
        let keys = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable("inventory"))
        };
        let with_rows = |rows: Vec<D::Row>| -> Result<Vec<(u64, u64)>, StoreError> {
            rows.iter()
                .map(|r| Ok((from_sql(r.int("id")?), r.int("n")? as u64)))
                .collect()
        };
        Ok(crate::Inventory {
            chats: with_rows(keys(CHATS).await?)?,
            users: with_rows(keys(USERS).await?)?,
            names: keys(names)
                .await?
                .iter()
                .map(|r| r.text("name_key"))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The user a login name (in canonical form) belongs to, from
    /// `user_names`. Not for [`Dialect::NAMES_IN_USERS`].
    pub(crate) async fn name_owner(&self, key: &str) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query("SELECT user_id FROM user_names WHERE name_key = ?")
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable("user_by_name"))?;
        Ok(row
            .map(|r| r.int("user_id"))
            .transpose()?
            .map(|id| UserId(from_sql(id))))
    }

    /// An account by id.
    pub(crate) async fn user_record(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(concat!(rows::select_users!(), " WHERE u.id = ?"))
            .bind(to_sql(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable("user_by_name"))?;
        row.as_ref().map(rows::user_record).transpose()
    }
}

/// Checks, in a write's transaction, that this shard routes by ring-state
/// `version` (when given), holding a shared lock on the state until the
/// commit: a migration changing the state waits for the write, and a write
/// after the change is refused.
pub(crate) async fn check_version<D: Dialect>(
    conn: &mut D::Connection,
    version: Option<u64>,
) -> Checked<()>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    D::Row: Columns,
{
    let Some(version) = version else {
        return Ok(Ok(()));
    };
    let row = sqlx::query(D::RING_VERSION_READ)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable("ring_state"))?;
    let shard_version = match row {
        Some(r) => r.int("version")? as u64,
        None => 0,
    };
    if shard_version == version {
        Ok(Ok(()))
    } else {
        metrics::error("apply", ErrorKind::Moved);
        Ok(Err(Moved { shard_version }))
    }
}

/// Checks, in the batch's transaction, that every epoch of `fence` is its
/// partition's current one, locking the rows read until the commit.
async fn check_fence<D: Dialect>(conn: &mut D::Connection, fence: &Fence) -> Result<(), StoreError>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    D::Row: Columns,
    i64: Bind<D>,
    String: Bind<D>,
{
    if fence.epochs.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; fence.epochs.len()].join(", ");
    let sql = format!(
        "SELECT part, epoch FROM writer_fences WHERE topic = ? AND part IN ({marks}){}",
        D::LOCKING_READ
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(fence.topic.clone());
    for (part, _) in &fence.epochs {
        q = q.bind(i64::from(*part));
    }
    let rows = q
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable("apply"))?;
    let mut current = std::collections::HashMap::new();
    for r in &rows {
        current.insert(r.int("part")? as u32, r.int("epoch")? as u64);
    }
    for (part, epoch) in &fence.epochs {
        let now = current.get(part).copied();
        if now != Some(*epoch) {
            metrics::error("apply", ErrorKind::Fenced);
            return Err(StoreError::Fenced(format!(
                "partition {part} of {}: epoch {epoch}, current {}",
                fence.topic,
                now.map_or("none".into(), |e| e.to_string())
            )));
        }
    }
    Ok(())
}

/// One row of a table of bound rows: binds its values, naming them (in the
/// first row) where the statement names its table's columns.
pub(crate) struct RowBinds<'q, D: Database> {
    q: &'q mut QueryBuilder<D>,
    names: &'static [&'static str],
    at: usize,
}

impl<D: Database> RowBinds<'_, D> {
    fn bind<T: Bind<D>>(&mut self, value: T) -> &mut Self {
        if self.at > 0 {
            self.q.push(", ");
        }
        self.q.push_bind(value);
        if let Some(name) = self.names.get(self.at) {
            self.q.push(" AS ").push(name);
        }
        self.at += 1;
        self
    }
}

impl Statements {
    /// A multi-row insert of `msgs`.
    pub(crate) fn insert_rows<D: Dialect>(&self, msgs: &[&Message]) -> QueryBuilder<D>
    where
        i64: Bind<D>,
        Option<i64>: Bind<D>,
        String: Bind<D>,
        Option<String>: Bind<D>,
    {
        let mut q = QueryBuilder::<D>::new(self.insert_messages.as_str());
        q.push_values(super::padded(msgs), |mut b, m| {
            let f = m.forwarded_from.as_ref();
            b.push_bind(to_sql(m.chat_id.0))
                .push_bind(m.seq as i64)
                .push_bind(to_sql(m.id.0))
                .push_bind(to_sql(m.sender_id.0))
                .push_bind(m.client_msg_id.clone())
                .push_bind(m.text.clone())
                .push_bind(m.reply_to_seq.map(|s| s as i64))
                .push_bind(f.map(|f| to_sql(f.chat_id.0)))
                .push_bind(f.map(|f| f.seq as i64))
                .push_bind(f.map(|f| to_sql(f.sender_id.0)))
                .push_bind(m.created_at)
                .push_bind(m.edited_at)
                .push_bind(i64::from(m.deleted))
                .push_bind(m.pts as i64)
                .push_bind(crate::rows::mentions_json(&m.mentions));
        });
        q.push(D::INSERT_NEW_ROWS[1]);
        q
    }
}

/// A read cursor's row: `(user, chat, seq)`.
pub(crate) fn bind_cursor<D: Database>(
    row: &mut RowBinds<'_, D>,
    &(u, c, seq): &(UserId, ChatId, u64),
) where
    i64: Bind<D>,
{
    row.bind(to_sql(u.0)).bind(to_sql(c.0)).bind(seq as i64);
}

/// A chat's counters' row: `(chat, last_seq, last_pts, member_count,
/// last_message)`.
pub(crate) fn bind_counters<D: Database>(row: &mut RowBinds<'_, D>, r: &CounterRow)
where
    i64: Bind<D>,
    Option<String>: Bind<D>,
    Option<Vec<u8>>: Bind<D>,
{
    row.bind(to_sql(r.chat_id.0))
        .bind(r.last_seq as i64)
        .bind(r.last_pts as i64)
        .bind(i64::from(r.member_count))
        .bind(r.last_message.clone());
}

/// Runs `stmt` over `rows`, one statement per chunk, each row's values bound
/// by `bind_row`.
async fn update_from<D: Dialect, T: Sync>(
    conn: &mut D::Connection,
    stmt: &UpdateFrom,
    rows: &[T],
    bind_row: fn(&mut RowBinds<'_, D>, &T),
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
{
    for chunk in rows.chunks(CHUNK) {
        update_rows(stmt, chunk, bind_row)
            .build()
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `stmt` over one chunk of rows.
pub(crate) fn update_rows<D: Dialect, T>(
    stmt: &UpdateFrom,
    rows: &[T],
    bind_row: fn(&mut RowBinds<'_, D>, &T),
) -> QueryBuilder<D> {
    let mut q = QueryBuilder::<D>::new(stmt.head);
    q.push(D::ROWS.open);
    for (i, r) in super::padded(rows).enumerate() {
        let first = i == 0;
        q.push(D::ROWS.row[usize::from(!first)]);
        let names = if first { stmt.columns } else { &[] };
        bind_row(
            &mut RowBinds {
                q: &mut q,
                names,
                at: 0,
            },
            r,
        );
        q.push(D::ROWS.row_end);
    }
    q.push(D::ROWS.close).push(stmt.tail);
    q
}

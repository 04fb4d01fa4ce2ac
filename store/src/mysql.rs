//! The store on MySQL/MariaDB shards. The `shard-router` ring alone decides where
//! a key lives: a chat and its members and messages on `shard(chat)`, a user and
//! their memberships and cursors on `shard(user)`, a login name on
//! `shard(name)`. A writer batch is split by shard and applied with one
//! transaction per shard (in parallel, multi-row inserts). Batches spanning
//! shards are not atomic across them, so every mutation is idempotent and the
//! writer retries the whole batch until every shard has it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_core::model::{Chat, Member, Message, User, UserRecord};
use chat_core::ports::{ClientKey, HistoryPage, Membership, Mutation, Store};
use chat_core::{ChatId, StoreError, UserId};
use shard_router::{Key, Ring, ShardSpec};
use sqlx::migrate::MigrateDatabase;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::{MySql, MySqlPool, QueryBuilder};

use crate::metrics;
use crate::rows::{corrupt, role_of, row_decoders};
use crate::runs::{CounterRow, Run, runs};
use crate::{from_sql, to_sql};

row_decoders!(MySqlRow);

/// One shard: a name on the ring, its weight, and its database URL.
#[derive(Clone, Debug)]
pub struct MySqlShard {
    /// Name on the ring (placement depends on it: never rename a shard).
    pub name: String,
    /// Relative share of keys.
    pub weight: u32,
    /// `mysql://user:password@host:port/database`.
    pub url: String,
}

/// Settings of the sharded store.
#[derive(Clone, Debug)]
pub struct MySqlConfig {
    /// The shards.
    pub shards: Vec<MySqlShard>,
    /// Version of the ring (a resharding tool switches versions).
    pub ring_version: u64,
    /// Virtual nodes per unit of weight.
    pub vnodes_per_weight: u32,
    /// Connections per shard.
    pub max_connections: u32,
    /// Create each shard's database when it does not exist.
    pub create_databases: bool,
}

impl MySqlConfig {
    /// Parses `name[:weight]=url,name[:weight]=url…`.
    pub fn parse_shards(spec: &str) -> Result<Vec<MySqlShard>, String> {
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|part| {
                let (head, url) = part
                    .split_once('=')
                    .ok_or_else(|| format!("shard {part:?} must be name[:weight]=mysql://…"))?;
                let (name, weight) = match head.split_once(':') {
                    Some((n, w)) => (
                        n,
                        w.parse::<u32>()
                            .map_err(|_| format!("bad weight in {head:?}"))?,
                    ),
                    None => (head, 1),
                };
                Ok(MySqlShard {
                    name: name.trim().to_string(),
                    weight,
                    url: url.trim().to_string(),
                })
            })
            .collect()
    }
}

/// [`Store`] over MySQL/MariaDB shards.
#[derive(Clone)]
pub struct ShardedStore {
    ring: Arc<Ring>,
    /// One pool per shard, in the ring's shard order.
    pools: Arc<Vec<MySqlPool>>,
}

fn unavailable(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if let sqlx::Error::Database(d) = &e
            && d.is_unique_violation()
        {
            metrics::ERRORS.with_label_values(&[op, "conflict"]).inc();
            return StoreError::Conflict(d.message().to_string());
        }
        metrics::ERRORS
            .with_label_values(&[op, "unavailable"])
            .inc();
        StoreError::Unavailable(format!("{op}: {e}"))
    }
}

const MESSAGE_COLUMNS: &str = "chat_id, seq, id, sender_id, client_msg_id, text, reply_to_seq, \
     fwd_chat_id, fwd_seq, fwd_sender_id, created_at, edited_at, deleted, pts";
const CHAT_COLUMNS: &str =
    "id, kind, title, created_by, created_at, last_seq, last_pts, member_count, last_message";
/// Rows per multi-row insert (14 parameters each, far below the 65535 limit).
const INSERT_CHUNK: usize = 500;

impl ShardedStore {
    /// Connects to every shard (creating its database if asked) and applies the
    /// migrations to each.
    pub async fn connect(cfg: &MySqlConfig) -> Result<ShardedStore, StoreError> {
        let specs: Vec<ShardSpec> = cfg
            .shards
            .iter()
            .map(|s| ShardSpec {
                name: s.name.clone(),
                weight: s.weight,
            })
            .collect();
        let ring = Ring::new(cfg.ring_version, specs, cfg.vnodes_per_weight)
            .map_err(|e| StoreError::Unavailable(format!("shard ring: {e}")))?;
        let mut pools = Vec::new();
        // Pools follow the ring's shard order (its index space).
        for spec in ring.shards() {
            let shard = cfg
                .shards
                .iter()
                .find(|s| s.name == spec.name)
                .ok_or_else(|| {
                    StoreError::Unavailable(format!("no URL for shard {}", spec.name))
                })?;
            if cfg.create_databases
                && !MySql::database_exists(&shard.url).await.map_err(unavailable("connect"))?
                && let Err(e) = MySql::create_database(&shard.url).await
                // Another process may have created it meanwhile.
                && !MySql::database_exists(&shard.url).await.unwrap_or(false)
            {
                return Err(unavailable("connect")(e));
            }
            let opts = MySqlConnectOptions::from_str(&shard.url).map_err(unavailable("connect"))?;
            let pool = MySqlPoolOptions::new()
                .max_connections(cfg.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(opts)
                .await
                .map_err(unavailable("connect"))?;
            migrate(&pool, &shard.name).await?;
            tracing::info!(shard = %shard.name, "shard ready");
            pools.push(pool);
        }
        Ok(ShardedStore {
            ring: Arc::new(ring),
            pools: Arc::new(pools),
        })
    }

    /// The ring in use.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Shard index of a chat.
    pub fn chat_shard(&self, c: ChatId) -> usize {
        self.ring.shard_index_for(Key::Chat(c.0))
    }

    fn user_shard(&self, u: UserId) -> usize {
        self.ring.shard_index_for(Key::User(u.0))
    }

    fn name_shard(&self, name_key: &str) -> usize {
        self.ring.shard_index_for(Key::Name(name_key))
    }

    fn pool_of_chat(&self, c: ChatId) -> &MySqlPool {
        &self.pools[self.chat_shard(c)]
    }

    /// The shard a mutation belongs to.
    fn shard_of(&self, m: &Mutation) -> usize {
        match m {
            Mutation::InsertChat(c) => self.chat_shard(c.id),
            Mutation::PutMember { chat_id, .. }
            | Mutation::RemoveMember { chat_id, .. }
            | Mutation::EditMessage { chat_id, .. }
            | Mutation::DeleteMessage { chat_id, .. }
            | Mutation::ChatCounters { chat_id, .. }
            | Mutation::RecordChange { chat_id, .. } => self.chat_shard(*chat_id),
            Mutation::InsertMessage(msg) => self.chat_shard(msg.chat_id),
            Mutation::PutMembership { user_id, .. }
            | Mutation::RemoveMembership { user_id, .. }
            | Mutation::AdvanceCursor { user_id, .. } => self.user_shard(*user_id),
        }
    }

    /// Closes every pool.
    pub async fn close(&self) {
        for p in self.pools.iter() {
            p.close().await;
        }
    }
}

/// Applies the migrations, one process at a time per shard (several roles may
/// start together on a fresh database).
async fn migrate(pool: &MySqlPool, shard: &str) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(unavailable("migrate"))?;
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('chat_migrations', 60)")
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable("migrate"))?;
    if locked != Some(1) {
        return Err(StoreError::Unavailable(format!(
            "shard {shard}: migration lock not acquired"
        )));
    }
    let result = sqlx::migrate!("./migrations/mysql").run(&mut *conn).await;
    let _ = sqlx::query("SELECT RELEASE_LOCK('chat_migrations')")
        .execute(&mut *conn)
        .await;
    result.map_err(|e| StoreError::Unavailable(format!("migrate shard {shard}: {e}")))
}

/// Inserts messages with multi-row `INSERT IGNORE`; rows that already exist must
/// be the very same messages (a retried batch), else it is a conflict.
async fn insert_messages(
    tx: &mut sqlx::MySqlConnection,
    msgs: &[&Message],
) -> Result<(), StoreError> {
    for chunk in msgs.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<MySql> =
            QueryBuilder::new(format!("INSERT IGNORE INTO messages ({MESSAGE_COLUMNS}) "));
        q.push_values(chunk.iter(), |mut b, m| {
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
                .push_bind(m.pts as i64);
        });
        let done = q
            .build()
            .execute(&mut *tx)
            .await
            .map_err(unavailable("apply"))?;
        if done.rows_affected() as usize == chunk.len() {
            continue;
        }
        for m in chunk {
            let stored: Option<i64> =
                sqlx::query_scalar("SELECT id FROM messages WHERE chat_id = ? AND seq = ?")
                    .bind(to_sql(m.chat_id.0))
                    .bind(m.seq as i64)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable("apply"))?;
            if stored != Some(to_sql(m.id.0)) {
                metrics::ERRORS
                    .with_label_values(&["apply", "conflict"])
                    .inc();
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
async fn apply_sql(tx: &mut sqlx::MySqlConnection, m: &Mutation) -> Result<(), sqlx::Error> {
    match m {
        // Batched in `apply_shard` (see `crate::runs`).
        Mutation::InsertMessage(_)
        | Mutation::ChatCounters { .. }
        | Mutation::AdvanceCursor { .. } => {}
        Mutation::InsertChat(c) => {
            let last = c
                .last_message
                .as_ref()
                .map(|l| serde_json::to_string(l).unwrap_or_default());
            sqlx::query(
                "INSERT IGNORE INTO chats (id, kind, title, created_by, created_at, last_seq, last_pts, member_count, last_message) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(to_sql(c.id.0))
            .bind(c.kind.as_str())
            .bind(&c.title)
            .bind(to_sql(c.created_by.0))
            .bind(c.created_at)
            .bind(c.last_seq as i64)
            .bind(c.last_pts as i64)
            .bind(i64::from(c.member_count))
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        Mutation::PutMember { chat_id, member } => {
            sqlx::query("INSERT INTO members (chat_id, user_id, role) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE role = VALUES(role)")
                .bind(to_sql(chat_id.0))
                .bind(to_sql(member.user_id.0))
                .bind(member.role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        Mutation::RemoveMember { chat_id, user_id } => {
            sqlx::query("DELETE FROM members WHERE chat_id = ? AND user_id = ?")
                .bind(to_sql(chat_id.0))
                .bind(to_sql(user_id.0))
                .execute(&mut *tx)
                .await?;
        }
        Mutation::PutMembership {
            user_id,
            chat_id,
            role,
        } => {
            sqlx::query(
                "INSERT INTO memberships (user_id, chat_id, role, read_seq) VALUES (?, ?, ?, 0) \
                 ON DUPLICATE KEY UPDATE role = VALUES(role)",
            )
            .bind(to_sql(user_id.0))
            .bind(to_sql(chat_id.0))
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        }
        Mutation::RemoveMembership { user_id, chat_id } => {
            sqlx::query("DELETE FROM memberships WHERE user_id = ? AND chat_id = ?")
                .bind(to_sql(user_id.0))
                .bind(to_sql(chat_id.0))
                .execute(&mut *tx)
                .await?;
        }
        Mutation::EditMessage {
            chat_id,
            seq,
            text,
            edited_at,
            pts,
        } => {
            sqlx::query("UPDATE messages SET text = ?, edited_at = ?, pts = ? WHERE chat_id = ? AND seq = ? AND pts < ?")
                .bind(text)
                .bind(edited_at)
                .bind(*pts as i64)
                .bind(to_sql(chat_id.0))
                .bind(*seq as i64)
                .bind(*pts as i64)
                .execute(&mut *tx)
                .await?;
        }
        Mutation::DeleteMessage { chat_id, seq, pts } => {
            sqlx::query("UPDATE messages SET text = '', deleted = 1, pts = ? WHERE chat_id = ? AND seq = ? AND pts < ?")
                .bind(*pts as i64)
                .bind(to_sql(chat_id.0))
                .bind(*seq as i64)
                .bind(*pts as i64)
                .execute(&mut *tx)
                .await?;
        }
        Mutation::RecordChange {
            chat_id,
            pts,
            event,
        } => {
            sqlx::query("INSERT IGNORE INTO chat_changes (chat_id, pts, event) VALUES (?, ?, ?)")
                .bind(to_sql(chat_id.0))
                .bind(*pts as i64)
                .bind(event)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Advances read cursors, one statement per chunk: `UPDATE … JOIN` a derived
/// table of `(user, chat, seq)` rows, one per key (see [`crate::runs`]).
async fn advance_cursors(
    tx: &mut sqlx::MySqlConnection,
    rows: &[(UserId, ChatId, u64)],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new("UPDATE memberships m JOIN (");
        for (i, (u, c, seq)) in chunk.iter().enumerate() {
            let first = i == 0;
            q.push(if first {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            q.push_bind(to_sql(u.0));
            q.push(if first { " AS u, " } else { ", " });
            q.push_bind(to_sql(c.0));
            q.push(if first { " AS c, " } else { ", " });
            q.push_bind(*seq as i64);
            if first {
                q.push(" AS s");
            }
        }
        q.push(
            ") v ON m.user_id = v.u AND m.chat_id = v.c SET m.read_seq = GREATEST(m.read_seq, v.s)",
        );
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Counters of a run of chats, one statement per chunk (`UPDATE … JOIN`, as
/// above, one row per chat); each row changes only if its `last_pts` grows.
async fn update_counters(
    tx: &mut sqlx::MySqlConnection,
    rows: &[CounterRow],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new("UPDATE chats c JOIN (");
        for (i, r) in chunk.iter().enumerate() {
            let first = i == 0;
            q.push(if first {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            q.push_bind(to_sql(r.chat_id.0));
            q.push(if first { " AS id, " } else { ", " });
            q.push_bind(r.last_seq as i64);
            q.push(if first { " AS ls, " } else { ", " });
            q.push_bind(r.last_pts as i64);
            q.push(if first { " AS lp, " } else { ", " });
            q.push_bind(i64::from(r.member_count));
            q.push(if first { " AS mc, " } else { ", " });
            q.push_bind(r.last_message.as_deref());
            if first {
                q.push(" AS lm");
            }
        }
        q.push(
            ") v ON c.id = v.id SET c.last_seq = v.ls, c.member_count = v.mc, \
             c.last_message = v.lm, c.last_pts = v.lp WHERE c.last_pts < v.lp",
        );
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// One shard's part of a batch, in one transaction, as runs (see
/// [`crate::runs`]): a batch of sends costs a handful of round trips, not a few
/// per message.
async fn apply_shard(pool: &MySqlPool, muts: &[&Mutation]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(unavailable("apply"))?;
    for run in runs(muts.iter().copied()) {
        match run {
            Run::Messages(msgs) => insert_messages(&mut tx, &msgs).await?,
            Run::Cursors(rows) => advance_cursors(&mut tx, &rows)
                .await
                .map_err(unavailable("apply"))?,
            Run::Counters(rows) => update_counters(&mut tx, &rows)
                .await
                .map_err(unavailable("apply"))?,
            Run::One(m) => apply_sql(&mut tx, m).await.map_err(unavailable("apply"))?,
        }
    }
    tx.commit().await.map_err(unavailable("apply"))
}

fn members_from_rows(rows: &[MySqlRow]) -> Result<Vec<Member>, StoreError> {
    use sqlx::Row as _;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role").map_err(|_| corrupt("role"))?;
            Ok(Member {
                user_id: UserId(from_sql(
                    r.try_get("user_id").map_err(|_| corrupt("user_id"))?,
                )),
                role: role_of(&role)?,
            })
        })
        .collect()
}

#[async_trait]
impl Store for ShardedStore {
    async fn create_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        let key = rec.user.name.to_lowercase();
        let name_pool = &self.pools[self.name_shard(&key)];
        // The name first: its uniqueness decides.
        sqlx::query("INSERT INTO user_names (name_key, user_id) VALUES (?, ?)")
            .bind(&key)
            .bind(to_sql(rec.user.id.0))
            .execute(name_pool)
            .await
            .map_err(unavailable("create_user"))?;
        let r = sqlx::query(
            "INSERT INTO users (id, name, password_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(to_sql(rec.user.id.0))
        .bind(&rec.user.name)
        .bind(&rec.password_hash)
        .bind(rec.user.created_at)
        .execute(&self.pools[self.user_shard(rec.user.id)])
        .await;
        if let Err(e) = r {
            // Give the name back so a retry can take it.
            let _ = sqlx::query("DELETE FROM user_names WHERE name_key = ? AND user_id = ?")
                .bind(&key)
                .bind(to_sql(rec.user.id.0))
                .execute(name_pool)
                .await;
            return Err(unavailable("create_user")(e));
        }
        Ok(())
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = name.to_lowercase();
        let id: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM user_names WHERE name_key = ?")
                .bind(&key)
                .fetch_optional(&self.pools[self.name_shard(&key)])
                .await
                .map_err(unavailable("user_by_name"))?;
        let Some(id) = id else { return Ok(None) };
        let uid = UserId(from_sql(id));
        let row = sqlx::query("SELECT id, name, password_hash, created_at FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pools[self.user_shard(uid)])
            .await
            .map_err(unavailable("user_by_name"))?;
        row.as_ref().map(user_record_from_row).transpose()
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let mut by_shard: Vec<Vec<UserId>> = vec![Vec::new(); self.pools.len()];
        for id in ids {
            by_shard[self.user_shard(*id)].push(*id);
        }
        let mut out = Vec::with_capacity(ids.len());
        for (i, group) in by_shard.iter().enumerate() {
            for chunk in group.chunks(INSERT_CHUNK) {
                let mut q: QueryBuilder<MySql> = QueryBuilder::new(
                    "SELECT id, name, password_hash, created_at FROM users WHERE id IN (",
                );
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(to_sql(id.0));
                }
                q.push(")");
                let rows = q
                    .build()
                    .fetch_all(&self.pools[i])
                    .await
                    .map_err(unavailable("users"))?;
                for r in &rows {
                    out.push(user_record_from_row(r)?.user);
                }
            }
        }
        Ok(out)
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let mut by_shard: Vec<Vec<ChatId>> = vec![Vec::new(); self.pools.len()];
        for id in ids {
            by_shard[self.chat_shard(*id)].push(*id);
        }
        let mut out = Vec::with_capacity(ids.len());
        for (i, group) in by_shard.iter().enumerate() {
            for chunk in group.chunks(INSERT_CHUNK) {
                let mut q: QueryBuilder<MySql> =
                    QueryBuilder::new(format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id IN ("));
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(to_sql(id.0));
                }
                q.push(")");
                let rows = q
                    .build()
                    .fetch_all(&self.pools[i])
                    .await
                    .map_err(unavailable("chats"))?;
                for r in &rows {
                    out.push(chat_from_row(r)?);
                }
            }
        }
        Ok(out)
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>, StoreError> {
        let rows =
            sqlx::query("SELECT user_id, role FROM members WHERE chat_id = ? ORDER BY user_id")
                .bind(to_sql(chat.0))
                .fetch_all(self.pool_of_chat(chat))
                .await
                .map_err(unavailable("members"))?;
        members_from_rows(&rows)
    }

    async fn messages(&self, chat: ChatId, page: HistoryPage) -> Result<Vec<Message>, StoreError> {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = "
        ));
        q.push_bind(to_sql(chat.0));
        let (limit, reverse) = match page {
            HistoryPage::Latest { limit } => {
                q.push(" ORDER BY seq DESC LIMIT ");
                (limit, true)
            }
            HistoryPage::Before { before, limit } => {
                q.push(" AND seq < ")
                    .push_bind(before.min(i64::MAX as u64) as i64)
                    .push(" ORDER BY seq DESC LIMIT ");
                (limit, true)
            }
            HistoryPage::After { after, limit } => {
                q.push(" AND seq > ")
                    .push_bind(after.min(i64::MAX as u64) as i64)
                    .push(" ORDER BY seq ASC LIMIT ");
                (limit, false)
            }
        };
        q.push_bind(i64::from(limit));
        let rows = q
            .build()
            .fetch_all(self.pool_of_chat(chat))
            .await
            .map_err(unavailable("messages"))?;
        let mut out = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if reverse {
            out.reverse();
        }
        Ok(out)
    }

    async fn message(&self, chat: ChatId, seq: u64) -> Result<Option<Message>, StoreError> {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = "
        ));
        q.push_bind(to_sql(chat.0))
            .push(" AND seq = ")
            .push_bind(seq.min(i64::MAX as u64) as i64);
        let row = q
            .build()
            .fetch_optional(self.pool_of_chat(chat))
            .await
            .map_err(unavailable("message"))?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn messages_by_client_ids(&self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let mut by_shard: Vec<Vec<&ClientKey>> = vec![Vec::new(); self.pools.len()];
        for k in keys {
            by_shard[self.chat_shard(k.0)].push(k);
        }
        let mut out = Vec::new();
        for (i, group) in by_shard.iter().enumerate() {
            for chunk in group.chunks(INSERT_CHUNK) {
                let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE (chat_id, sender_id, client_msg_id) IN ("
                ));
                let mut sep = q.separated(", ");
                for (chat, sender, key) in chunk.iter() {
                    sep.push("(")
                        .push_bind_unseparated(to_sql(chat.0))
                        .push_unseparated(", ")
                        .push_bind_unseparated(to_sql(sender.0))
                        .push_unseparated(", ")
                        .push_bind_unseparated(key.clone())
                        .push_unseparated(")");
                }
                q.push(")");
                let rows = q
                    .build()
                    .fetch_all(&self.pools[i])
                    .await
                    .map_err(unavailable("messages_by_client_ids"))?;
                for r in &rows {
                    out.push(message_from_row(r)?);
                }
            }
        }
        Ok(out)
    }

    async fn changes_since(
        &self,
        chat: ChatId,
        since_pts: u64,
        limit: u32,
    ) -> Result<Vec<chat_core::ports::Change>, StoreError> {
        use sqlx::Row as _;
        let since = since_pts.min(i64::MAX as u64) as i64;
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = "
        ));
        q.push_bind(to_sql(chat.0))
            .push(" AND pts > ")
            .push_bind(since)
            .push(" ORDER BY pts LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q
            .build()
            .fetch_all(self.pool_of_chat(chat))
            .await
            .map_err(unavailable("changes_since"))?;
        let msgs = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let rows = sqlx::query("SELECT pts, event FROM chat_changes WHERE chat_id = ? AND pts > ? ORDER BY pts LIMIT ?")
            .bind(to_sql(chat.0))
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(self.pool_of_chat(chat))
            .await
            .map_err(unavailable("changes_since"))?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let pts: i64 = r.try_get("pts").map_err(|_| corrupt("pts"))?;
            let event: String = r.try_get("event").map_err(|_| corrupt("event"))?;
            events.push((pts as u64, event));
        }
        Ok(chat_core::ports::merge_changes(msgs, events, limit))
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        use sqlx::Row as _;
        let rows = sqlx::query("SELECT chat_id, role, read_seq FROM memberships WHERE user_id = ?")
            .bind(to_sql(user.0))
            .fetch_all(&self.pools[self.user_shard(user)])
            .await
            .map_err(unavailable("memberships"))?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role").map_err(|_| corrupt("role"))?;
                Ok(Membership {
                    chat_id: ChatId(from_sql(
                        r.try_get("chat_id").map_err(|_| corrupt("chat_id"))?,
                    )),
                    role: role_of(&role)?,
                    read_seq: r
                        .try_get::<i64, _>("read_seq")
                        .map_err(|_| corrupt("read_seq"))? as u64,
                })
            })
            .collect()
    }

    async fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut by_shard: Vec<Vec<&Mutation>> = vec![Vec::new(); self.pools.len()];
        for m in batch {
            by_shard[self.shard_of(m)].push(m);
        }
        let work = by_shard
            .iter()
            .enumerate()
            .filter(|(_, muts)| !muts.is_empty())
            .map(|(i, muts)| {
                let pool = &self.pools[i];
                async move {
                    let t = Instant::now();
                    let r = apply_shard(pool, muts).await;
                    metrics::SHARD_APPLY_SECONDS
                        .with_label_values(&[self.ring.shards()[i].name.as_str()])
                        .observe(t.elapsed().as_secs_f64());
                    r
                }
            });
        // Every shard is attempted; the first error is reported and the writer
        // retries the whole (idempotent) batch.
        let results = futures_util::future::join_all(work).await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        metrics::APPLY_SECONDS.observe(started.elapsed().as_secs_f64());
        metrics::APPLY_MUTATIONS.observe(batch.len() as f64);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        for p in self.pools.iter() {
            sqlx::query("SELECT 1")
                .execute(p)
                .await
                .map_err(unavailable("ping"))?;
        }
        Ok(())
    }
}

//! The SQLite store: standalone mode's one shard. WAL journal, migrations shipped
//! in the binary, one transaction per writer batch.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_core::model::{Chat, Member, Message, User, UserRecord};
use chat_core::ports::{ClientKey, HistoryPage, Membership, Mutation, Store};
use chat_core::{ChatId, StoreError, UserId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row, Sqlite, SqlitePool};

use crate::metrics;
use crate::rows::{corrupt, role_of, row_decoders};
use crate::runs::{CounterRow, Run, runs};

row_decoders!(SqliteRow);
use crate::{from_sql, to_sql};

/// Settings of the SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// Database file; created with its schema when missing.
    pub path: PathBuf,
    /// Connections in the pool (readers; SQLite serializes writers).
    pub max_connections: u32,
    /// `synchronous=FULL` fsyncs every commit (survives power loss); `false` uses
    /// NORMAL, which in WAL mode survives a process crash but not power loss.
    pub fsync_every_commit: bool,
    /// How often the background checkpointer copies the WAL into the database
    /// and makes it start over. Longer: a page changed many times is copied
    /// once, at the price of a longer WAL and a longer pause of the writer when
    /// it starts over (at 4,000 msgs/s: 5 s gave ~300 ms pauses every 5 s,
    /// 1 s none visible in the per-second p99).
    pub checkpoint_every: Duration,
}

impl SqliteConfig {
    /// Defaults for a database file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            max_connections: 8,
            fsync_every_commit: true,
            checkpoint_every: Duration::from_secs(1),
        }
    }
}

/// [`Store`] on one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Connection pool for reads; every connection in WAL mode.
    pool: SqlitePool,
    /// The writer's own connection: batches and the writer's reads go through it.
    /// A connection's page cache is dropped whenever another connection changed
    /// the database since its last transaction, so a writer taking a different
    /// pool connection each batch re-read every page it touched (ten `pread`s per
    /// message at 4,000 msgs/s); one connection keeps its cache warm.
    /// `None` once closed.
    writer: Arc<tokio::sync::Mutex<Option<SqliteConnection>>>,
    /// Stops and awaits the background checkpointer.
    checkpointer: Arc<std::sync::Mutex<Option<Checkpointer>>>,
}

type Checkpointer = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

macro_rules! message_columns {
    () => {
        "chat_id, seq, id, sender_id, client_msg_id, text, reply_to_seq, \
         fwd_chat_id, fwd_seq, fwd_sender_id, created_at, edited_at, deleted, pts"
    };
}
const CHAT_COLUMNS: &str =
    "id, kind, title, created_by, created_at, last_seq, last_pts, member_count, last_message";
/// Messages by idempotency key, the keys as a `VALUES` list between head and
/// tail. The keys drive the loop (`CROSS JOIN` keeps them outside) and each is
/// one search of the `messages_client_msg_id` index. (The shorter
/// `WHERE (chat_id, sender_id, client_msg_id) IN (VALUES …)` scans the whole
/// table: every writer batch grew slower as history grew.)
const CLIENT_KEYS_HEAD: &str = concat!("SELECT ", message_columns!(), " FROM (VALUES ");
const CLIENT_KEYS_TAIL: &str = ") AS k CROSS JOIN messages ON messages.chat_id = k.column1 \
     AND messages.sender_id = k.column2 AND messages.client_msg_id = k.column3";

/// SQLite's default limit on bound parameters is 32766; stay far below.
const IN_CHUNK: usize = 500;

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

impl SqliteStore {
    /// Opens (or creates) the database and applies the migrations.
    pub async fn open(cfg: &SqliteConfig) -> Result<SqliteStore, StoreError> {
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", cfg.path.display()))
            .map_err(unavailable("open"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if cfg.fsync_every_commit {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            // Readers: a small page cache (it is dropped whenever the writer
            // committed since a reader's last transaction) and memory-mapped reads.
            .pragma("cache_size", "-8192")
            .pragma("mmap_size", "268435456")
            .pragma("temp_store", "memory")
            // After the WAL restarts, its file is cut back to this size.
            .pragma("journal_size_limit", "67108864")
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .connect_with(opts.clone())
            .await
            .map_err(unavailable("open"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrate: {e}")))?;
        // The writer never checkpoints on its commit path (that copied ~2,000
        // pages into the database file every few hundred milliseconds at load,
        // inside a batch's latency); the checkpointer does it in the background.
        let writer = opts
            .clone()
            .pragma("wal_autocheckpoint", "0")
            // The writer's cache holds the pages it keeps changing (every chat's
            // newest index and table pages): at 64 MiB it began to miss once
            // the database passed ~50 MB, and each batch got slower.
            .pragma("cache_size", "-262144")
            .connect()
            .await
            .map_err(unavailable("open"))?;
        let writer = Arc::new(tokio::sync::Mutex::new(Some(writer)));
        let ckpt = opts.connect().await.map_err(unavailable("open"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(checkpointer(
            ckpt,
            cfg.checkpoint_every,
            Arc::downgrade(&writer),
            stopped,
        ));
        Ok(SqliteStore {
            pool,
            writer,
            checkpointer: Arc::new(std::sync::Mutex::new(Some((stop, task)))),
        })
    }

    /// Closes the writer connection and the pool, checkpointing the WAL.
    pub async fn close(&self) {
        if let Some(c) = self.writer.lock().await.take()
            && let Err(e) = c.close().await
        {
            tracing::warn!(error = %e, "closing the SQLite writer connection failed");
        }
        let ckpt = self
            .checkpointer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, task)) = ckpt {
            let _ = stop.send(());
            let _ = task.await;
        }
        self.pool.close().await;
    }
}

/// Copies committed WAL frames into the database file in the background
/// (`PASSIVE`, beside the writer and readers), then makes the WAL start over
/// (`RESTART`, a short pause of the writer) so that it does not grow. Ends when
/// the store is closed or dropped.
async fn checkpointer(
    mut conn: SqliteConnection,
    every: Duration,
    alive: std::sync::Weak<tokio::sync::Mutex<Option<SqliteConnection>>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        if alive.strong_count() == 0 {
            break;
        }
        let started = Instant::now();
        // The copying, beside the writer (it keeps committing meanwhile): a
        // second pass copies what the writer appended during the first.
        let Some((log, _)) = checkpoint(&mut conn, PASSIVE).await else {
            continue;
        };
        if log > 0 && checkpoint(&mut conn, PASSIVE).await.is_some() {
            // Even with every frame copied, the WAL restarts from its beginning
            // only if no reader is on a WAL snapshot when the writer next
            // commits; with reads going on all the time that never happened at
            // load, and the WAL grew by the write rate (gigabytes a minute,
            // reads slowing down with it). RESTART copies the little that is
            // left and waits for the readers to move to the database file, so
            // the writer's next commit starts the WAL over. It runs on the
            // writer's connection between two batches: the wait (a few short
            // reads) is the writer's only pause.
            let Some(writer) = alive.upgrade() else { break };
            let mut writer = writer.lock().await;
            if let Some(wconn) = writer.as_mut() {
                checkpoint(wconn, RESTART).await;
            }
        }
        metrics::CHECKPOINT_SECONDS.observe(started.elapsed().as_secs_f64());
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the SQLite checkpointer connection failed");
    }
}

const PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";
const RESTART: &str = "PRAGMA wal_checkpoint(RESTART)";

/// Runs `pragma` (a `PRAGMA wal_checkpoint(…)`) on `conn`: (frames in the WAL,
/// frames copied into the database), or `None` when it failed (logged).
async fn checkpoint(conn: &mut SqliteConnection, pragma: &'static str) -> Option<(i64, i64)> {
    // `fetch_all`: the statement runs to its end and releases what it holds.
    match sqlx::query_as::<_, (i64, i64, i64)>(pragma)
        .fetch_all(conn)
        .await
    {
        Ok(rows) => {
            let (_, log, done) = rows.first().copied().unwrap_or_default();
            metrics::WAL_FRAMES.set(log);
            tracing::trace!(pragma, log, done, "WAL checkpoint");
            Some((log, done))
        }
        Err(e) => {
            tracing::warn!(error = %e, pragma, "WAL checkpoint failed");
            None
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the SQLite store is closed".into())
}

/// Moves many cursors forward in one statement (`UPDATE … FROM (VALUES …)`);
/// one row per key (see [`crate::runs`]).
async fn advance_cursors(
    tx: &mut sqlx::SqliteConnection,
    rows: &[(UserId, ChatId, u64)],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE OR FAIL memberships SET read_seq = MAX(read_seq, v.column3) FROM (VALUES ",
        );
        let mut sep = q.separated(", ");
        for (u, c, seq) in chunk {
            sep.push("(")
                .push_bind_unseparated(to_sql(u.0))
                .push_unseparated(", ")
                .push_bind_unseparated(to_sql(c.0))
                .push_unseparated(", ")
                .push_bind_unseparated(*seq as i64)
                .push_unseparated(")");
        }
        q.push(") AS v WHERE memberships.user_id = v.column1 AND memberships.chat_id = v.column2");
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Updates many chats' counters in one statement, each only if newer; one row
/// per chat (see [`crate::runs`]).
async fn update_counters(
    tx: &mut sqlx::SqliteConnection,
    rows: &[CounterRow],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE OR FAIL chats SET last_seq = v.column2, last_pts = v.column3, member_count = v.column4, \
             last_message = v.column5 FROM (VALUES ",
        );
        let mut sep = q.separated(", ");
        for r in chunk {
            sep.push("(")
                .push_bind_unseparated(to_sql(r.chat_id.0))
                .push_unseparated(", ")
                .push_bind_unseparated(r.last_seq as i64)
                .push_unseparated(", ")
                .push_bind_unseparated(r.last_pts as i64)
                .push_unseparated(", ")
                .push_bind_unseparated(i64::from(r.member_count))
                .push_unseparated(", ")
                .push_bind_unseparated(r.last_message.as_deref())
                .push_unseparated(")");
        }
        q.push(") AS v WHERE chats.id = v.column1 AND chats.last_pts < v.column3");
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Rows per multi-row insert (14 parameters each; SQLite allows 32766).
const INSERT_CHUNK: usize = 500;

/// Multi-row insert of messages; rows that already exist must be the very same
/// messages (a retried batch), anything else is a conflict.
///
/// The batched statements here say `OR FAIL`: a failing statement keeps the rows
/// it already changed instead of undoing them. With the default (`ABORT`),
/// SQLite copies every page a multi-row statement touches into a statement
/// journal first, in case it has to undo it (a malloc and a copy per page, ~3 %
/// of the server at load). `apply` rolls the whole transaction back on any
/// error, so the result is the same.
async fn insert_messages(
    tx: &mut sqlx::SqliteConnection,
    msgs: &[&Message],
) -> Result<(), StoreError> {
    for chunk in msgs.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(concat!(
            "INSERT OR FAIL INTO messages (",
            message_columns!(),
            ") "
        ));
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
        q.push(" ON CONFLICT DO NOTHING");
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
async fn apply_sql(tx: &mut sqlx::SqliteConnection, m: &Mutation) -> Result<(), sqlx::Error> {
    match m {
        // Batched in `apply` (see `crate::runs`).
        Mutation::InsertMessage(_)
        | Mutation::ChatCounters { .. }
        | Mutation::AdvanceCursor { .. } => {}
        Mutation::InsertChat(c) => {
            let last = c
                .last_message
                .as_ref()
                .map(|l| serde_json::to_string(l).unwrap_or_default());
            sqlx::query(
                "INSERT INTO chats (id, kind, title, created_by, created_at, last_seq, last_pts, member_count, last_message) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
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
            sqlx::query(
                "INSERT INTO members (chat_id, user_id, role) VALUES (?, ?, ?) \
                 ON CONFLICT (chat_id, user_id) DO UPDATE SET role = excluded.role",
            )
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
                 ON CONFLICT (user_id, chat_id) DO UPDATE SET role = excluded.role",
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
            sqlx::query("INSERT INTO chat_changes (chat_id, pts, event) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(to_sql(chat_id.0))
                .bind(*pts as i64)
                .bind(event)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO users (id, name, name_key, password_hash, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(to_sql(rec.user.id.0))
            .bind(&rec.user.name)
            .bind(rec.user.name.to_lowercase())
            .bind(&rec.password_hash)
            .bind(rec.user.created_at)
            .execute(&self.pool)
            .await
            .map_err(unavailable("create_user"))?;
        Ok(())
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, password_hash, created_at FROM users WHERE name_key = ?")
                .bind(name.to_lowercase())
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable("user_by_name"))?;
        row.as_ref().map(user_record_from_row).transpose()
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT id, name, password_hash, created_at FROM users WHERE id IN (",
            );
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(to_sql(id.0));
            }
            q.push(")");
            let rows = q
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable("users"))?;
            for r in &rows {
                out.push(user_record_from_row(r)?.user);
            }
        }
        Ok(out)
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id IN ("));
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(to_sql(id.0));
            }
            q.push(")");
            let rows = q
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable("chats"))?;
            for r in &rows {
                out.push(chat_from_row(r)?);
            }
        }
        Ok(out)
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>, StoreError> {
        let rows =
            sqlx::query("SELECT user_id, role FROM members WHERE chat_id = ? ORDER BY user_id")
                .bind(to_sql(chat.0))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable("members"))?;
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

    async fn messages(&self, chat: ChatId, page: HistoryPage) -> Result<Vec<Message>, StoreError> {
        let (sql, bound, limit, reverse): (&'static str, _, _, _) = match page {
            HistoryPage::Latest { limit } => (
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE chat_id = ? ORDER BY seq DESC LIMIT ?"
                ),
                None,
                limit,
                true,
            ),
            HistoryPage::Before { before, limit } => (
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE chat_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
                ),
                Some(before),
                limit,
                true,
            ),
            HistoryPage::After { after, limit } => (
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE chat_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?"
                ),
                Some(after),
                limit,
                false,
            ),
        };
        let mut q = sqlx::query(sql).bind(to_sql(chat.0));
        if let Some(b) = bound {
            q = q.bind(b.min(i64::MAX as u64) as i64);
        }
        let rows = q
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
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
        let row = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE chat_id = ? AND seq = ?"
        ))
        .bind(to_sql(chat.0))
        .bind(seq.min(i64::MAX as u64) as i64)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable("message"))?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn messages_by_client_ids(&self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::new();
        // Only the writer asks (before a batch): its own connection's cache.
        let mut writer = self.writer.lock().await;
        let conn = writer.as_mut().ok_or_else(closed)?;
        for chunk in keys.chunks(IN_CHUNK / 2) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(CLIENT_KEYS_HEAD);
            let mut sep = q.separated(", ");
            for (chat, sender, key) in chunk {
                sep.push("(")
                    .push_bind_unseparated(to_sql(chat.0))
                    .push_unseparated(", ")
                    .push_bind_unseparated(to_sql(sender.0))
                    .push_unseparated(", ")
                    .push_bind_unseparated(key.clone())
                    .push_unseparated(")");
            }
            q.push(CLIENT_KEYS_TAIL);
            let rows = q
                .build()
                .fetch_all(&mut *conn)
                .await
                .map_err(unavailable("messages_by_client_ids"))?;
            for r in &rows {
                out.push(message_from_row(r)?);
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
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE chat_id = "
        ));
        q.push_bind(to_sql(chat.0))
            .push(" AND pts > ")
            .push_bind(since)
            .push(" ORDER BY pts LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q
            .build()
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
        let rows = sqlx::query("SELECT chat_id, role, read_seq FROM memberships WHERE user_id = ?")
            .bind(to_sql(user.0))
            .fetch_all(&self.pool)
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
        let mut writer = self.writer.lock().await;
        let conn = writer.as_mut().ok_or_else(closed)?;
        let mut tx = conn.begin().await.map_err(unavailable("apply"))?;
        for run in runs(batch) {
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
        tx.commit().await.map_err(unavailable("apply"))?;
        metrics::APPLY_SECONDS.observe(started.elapsed().as_secs_f64());
        metrics::APPLY_MUTATIONS.observe(batch.len() as f64);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable("ping"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement a writer batch runs per key must search an index: a scan
    /// costs time proportional to the history, on every batch.
    #[tokio::test]
    async fn writer_lookups_search_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("t.db")))
            .await
            .unwrap();
        let lookup = format!("{CLIENT_KEYS_HEAD}(1, 2, 'a'), (3, 4, 'b'){CLIENT_KEYS_TAIL}");
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {lookup}")))
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with("SEARCH messages USING INDEX messages_client_msg_id")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN messages")),
            "{steps:?}"
        );
        store.close().await;
    }
}

//! One database, whatever its dialect: the statements (built here, once, from
//! the [`Dialect`]'s few words) and their execution. Reads are in `store.rs`
//! (the [`Store`](chat_core::ports::Store) implementation), writes and accounts
//! in `exec.rs`.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use chat_core::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Database, Encode, Pool, SqlSafeStr, SqlStr, Type};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::dialect::Dialect;
use crate::metrics::{self, ErrorKind};

pub(crate) mod exec;
mod store;
#[cfg(test)]
mod tests;

macro_rules! message_columns {
    () => {
        "chat_id, seq, id, sender_id, client_msg_id, text, reply_to_seq, \
         fwd_chat_id, fwd_seq, fwd_sender_id, created_at, edited_at, deleted, pts, mentions"
    };
}
pub(crate) use message_columns;

/// The columns a message is read and written with.
pub(crate) const MESSAGE_COLUMNS: &str = message_columns!();
/// The columns a chat is read and written with.
pub(crate) const CHAT_COLUMNS: &str =
    "id, kind, title, created_by, created_at, last_seq, last_pts, member_count, last_message, pins";

macro_rules! session_columns {
    () => {
        "user_id, id, generation, secret_hash, device, created_at, used_at, expires_at, revoked_at"
    };
}
pub(crate) use session_columns;

/// The columns a login session is read and written with.
pub(crate) const SESSION_COLUMNS: &str = session_columns!();

/// Rows per multi-row statement and ids per `IN (…)` list: 500 rows of 14
/// parameters stay far below SQLite's 32766 and MySQL's 65535.
pub(crate) const CHUNK: usize = 500;

/// The rows a multi-row statement is built for: `rows`, then its last row
/// again up to the next power of two (at most [`CHUNK`]). Every statement
/// that pads takes a repeated row as a no-op (an insert that keeps a stored
/// row, an update to the same value, an `IN` list), so each such statement
/// has at most ten texts — and a connection's prepared-statement cache,
/// keyed by text, keeps them all instead of closing and preparing one per
/// batch size (on MySQL a `COM_STMT_CLOSE` sent right before the next
/// statement, which then waits on a delayed ACK: sqlx sets no `TCP_NODELAY`).
pub(crate) fn padded<T>(rows: &[T]) -> impl Iterator<Item = &T> {
    let n = rows.len();
    let to = if n <= 1 {
        n
    } else {
        n.next_power_of_two().min(CHUNK.max(n))
    };
    rows.iter()
        .chain(std::iter::repeat_n(rows.last(), to - n).flatten())
}

/// A Rust value bound as a parameter of `D`'s statements.
pub trait Bind<D: Database>: for<'q> Encode<'q, D> + Type<D> + Send {}
impl<D: Database, T> Bind<D> for T where T: for<'q> Encode<'q, D> + Type<D> + Send {}

/// [`Store`](chat_core::ports::Store) on one database: SQLite's file
/// ([`crate::SqliteStore`]) or one MySQL/MariaDB shard.
pub struct SqlStore<D: Dialect> {
    /// Connection pool for reads.
    pub(crate) pool: Pool<D>,
    /// Where batches and the writer's reads run.
    writer: Writer<D>,
    /// The statements whose text depends on the dialect.
    sql: Arc<Statements>,
    /// A background task (SQLite's checkpointer), stopped and awaited on close.
    background: Arc<std::sync::Mutex<Option<Background>>>,
}

type Background = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            writer: self.writer.clone(),
            sql: self.sql.clone(),
            background: self.background.clone(),
        }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &D::NAME)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// Where a store's writes run.
pub(crate) enum Writer<D: Database> {
    /// A connection of its own, `None` once closed (see `SqliteStore` for why).
    Own(Arc<Mutex<Option<D::Connection>>>),
    /// Any connection of the pool (MySQL).
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    Pool,
}

impl<D: Database> Clone for Writer<D> {
    fn clone(&self) -> Self {
        match self {
            Writer::Own(c) => Writer::Own(c.clone()),
            Writer::Pool => Writer::Pool,
        }
    }
}

/// The writer's connection while it is in use.
pub(crate) enum WriterConn<'a, D: Database> {
    Own(MappedMutexGuard<'a, D::Connection>),
    Pooled(PoolConnection<D>),
}

impl<D: Database> Deref for WriterConn<'_, D> {
    type Target = D::Connection;
    fn deref(&self) -> &D::Connection {
        match self {
            WriterConn::Own(c) => c,
            WriterConn::Pooled(c) => c,
        }
    }
}

impl<D: Database> DerefMut for WriterConn<'_, D> {
    fn deref_mut(&mut self) -> &mut D::Connection {
        match self {
            WriterConn::Own(c) => c,
            WriterConn::Pooled(c) => c,
        }
    }
}

/// The statements whose text depends on the dialect, built once per store.
pub(crate) struct Statements {
    insert_chat: SqlStr,
    put_member: SqlStr,
    put_membership: SqlStr,
    record_change: SqlStr,
    put_mention: SqlStr,
    put_ban: SqlStr,
    put_block: SqlStr,
    put_hidden: SqlStr,
    put_session: SqlStr,
    put_chat_settings: SqlStr,
    put_join: SqlStr,
    set_profile: SqlStr,
    set_avatar: SqlStr,
    set_presence: SqlStr,
    put_reaction: SqlStr,
    /// Head of a multi-row insert of messages, before `VALUES`.
    insert_messages: String,
    /// Messages by idempotency key: before and after the keys.
    client_keys: [String; 2],
}

/// A statement built at run time, shared (cloning it is cheap).
fn sql(s: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(s)).into_sql_str()
}

impl Statements {
    pub(crate) fn of<D: Dialect>() -> Statements {
        let [insert, new] = D::INSERT_NEW;
        let [insert_rows, _] = D::INSERT_NEW_ROWS;
        Statements {
            insert_chat: sql(format!(
                "{insert} chats ({CHAT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?){new}"
            )),
            put_member: sql(format!(
                "INSERT INTO members (chat_id, user_id, role) VALUES (?, ?, ?){}",
                D::upsert("chat_id, user_id", "role")
            )),
            put_membership: sql(format!(
                "INSERT INTO memberships (user_id, chat_id, role, read_seq) VALUES (?, ?, ?, 0){}",
                D::upsert("user_id, chat_id", "role")
            )),
            record_change: sql(format!(
                "{insert} chat_changes (chat_id, pts, event, user_id) VALUES (?, ?, ?, ?){new}"
            )),
            put_mention: sql(format!(
                "{insert} mentions (user_id, chat_id, seq) VALUES (?, ?, ?){new}"
            )),
            put_ban: sql(format!(
                "{insert} chat_bans (chat_id, user_id, banned_by, banned_at) VALUES (?, ?, ?, ?){new}"
            )),
            put_block: sql(format!(
                "{insert} user_blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?){new}"
            )),
            put_hidden: sql(format!(
                "{insert} chat_hidden (chat_id, user_id) VALUES (?, ?){new}"
            )),
            put_session: sql(format!(
                "{insert} sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?){new}"
            )),
            put_chat_settings: sql(format!(
                "INSERT INTO chat_settings (chat_id, history_from_join) VALUES (?, ?){}",
                D::upsert("chat_id", "history_from_join")
            )),
            put_join: sql(format!(
                "INSERT INTO member_joins (chat_id, user_id, joined_seq) VALUES (?, ?, ?){}",
                D::upsert("chat_id, user_id", "joined_seq")
            )),
            // A field given `NULL` keeps what is stored (or the default).
            set_profile: sql(format!(
                "INSERT INTO user_profiles (user_id, display_name, about, updated_at) \
                 VALUES (?, ?, COALESCE(?, ''), ?){}display_name = COALESCE(?, display_name), \
                 about = COALESCE(?, about), updated_at = ?",
                D::on_conflict_update("user_id")
            )),
            set_avatar: sql(format!(
                "INSERT INTO user_profiles (user_id, avatar_tag, avatar_type, avatar, updated_at) \
                 VALUES (?, ?, ?, ?, ?){}avatar_tag = ?, avatar_type = ?, avatar = ?, updated_at = ?",
                D::on_conflict_update("user_id")
            )),
            // A row made for this alone has `updated_at` 0: no profile
            // change for `sync_profiles` to list.
            set_presence: sql(format!(
                "INSERT INTO user_profiles (user_id, presence, updated_at) VALUES (?, ?, 0){}\
                 presence = ?",
                D::on_conflict_update("user_id")
            )),
            put_reaction: sql(format!(
                "{insert} reactions (chat_id, seq, user_id, emoji, pts) VALUES (?, ?, ?, ?, ?){new}"
            )),
            insert_messages: format!("{insert_rows} messages ({MESSAGE_COLUMNS}) "),
            client_keys: D::client_keys_lookup(MESSAGE_COLUMNS),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// A store on `pool`, writing through `writer`, with `background` stopped on
    /// [`close`](Self::close).
    pub(crate) fn new(pool: Pool<D>, writer: Writer<D>, background: Option<Background>) -> Self {
        metrics::init();
        SqlStore {
            pool,
            writer,
            sql: Arc::new(Statements::of::<D>()),
            background: Arc::new(std::sync::Mutex::new(background)),
        }
    }

    /// The pool reads use.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    /// The connection batches run on: the store's own, or one from the pool
    /// (for operation `op`).
    pub(crate) async fn writer(&self, op: &'static str) -> Result<WriterConn<'_, D>, StoreError> {
        match &self.writer {
            Writer::Own(conn) => MutexGuard::try_map(conn.lock().await, Option::as_mut)
                .map(WriterConn::Own)
                .map_err(|_| StoreError::Unavailable(format!("the {} store is closed", D::NAME))),
            Writer::Pool => self
                .pool
                .acquire()
                .await
                .map(WriterConn::Pooled)
                .map_err(unavailable(op)),
        }
    }

    /// Closes the writer's connection, stops the background task and closes
    /// the pool (on SQLite: checkpointing the WAL).
    pub async fn close(&self) {
        if let Writer::Own(conn) = &self.writer
            && let Some(c) = conn.lock().await.take()
            && let Err(e) = sqlx::Connection::close(c).await
        {
            tracing::warn!(error = %e, "closing the writer's connection failed");
        }
        let background = self
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, task)) = background {
            let _ = stop.send(());
            let _ = task.await;
        }
        self.pool.close().await;
    }
}

/// The error of operation `op` (counted by kind): a unique key taken is a
/// conflict; the data refused by the database itself (a constraint, or
/// SQLSTATE class 22, "data exception": too long, out of range, invalid) or
/// by the driver (cannot be encoded) is a rejection, which fails the same way
/// every time; anything else makes the store unavailable — retried, never
/// taken for the data's fault.
pub(crate) fn unavailable(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        let (kind, err) = match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => (
                ErrorKind::Conflict,
                StoreError::Conflict(d.message().to_string()),
            ),
            sqlx::Error::Database(d)
                if d.is_foreign_key_violation()
                    || d.is_check_violation()
                    || matches!(d.kind(), sqlx::error::ErrorKind::NotNullViolation)
                    || d.code().is_some_and(|c| c.starts_with("22")) =>
            {
                (
                    ErrorKind::Rejected,
                    StoreError::Rejected(format!("{op}: {e}")),
                )
            }
            sqlx::Error::Encode(_) => (
                ErrorKind::Rejected,
                StoreError::Rejected(format!("{op}: {e}")),
            ),
            _ => (
                ErrorKind::Unavailable,
                StoreError::Unavailable(format!("{op}: {e}")),
            ),
        };
        metrics::error(op, kind);
        err
    }
}

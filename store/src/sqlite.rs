//! The SQLite store: standalone mode's one shard. WAL journal, migrations shipped
//! in the binary, one transaction per writer batch; the SQLite [`Dialect`].

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Sqlite};

use crate::dialect::{Dialect, RowsTable, UpdateFrom};
use crate::metrics;
use crate::sql::{SqlStore, Writer, unavailable};

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

/// [`Store`](chat_core::ports::Store) on one SQLite file.
///
/// Reads use a pool of connections, every one in WAL mode. The writer has a
/// connection of its own: batches and the writer's reads go through it. A
/// connection's page cache is dropped whenever another connection changed the
/// database since its last transaction, so a writer taking a different pool
/// connection each batch re-read every page it touched (ten `pread`s per
/// message at 4,000 msgs/s); one connection keeps its cache warm. A background
/// task checkpoints the WAL (see `checkpointer`).
pub type SqliteStore = SqlStore<Sqlite>;

impl Dialect for Sqlite {
    const SEARCH: [&'static str; 2] = ["message_search MATCH ?", "rowid"];
    /// The query on the `text` column; in one chat, also the chat's token
    /// (see migration 0012): FTS5 intersects the two.
    fn search_query(q: &chat_core::search::Query, chats: &[chat_core::ChatId]) -> String {
        match chats {
            [one] => format!("text : ({}) AND chat : \"c{:x}\"", q.fts5(), one.0),
            _ => format!("text : ({})", q.fts5()),
        }
    }
    const INSERT_NEW: [&'static str; 2] = ["INSERT INTO", " ON CONFLICT DO NOTHING"];
    /// The batched statements here say `OR FAIL`: a failing statement keeps
    /// the rows it already changed instead of undoing them. With the default
    /// (`ABORT`), SQLite copies every page a multi-row statement touches into
    /// a statement journal first, in case it has to undo it (a malloc and a
    /// copy per page, ~3 % of the server at load). `apply` rolls the whole
    /// transaction back on any error, so the result is the same.
    const INSERT_NEW_ROWS: [&'static str; 2] = ["INSERT OR FAIL INTO", " ON CONFLICT DO NOTHING"];
    /// `(VALUES (…), (…)) AS v`: SQLite names the columns `column1`, `column2`, ….
    const ROWS: RowsTable = RowsTable {
        open: "(VALUES ",
        row: ["(", ", ("],
        row_end: ")",
        close: ") AS v",
    };
    /// `UPDATE … FROM`, `OR FAIL` as the batched inserts (see [`Self::INSERT_NEW_ROWS`]).
    const ADVANCE_CURSORS: UpdateFrom = UpdateFrom {
        head: "UPDATE OR FAIL memberships SET read_seq = MAX(read_seq, v.column3) FROM ",
        columns: &[],
        tail: " WHERE memberships.user_id = v.column1 AND memberships.chat_id = v.column2",
    };
    const UPDATE_COUNTERS: UpdateFrom = UpdateFrom {
        head: "UPDATE OR FAIL chats SET last_seq = v.column2, last_pts = v.column3, \
               member_count = v.column4, last_message = v.column5 FROM ",
        columns: &[],
        tail: " WHERE chats.id = v.column1 AND chats.last_pts < v.column3",
    };
    const CLIENT_KEYS_CHUNK: usize = 250;
    const NAMES_IN_USERS: bool = true;
    const FENCE_BUMP: &'static str = "INSERT INTO writer_fences (topic, part, epoch) VALUES (?, ?, 1) \
         ON CONFLICT (topic, part) DO UPDATE SET epoch = epoch + 1";
    const FENCE_RAISE: &'static str = "INSERT INTO writer_fences (topic, part, epoch) VALUES (?, ?, ?) \
         ON CONFLICT (topic, part) DO UPDATE SET epoch = MAX(epoch, excluded.epoch)";
    /// None: SQLite runs one write transaction at a time, and a fence raised
    /// after the check read its snapshot makes the batch's first write fail
    /// (busy); the writer applies the batch again and the check sees it.
    const LOCKING_READ: &'static str = "";
    /// Never used: SQLite files are not shards that record a ring state.
    const RING_VERSION_READ: &'static str = "SELECT 0 AS version";

    fn upsert(key: &str, column: &str) -> String {
        format!(" ON CONFLICT ({key}) DO UPDATE SET {column} = excluded.{column}")
    }

    fn on_conflict_update(key: &str) -> String {
        format!(" ON CONFLICT ({key}) DO UPDATE SET ")
    }

    /// The keys as a `VALUES` list that drives the loop (`CROSS JOIN` keeps
    /// them outside): each is one search of the `messages_client_msg_id`
    /// index. (The shorter `WHERE (chat_id, sender_id, client_msg_id) IN
    /// (VALUES …)` scans the whole table: every writer batch grew slower as
    /// history grew.)
    fn client_keys_lookup(columns: &str) -> [String; 2] {
        [
            format!("SELECT {columns} FROM (VALUES "),
            ") AS k CROSS JOIN messages ON messages.chat_id = k.column1 \
             AND messages.sender_id = k.column2 AND messages.client_msg_id = k.column3"
                .to_string(),
        ]
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl SqlStore<Sqlite> {
    /// Opens (or creates) the database and applies the migrations.
    pub async fn open(cfg: &SqliteConfig) -> Result<SqliteStore, StoreError> {
        metrics::init();
        metrics::init_sqlite();
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
        Ok(SqlStore::new(pool, Writer::Own(writer), Some((stop, task))))
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
        let [head, tail] = Sqlite::client_keys_lookup(crate::sql::MESSAGE_COLUMNS);
        let lookup = format!("{head}(1, 2, 'a'), (3, 4, 'b'){tail}");
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {lookup}")))
                .fetch_all(store.pool())
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

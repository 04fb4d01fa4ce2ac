//! The store on MySQL/MariaDB shards: the MySQL [`Dialect`], one [`SqlStore`]
//! per shard, and the [`Sharded`] wrapper over them that routes by the
//! `shard-router` ring.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chat_core::StoreError;
use chat_core::ports::Store;
use shard_router::{Ring, ShardSpec};
use sqlx::migrate::MigrateDatabase;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlQueryResult};
use sqlx::{MySql, MySqlPool};

use crate::dialect::{Dialect, RowsTable, UpdateFrom};
use crate::routing::{RingState, Routes};
use crate::sharded::{Follow, Layout, Sharded};
use crate::sql::{SqlStore, Writer, unavailable};

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
    /// Record the configured ring on the shards when they record none,
    /// route by the recorded ring state (the settings only seed it) and
    /// follow its changes: a watcher looks at it every second, writes carry
    /// its version, and the process reports the version it routes by in
    /// `ring_followers`. Off for inspection tools (`chat shards status`),
    /// which route by what is recorded when they connect and record nothing.
    pub follow: bool,
    /// This process in `ring_followers` (e.g. `writer 1234 on host`).
    pub process: String,
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

impl Dialect for MySql {
    const SEARCH: [&'static str; 2] = ["MATCH (text) AGAINST (? IN BOOLEAN MODE)", "id"];
    fn search_query(q: &chat_core::search::Query, _chats: &[chat_core::ChatId]) -> String {
        q.boolean_mode()
    }
    const INSERT_NEW: [&'static str; 2] = ["INSERT IGNORE INTO", ""];
    const INSERT_NEW_ROWS: [&'static str; 2] = Self::INSERT_NEW;
    /// A derived table of `SELECT`s, the first naming the columns.
    const ROWS: RowsTable = RowsTable {
        open: "(",
        row: ["SELECT ", " UNION ALL SELECT "],
        row_end: "",
        close: ") v",
    };
    /// `UPDATE … JOIN` the rows.
    const ADVANCE_CURSORS: UpdateFrom = UpdateFrom {
        head: "UPDATE memberships m JOIN ",
        columns: &["u", "c", "s"],
        tail: " ON m.user_id = v.u AND m.chat_id = v.c SET m.read_seq = GREATEST(m.read_seq, v.s)",
    };
    const UPDATE_COUNTERS: UpdateFrom = UpdateFrom {
        head: "UPDATE chats c JOIN ",
        columns: &["id", "ls", "lp", "mc", "lm"],
        tail: " ON c.id = v.id SET c.last_seq = v.ls, c.member_count = v.mc, \
               c.last_message = v.lm, c.last_pts = v.lp WHERE c.last_pts < v.lp",
    };
    const CLIENT_KEYS_CHUNK: usize = 500;
    const NAMES_IN_USERS: bool = false;
    const FENCE_BUMP: &'static str = "INSERT INTO writer_fences (topic, part, epoch) VALUES (?, ?, 1) \
         ON DUPLICATE KEY UPDATE epoch = epoch + 1";
    const FENCE_RAISE: &'static str = "INSERT INTO writer_fences (topic, part, epoch) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE epoch = GREATEST(epoch, VALUES(epoch))";
    const LOCKING_READ: &'static str = " FOR UPDATE";
    const RING_VERSION_READ: &'static str =
        "SELECT version FROM ring_state WHERE id = 1 LOCK IN SHARE MODE";

    fn upsert(_key: &str, column: &str) -> String {
        format!(" ON DUPLICATE KEY UPDATE {column} = VALUES({column})")
    }

    fn on_conflict_update(_key: &str) -> String {
        " ON DUPLICATE KEY UPDATE ".to_string()
    }

    fn client_keys_lookup(columns: &str) -> [String; 2] {
        [
            format!(
                "SELECT {columns} FROM messages WHERE (chat_id, sender_id, client_msg_id) IN ("
            ),
            ")".to_string(),
        ]
    }

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// [`Store`](chat_core::ports::Store) over MySQL/MariaDB shards.
pub type ShardedStore = Sharded<SqlStore<MySql>>;

/// How often a process confirms the recorded ring state (a write refused
/// for another version looks at once): well within the read lease, and
/// often while a migration waits for every process to follow.
const WATCH_EVERY: Duration = Duration::from_secs(1);
const WATCH_MIGRATING: Duration = Duration::from_millis(50);

impl Sharded<SqlStore<MySql>> {
    /// Connects to the configured shards (creating their databases if asked)
    /// and applies the migrations to each; then routes by the ring state
    /// recorded on them, recording the configured ring when none is (see
    /// [`MySqlConfig::follow`]).
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
        let mut seeds = Vec::new();
        for shard in &cfg.shards {
            seeds.push((
                shard.name.clone(),
                open(cfg, &shard.name, &shard.url).await?,
            ));
        }
        let configured = RingState::initial(
            &ring,
            cfg.shards
                .iter()
                .map(|s| (s.name.clone(), s.url.clone()))
                .collect(),
        );
        let state = match newest_recorded(&seeds).await? {
            Some(state) => state,
            None if cfg.follow => {
                // The first process records its ring, the first shard first:
                // it decides a race between two first processes.
                let pools: Vec<MySqlPool> = seeds.iter().map(|(_, s)| s.pool.clone()).collect();
                record_if_absent(&pools[0], &configured).await?;
                read_state(&pools[0])
                    .await?
                    .ok_or_else(|| StoreError::Unavailable("ring_state not recorded".into()))?
            }
            None => configured.clone(),
        };
        let follower = Arc::new(Follower {
            cfg: cfg.clone(),
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        let empty = Layout {
            routes: Routes::new(configured.clone())
                .map_err(|e| StoreError::Unavailable(format!("shard ring: {e}")))?,
            stores: seeds.iter().map(|(_, s)| s.clone()).collect(),
        };
        let layout = follower.layout_for(state, &empty).await?;
        // Follow to the newest state its authority records.
        let layout = match follower.newer(&layout).await? {
            Some(newer) => newer,
            None => layout,
        };
        // Seeds the state does not name are not routed to.
        for (name, store) in &seeds {
            if !layout.routes.names().contains(name) {
                store.close().await;
            }
        }
        if !layout.routes.state().same_ring(&configured) {
            tracing::warn!(
                recorded = %layout.routes.state(),
                configured = %configured,
                "the shards record another ring than this process's settings: routing by the \
                 recorded one (the settings only seed a new deployment; see `chat shards status`)"
            );
        }
        if cfg.follow {
            // A shard still on an older state (a migrator died publishing)
            // is brought up to this one; the others are left alone.
            for (i, name) in layout.routes.names().iter().enumerate() {
                let recorded = read_state(&layout.stores[i].pool).await;
                if recorded.is_ok_and(|r| r.is_some_and(|r| r.version >= layout.routes.version())) {
                    continue;
                }
                if let Err(e) = follower.repair(&layout, i).await {
                    tracing::warn!(shard = %name, error = %e, "recording the ring state failed");
                }
            }
        }
        let store = Sharded::with_layout(
            layout,
            cfg.follow
                .then(|| follower.clone() as Arc<dyn Follow<SqlStore<MySql>>>),
        );
        if cfg.follow {
            // Reported among the followers before anything is read, so that
            // a migration waits for this process too.
            store.confirm().await;
            follower.watch(store.clone());
        }
        tracing::info!(ring = %store.routing().unwrap_or_default(), "routing by ring");
        Ok(store)
    }

    /// The ring state recorded on each shard this store reaches (`None`:
    /// none yet), in [`Routes::names`]' order.
    pub async fn recorded_rings(&self) -> Vec<(String, Result<Option<String>, StoreError>)> {
        let mut out = Vec::new();
        for (name, s) in self.shard_stores() {
            let state = read_state(&s.pool).await.map(|r| r.map(|r| r.to_string()));
            out.push((name, state));
        }
        out
    }
}

/// Opens one shard: its database created if asked, its pool, its migrations.
/// Prepared statements each connection keeps (sqlx's default is 100): every
/// text the store uses, with room to spare. What a connection holds is what
/// it ran, a few dozen texts; the server's `max_prepared_stmt_count` (16,382
/// by default) bounds them over all connections (processes × pool size ×
/// texts).
const STATEMENT_CACHE: usize = 256;

async fn open(cfg: &MySqlConfig, name: &str, url: &str) -> Result<SqlStore<MySql>, StoreError> {
    if cfg.create_databases
        && !MySql::database_exists(url).await.map_err(unavailable("connect"))?
        && let Err(e) = MySql::create_database(url).await
        // Another process may have created it meanwhile.
        && !MySql::database_exists(url).await.unwrap_or(false)
    {
        return Err(unavailable("connect")(e));
    }
    // Room for every statement text (multi-row statements have a bounded
    // number of them: `sql::padded`), so a connection never closes one to
    // prepare another.
    let opts = MySqlConnectOptions::from_str(url)
        .map_err(unavailable("connect"))?
        .statement_cache_capacity(STATEMENT_CACHE);
    let pool = MySqlPoolOptions::new()
        .max_connections(cfg.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        // No ping before every statement: a broken connection fails its
        // statement, which the caller retries (the writer its batch) or
        // answers `unavailable`; idle ones are recycled instead.
        .test_before_acquire(false)
        .idle_timeout(Some(Duration::from_secs(60)))
        .connect_with(opts)
        .await
        .map_err(unavailable("connect"))?;
    migrate(&pool, name).await?;
    tracing::info!(shard = %name, "shard ready");
    Ok(SqlStore::new(pool, Writer::Pool, None))
}

/// A shard's URL: the one recorded with the ring state, else the configured
/// one.
pub(crate) fn shard_url(
    state: &RingState,
    cfg: &MySqlConfig,
    name: &str,
) -> Result<String, StoreError> {
    state
        .urls
        .get(name)
        .or_else(|| cfg.shards.iter().find(|s| s.name == name).map(|s| &s.url))
        .cloned()
        .ok_or_else(|| {
            StoreError::Unavailable(format!(
                "the ring state names shard {name}, whose URL neither it nor the settings give"
            ))
        })
}

/// Opens one shard's pool (see [`open`]).
pub(crate) async fn open_pool(
    cfg: &MySqlConfig,
    name: &str,
    url: &str,
) -> Result<MySqlPool, StoreError> {
    Ok(open(cfg, name, url).await?.pool)
}

/// The state recorded on one shard, if any.
pub(crate) async fn read_state(pool: &MySqlPool) -> Result<Option<RingState>, StoreError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT version, ring FROM ring_state WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(unavailable("ring_state"))?;
    row.map(|(version, json)| {
        let mut state: RingState = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("ring_state: {e}: {json}")))?;
        state.version = version as u64;
        Ok(state)
    })
    .transpose()
}

/// The state with the highest version among `shards`' records.
async fn newest_recorded(
    shards: &[(String, SqlStore<MySql>)],
) -> Result<Option<RingState>, StoreError> {
    let mut newest: Option<RingState> = None;
    for (_, s) in shards {
        if let Some(state) = read_state(&s.pool).await?
            && newest.as_ref().is_none_or(|n| n.version < state.version)
        {
            newest = Some(state);
        }
    }
    Ok(newest)
}

/// Records `state` on a shard that records none.
pub(crate) async fn record_if_absent(
    pool: &MySqlPool,
    state: &RingState,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT IGNORE INTO ring_state (id, version, ring, recorded_at) VALUES (1, ?, ?, ?)",
    )
    .bind(state.version as i64)
    .bind(json)
    .bind(chat_core::now_ms())
    .execute(pool)
    .await
    .map_err(unavailable("ring_state"))?;
    Ok(())
}

/// Every partition's fencing epoch on a shard.
pub(crate) type Epochs = Vec<(String, i64, i64)>;

/// Reads `writer_fences` (the latest committed epochs: a locking read).
async fn epochs<'c, E>(conn: E) -> Result<Epochs, StoreError>
where
    E: sqlx::Executor<'c, Database = MySql>,
{
    sqlx::query_as("SELECT topic, part, epoch FROM writer_fences LOCK IN SHARE MODE")
        .fetch_all(conn)
        .await
        .map_err(unavailable("ring_state"))
}

/// The highest epoch of every partition among `pools` (every one must
/// answer): raising a shard to these never hands out an epoch twice,
/// whichever of them handed it out.
pub(crate) async fn highest_epochs(pools: &[&MySqlPool]) -> Result<Epochs, StoreError> {
    let mut high: std::collections::BTreeMap<(String, i64), i64> = Default::default();
    for pool in pools {
        for (topic, part, epoch) in within(epochs(*pool)).await? {
            let e = high.entry((topic, part)).or_insert(epoch);
            *e = (*e).max(epoch);
        }
    }
    Ok(high.into_iter().map(|((t, p), e)| (t, p, e)).collect())
}

/// Records `state` on one shard that is not its authority, in one
/// transaction with raising its fencing epochs to `epochs` (read from the
/// authority once it recorded the state): if this shard hands out epochs
/// under `state`, it starts above every epoch handed out before. A shard
/// that records a newer state keeps it.
pub(crate) async fn record(
    pool: &MySqlPool,
    state: &RingState,
    epochs: &Epochs,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut tx = pool.begin().await.map_err(unavailable("ring_state"))?;
    // The ring state first, then the fences (the order of every write).
    sqlx::query("SELECT version FROM ring_state WHERE id = 1 FOR UPDATE")
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable("ring_state"))?;
    for (topic, part, epoch) in epochs {
        sqlx::query(MySql::FENCE_RAISE)
            .bind(topic)
            .bind(part)
            .bind(epoch)
            .execute(&mut *tx)
            .await
            .map_err(unavailable("ring_state"))?;
    }
    // `ring` before `version`: MySQL assigns left to right.
    sqlx::query(
        "INSERT INTO ring_state (id, version, ring, recorded_at) VALUES (1, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE \
         ring = IF(VALUES(version) > version, VALUES(ring), ring), \
         recorded_at = IF(VALUES(version) > version, VALUES(recorded_at), recorded_at), \
         version = GREATEST(version, VALUES(version))",
    )
    .bind(state.version as i64)
    .bind(json)
    .bind(chat_core::now_ms())
    .execute(&mut *tx)
    .await
    .map_err(unavailable("ring_state"))?;
    tx.commit().await.map_err(unavailable("ring_state"))
}

/// Makes `state` the recorded one: on the authority `pool` first, if it
/// still records version `expect` (and, for a migrator, its lease is
/// `holder`'s), reading the fencing epochs in the same transaction; the
/// caller then [`record`]s it on every other shard with those epochs.
pub(crate) async fn publish_on_authority(
    pool: &MySqlPool,
    expect: u64,
    holder: Option<&str>,
    state: &RingState,
) -> Result<Epochs, StoreError> {
    let json = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut tx = pool.begin().await.map_err(unavailable("ring_state"))?;
    let now: Option<i64> =
        sqlx::query_scalar("SELECT version FROM ring_state WHERE id = 1 FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable("ring_state"))?;
    if now != Some(expect as i64) {
        return Err(StoreError::Conflict(format!(
            "the ring state is at v{} now, not v{expect}: another migrator changed it",
            now.unwrap_or(0)
        )));
    }
    if let Some(holder) = holder {
        let lease: Option<(String, i64)> =
            sqlx::query_as("SELECT holder, expires_at FROM ring_lease WHERE id = 1 FOR UPDATE")
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable("ring_state"))?;
        match lease {
            Some((h, until)) if h == holder && until > chat_core::now_ms() => {}
            other => {
                return Err(StoreError::Conflict(format!(
                    "the migration lease is not ours ({holder}) but {other:?}"
                )));
            }
        }
    }
    sqlx::query("UPDATE ring_state SET version = ?, ring = ?, recorded_at = ? WHERE id = 1")
        .bind(state.version as i64)
        .bind(json)
        .bind(chat_core::now_ms())
        .execute(&mut *tx)
        .await
        .map_err(unavailable("ring_state"))?;
    let epochs = epochs(&mut *tx).await?;
    tx.commit().await.map_err(unavailable("ring_state"))?;
    Ok(epochs)
}

/// Follows the recorded ring state for one process.
struct Follower {
    cfg: MySqlConfig,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Follower {
    /// A layout for `state`, reusing `have`'s stores by name and opening the
    /// others (by the state's URLs, else the configured ones).
    async fn layout_for(
        &self,
        state: RingState,
        have: &Layout<SqlStore<MySql>>,
    ) -> Result<Layout<SqlStore<MySql>>, StoreError> {
        let routes = Routes::new(state)
            .map_err(|e| StoreError::Corrupt(format!("recorded ring state: {e}")))?;
        let mut stores = Vec::new();
        for name in routes.names() {
            let known = have.routes.names().iter().position(|n| n == name);
            let store = match known {
                Some(i) => have.stores[i].clone(),
                None => {
                    let url = shard_url(routes.state(), &self.cfg, name)?;
                    open(&self.cfg, name, &url).await?
                }
            };
            stores.push(store);
        }
        Ok(Layout { routes, stores })
    }

    /// Confirms the recorded state every [`WATCH_EVERY`] (every
    /// [`WATCH_MIGRATING`] while a migration is in progress).
    fn watch(&self, store: ShardedStore) {
        let task = tokio::spawn(async move {
            loop {
                let busy = {
                    let l = store.layout();
                    let st = l.routes.state();
                    st.migration.is_some() || !st.cleanup.is_empty()
                };
                tokio::time::sleep(if busy { WATCH_MIGRATING } else { WATCH_EVERY }).await;
                store.confirm().await;
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            t.abort();
        }
    }
}

/// The authority's store in `l`.
fn authority(l: &Layout<SqlStore<MySql>>) -> &SqlStore<MySql> {
    let name = l.routes.state().authority();
    let i = l.routes.names().iter().position(|n| n == name).unwrap_or(0);
    &l.stores[i]
}

/// How long one shard may take to answer a look at the ring state or a
/// report before the next shard is asked (a shard that is away must not
/// let the read lease run out).
const LOOK_TIMEOUT: Duration = Duration::from_secs(1);

/// `f`, failing after [`LOOK_TIMEOUT`].
async fn within<T>(f: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(LOOK_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the shard did not answer in time".into(),
            ))
        })
}

/// `l`'s stores, the authority first.
fn authority_first(l: &Layout<SqlStore<MySql>>) -> Vec<&SqlStore<MySql>> {
    let first = authority(l);
    std::iter::once(first)
        .chain(l.stores.iter().filter(|s| !std::ptr::eq(*s, first)))
        .collect()
}

#[async_trait::async_trait]
impl Follow<SqlStore<MySql>> for Follower {
    async fn newer(
        &self,
        have: &Layout<SqlStore<MySql>>,
    ) -> Result<Option<Layout<SqlStore<MySql>>>, StoreError> {
        let mut layout: Option<Layout<SqlStore<MySql>>> = None;
        // A new state may name a new authority: follow it (a few hops at most).
        for _ in 0..4 {
            let current = layout.as_ref().unwrap_or(have);
            // The authority, or any shard when it does not answer: every
            // shard records each state before processes are waited for.
            let mut found = Err(StoreError::Unavailable("no shard".into()));
            for s in authority_first(current) {
                found = within(read_state(&s.pool)).await;
                if found.is_ok() {
                    break;
                }
            }
            let Some(state) = found? else {
                break;
            };
            if state.version <= current.routes.version() {
                break;
            }
            layout = Some(self.layout_for(state, current).await?);
        }
        Ok(layout)
    }

    /// On the authority, or any shard when it does not answer (a migrator
    /// reads them all), at the database's time.
    async fn heartbeat(&self, l: &Layout<SqlStore<MySql>>) -> Result<(), StoreError> {
        let mut last = Err(StoreError::Unavailable("no shard".into()));
        for s in authority_first(l) {
            last = within(async {
                sqlx::query(
                    "INSERT INTO ring_followers (process, version, seen_at) \
                 VALUES (?, ?, CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED)) \
                 ON DUPLICATE KEY UPDATE version = VALUES(version), seen_at = VALUES(seen_at)",
                )
                .bind(&self.cfg.process)
                .bind(l.routes.version() as i64)
                .execute(&s.pool)
                .await
                .map(|_| ())
                .map_err(unavailable("ring_state"))
            })
            .await;
            if last.is_ok() {
                break;
            }
        }
        last
    }

    async fn repair(&self, have: &Layout<SqlStore<MySql>>, index: usize) -> Result<(), StoreError> {
        let pools: Vec<&MySqlPool> = have.stores.iter().map(|s| &s.pool).collect();
        let epochs = highest_epochs(&pools).await?;
        record(&have.stores[index].pool, have.routes.state(), &epochs).await
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
    // (On the pool, not `conn`: the migrator's `Acquire` on a connection is
    // not general enough for the follower's futures to be `Send`.)
    let result = sqlx::migrate!("./migrations/mysql").run(pool).await;
    let _ = sqlx::query("SELECT RELEASE_LOCK('chat_migrations')")
        .execute(&mut *conn)
        .await;
    result.map_err(|e| StoreError::Unavailable(format!("migrate shard {shard}: {e}")))
}

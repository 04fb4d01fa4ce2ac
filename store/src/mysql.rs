//! The store on MySQL/MariaDB shards: the MySQL [`Dialect`], one [`SqlStore`]
//! per shard, and the [`Sharded`] wrapper over them that routes by the
//! `shard-router` ring.

use std::str::FromStr;
use std::time::Duration;

use chat_core::StoreError;
use chat_core::ports::Store;
use shard_router::{Ring, ShardSpec};
use sqlx::migrate::MigrateDatabase;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlQueryResult};
use sqlx::{MySql, MySqlPool};

use crate::dialect::{Dialect, RowsTable, UpdateFrom};
use crate::sharded::Sharded;
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
    /// Check the ring against the one recorded on the shards (recording it
    /// when there is none) and refuse another (see [`check_ring`]). Only an
    /// inspection tool that must see a mismatch turns this off.
    pub check_ring: bool,
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

    fn upsert(_key: &str, column: &str) -> String {
        format!(" ON DUPLICATE KEY UPDATE {column} = VALUES({column})")
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

impl Sharded<SqlStore<MySql>> {
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
        let mut stores = Vec::new();
        let mut pools = Vec::new();
        // Stores follow the ring's shard order (its index space).
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
            pools.push(pool.clone());
            stores.push(SqlStore::new(pool, Writer::Pool, None));
        }
        if cfg.check_ring {
            check_ring(&ring, &pools).await?;
        }
        let store = Sharded::new(ring, stores);
        tracing::info!(ring = %store.routing().unwrap_or_default(), "routing by ring");
        Ok(store)
    }
}

/// A ring as recorded in `ring_state`.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RecordedRing {
    version: u64,
    vnodes_per_weight: u32,
    /// `(name, weight)` in the ring's order (the first hands out fencing
    /// epochs, so the order matters too).
    shards: Vec<(String, u32)>,
}

impl RecordedRing {
    fn of(ring: &Ring) -> Self {
        RecordedRing {
            version: ring.version(),
            vnodes_per_weight: ring.vnodes_per_weight(),
            shards: ring
                .shards()
                .iter()
                .map(|s| (s.name.clone(), s.weight))
                .collect(),
        }
    }
}

impl std::fmt::Display for RecordedRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shards: Vec<String> = self
            .shards
            .iter()
            .map(|(n, w)| format!("{n}:{w}"))
            .collect();
        write!(
            f,
            "v{}: {} ({} vnodes per weight)",
            self.version,
            shards.join(", "),
            self.vnodes_per_weight
        )
    }
}

impl ShardedStore {
    /// The ring recorded on each shard (`None`: none yet), in the ring's
    /// shard order.
    pub async fn recorded_rings(&self) -> Vec<Result<Option<String>, StoreError>> {
        let mut out = Vec::new();
        for s in self.stores() {
            out.push(recorded_ring(&s.pool).await);
        }
        out
    }
}

/// The ring recorded on one shard, if any.
async fn recorded_ring(pool: &MySqlPool) -> Result<Option<String>, StoreError> {
    let ring: Option<String> = sqlx::query_scalar("SELECT ring FROM ring_state WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(unavailable("ring_state"))?;
    Ok(
        ring.map(|r| match serde_json::from_str::<RecordedRing>(&r) {
            Ok(rec) => rec.to_string(),
            Err(_) => format!("unreadable: {r}"),
        }),
    )
}

/// Every process must route by the same ring: a key placed by two rings
/// would be read and written in two places. The first process to start
/// records its ring on every shard (the first shard first: it decides a race
/// between two processes); a process configured with another ring — other
/// shards, weights, order, version or vnodes — then refuses to start, naming
/// both. (Changing the ring is a migration's job, not a configuration's.)
async fn check_ring(ring: &Ring, pools: &[MySqlPool]) -> Result<(), StoreError> {
    let ours = RecordedRing::of(ring);
    let json = serde_json::to_string(&ours).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for (pool, spec) in pools.iter().zip(ring.shards()) {
        sqlx::query("INSERT IGNORE INTO ring_state (id, ring, recorded_at) VALUES (1, ?, ?)")
            .bind(&json)
            .bind(chat_core::now_ms())
            .execute(pool)
            .await
            .map_err(unavailable("ring_state"))?;
        let recorded: String = sqlx::query_scalar("SELECT ring FROM ring_state WHERE id = 1")
            .fetch_one(pool)
            .await
            .map_err(unavailable("ring_state"))?;
        let theirs: Option<RecordedRing> = serde_json::from_str(&recorded).ok();
        if theirs.as_ref() != Some(&ours) {
            let theirs = theirs.map_or(format!("unreadable: {recorded}"), |t| t.to_string());
            return Err(StoreError::Conflict(format!(
                "shard {} records the ring {theirs}, but this process is configured with {ours}: \
                 every process must use the same shards, weights, order, ring version and \
                 vnodes (see `chat shards status`)",
                spec.name
            )));
        }
    }
    Ok(())
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

//! SQL implementations of [`chat_core::ports::Store`]: one statement builder
//! and executor ([`SqlStore`]) over a [`Dialect`](dialect::Dialect) per
//! database (SQLite; MySQL/MariaDB with the `mysql` feature), and sharding as a
//! wrapper ([`Sharded`]) over per-shard stores.
//!
//! Architecture invariant: sqlx is used here and nowhere else. The roles see only
//! the `Store` trait.

pub mod conformance;
mod dialect;
mod metrics;
#[cfg(feature = "mysql")]
mod mysql;
mod rows;
mod runs;
mod sharded;
mod sql;
mod sqlite;

pub use sql::SqlStore;
pub use sqlite::{SqliteConfig, SqliteStore};

#[cfg(feature = "mysql")]
pub use mysql::{MySqlConfig, MySqlShard, ShardedStore};
pub use sharded::{Shard, Sharded};

/// Ids are u64 in the domain and INTEGER (i64) in SQL: a bit-cast both ways, so
/// direct-chat ids with the top bit set survive the round trip.
pub(crate) fn to_sql(id: u64) -> i64 {
    id as i64
}

/// The inverse of [`to_sql`].
pub(crate) fn from_sql(v: i64) -> u64 {
    v as u64
}

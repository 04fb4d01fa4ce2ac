//! SQL implementations of [`chat_core::ports::Store`].
//!
//! Architecture invariant: sqlx is used here and nowhere else. The roles see only
//! the `Store` trait.

pub mod conformance;
mod metrics;
#[cfg(feature = "mysql")]
mod mysql;
mod rows;
mod runs;
mod sqlite;

pub use sqlite::{SqliteConfig, SqliteStore};

#[cfg(feature = "mysql")]
pub use mysql::{MySqlConfig, MySqlShard, ShardedStore};

/// Ids are u64 in the domain and INTEGER (i64) in SQL: a bit-cast both ways, so
/// direct-chat ids with the top bit set survive the round trip.
pub(crate) fn to_sql(id: u64) -> i64 {
    id as i64
}

/// The inverse of [`to_sql`].
pub(crate) fn from_sql(v: i64) -> u64 {
    v as u64
}

//! SQL implementations of [`chat_core::ports::Store`]: one statement builder
//! and executor ([`SqlStore`]) over a [`Dialect`](dialect::Dialect) per
//! database (SQLite; MySQL/MariaDB with the `mysql` feature), and sharding as a
//! wrapper ([`Sharded`]) over per-shard stores.
//!
//! Architecture invariant: sqlx is used here and nowhere else. The roles see only
//! the `Store` trait.

pub mod conformance;
mod dialect;
pub mod dump;
pub mod metrics;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "mysql")]
pub mod reshard;
pub mod routing;
mod rows;
mod runs;
mod sharded;
mod sql;
mod sqlite;

pub use sql::SqlStore;
pub use sqlite::{SqliteConfig, SqliteStore};

#[cfg(feature = "mysql")]
pub use mysql::{MySqlConfig, MySqlShard, ShardedStore};
pub use sharded::{Checked, Moved, Shard, Sharded};

/// What one shard holds, by key (for planning a ring change): every chat and
/// user with its rows there (a chat: itself, its messages, members and
/// recorded changes; a user: the account and its memberships), and every
/// login name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// `(chat id, rows)`.
    pub chats: Vec<(u64, u64)>,
    /// `(user id, rows)`.
    pub users: Vec<(u64, u64)>,
    /// Canonical login names.
    pub names: Vec<String>,
}

impl Inventory {
    /// Every key, with its rows (a login name is one row).
    pub fn keys(&self) -> impl Iterator<Item = (HeldKey<'_>, u64)> {
        self.chats
            .iter()
            .map(|(c, n)| (HeldKey::Chat(*c), *n))
            .chain(self.users.iter().map(|(u, n)| (HeldKey::User(*u), *n)))
            .chain(self.names.iter().map(|n| (HeldKey::Name(n), 1)))
    }
}

/// A key a shard holds rows of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldKey<'a> {
    /// A chat id.
    Chat(u64),
    /// A user id.
    User(u64),
    /// A canonical login name.
    Name(&'a str),
}

impl HeldKey<'_> {
    /// Its key on the ring.
    pub fn key(&self) -> shard_router::Key<'_> {
        match self {
            HeldKey::Chat(c) => shard_router::Key::Chat(*c),
            HeldKey::User(u) => shard_router::Key::User(*u),
            HeldKey::Name(n) => shard_router::Key::Name(n),
        }
    }
}

/// Ids are u64 in the domain and INTEGER (i64) in SQL: a bit-cast both ways, so
/// direct-chat ids with the top bit set survive the round trip.
pub(crate) fn to_sql(id: u64) -> i64 {
    id as i64
}

/// The inverse of [`to_sql`].
pub(crate) fn from_sql(v: i64) -> u64 {
    v as u64
}

//! The cache and pub/sub interfaces on Redis (the `redis` crate).
//!
//! Layout, under a configurable key prefix:
//! - `cs:{chat}`: the chat summary (JSON), replaced only by a newer `last_pts`;
//! - `cm:{chat}`: the chat's members (JSON);
//! - `um:{user}`: hash chat → `role:read_seq` (plus a `_` marker field), cursors
//!   moved forward only;
//! - `pr:{user}`: presence (see [`RedisPresence`]; kept 30 days for the
//!   last-seen time, losing it only forgets that);
//!
//! and channels `chat:{id}`, `user:{id}`, `gw:{id}` (prefixed too). Every entry
//! has a TTL and can be rebuilt from the shards: Redis may be flushed any time.
//!
//! Works with a single Redis and with a Redis Cluster (several node URLs): there
//! every command stays within one key's slot, and pub/sub is sharded
//! (`SPUBLISH`/`SSUBSCRIBE`), so a channel lives on the node of its slot.
//!
//! Architecture invariant: the `redis` crate is used here and nowhere else.

mod cache;
mod conn;
mod presence;
mod pubsub;

pub use cache::RedisCache;
pub use presence::RedisPresence;
pub use pubsub::RedisPubSub;

use std::time::Duration;

/// Settings of the Redis cache and pub/sub.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://host:port[/db]`, or several comma-separated node URLs of a Redis
    /// Cluster. RESP3 is switched on for subscribers.
    pub url: String,
    /// Treat a single URL as a cluster seed node too.
    pub cluster: bool,
    /// Prefix of every key and channel (isolates deployments and test runs).
    pub prefix: String,
    /// Lifetime of cached entries.
    pub ttl: Duration,
    /// Messages a subscriber's inbox holds before further ones are dropped
    /// (gateways refill such gaps from the store).
    pub inbox: usize,
}

impl RedisConfig {
    /// Defaults for a Redis at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            cluster: false,
            prefix: String::new(),
            ttl: Duration::from_secs(600),
            inbox: 65_536,
        }
    }
}

impl RedisConfig {
    /// The node URLs.
    pub fn nodes(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// Whether this configuration names a cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster || self.nodes().len() > 1
    }
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> chat_core::CacheError {
    chat_core::CacheError::Unavailable(e.to_string())
}

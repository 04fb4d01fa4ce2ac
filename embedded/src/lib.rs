//! Embedded (in-process) implementations of the log and of the cache/pub-sub,
//! used by standalone mode. They are product features, not test doubles: bounded,
//! observable, and held to the same contracts as Kafka and Redis.

mod cache;
pub mod conformance;
mod log;
mod presence;
mod pubsub;

pub use cache::MemCache;
pub use log::{MemLog, MemLogConfig};
pub use presence::MemPresence;
pub use pubsub::MemPubSub;

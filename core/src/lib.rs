//! The chat platform's core: domain types, validation and authorization rules,
//! wire formats, and the three interfaces (log, store, cache/pub-sub) the roles are
//! written against.
//!
//! Architecture invariant: this crate does no I/O. It defines the traits; the
//! adapters (`chat-store`, `chat-embedded`, later Kafka/MySQL/Redis) implement them.

#![deny(missing_docs)]

pub mod chatlist;
pub mod error;
pub mod id;
pub mod model;
pub mod placement;
pub mod ports;
pub mod presence;
pub mod progress;
pub mod rules;
pub mod search;
pub mod throttle;
pub mod wire;

pub use error::{CacheError, Code, LogError, Rejection, StoreError};
pub use id::{ChatId, IdGenerator, MessageId, SessionId, UserId};
pub use model::now_ms;
pub use placement::{Placement, name_key};

/// Topic of chat commands (gateway → writer), keyed by chat id.
pub const COMMANDS_TOPIC: &str = "chat.commands";
/// Topic of persisted effects (writer → fanout), keyed by chat id.
pub const EVENTS_TOPIC: &str = "chat.events";

/// The dead-letter topic beside an events topic: cache updates fanout gave up
/// on (see `chat_fanout::Backlog`).
pub fn dead_letters_topic(events_topic: &str) -> String {
    format!("{events_topic}.dead")
}

/// The id of the direct chat between two users: the same whoever asks, so creating
/// it twice (even concurrently, through any gateway) lands on the same writer and
/// finds the first one. The top bit marks direct chats; the rest is 64-bit FNV-1a
/// of `"direct:{low}:{high}"`, truncated to 63 bits.
pub fn direct_chat_id(a: UserId, b: UserId) -> ChatId {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let h = fnv1a64(format!("direct:{lo}:{hi}").as_bytes());
    ChatId((1 << 63) | (h & ((1 << 63) - 1)))
}

impl ChatId {
    /// Whether this is a direct chat's id (its top bit, see
    /// [`direct_chat_id`]).
    pub fn is_direct(self) -> bool {
        self.0 >> 63 == 1
    }
}

/// The id of the group `creator` creates with the idempotency key `key`
/// (`client_chat_id`): the same each time, so a retried creation lands on the
/// same writer and finds the group created the first time. The top two bits
/// are `01`: never a direct chat (`1…`), and not a generated id before the
/// generator's clock reaches 2^40 ms after its epoch (year 2058); the rest is
/// 64-bit FNV-1a of `"group:{creator}:{key}"`, truncated to 62 bits.
pub fn keyed_group_id(creator: UserId, key: &str) -> ChatId {
    let h = fnv1a64(format!("group:{creator}:{key}").as_bytes());
    ChatId((1 << 62) | (h & ((1 << 62) - 1)))
}

/// 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3): a stated,
/// portable hash, also used to pick a partition from a key.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The partition of a key among `n`: FNV-1a of the key's 8 big-endian bytes.
pub fn partition_for(key: u64, n: u32) -> u32 {
    (fnv1a64(&key.to_be_bytes()) % u64::from(n.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_group_ids_are_stable_per_creator_and_key_and_apart_from_other_ids() {
        let a = keyed_group_id(UserId(1), "k");
        assert_eq!(a, keyed_group_id(UserId(1), "k"), "the same each time");
        assert_ne!(a, keyed_group_id(UserId(2), "k"), "another creator");
        assert_ne!(a, keyed_group_id(UserId(1), "k2"), "another key");
        assert_eq!(a.0 >> 62, 0b01, "neither direct nor generated");
        assert!(direct_chat_id(UserId(1), UserId(2)).is_direct());
        assert_eq!(IdGenerator::new(1).next() >> 62, 0);
    }

    #[test]
    fn fnv_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn direct_chat_id_is_symmetric_and_marked() {
        let a = direct_chat_id(UserId(1), UserId(2));
        assert_eq!(a, direct_chat_id(UserId(2), UserId(1)));
        assert_ne!(a, direct_chat_id(UserId(1), UserId(3)));
        assert!(a.0 >> 63 == 1);
    }

    #[test]
    fn partitions_in_range_and_stable() {
        for k in 0..1000 {
            assert!(partition_for(k, 8) < 8);
        }
        assert_eq!(partition_for(42, 8), partition_for(42, 8));
    }
}

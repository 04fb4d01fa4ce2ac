//! # shard-router
//!
//! Decides which shard holds a chat, a user or a login name. It is the only place in
//! the system that makes that decision: the store, the writer and any resharding tool
//! ask a [`Ring`] and never hash keys themselves.
//!
//! ```
//! use shard_router::{Key, Ring, ShardSpec};
//!
//! let shards = vec![
//!     ShardSpec { name: "shard-a".into(), weight: 1 },
//!     ShardSpec { name: "shard-b".into(), weight: 1 },
//! ];
//! let ring = Ring::new(1, shards, 160).unwrap();
//! let shard = ring.shard_for(Key::Chat(42));
//! assert!(shard == "shard-a" || shard == "shard-b");
//! ```
//!
//! ## The ring
//!
//! A consistent-hash ring with virtual nodes. Shard `s` gets `s.weight *
//! vnodes_per_weight` points; point `i` sits at `XXH64("{name}#{i}", seed 0)`, `i` in
//! ASCII decimal from 0. A key belongs to the first point at or after its own hash,
//! wrapping around past `u64::MAX`. Adding a shard therefore moves only the keys that
//! now fall before one of its points, about `weight / total weight` of them, and only
//! onto the new shard. [`Ring::diff`] lists those hash ranges so a resharding tool can
//! copy exactly the keys that move, then switch every process to the new
//! [`Ring::version`].
//!
//! ## The hash function
//!
//! **XXH64** (xxHash, 64-bit variant, seed 0) as specified by its author, written out in
//! this crate (`xxh64.rs`) and checked in tests against the reference implementation's
//! outputs. Keys are hashed over fixed byte encodings:
//!
//! | key | bytes hashed |
//! | --- | --- |
//! | [`Key::Chat`]`(42)` | `chat:42` |
//! | [`Key::User`]`(42)` | `user:42` |
//! | [`Key::Name`]`("alice")` | `name:alice` (UTF-8) |
//!
//! The kind prefix keeps chat 42 and user 42 independent on the ring.
//!
//! ## Why placement must never change silently
//!
//! Where a key lives is stored data, not a computation that can be redone: once a chat's
//! messages are written to the shard the ring chose, every later read must find the same
//! shard. If the hash, the key encoding, the virtual-node labels or the tie-break changed
//! (say, a dependency upgrade, or Rust's `DefaultHasher`, which is neither portable nor
//! promised stable between releases) readers would look on the wrong shard and writers
//! would split a chat across two. So nothing here uses `std::hash::Hash`, and the tests
//! pin hash values and the shard that sample keys land on. A failing pinned test means
//! data would move: change placement only on purpose, with a new ring version and a
//! migration that copies the [`Ring::diff`] ranges.

#![deny(missing_docs)]

mod diff;
mod error;
mod key;
mod ring;
mod xxh64;

pub use diff::MovedRange;
pub use error::RingError;
pub use key::{Key, PLACEMENT_SEED};
pub use ring::{DEFAULT_VNODES_PER_WEIGHT, MAX_POINTS, Ring, RingConfig, ShardSpec};
pub use xxh64::xxh64;

#[cfg(test)]
mod tests;

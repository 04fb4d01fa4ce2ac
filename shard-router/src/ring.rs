//! The ring itself: configuration, construction and lookup.

use serde::Deserialize;

use crate::error::RingError;
use crate::key::{Decimal, Key, PLACEMENT_SEED};
use crate::xxh64::Xxh64;

/// Upper bound on virtual nodes in one ring (16 bytes each, so 16 MiB at the limit).
/// A configuration that would exceed it is rejected with [`RingError::TooManyPoints`].
pub const MAX_POINTS: u64 = 1 << 20;

/// Virtual nodes per unit of weight when the configuration does not say.
/// 160 keeps a shard's share within a few percent of its weight for small rings.
pub const DEFAULT_VNODES_PER_WEIGHT: u32 = 160;

fn default_vnodes_per_weight() -> u32 {
    DEFAULT_VNODES_PER_WEIGHT
}

/// One shard as named in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardSpec {
    /// Stable identity of the shard. Its virtual nodes are hashed from this name, so
    /// renaming a shard moves its keys; the store maps the name to a database address.
    pub name: String,
    /// Relative capacity: a shard of weight 2 owns about twice the keys of weight 1.
    pub weight: u32,
}

/// The `[ring]` section of a role's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingConfig {
    /// Version of this placement. Bump it with any change to `shards` or
    /// `vnodes_per_weight`, so processes and the resharding tool can tell rings apart.
    pub version: u64,
    /// Virtual nodes per unit of weight; part of placement, so changing it moves keys.
    #[serde(default = "default_vnodes_per_weight")]
    pub vnodes_per_weight: u32,
    /// The shards, in any order: the order does not affect placement.
    pub shards: Vec<ShardSpec>,
}

/// A virtual node: the shard owns the hashes in `(previous point, hash]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Point {
    hash: u64,
    /// Index into `Ring::shards`.
    shard: u32,
}

/// A consistent-hash ring over named, weighted shards.
///
/// A key belongs to the shard of the first virtual node at or after the key's
/// [`placement_hash`](Key::placement_hash), wrapping past `u64::MAX` to the first node.
/// Shard `s` has `s.weight * vnodes_per_weight` virtual nodes, the `i`-th at
/// `XXH64("{name}#{i}", 0)` with `i` in ASCII decimal from 0. Were two nodes to share a
/// hash, the one whose shard name sorts first keeps it. Placement therefore depends only
/// on the set of (name, weight) pairs and `vnodes_per_weight`.
#[derive(Debug, Clone)]
pub struct Ring {
    version: u64,
    vnodes_per_weight: u32,
    shards: Vec<ShardSpec>,
    /// Sorted by hash, hashes unique, never empty.
    points: Vec<Point>,
}

impl Ring {
    /// Builds and validates a ring. `shards` keeps its order in [`Ring::shards`], so
    /// callers can hold per-shard resources in a `Vec` indexed the same way.
    pub fn new(
        version: u64,
        shards: Vec<ShardSpec>,
        vnodes_per_weight: u32,
    ) -> Result<Ring, RingError> {
        if shards.is_empty() {
            return Err(RingError::Empty);
        }
        if vnodes_per_weight == 0 {
            return Err(RingError::ZeroVnodes);
        }
        let mut total: u64 = 0;
        for (index, shard) in shards.iter().enumerate() {
            if shard.name.is_empty() {
                return Err(RingError::EmptyName { index });
            }
            if shards[..index].iter().any(|s| s.name == shard.name) {
                return Err(RingError::DuplicateName(shard.name.clone()));
            }
            if shard.weight == 0 {
                return Err(RingError::ZeroWeight(shard.name.clone()));
            }
            total = total.saturating_add(u64::from(shard.weight) * u64::from(vnodes_per_weight));
        }
        if total > MAX_POINTS {
            return Err(RingError::TooManyPoints {
                points: total,
                max: MAX_POINTS,
            });
        }

        let mut points = Vec::with_capacity(total as usize);
        let mut digits = Decimal::new();
        for (index, shard) in shards.iter().enumerate() {
            let count = u64::from(shard.weight) * u64::from(vnodes_per_weight);
            for i in 0..count {
                let mut hasher = Xxh64::new(PLACEMENT_SEED);
                hasher.update(shard.name.as_bytes());
                hasher.update(b"#");
                hasher.update(digits.format(i));
                // `index` fits in u32: there are at most MAX_POINTS shards.
                points.push(Point {
                    hash: hasher.finish(),
                    shard: index as u32,
                });
            }
        }
        // Tie-break on the name, not the configured position, so that reordering the
        // configuration never moves a key.
        points.sort_unstable_by(|a, b| {
            a.hash.cmp(&b.hash).then_with(|| {
                shards[a.shard as usize]
                    .name
                    .cmp(&shards[b.shard as usize].name)
            })
        });
        points.dedup_by_key(|p| p.hash);

        Ok(Ring {
            version,
            vnodes_per_weight,
            shards,
            points,
        })
    }

    /// Builds a ring from its configuration section.
    pub fn from_config(config: RingConfig) -> Result<Ring, RingError> {
        Ring::new(config.version, config.shards, config.vnodes_per_weight)
    }

    /// The placement version this ring was built with.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Virtual nodes per unit of weight.
    pub fn vnodes_per_weight(&self) -> u32 {
        self.vnodes_per_weight
    }

    /// The shards in configured order; [`Ring::shard_index_for`] indexes this slice.
    pub fn shards(&self) -> &[ShardSpec] {
        &self.shards
    }

    /// Name of the shard that owns `key`. O(log n) in virtual nodes, no allocation.
    pub fn shard_for(&self, key: Key<'_>) -> &str {
        &self.shards[self.shard_index_for(key)].name
    }

    /// Index into [`Ring::shards`] of the shard that owns `key`.
    pub fn shard_index_for(&self, key: Key<'_>) -> usize {
        self.shard_index_for_hash(key.placement_hash())
    }

    /// Index into [`Ring::shards`] of the shard that owns ring position `hash`, for
    /// tools that already hold a [`Key::placement_hash`].
    pub fn shard_index_for_hash(&self, hash: u64) -> usize {
        let next = self.points.partition_point(|p| p.hash < hash);
        // Past the last point the ring wraps to the first; `points` is never empty.
        let point = self.points.get(next).unwrap_or(&self.points[0]);
        point.shard as usize
    }

    /// Hashes of all virtual nodes, ascending; used to compute diffs between rings.
    pub(crate) fn point_hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.points.iter().map(|p| p.hash)
    }
}

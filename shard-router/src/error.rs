//! The crate's one error enum: every way a ring configuration can be rejected.

/// Why [`Ring::new`](crate::Ring::new) refused a configuration. Building a ring is the
/// only fallible step; lookups on a built ring cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The configuration lists no shard, so no key could be placed.
    #[error("ring has no shards")]
    Empty,
    /// A shard has an empty name; names identify shards across ring versions.
    #[error("shard at position {index} has an empty name")]
    EmptyName {
        /// Position of the shard in the configured list.
        index: usize,
    },
    /// Two shards share a name, which would make their virtual nodes collide.
    #[error("shard name {0:?} appears more than once")]
    DuplicateName(String),
    /// A shard has weight 0 and would own nothing; remove it from the list instead.
    #[error("shard {0:?} has weight 0")]
    ZeroWeight(String),
    /// `vnodes_per_weight` is 0, so no shard would have a point on the ring.
    #[error("vnodes_per_weight must be at least 1")]
    ZeroVnodes,
    /// The ring would hold more virtual nodes than [`MAX_POINTS`](crate::MAX_POINTS).
    #[error("ring would have {points} virtual nodes, more than the limit of {max}")]
    TooManyPoints {
        /// Sum over shards of `weight * vnodes_per_weight`, saturating at `u64::MAX`.
        points: u64,
        /// The limit, [`MAX_POINTS`](crate::MAX_POINTS).
        max: u64,
    },
}

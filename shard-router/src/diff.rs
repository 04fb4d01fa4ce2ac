//! Which parts of the hash space change owner between two rings.

use crate::ring::Ring;

/// A run of ring positions `start..=end` whose owner differs between two rings.
/// A key moves exactly when its [`placement_hash`](crate::Key::placement_hash) lies in
/// one of these ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MovedRange<'a> {
    /// First position in the range (inclusive).
    pub start: u64,
    /// Last position in the range (inclusive); ranges never wrap past `u64::MAX`.
    pub end: u64,
    /// Owner in the old ring.
    pub from: &'a str,
    /// Owner in the new ring.
    pub to: &'a str,
}

impl MovedRange<'_> {
    /// Whether ring position `hash` lies in this range.
    pub fn contains(&self, hash: u64) -> bool {
        (self.start..=self.end).contains(&hash)
    }

    /// Number of ring positions in the range, as a fraction of the whole ring.
    pub fn fraction_of_ring(&self) -> f64 {
        ((self.end - self.start) as f64 + 1.0) / 2f64.powi(64)
    }
}

impl Ring {
    /// The ranges of the hash space whose owner changes going from `self` to `new`,
    /// sorted by `start`, disjoint, adjacent ranges with the same move merged. Owners are
    /// compared by shard name. Empty when placement is the same, whatever the versions.
    pub fn diff<'a>(&'a self, new: &'a Ring) -> Vec<MovedRange<'a>> {
        // Between two consecutive points of either ring, both owners are constant: each
        // is the owner of the segment's last position.
        let mut bounds: Vec<u64> = self.point_hashes().chain(new.point_hashes()).collect();
        bounds.sort_unstable();
        bounds.dedup();
        if bounds.last() != Some(&u64::MAX) {
            bounds.push(u64::MAX);
        }

        let mut moved: Vec<MovedRange<'a>> = Vec::new();
        let mut start = 0u64;
        for end in bounds {
            let from = self.shards()[self.shard_index_for_hash(end)].name.as_str();
            let to = new.shards()[new.shard_index_for_hash(end)].name.as_str();
            if from != to {
                match moved.last_mut() {
                    Some(last) if last.end + 1 == start && last.from == from && last.to == to => {
                        last.end = end;
                    }
                    _ => moved.push(MovedRange {
                        start,
                        end,
                        from,
                        to,
                    }),
                }
            }
            start = end.wrapping_add(1);
        }
        moved
    }
}

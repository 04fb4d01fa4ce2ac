//! Where every key lives, now and during a migration: the routing state that
//! every process follows ([`RingState`], recorded on the shards) and what it
//! means for one key ([`Routes::route`]).
//!
//! A migration from ring A to ring B moves exactly the keys whose owner
//! differs ([`Ring::diff`]'s ranges). The ranges are cut into `steps`; steps
//! below `flipped` route by B, the others by A, and one step may be
//! *frozen*: nobody writes its keys (the migrator is copying their last
//! changes, or waiting for every process to route them to B). Every change
//! of the state bumps its `version`; a shard refuses writes from a process
//! that routes by another version, which fences processes that have not
//! followed yet.

use std::collections::BTreeMap;

use shard_router::{Key, Ring, RingError, ShardSpec};

/// The routing state as recorded (JSON) in every shard's `ring_state`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RingState {
    /// Bumped by every change of this state (each phase of a migration).
    pub version: u64,
    /// Virtual nodes per unit of weight (both rings).
    pub vnodes_per_weight: u32,
    /// The current ring, `(name, weight)` in order: the first shard hands
    /// out fencing epochs and holds the authoritative copy of this state.
    pub shards: Vec<(String, u32)>,
    /// Connection URL of every shard named here (current, target and
    /// retired), so that a process follows a new shard without a restart.
    /// Empty in records written before resharding existed: URLs then come
    /// from each process's own configuration.
    #[serde(default)]
    pub urls: BTreeMap<String, String>,
    /// A migration in progress.
    #[serde(default)]
    pub migration: Option<Migration>,
    /// Shards that may still hold copies of keys they no longer own (the
    /// sources of a finished migration, removed shards included) until the
    /// migrator deletes them.
    #[serde(default)]
    pub cleanup: Vec<String>,
}

/// A migration from the current ring to `target`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Migration {
    /// The ring being moved to, `(name, weight)` in order.
    pub target: Vec<(String, u32)>,
    /// Into how many steps the moving ranges are cut.
    pub steps: u32,
    /// Steps `0..flipped` route by the target ring.
    pub flipped: u32,
    /// The step whose keys no process writes: `flipped` while its last
    /// changes are copied, `flipped - 1` until every process reads it from
    /// its new shard.
    pub frozen: Option<u32>,
    /// When the migration was started (ms since the epoch).
    pub started_at: i64,
    /// Steps are numbered from the last range: a migration moving back
    /// what an aborted one had moved (see `Migrator::abort`).
    #[serde(default)]
    pub reversed: bool,
}

impl RingState {
    /// The state a first process records: its configured ring, no migration.
    pub fn initial(ring: &Ring, urls: BTreeMap<String, String>) -> RingState {
        RingState {
            version: ring.version(),
            vnodes_per_weight: ring.vnodes_per_weight(),
            shards: pairs(ring),
            urls,
            migration: None,
            cleanup: Vec::new(),
        }
    }

    /// The current ring.
    pub fn ring(&self) -> Result<Ring, RingError> {
        Ring::new(self.version, specs(&self.shards), self.vnodes_per_weight)
    }

    /// The migration's target ring, if one is in progress.
    pub fn target(&self) -> Result<Option<Ring>, RingError> {
        self.migration
            .as_ref()
            .map(|m| Ring::new(self.version, specs(&m.target), self.vnodes_per_weight))
            .transpose()
    }

    /// The shard holding the authoritative copy and handing out epochs.
    pub fn authority(&self) -> &str {
        &self.shards[0].0
    }

    /// Every shard a process must reach: the current ring's, then the
    /// target's new ones (retired shards are the migrator's business).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shards.iter().map(|(n, _)| n.clone()).collect();
        if let Some(m) = &self.migration {
            for (n, _) in &m.target {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        names
    }

    /// Whether placement (not the version) is the same as `other`'s.
    pub fn same_ring(&self, other: &RingState) -> bool {
        self.shards == other.shards && self.vnodes_per_weight == other.vnodes_per_weight
    }
}

impl std::fmt::Display for RingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |s: &[(String, u32)]| {
            s.iter()
                .map(|(n, w)| format!("{n}:{w}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "v{}: {}", self.version, list(&self.shards))?;
        if let Some(m) = &self.migration {
            write!(
                f,
                "; {} {} (step {}/{}",
                if m.reversed {
                    "moving back to"
                } else {
                    "migrating to"
                },
                list(&m.target),
                m.flipped,
                m.steps,
            )?;
            match m.frozen {
                Some(s) => write!(f, ", step {} frozen)", s + 1)?,
                None => write!(f, ")")?,
            }
        }
        if !self.cleanup.is_empty() {
            write!(f, "; old copies on {}", self.cleanup.join(", "))?;
        }
        Ok(())
    }
}

fn pairs(ring: &Ring) -> Vec<(String, u32)> {
    ring.shards()
        .iter()
        .map(|s| (s.name.clone(), s.weight))
        .collect()
}

fn specs(pairs: &[(String, u32)]) -> Vec<ShardSpec> {
    pairs
        .iter()
        .map(|(name, weight)| ShardSpec {
            name: name.clone(),
            weight: *weight,
        })
        .collect()
}

/// Where one key goes under a [`RingState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Index into [`Routes::names`] of the shard that holds the key now.
    pub shard: usize,
    /// Nobody may write the key until its step flips.
    pub frozen: bool,
}

/// A [`RingState`] made ready for lookups.
#[derive(Clone, Debug)]
pub struct Routes {
    state: RingState,
    current: Ring,
    /// Every shard a process reaches (see [`RingState::names`]).
    names: Vec<String>,
    /// Index into `names` of each current-ring shard.
    current_index: Vec<usize>,
    migration: Option<Moving>,
}

#[derive(Clone, Debug)]
struct Moving {
    target: Ring,
    /// Index into `names` of each target-ring shard.
    target_index: Vec<usize>,
    /// `(start, end, step)`, sorted by start, disjoint.
    ranges: Vec<(u64, u64, u32)>,
    flipped: u32,
    frozen: Option<u32>,
}

impl Routes {
    /// Lookups for `state`.
    pub fn new(state: RingState) -> Result<Routes, RingError> {
        let current = state.ring()?;
        let names = state.names();
        let index = |ring: &Ring| -> Vec<usize> {
            ring.shards()
                .iter()
                .map(|s| names.iter().position(|n| *n == s.name).unwrap_or(0))
                .collect()
        };
        let current_index = index(&current);
        let migration = match (&state.migration, state.target()?) {
            (Some(m), Some(target)) => {
                let diff = current.diff(&target);
                let n = diff.len().max(1) as u64;
                let steps = u64::from(m.steps.max(1));
                let ranges = diff
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let step = i as u64 * steps / n;
                        let step = if m.reversed { steps - 1 - step } else { step };
                        (r.start, r.end, step as u32)
                    })
                    .collect();
                Some(Moving {
                    target_index: index(&target),
                    target,
                    ranges,
                    flipped: m.flipped,
                    frozen: m.frozen,
                })
            }
            _ => None,
        };
        Ok(Routes {
            state,
            current,
            names,
            current_index,
            migration,
        })
    }

    /// The state these routes are for.
    pub fn state(&self) -> &RingState {
        &self.state
    }

    /// The state's version.
    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// The current ring.
    pub fn ring(&self) -> &Ring {
        &self.current
    }

    /// The migration's target ring.
    pub fn target(&self) -> Option<&Ring> {
        self.migration.as_ref().map(|m| &m.target)
    }

    /// Every shard a process reaches, in the index space of [`Route::shard`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Where `key` is now.
    pub fn route(&self, key: Key<'_>) -> Route {
        let h = key.placement_hash();
        let current = Route {
            shard: self.current_index[self.current.shard_index_for_hash(h)],
            frozen: false,
        };
        let Some(m) = &self.migration else {
            return current;
        };
        match m.step_of(h) {
            Some(step) => Route {
                shard: if step < m.flipped {
                    m.target_index[m.target.shard_index_for_hash(h)]
                } else {
                    current.shard
                },
                frozen: m.frozen == Some(step),
            },
            None => current,
        }
    }

    /// The migration step that moves `key` (`None`: it does not move, or no
    /// migration is in progress).
    pub fn step_of(&self, key: Key<'_>) -> Option<u32> {
        self.migration.as_ref()?.step_of(key.placement_hash())
    }

    /// The owner of `key` under the current ring and under the target.
    pub fn owners(&self, key: Key<'_>) -> (&str, Option<&str>) {
        (
            self.current.shard_for(key),
            self.migration.as_ref().map(|m| m.target.shard_for(key)),
        )
    }
}

impl Moving {
    fn step_of(&self, h: u64) -> Option<u32> {
        let i = self.ranges.partition_point(|r| r.1 < h);
        self.ranges
            .get(i)
            .filter(|r| r.0 <= h)
            .map(|&(_, _, step)| step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(shards: &[(&str, u32)], target: Option<&[(&str, u32)]>) -> RingState {
        let own = |s: &[(&str, u32)]| s.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        RingState {
            version: 7,
            vnodes_per_weight: 160,
            shards: own(shards),
            urls: BTreeMap::new(),
            migration: target.map(|t| Migration {
                target: own(t),
                steps: 4,
                flipped: 0,
                frozen: None,
                started_at: 0,
                reversed: false,
            }),
            cleanup: Vec::new(),
        }
    }

    const TWO: &[(&str, u32)] = &[("a", 1), ("b", 1)];
    const THREE: &[(&str, u32)] = &[("a", 1), ("b", 1), ("c", 1)];

    #[test]
    fn without_a_migration_keys_go_where_the_ring_says() {
        let r = Routes::new(state(TWO, None)).unwrap();
        let ring = r.ring().clone();
        for id in 0..500 {
            let k = Key::Chat(id);
            let route = r.route(k);
            assert_eq!(r.names()[route.shard], ring.shard_for(k));
            assert!(!route.frozen);
            assert_eq!(r.step_of(k), None);
        }
    }

    #[test]
    fn steps_move_exactly_the_keys_the_rings_disagree_on() {
        let mut s = state(TWO, Some(THREE));
        let mut moved_by_step = [0u32; 4];
        for flipped in 0..=4 {
            s.migration.as_mut().unwrap().flipped = flipped;
            let r = Routes::new(s.clone()).unwrap();
            assert_eq!(r.names(), ["a", "b", "c"]);
            for id in 0..2000 {
                let k = Key::User(id);
                let (old, new) = r.owners(k);
                let new = new.unwrap();
                let at = &r.names()[r.route(k).shard];
                match r.step_of(k) {
                    None => assert_eq!(old, new, "a key outside every range keeps its owner"),
                    Some(step) => {
                        assert_ne!(old, new);
                        assert_eq!(at, if step < flipped { new } else { old });
                        if flipped == 0 {
                            moved_by_step[step as usize] += 1;
                        }
                    }
                }
            }
        }
        // About a third of the keys move, spread over every step.
        let moved: u32 = moved_by_step.iter().sum();
        assert!((400..900).contains(&moved), "{moved} of 2000 moved");
        assert!(moved_by_step.iter().all(|&n| n > 0), "{moved_by_step:?}");
    }

    #[test]
    fn only_the_frozen_step_is_frozen_before_and_after_its_flip() {
        for (flipped, moved) in [(1, false), (2, true)] {
            let mut s = state(TWO, Some(THREE));
            let m = s.migration.as_mut().unwrap();
            m.flipped = flipped;
            m.frozen = Some(1);
            let r = Routes::new(s).unwrap();
            let mut frozen = 0;
            for id in 0..2000 {
                let k = Key::Chat(id);
                let route = r.route(k);
                assert_eq!(route.frozen, r.step_of(k) == Some(1));
                if route.frozen {
                    frozen += 1;
                    let (old, new) = r.owners(k);
                    let at = &r.names()[route.shard];
                    assert_eq!(at, if moved { new.unwrap() } else { old });
                }
            }
            assert!(frozen > 0);
        }
    }

    /// An abort swaps the rings and numbers the steps from the other end:
    /// every key stays where it was, flipped or not.
    #[test]
    fn a_reversed_migration_routes_every_key_where_the_aborted_one_had_it() {
        for flipped in 0..=4 {
            let mut s = state(TWO, Some(THREE));
            s.migration.as_mut().unwrap().flipped = flipped;
            let forward = Routes::new(s.clone()).unwrap();
            let m = s.migration.clone().unwrap();
            let back = RingState {
                shards: m.target.clone(),
                migration: Some(Migration {
                    target: s.shards.clone(),
                    flipped: m.steps - flipped,
                    reversed: true,
                    ..m
                }),
                ..s
            };
            let back = Routes::new(back).unwrap();
            for id in 0..2000 {
                let k = Key::Chat(id);
                let at = |r: &Routes| r.names()[r.route(k).shard].clone();
                assert_eq!(at(&forward), at(&back), "flipped {flipped}, chat {id}");
            }
        }
    }

    #[test]
    fn a_removed_shard_stays_reachable_until_the_migration_ends() {
        let r = Routes::new(state(THREE, Some(&[("b", 1), ("c", 1)]))).unwrap();
        assert_eq!(r.names(), ["a", "b", "c"]);
        assert_eq!(r.state().authority(), "a");
        let done = state(&[("b", 1), ("c", 1)], None);
        assert_eq!(Routes::new(done).unwrap().names(), ["b", "c"]);
    }

    #[test]
    fn records_from_before_resharding_still_read() {
        let old = r#"{"version":3,"vnodes_per_weight":160,"shards":[["shard0",1],["shard1",1]]}"#;
        let s: RingState = serde_json::from_str(old).unwrap();
        assert_eq!(s.version, 3);
        assert!(s.urls.is_empty() && s.migration.is_none() && s.cleanup.is_empty());
        assert_eq!(s.to_string(), "v3: shard0:1, shard1:1");
    }
}

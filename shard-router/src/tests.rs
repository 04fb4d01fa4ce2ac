//! Behaviour of the ring as a whole: pinned placement, weights, resharding, errors.

use crate::{Key, Ring, RingConfig, RingError, ShardSpec, xxh64};

const SAMPLE: u64 = 100_000;

fn spec(name: &str, weight: u32) -> ShardSpec {
    ShardSpec {
        name: name.to_owned(),
        weight,
    }
}

fn ring(version: u64, shards: &[(&str, u32)]) -> Ring {
    let shards = shards.iter().map(|&(n, w)| spec(n, w)).collect();
    Ring::new(version, shards, 160).expect("valid ring")
}

fn two_shards() -> Ring {
    ring(1, &[("shard-a", 1), ("shard-b", 1)])
}

fn three_shards() -> Ring {
    ring(2, &[("shard-a", 1), ("shard-b", 1), ("shard-c", 1)])
}

/// Expected owners computed by an independent reference (a few lines of Python over the
/// reference libxxhash, following the rules in the crate doc), not by this crate.
/// If this test fails, existing data would be looked up on the wrong shard.
#[test]
fn pinned_placement() {
    assert_eq!(xxh64(b"shard-a#0", 0), 0x1024_8F46_5965_B056);
    let two = two_shards();
    let three = three_shards();
    let cases: &[(Key<'_>, &str, &str)] = &[
        (Key::Chat(1), "shard-a", "shard-a"),
        (Key::Chat(2), "shard-b", "shard-b"),
        (Key::Chat(3), "shard-b", "shard-c"),
        (Key::Chat(4), "shard-a", "shard-a"),
        (Key::Chat(5), "shard-a", "shard-a"),
        (Key::Chat(6), "shard-a", "shard-c"),
        (Key::Chat(7), "shard-a", "shard-a"),
        (Key::Chat(8), "shard-b", "shard-b"),
        (Key::User(1), "shard-a", "shard-a"),
        (Key::User(2), "shard-b", "shard-b"),
        (Key::User(3), "shard-b", "shard-b"),
        (Key::User(4), "shard-a", "shard-a"),
        (Key::Name("alice"), "shard-a", "shard-a"),
        (Key::Name("bob"), "shard-b", "shard-c"),
    ];
    for &(key, on_two, on_three) in cases {
        assert_eq!(two.shard_for(key), on_two, "{key:?} on 2 shards");
        assert_eq!(three.shard_for(key), on_three, "{key:?} on 3 shards");
    }
}

#[test]
fn deterministic_and_independent_of_config_order() {
    let forward = three_shards();
    let again = three_shards();
    let reversed = ring(2, &[("shard-c", 1), ("shard-b", 1), ("shard-a", 1)]);
    assert_eq!(reversed.shards()[0].name, "shard-c");
    for id in 0..10_000 {
        let key = Key::Chat(id);
        assert_eq!(forward.shard_for(key), again.shard_for(key));
        assert_eq!(forward.shard_for(key), reversed.shard_for(key));
        let index = reversed.shard_index_for(key);
        assert_eq!(reversed.shards()[index].name, reversed.shard_for(key));
    }
    assert!(forward.diff(&reversed).is_empty());
}

#[test]
fn weights_are_roughly_respected() {
    let ring = ring(1, &[("heavy", 2), ("light", 1)]);
    let heavy = (0..SAMPLE)
        .filter(|&id| ring.shard_for(Key::Chat(id)) == "heavy")
        .count() as f64;
    let light = SAMPLE as f64 - heavy;
    let ratio = heavy / light;
    // Deterministic: 1.94 with these names and 160 vnodes per weight.
    assert!((1.7..2.3).contains(&ratio), "heavy/light = {ratio}");
}

#[test]
fn adding_a_shard_moves_about_a_third_and_only_to_it() {
    let old = two_shards();
    let new = three_shards();
    let mut moved = 0u64;
    for id in 0..SAMPLE {
        for key in [Key::Chat(id), Key::User(id)] {
            let (from, to) = (old.shard_for(key), new.shard_for(key));
            if from != to {
                assert_eq!(to, "shard-c", "{key:?} moved {from} -> {to}");
                moved += 1;
            }
        }
    }
    let fraction = moved as f64 / (2 * SAMPLE) as f64;
    // Deterministic: 0.370 (ideal 1/3) with these names and 160 vnodes per weight.
    assert!((0.27..0.40).contains(&fraction), "moved {fraction}");
}

#[test]
fn diff_lists_exactly_the_moved_keys() {
    let old = two_shards();
    let new = three_shards();
    let ranges = old.diff(&new);
    assert!(ranges.windows(2).all(|w| w[0].end < w[1].start));
    assert!(ranges.iter().all(|r| r.start <= r.end && r.to == "shard-c"));
    let share: f64 = ranges.iter().map(|r| r.fraction_of_ring()).sum();
    assert!((0.27..0.40).contains(&share), "moved share {share}");

    for id in 0..SAMPLE {
        let key = Key::Chat(id);
        let hash = key.placement_hash();
        let range = ranges.iter().find(|r| r.contains(hash));
        let (from, to) = (old.shard_for(key), new.shard_for(key));
        match range {
            Some(r) => assert_eq!((r.from, r.to), (from, to), "{key:?}"),
            None => assert_eq!(from, to, "{key:?} moved outside the diff"),
        }
    }
}

#[test]
fn diff_covers_the_ring_edges() {
    // Hashes 0 and u64::MAX both belong to the first point; a diff where every owner
    // changes must cover the whole ring in one range.
    let old = ring(1, &[("x", 1)]);
    let new = ring(2, &[("y", 1)]);
    let ranges = old.diff(&new);
    assert_eq!(ranges.len(), 1);
    assert_eq!((ranges[0].start, ranges[0].end), (0, u64::MAX));
    assert!(old.diff(&old).is_empty());
}

#[test]
fn version_and_config() {
    let config: RingConfig = toml::from_str(
        r#"
        version = 7
        shards = [{ name = "shard-a", weight = 1 }, { name = "shard-b", weight = 3 }]
        "#,
    )
    .expect("valid config");
    assert_eq!(config.vnodes_per_weight, crate::DEFAULT_VNODES_PER_WEIGHT);
    let ring = Ring::from_config(config).expect("valid ring");
    assert_eq!(ring.version(), 7);
    assert_eq!(ring.shards()[1], spec("shard-b", 3));

    let typo = toml::from_str::<RingConfig>(
        "version = 1\nshards = [{ name = \"a\", weight = 1, wieght = 2 }]",
    );
    assert!(typo.is_err(), "unknown shard field must be rejected");
    let typo = toml::from_str::<RingConfig>("version = 1\nvnodes = 4\nshards = []");
    assert!(typo.is_err(), "unknown ring field must be rejected");
}

#[test]
fn rejects_bad_configurations() {
    assert_eq!(Ring::new(1, vec![], 160).unwrap_err(), RingError::Empty);
    assert_eq!(
        Ring::new(1, vec![spec("a", 1), spec("a", 2)], 160).unwrap_err(),
        RingError::DuplicateName("a".into())
    );
    assert_eq!(
        Ring::new(1, vec![spec("a", 1), spec("b", 0)], 160).unwrap_err(),
        RingError::ZeroWeight("b".into())
    );
    assert_eq!(
        Ring::new(1, vec![spec("a", 1), spec("", 1)], 160).unwrap_err(),
        RingError::EmptyName { index: 1 }
    );
    assert_eq!(
        Ring::new(1, vec![spec("a", 1)], 0).unwrap_err(),
        RingError::ZeroVnodes
    );
    assert_eq!(
        Ring::new(1, vec![spec("a", 1 << 12), spec("b", 1)], 1 << 8).unwrap_err(),
        RingError::TooManyPoints {
            points: (1 << 20) + (1 << 8),
            max: crate::MAX_POINTS,
        }
    );
    assert_eq!(
        Ring::new(1, vec![spec("a", u32::MAX), spec("b", u32::MAX)], u32::MAX).unwrap_err(),
        RingError::TooManyPoints {
            points: u64::MAX,
            max: crate::MAX_POINTS,
        }
    );
}

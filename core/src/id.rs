//! 64-bit time-ordered identifiers (snowflake style) and their JSON form.
//!
//! Layout, high bit first: 1 bit zero, 41 bits milliseconds since [`EPOCH_MS`],
//! 10 bits node id, 12 bits counter. IDs are strings in JSON because JavaScript
//! numbers lose precision past 2^53.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

/// 2024-01-01T00:00:00Z in Unix milliseconds: the zero of the id clock.
pub const EPOCH_MS: u64 = 1_704_067_200_000;
const NODE_BITS: u32 = 10;
const COUNTER_BITS: u32 = 12;
/// Largest node id a generator accepts.
pub const MAX_NODE: u16 = (1 << NODE_BITS) - 1;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<u64>().map($name)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(IdVisitor).map($name)
            }
        }
    };
}

id_type!(
    /// A user.
    UserId
);
id_type!(
    /// A chat (direct or group).
    ChatId
);
id_type!(
    /// A login session of a user (random).
    SessionId
);
id_type!(
    /// A message, unique across chats. Within a chat a message is also named by its `seq`.
    MessageId
);

/// Accepts a decimal string (the canonical form) or a non-negative integer.
struct IdVisitor;

impl serde::de::Visitor<'_> for IdVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id as a decimal string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
        v.parse::<u64>()
            .map_err(|_| E::custom(format_args!("invalid id {v:?}")))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("invalid id: negative"))
    }
}

/// Generates unique, time-ordered ids for one node.
#[derive(Debug)]
pub struct IdGenerator {
    /// This process's node number, part of every id so two nodes never collide.
    node: u64,
    /// (last millisecond used, counter within it).
    state: Mutex<(u64, u64)>,
}

impl IdGenerator {
    /// A generator for `node` (masked to 10 bits).
    pub fn new(node: u16) -> Self {
        IdGenerator {
            node: u64::from(node & MAX_NODE),
            state: Mutex::new((0, 0)),
        }
    }

    /// The next id; monotonic per generator even if the wall clock steps back.
    pub fn next(&self) -> u64 {
        let now = crate::now_ms().saturating_sub(EPOCH_MS as i64).max(0) as u64;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, counter) = *st;
        let (ms, c) = if now > last {
            (now, 0)
        } else if counter + 1 < (1 << COUNTER_BITS) {
            (last, counter + 1)
        } else {
            // Counter exhausted in this millisecond: borrow the next one.
            (last + 1, 0)
        };
        *st = (ms, c);
        (ms << (NODE_BITS + COUNTER_BITS)) | (self.node << COUNTER_BITS) | c
    }

    /// The Unix millisecond an id was made at.
    pub fn timestamp_ms(id: u64) -> i64 {
        ((id >> (NODE_BITS + COUNTER_BITS)) + EPOCH_MS) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_increasing() {
        let g = IdGenerator::new(3);
        let mut prev = 0;
        for _ in 0..100_000 {
            let id = g.next();
            assert!(id > prev);
            prev = id;
        }
        let ts = IdGenerator::timestamp_ms(prev);
        assert!((ts - crate::now_ms()).abs() < 60_000);
    }

    #[test]
    fn ids_are_strings_in_json_and_parse_back() {
        let id = ChatId(9_007_199_254_740_993);
        let s = serde_json::to_string(&id).unwrap();
        assert_eq!(s, "\"9007199254740993\"");
        assert_eq!(serde_json::from_str::<ChatId>(&s).unwrap(), id);
        assert_eq!(serde_json::from_str::<ChatId>("12").unwrap(), ChatId(12));
        assert!(serde_json::from_str::<ChatId>("\"x1\"").is_err());
        assert!(serde_json::from_str::<ChatId>("-1").is_err());
    }
}

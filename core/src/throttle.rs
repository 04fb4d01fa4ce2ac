//! Rate limits: a [`Rate`] (`N/period[:burst]`), the generic cell rate
//! algorithm (GCRA) that enforces it with one number per key (the
//! theoretical arrival time of the next request), the [`Throttle`] port that
//! keeps those numbers (Redis across gateways, or in process), and
//! [`LocalThrottle`], the in-process one (standalone, and the gateways'
//! fallback while Redis is away).
//!
//! GCRA: each request pushes the key's arrival time `tat` forward by the
//! emission interval `T = period / N`; a request is allowed while `tat` stays
//! within `burst × T` of now. So a quiet key allows `burst` at once, then one
//! per `T`; a refusal says how long until the next one is allowed and changes
//! nothing.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::CacheError;

/// A rate: `count` per `period`, with bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period.
    pub count: u32,
    /// The period.
    pub period: Duration,
    /// Requests allowed at once after a quiet time.
    pub burst: u32,
}

impl Rate {
    /// `count` per `period`, bursts of `count`.
    pub const fn new(count: u32, period: Duration) -> Rate {
        Rate {
            count,
            period,
            burst: count,
        }
    }

    /// With bursts of `burst`.
    pub const fn burst(self, burst: u32) -> Rate {
        Rate { burst, ..self }
    }

    /// A cost as taken: at least 1, at most the burst.
    pub fn cost(&self, cost: u32) -> u32 {
        cost.clamp(1, self.burst.max(1))
    }

    /// The emission interval in microseconds (at least 1).
    pub fn interval_us(&self) -> u64 {
        (self.period.as_micros() / u128::from(self.count.max(1))).max(1) as u64
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            86_400 => "d",
            n => return write!(f, "{}/{n}s:{}", self.count, self.burst),
        };
        write!(f, "{}/{unit}", self.count)?;
        if self.burst != self.count {
            write!(f, ":{}", self.burst)?;
        }
        Ok(())
    }
}

impl FromStr for Rate {
    type Err = String;

    /// `N/s`, `N/min`, `N/h` or `N/d`, optionally `:BURST` (default `N`).
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad =
            || format!("`{s}` is not a rate: write N/s, N/min, N/h or N/d, optionally :BURST");
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (r, Some(b.trim().parse::<u32>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let (n, unit) = rate.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let period = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        let burst = burst.unwrap_or(count);
        if count == 0 || burst == 0 {
            return Err(format!(
                "`{s}`: a rate and its burst must be positive (use `off`)"
            ));
        }
        Ok(Rate {
            count,
            period,
            burst,
        })
    }
}

/// One GCRA step for a key whose arrival time is `tat` (µs; `None` for a
/// key never seen or forgotten) at `now` (µs), taking `cost` requests at
/// once (at most the burst): the new arrival time to store if allowed, or
/// how long until they would be.
pub fn gcra(tat: Option<u64>, now: u64, rate: &Rate, cost: u32) -> Result<u64, Duration> {
    let t = rate.interval_us();
    let tat = tat.unwrap_or(now).max(now);
    let cost = u64::from(rate.cost(cost));
    let next = tat.saturating_add(t.saturating_mul(cost));
    let allowed_at = next.saturating_sub(t.saturating_mul(u64::from(rate.burst)));
    if allowed_at > now {
        Err(Duration::from_micros(allowed_at - now))
    } else {
        Ok(next)
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Where the rate limits' state lives.
#[async_trait]
pub trait Throttle: Send + Sync + 'static {
    /// Takes `cost` requests (1 for most; at most the burst) from `key`'s
    /// allowance under `rate`: `Ok(Ok(()))` when allowed, `Ok(Err(retry_after))`
    /// when not (nothing taken).
    async fn take(
        &self,
        key: &str,
        rate: &Rate,
        cost: u32,
    ) -> Result<Result<(), Duration>, CacheError>;
}

/// Shards of [`LocalThrottle`]'s map (fewer lock collisions).
const SHARDS: usize = 16;

/// The in-process [`Throttle`]: a bounded map of arrival times. A key whose
/// arrival time has passed holds a full allowance and is forgotten first;
/// when the map is full of live keys, the one nearest to a full allowance is
/// dropped (its allowance resets early), so memory stays bounded whatever
/// keys arrive.
pub struct LocalThrottle {
    shards: Vec<Mutex<HashMap<String, u64>>>,
    per_shard: usize,
}

impl LocalThrottle {
    /// A throttle remembering at most about `capacity` keys.
    pub fn new(capacity: usize) -> LocalThrottle {
        LocalThrottle {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(1),
        }
    }

    /// [`Throttle::take`] at a given time, without I/O.
    pub fn take_at(&self, key: &str, rate: &Rate, cost: u32, now: u64) -> Result<(), Duration> {
        let shard = &self.shards[(crate::fnv1a64(key.as_bytes()) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let next = gcra(map.get(key).copied(), now, rate, cost)?;
        if let Some(v) = map.get_mut(key) {
            *v = next;
            return Ok(());
        }
        if map.len() >= self.per_shard {
            map.retain(|_, tat| *tat > now);
            // Still full of live keys: forget the one nearest to a full
            // allowance (the earliest arrival time), not just any.
            if map.len() >= self.per_shard
                && let Some(k) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone())
            {
                map.remove(&k);
            }
        }
        map.insert(key.to_owned(), next);
        Ok(())
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Throttle for LocalThrottle {
    async fn take(
        &self,
        key: &str,
        rate: &Rate,
        cost: u32,
    ) -> Result<Result<(), Duration>, CacheError> {
        Ok(self.take_at(key, rate, cost, now_us()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        let r: Rate = "10/min".parse().unwrap();
        assert_eq!(r, Rate::new(10, Duration::from_secs(60)));
        assert_eq!(r.to_string(), "10/min");
        let r: Rate = "20/s:50".parse().unwrap();
        assert_eq!(r.burst, 50);
        assert_eq!(r.to_string(), "20/s:50");
        for bad in ["", "10", "10/week", "x/s", "0/s", "5/s:0", "5/s:x", "-1/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let rate = Rate::new(2, Duration::from_secs(1)).burst(3);
        let t = LocalThrottle::new(100);
        let now = 1_000_000_000;
        for _ in 0..3 {
            assert!(t.take_at("k", &rate, 1, now).is_ok());
        }
        let wait = t.take_at("k", &rate, 1, now).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // A refusal takes nothing: the same wait, then one more.
        assert_eq!(t.take_at("k", &rate, 1, now).unwrap_err(), wait);
        assert!(t.take_at("k", &rate, 1, now + 500_000).is_ok());
        assert!(t.take_at("k", &rate, 1, now + 500_000).is_err());
        // Other keys are unaffected.
        assert!(t.take_at("other", &rate, 1, now).is_ok());
    }

    #[test]
    fn a_cost_takes_several_at_once_up_to_the_burst() {
        let rate = Rate::new(10, Duration::from_secs(1));
        let t = LocalThrottle::new(100);
        let now = 5_000_000;
        assert!(t.take_at("k", &rate, 7, now).is_ok());
        assert_eq!(
            t.take_at("k", &rate, 4, now).unwrap_err(),
            Duration::from_millis(100)
        );
        assert!(t.take_at("k", &rate, 3, now).is_ok());
        // A cost over the burst counts as the burst.
        assert!(t.take_at("k2", &rate, 1000, now).is_ok());
        assert!(t.take_at("k2", &rate, 1, now).is_err());
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let t = LocalThrottle::new(64);
        let rate = Rate::new(1, Duration::from_secs(3600));
        for i in 0..10_000 {
            assert!(t.take_at(&format!("key{i}"), &rate, 1, 1_000_000).is_ok());
        }
        assert!(t.len() <= 64 + SHARDS, "{} keys kept", t.len());
    }
}

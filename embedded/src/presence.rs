//! In-process [`Presence`]: the same contract as the Redis one, for
//! standalone mode (one gateway, but the contract is per gateway all the
//! same). Bounded: at its cap, entries of users offline are dropped (their
//! last-seen time is forgotten; online users are never dropped).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chat_core::presence::{Presence, Seen, Visibility};
use chat_core::{CacheError, UserId, now_ms};

struct Entry {
    /// Gateway → Unix ms its report lasts until.
    gateways: Vec<(String, i64)>,
    /// Unix ms of the last report or disconnection.
    seen: i64,
    visibility: Visibility,
}

impl Entry {
    /// Drops expired reports; whether one is left.
    fn online(&mut self, now: i64) -> bool {
        self.gateways.retain(|(_, until)| *until > now);
        !self.gateways.is_empty()
    }
}

/// Presence in this process.
pub struct MemPresence {
    users: Mutex<HashMap<UserId, Entry>>,
    cap: usize,
}

impl MemPresence {
    /// Remembers at most `cap` users (at least 16).
    pub fn new(cap: usize) -> Self {
        MemPresence {
            users: Mutex::new(HashMap::new()),
            cap: cap.max(16),
        }
    }

    /// Users remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Entry>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// At the cap: forget a tenth of the cap's worth of offline users.
fn make_room(users: &mut HashMap<UserId, Entry>, cap: usize, now: i64) {
    if users.len() < cap {
        return;
    }
    let victims: Vec<UserId> = users
        .iter_mut()
        .filter_map(|(id, e)| (!e.online(now)).then_some(*id))
        .take(cap / 10 + 1)
        .collect();
    for id in victims {
        users.remove(&id);
    }
}

#[async_trait]
impl Presence for MemPresence {
    async fn beat(
        &self,
        gateway: &str,
        users: &[(UserId, Visibility)],
        ttl: Duration,
    ) -> Result<Vec<bool>, CacheError> {
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let mut map = self.lock();
        let mut was = Vec::with_capacity(users.len());
        for &(user, visibility) in users {
            if !map.contains_key(&user) {
                make_room(&mut map, self.cap, now);
            }
            let e = map.entry(user).or_insert_with(|| Entry {
                gateways: Vec::new(),
                seen: now,
                visibility,
            });
            was.push(e.online(now));
            match e.gateways.iter_mut().find(|(g, _)| g == gateway) {
                Some(g) => g.1 = until,
                None => e.gateways.push((gateway.to_string(), until)),
            }
            e.seen = now;
            e.visibility = visibility;
        }
        Ok(was)
    }

    async fn gone(&self, gateway: &str, user: UserId) -> Result<Seen, CacheError> {
        let now = now_ms();
        let mut map = self.lock();
        let Some(e) = map.get_mut(&user) else {
            return Ok(Seen::default());
        };
        e.gateways.retain(|(g, _)| g != gateway);
        e.seen = now;
        Ok(Seen {
            online: e.online(now),
            last_seen: Some(now),
            visibility: Some(e.visibility),
        })
    }

    async fn seen(&self, users: &[UserId]) -> Result<Vec<Seen>, CacheError> {
        let now = now_ms();
        let mut map = self.lock();
        Ok(users
            .iter()
            .map(|u| match map.get_mut(u) {
                Some(e) => Seen {
                    online: e.online(now),
                    last_seen: Some(e.seen),
                    visibility: Some(e.visibility),
                },
                None => Seen::default(),
            })
            .collect())
    }
}

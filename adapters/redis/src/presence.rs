//! [`Presence`] on Redis: one hash per user, `pr:{user}`, with a field per
//! gateway holding the user (`g:{gateway}` → Unix ms its report lasts
//! until), the last-seen time (`_s`) and the visibility (`_v`). Times are
//! Redis's own clock, so gateways' clocks may differ. A user is online
//! while a gateway field lies in the future: a gateway that dies stops
//! beating and its fields expire (each script also drops the expired ones).
//! The hash itself lives [`KEEP_SECS`] after the last report: how long a
//! last-seen time is remembered.

use std::time::Duration;

use async_trait::async_trait;
use chat_core::presence::{Presence, Seen, Visibility};
use chat_core::{CacheError, UserId};
use futures_util::StreamExt;

use crate::conn::Conn;
use crate::unavailable;

/// How long a user's last-seen time is kept after their last report.
pub const KEEP_SECS: u64 = 30 * 24 * 3600;

/// Reports at once per burst (each is one script call; they share one
/// multiplexed connection).
const CONCURRENT: usize = 256;

/// The time on Redis's clock in ms, and a pass over a user's hash that
/// drops expired gateway fields and tells whether one is left.
const PRELUDE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live()
  local h = redis.call('HGETALL', KEYS[1])
  local any = 0
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 'g:' then
      if tonumber(h[i + 1]) > now then any = 1 else redis.call('HDEL', KEYS[1], h[i]) end
    end
  end
  return any
end
"#;

/// KEYS[1] = hash; ARGV = gateway field, ttl ms, visibility, keep secs.
/// Returns 1 if the user was online already.
const BEAT: &str = r#"
local was = live()
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]), '_s', now, '_v', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return was
"#;

/// KEYS[1] = hash; ARGV = gateway field. Returns as [`SEEN`] after it.
const GONE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', ''} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], '_s', now)
local online = live()
local v = redis.call('HMGET', KEYS[1], '_s', '_v')
return {online, v[1] or '', v[2] or ''}
"#;

/// KEYS[1] = hash. Returns {online, last seen or '', visibility or ''}.
const SEEN: &str = r#"
local online = live()
local v = redis.call('HMGET', KEYS[1], '_s', '_v')
return {online, v[1] or '', v[2] or ''}
"#;

/// What [`SEEN`] and [`GONE`] return: online, last seen, visibility.
fn seen_of((online, s, v): (i64, String, String)) -> Seen {
    Seen {
        online: online == 1,
        last_seen: s.parse().ok(),
        // An unknown name (a newer release's) shows nothing.
        visibility: (!v.is_empty()).then(|| Visibility::parse(&v).unwrap_or(Visibility::Nobody)),
    }
}

/// Presence in Redis (single or cluster: every script touches one key).
#[derive(Clone)]
pub struct RedisPresence {
    conn: Conn,
    prefix: String,
    beat: redis::Script,
    gone: redis::Script,
    seen: redis::Script,
}

impl RedisPresence {
    pub(crate) fn new(conn: Conn, prefix: String) -> Self {
        let script = |body: &str| redis::Script::new(&format!("{PRELUDE}{body}"));
        RedisPresence {
            conn,
            prefix,
            beat: script(BEAT),
            gone: script(GONE),
            seen: script(SEEN),
        }
    }

    fn key(&self, user: UserId) -> String {
        format!("{}pr:{}", self.prefix, user.0)
    }
}

fn field(gateway: &str) -> String {
    format!("g:{gateway}")
}

#[async_trait]
impl Presence for RedisPresence {
    async fn beat(
        &self,
        gateway: &str,
        users: &[(UserId, Visibility)],
        ttl: Duration,
    ) -> Result<Vec<bool>, CacheError> {
        let f = field(gateway);
        let ttl = ttl.as_millis().max(1) as u64;
        let calls: Vec<_> = users
            .iter()
            .map(|(user, v)| {
                let mut c = self.conn.clone();
                let mut inv = self.beat.key(self.key(*user));
                inv.arg(&f).arg(ttl).arg(v.as_str()).arg(KEEP_SECS);
                async move { inv.invoke_async::<i64>(&mut c).await }
            })
            .collect();
        futures_util::stream::iter(calls)
            .buffered(CONCURRENT)
            .map(|r| r.map(|was| was == 1).map_err(unavailable))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    async fn gone(&self, gateway: &str, user: UserId) -> Result<Seen, CacheError> {
        let mut c = self.conn.clone();
        let after: (i64, String, String) = self
            .gone
            .key(self.key(user))
            .arg(field(gateway))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(seen_of(after))
    }

    async fn seen(&self, users: &[UserId]) -> Result<Vec<Seen>, CacheError> {
        let calls: Vec<_> = users
            .iter()
            .map(|user| {
                let mut c = self.conn.clone();
                let inv = self.seen.key(self.key(*user));
                async move { inv.invoke_async::<(i64, String, String)>(&mut c).await }
            })
            .collect();
        futures_util::stream::iter(calls)
            .buffered(CONCURRENT)
            .map(|r| r.map(seen_of).map_err(unavailable))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }
}

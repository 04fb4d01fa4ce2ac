//! [`Cache`] on Redis.

use async_trait::async_trait;
use chat_core::model::{Chat, Member, Role};
use chat_core::ports::{Cache, CacheOp, Cached, Membership, new_lease};
use chat_core::throttle::{Rate, Throttle};
use chat_core::{CacheError, ChatId, UserId};
use redis::AsyncCommands;
use std::time::Duration;

use crate::conn::Conn;
use crate::{RedisConfig, unavailable};

/// Replaces a chat summary unless the cached one has a newer `last_pts`.
const PUT_CHAT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and old.last_pts and old.last_pts > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"#;

/// Moves a cached cursor forward, if the entry exists (`role:seq`, then
/// maybe `:muted_until` and `:mentions`: the rest is kept).
const ADVANCE: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local i = string.find(v, ':')
local j = string.find(v, ':', i + 1)
local seq = tonumber(string.sub(v, i + 1, (j or 0) - 1))
if tonumber(ARGV[2]) > seq then
  local rest = ''
  if j then rest = string.sub(v, j) end
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(v, 1, i - 1) .. ':' .. ARGV[2] .. rest)
  return 1
end
return 0
"#;

/// One GCRA step (see `chat_core::throttle`) on Redis's clock.
/// KEYS[1] = key; ARGV = emission interval µs, burst, cost. Returns 0 when
/// allowed (the new arrival time stored, expiring when it has passed), else
/// the µs until a request would be.
const GCRA: &str = r#"
local now = redis.call('TIME')
local t = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or t)
if tat < t then tat = t end
local nxt = tat + interval * tonumber(ARGV[3])
local allowed_at = nxt - interval * tonumber(ARGV[2])
if allowed_at > t then return allowed_at - t end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.floor((nxt - t) / 1000) + 1)
return 0
"#;

/// How long a reader's lease on a missing entry lasts (its store read must
/// end within it, or its fill is dropped).
const LEASE_SECS: u64 = 60;

/// A chat's members: `V:<json>` (the list) or `L:<lease>` (a reader's
/// lease, see `chat_core::ports::Cached`). Returns the list entry, or takes
/// the lease (replacing any earlier one) and returns nil. An entry of an
/// older release (bare JSON) is taken as a miss.
/// KEYS[1] = key; ARGV = lease, lease ttl.
const READ_MEMBERS: &str = r#"
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 2) == 'V:' then return v end
redis.call('SET', KEYS[1], 'L:' .. ARGV[1], 'EX', ARGV[2])
return false
"#;

/// Writes the list only over the reader's own lease.
/// KEYS[1] = key; ARGV = lease, json, ttl.
const FILL_MEMBERS: &str = r#"
if redis.call('GET', KEYS[1]) ~= 'L:' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'V:' .. ARGV[2], 'EX', ARGV[3])
return 1
"#;

/// A user's memberships: one hash, `_` = 1 and a field per chat (the list),
/// or only `_l` = a reader's lease. Returns the list hash, or takes the lease
/// and returns nil.
/// KEYS[1] = key; ARGV = lease, lease ttl.
const READ_MEMBERSHIPS: &str = r#"
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  if h[i] == '_' then return h end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '_l', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return false
"#;

/// Writes the list only over the reader's own lease.
/// KEYS[1] = key; ARGV = lease, ttl, then chat and
/// `role:seq[:muted_until[:mention,…]]` pairs.
const FILL_MEMBERSHIPS: &str = r#"
if redis.call('HGET', KEYS[1], '_l') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '_', '1')
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// The Redis [`Cache`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisCache {
    conn: Conn,
    cfg: RedisConfig,
    put_chat: redis::Script,
    advance: redis::Script,
    read_members: redis::Script,
    fill_members: redis::Script,
    read_memberships: redis::Script,
    fill_memberships: redis::Script,
    gcra: redis::Script,
}

impl RedisCache {
    /// Connects (and reconnects by itself later).
    pub async fn connect(cfg: RedisConfig) -> Result<RedisCache, CacheError> {
        let conn = Conn::connect(&cfg).await?;
        Ok(RedisCache {
            conn,
            cfg,
            put_chat: redis::Script::new(PUT_CHAT),
            advance: redis::Script::new(ADVANCE),
            read_members: redis::Script::new(READ_MEMBERS),
            fill_members: redis::Script::new(FILL_MEMBERS),
            read_memberships: redis::Script::new(READ_MEMBERSHIPS),
            fill_memberships: redis::Script::new(FILL_MEMBERSHIPS),
            gcra: redis::Script::new(GCRA),
        })
    }

    /// Presence on the same connection.
    pub fn presence(&self) -> crate::RedisPresence {
        crate::RedisPresence::new(self.conn.clone(), self.cfg.prefix.clone())
    }

    fn key(&self, kind: &str, id: u64) -> String {
        format!("{}{kind}:{id}", self.cfg.prefix)
    }

    fn ttl(&self) -> u64 {
        self.cfg.ttl.as_secs().max(1)
    }

    async fn apply_one(&self, op: &CacheOp) -> Result<(), CacheError> {
        match op {
            CacheOp::PutChat(c) => self.put_chat(c).await,
            CacheOp::InvalidateMembers(c) => self.invalidate_members(*c).await,
            CacheOp::InvalidateMemberships(u) => self.invalidate_memberships(*u).await,
            CacheOp::AdvanceCursor(u, c, s) => self.advance_cursor(*u, *c, *s).await,
        }
    }
}

/// Rate limits held in Redis, shared by every gateway.
#[async_trait]
impl Throttle for RedisCache {
    async fn take(
        &self,
        key: &str,
        rate: &Rate,
        cost: u32,
    ) -> Result<Result<(), Duration>, CacheError> {
        let mut c = self.conn.clone();
        let wait: u64 = self
            .gcra
            .key(format!("{}rl:{key}", self.cfg.prefix))
            .arg(rate.interval_us())
            .arg(rate.burst)
            .arg(rate.cost(cost))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(match wait {
            0 => Ok(()),
            us => Err(Duration::from_micros(us)),
        })
    }
}

fn corrupt(e: impl std::fmt::Display) -> CacheError {
    CacheError::Corrupt(e.to_string())
}

#[async_trait]
impl Cache for RedisCache {
    async fn memberships(&self, user: UserId) -> Result<Cached<Vec<Membership>>, CacheError> {
        let key = self.key("um", user.0);
        let lease = new_lease();
        let mut c = self.conn.clone();
        // A hit, the common case, is one HGETALL; a miss takes its lease in a
        // script.
        let h: Vec<(String, String)> = c.hgetall(&key).await.map_err(unavailable)?;
        let h = if h.iter().any(|(f, _)| f == "_") {
            h
        } else {
            let leased: Option<Vec<String>> = self
                .read_memberships
                .key(&key)
                .arg(lease)
                .arg(LEASE_SECS)
                .invoke_async(&mut c)
                .await
                .map_err(unavailable)?;
            let Some(flat) = leased else {
                return Ok(Cached::Miss { lease });
            };
            // Filled meanwhile: the script returns the hash, flattened.
            flat.chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect()
        };
        let mut out = Vec::with_capacity(h.len());
        for (f, v) in &h {
            if f.starts_with('_') {
                continue;
            }
            let chat: u64 = f.parse().map_err(corrupt)?;
            // `role:seq[:muted_until[:mention,mention…]]` (see `put_memberships`).
            let mut parts = v.split(':');
            let role = parts.next().unwrap_or_default();
            let seq = parts.next().ok_or_else(|| corrupt("membership"))?;
            let muted = match parts.next() {
                Some("") | None => None,
                Some(m) => Some(m.parse().map_err(corrupt)?),
            };
            let mentions = match parts.next() {
                Some(list) if !list.is_empty() => list
                    .split(',')
                    .map(|s| s.parse::<u64>().map_err(corrupt))
                    .collect::<Result<_, _>>()?,
                _ => Vec::new(),
            };
            out.push(Membership {
                chat_id: ChatId(chat),
                role: Role::parse(role).ok_or_else(|| corrupt("role"))?,
                read_seq: seq.parse().map_err(corrupt)?,
                muted_until: muted,
                mentions,
            });
        }
        Ok(Cached::Hit(out))
    }

    async fn put_memberships(
        &self,
        user: UserId,
        lease: u64,
        list: &[Membership],
    ) -> Result<(), CacheError> {
        let mut inv = self.fill_memberships.key(self.key("um", user.0));
        inv.arg(lease).arg(self.ttl());
        for m in list {
            let mut v = format!("{}:{}", m.role.as_str(), m.read_seq);
            if m.muted_until.is_some() || !m.mentions.is_empty() {
                v.push(':');
                if let Some(u) = m.muted_until {
                    v.push_str(&u.to_string());
                }
            }
            if !m.mentions.is_empty() {
                v.push(':');
                let list: Vec<String> = m.mentions.iter().map(u64::to_string).collect();
                v.push_str(&list.join(","));
            }
            inv.arg(m.chat_id.0.to_string()).arg(v);
        }
        let mut c = self.conn.clone();
        inv.invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn invalidate_memberships(&self, user: UserId) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(self.key("um", user.0))
            .await
            .map_err(unavailable)
    }

    async fn advance_cursor(&self, user: UserId, chat: ChatId, seq: u64) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        self.advance
            .key(self.key("um", user.0))
            .arg(chat.0.to_string())
            .arg(seq)
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Option<Chat>>, CacheError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|c| self.key("cs", c.0)).collect();
        let vals: Vec<Option<String>> = if self.conn.is_cluster() {
            // A cluster's keys live in different slots: one GET each, concurrently.
            let gets = keys.iter().map(|k| {
                let mut c = self.conn.clone();
                async move { c.get::<_, Option<String>>(k).await }
            });
            futures_util::future::join_all(gets)
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(unavailable)?
        } else {
            let mut c = self.conn.clone();
            redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut c)
                .await
                .map_err(unavailable)?
        };
        // A corrupt entry is a miss: the store has the truth.
        Ok(vals
            .into_iter()
            .map(|v| v.and_then(|j| serde_json::from_str(&j).ok()))
            .collect())
    }

    async fn put_chat(&self, chat: &Chat) -> Result<(), CacheError> {
        let json = serde_json::to_string(chat).map_err(corrupt)?;
        let mut c = self.conn.clone();
        self.put_chat
            .key(self.key("cs", chat.id.0))
            .arg(json)
            .arg(chat.last_pts)
            .arg(self.ttl())
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn members(&self, chat: ChatId) -> Result<Cached<Vec<Member>>, CacheError> {
        let key = self.key("cm", chat.0);
        let lease = new_lease();
        let mut c = self.conn.clone();
        // A hit, the common case, is one GET; a miss takes its lease in a script.
        let v: Option<String> = match c.get::<_, Option<String>>(&key).await {
            Ok(Some(e)) if e.starts_with("V:") => Some(e),
            Ok(_) => self
                .read_members
                .key(&key)
                .arg(lease)
                .arg(LEASE_SECS)
                .invoke_async(&mut c)
                .await
                .map_err(unavailable)?,
            Err(e) => return Err(unavailable(e)),
        };
        // An entry that does not parse is a miss (the store has the truth);
        // no lease was taken for it, so its fill will be dropped.
        Ok(
            match v.and_then(|e| serde_json::from_str(e.strip_prefix("V:")?).ok()) {
                Some(list) => Cached::Hit(list),
                None => Cached::Miss { lease },
            },
        )
    }

    async fn put_members(
        &self,
        chat: ChatId,
        lease: u64,
        members: &[Member],
    ) -> Result<(), CacheError> {
        let json = serde_json::to_string(members).map_err(corrupt)?;
        let mut c = self.conn.clone();
        self.fill_members
            .key(self.key("cm", chat.0))
            .arg(lease)
            .arg(json)
            .arg(self.ttl())
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn invalidate_members(&self, chat: ChatId) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(self.key("cm", chat.0))
            .await
            .map_err(unavailable)
    }

    async fn apply(&self, ops: &[CacheOp]) -> Result<(), CacheError> {
        if ops.is_empty() {
            return Ok(());
        }
        if self.conn.is_cluster() {
            // Keys of a cluster live in different slots: one command each.
            for op in ops {
                self.apply_one(op).await?;
            }
            return Ok(());
        }
        // One pipeline for the whole batch (scripts as EVAL: Redis caches them).
        let mut pipe = redis::pipe();
        let ttl = self.ttl();
        for op in ops {
            match op {
                CacheOp::PutChat(chat) => {
                    let json = serde_json::to_string(chat).map_err(corrupt)?;
                    pipe.cmd("EVAL")
                        .arg(PUT_CHAT)
                        .arg(1)
                        .arg(self.key("cs", chat.id.0))
                        .arg(json)
                        .arg(chat.last_pts)
                        .arg(ttl)
                        .ignore();
                }
                CacheOp::InvalidateMembers(chat) => {
                    pipe.cmd("DEL").arg(self.key("cm", chat.0)).ignore();
                }
                CacheOp::InvalidateMemberships(user) => {
                    pipe.cmd("DEL").arg(self.key("um", user.0)).ignore();
                }
                CacheOp::AdvanceCursor(user, chat, seq) => {
                    pipe.cmd("EVAL")
                        .arg(ADVANCE)
                        .arg(1)
                        .arg(self.key("um", user.0))
                        .arg(chat.0.to_string())
                        .arg(*seq)
                        .ignore();
                }
            }
        }
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c).await.map_err(unavailable)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

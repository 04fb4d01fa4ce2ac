//! [`Cache`] on Redis.

use async_trait::async_trait;
use chat_core::model::{Chat, Member, Role};
use chat_core::ports::{Cache, CacheOp, MemberList, Membership};
use chat_core::{CacheError, ChatId, UserId};
use redis::AsyncCommands;

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

/// Moves a cached cursor forward, if the entry exists.
const ADVANCE: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local i = string.find(v, ':')
local seq = tonumber(string.sub(v, i + 1))
if tonumber(ARGV[2]) > seq then
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(v, 1, i - 1) .. ':' .. ARGV[2])
  return 1
end
return 0
"#;

/// Writes a member-list entry `VERSION|JSON` (a list) or `VERSION|-` (an
/// invalidation marker) unless the current entry is newer: the rule of
/// `chat_core::ports::member_entry_replaces` (a higher version wins; at equal
/// versions a list replaces a marker). An entry without a version (written by
/// an older release) is replaced.
/// KEYS[1] = key; ARGV = version, payload (`-` for a marker), ttl.
const PUT_MEMBERS: &str = r#"
local cur = redis.call('GET', KEYS[1])
local v = tonumber(ARGV[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local cv = sep and tonumber(string.sub(cur, 1, sep - 1))
  if cv then
    local cur_list = string.sub(cur, sep + 1) ~= '-'
    local list = ARGV[2] ~= '-'
    if not (v > cv or (v == cv and list and not cur_list)) then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"#;

/// The Redis [`Cache`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisCache {
    conn: Conn,
    cfg: RedisConfig,
    put_chat: redis::Script,
    advance: redis::Script,
    put_members: redis::Script,
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
            put_members: redis::Script::new(PUT_MEMBERS),
        })
    }

    fn key(&self, kind: &str, id: u64) -> String {
        format!("{}{kind}:{id}", self.cfg.prefix)
    }

    fn ttl(&self) -> u64 {
        self.cfg.ttl.as_secs().max(1)
    }

    /// A member-list entry through [`PUT_MEMBERS`].
    async fn put_member_entry(
        &self,
        chat: ChatId,
        version: u64,
        payload: &str,
    ) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        self.put_members
            .key(self.key("cm", chat.0))
            .arg(version)
            .arg(payload)
            .arg(self.ttl())
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn apply_one(&self, op: &CacheOp) -> Result<(), CacheError> {
        match op {
            CacheOp::PutChat(c) => self.put_chat(c).await,
            CacheOp::InvalidateMembers(c, v) => self.invalidate_members(*c, *v).await,
            CacheOp::InvalidateMemberships(u) => self.invalidate_memberships(*u).await,
            CacheOp::AdvanceCursor(u, c, s) => self.advance_cursor(*u, *c, *s).await,
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> CacheError {
    CacheError::Corrupt(e.to_string())
}

#[async_trait]
impl Cache for RedisCache {
    async fn memberships(&self, user: UserId) -> Result<Option<Vec<Membership>>, CacheError> {
        let mut c = self.conn.clone();
        let h: Vec<(String, String)> = c
            .hgetall(self.key("um", user.0))
            .await
            .map_err(unavailable)?;
        if h.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(h.len());
        for (f, v) in h {
            if f == "_" {
                continue;
            }
            let chat: u64 = f.parse().map_err(corrupt)?;
            let (role, seq) = v.split_once(':').ok_or_else(|| corrupt("membership"))?;
            out.push(Membership {
                chat_id: ChatId(chat),
                role: Role::parse(role).ok_or_else(|| corrupt("role"))?,
                read_seq: seq.parse().map_err(corrupt)?,
            });
        }
        Ok(Some(out))
    }

    async fn put_memberships(&self, user: UserId, list: &[Membership]) -> Result<(), CacheError> {
        let key = self.key("um", user.0);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).hset(&key, "_", "1");
        for m in list {
            pipe.hset(
                &key,
                m.chat_id.0.to_string(),
                format!("{}:{}", m.role.as_str(), m.read_seq),
            );
        }
        pipe.expire(&key, self.ttl() as i64);
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c).await.map_err(unavailable)
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

    async fn members(&self, chat: ChatId) -> Result<Option<Vec<Member>>, CacheError> {
        let mut c = self.conn.clone();
        let v: Option<String> = c.get(self.key("cm", chat.0)).await.map_err(unavailable)?;
        // A marker, or an entry that does not parse, is a miss.
        Ok(v.and_then(|e| {
            let (_, json) = e.split_once('|')?;
            serde_json::from_str(json).ok()
        }))
    }

    async fn put_members(&self, chat: ChatId, list: &MemberList) -> Result<(), CacheError> {
        let json = serde_json::to_string(&list.members).map_err(corrupt)?;
        self.put_member_entry(chat, list.version, &json).await
    }

    async fn invalidate_members(&self, chat: ChatId, version: u64) -> Result<(), CacheError> {
        self.put_member_entry(chat, version, "-").await
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
                CacheOp::InvalidateMembers(chat, version) => {
                    pipe.cmd("EVAL")
                        .arg(PUT_MEMBERS)
                        .arg(1)
                        .arg(self.key("cm", chat.0))
                        .arg(*version)
                        .arg("-")
                        .arg(ttl)
                        .ignore();
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

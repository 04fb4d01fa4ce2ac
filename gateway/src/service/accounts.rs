//! Accounts: register, log in, sessions (refresh, log out), look users up.

use chat_core::model::{SessionRecord, User, UserRecord};
use chat_core::ports::Mutation;
use chat_core::wire::{Envelope, PubKind, Revocation, SESSIONS_CHANNEL};
use chat_core::{ChatId, Code, SessionId, StoreError, UserId, now_ms, rules};
use serde::Serialize;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{MAX_PASSWORD_QUEUE, MAX_USER_LOOKUP, PASSWORD_QUEUE_WAIT, Service};
use crate::error::ApiError;
use crate::limits::{self, Action};
use crate::{auth, metrics};

/// Answer of register, login and refresh.
#[derive(Debug, Serialize)]
pub struct Session {
    /// The account.
    pub user: User,
    /// Access token (JWT).
    pub token: String,
    /// When the token expires, Unix seconds.
    pub expires_at: i64,
    /// Exchanged once, at `POST /auth/refresh`, for a new access token and a
    /// new refresh token.
    pub refresh_token: String,
    /// When the session ends unless refreshed before, Unix seconds.
    pub refresh_expires_at: i64,
    /// The login session.
    pub session_id: SessionId,
}

/// A live login session, as its user sees it in their list.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// The session.
    pub id: SessionId,
    /// The client's User-Agent at login.
    pub device: String,
    /// Login, Unix ms.
    pub created_at: i64,
    /// Last refresh (or the login), Unix ms.
    pub used_at: i64,
    /// When it ends unless refreshed, Unix ms.
    pub expires_at: i64,
    /// Whether it is the session of the request's token.
    pub current: bool,
}

/// Live sessions a user may have; a login beyond ends the least recently
/// used.
pub const MAX_SESSIONS: usize = 50;

/// How long an ended session's row is kept (a token of it presented again
/// is answered `session_revoked` meanwhile, `invalid_token` after).
const KEEP_ENDED_MS: i64 = 24 * 3600 * 1000;

/// The longest device label kept, in characters.
const MAX_DEVICE: usize = 128;

fn session_ended() -> ApiError {
    ApiError::new(
        Code::SessionRevoked,
        "this session was logged out; log in again",
    )
}

/// Compares two hashes in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A client's User-Agent as kept with its session: printable, at most
/// [`MAX_DEVICE`] characters.
fn device_label(user_agent: &str) -> String {
    user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DEVICE)
        .collect()
}

/// A real argon2id hash, verified against when the name is unknown so that a
/// failed login costs the same either way.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    auth::hash_password("no such user, no such password").unwrap_or_default()
});

/// A place in the password queue, left on drop.
struct QueueGuard<'a> {
    queue: &'a AtomicUsize,
    /// Requests waiting before this one.
    ahead: usize,
}

impl<'a> QueueGuard<'a> {
    fn enter(queue: &'a AtomicUsize) -> Self {
        let ahead = queue.fetch_add(1, Ordering::Relaxed);
        QueueGuard { queue, ahead }
    }
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.queue.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Service {
    /// Creates an account and logs it in; `name_taken` when the name is used.
    /// `from` is the client's address (rate limits).
    pub async fn register(
        &self,
        name: String,
        password: String,
        from: IpAddr,
        device: &str,
    ) -> Result<Session, ApiError> {
        let from = crate::listen::address_key(from);
        self.limiter
            .check(Action::Register, &from.to_string())
            .await?;
        rules::check_user_name(&name)?;
        rules::check_password(&password)?;
        let hash = self
            .password_work(move || auth::hash_password(&password))
            .await??;
        let user = User::new(UserId(self.ids.next()), name, now_ms());
        let rec = UserRecord {
            user: user.clone(),
            password_hash: hash,
        };
        match self.store.create_user(&rec).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::new(Code::NameTaken, "that name is taken"));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user = %user.id, name = %user.name, "registered");
        self.start_session(user, device).await
    }

    /// Logs in; the same `invalid_credentials` for an unknown name and a wrong
    /// password, in the same time. Attempts are limited per client address
    /// and per name and address: a brute force on a name from one place is
    /// throttled while its owner, from their own address, still logs in.
    pub async fn login(
        &self,
        name: &str,
        password: String,
        from: IpAddr,
        device: &str,
    ) -> Result<Session, ApiError> {
        let bad = || ApiError::new(Code::InvalidCredentials, "wrong name or password");
        // An IPv6 client by its /64 (it holds all of it); a name by its
        // login key (logins ignore case).
        let from = crate::listen::address_key(from).to_string();
        self.limiter.check(Action::LoginAddress, &from).await?;
        let key = chat_core::name_key(name);
        self.limiter
            .check(
                Action::LoginName,
                &format!("{from}:{}", limits::name_key(&key)),
            )
            .await?;
        if password.len() > 256 {
            return Err(bad());
        }
        let rec = self.store.user_by_name(name).await?;
        // Verify against a dummy hash when the user is unknown, so timing does not
        // reveal which names exist.
        let phc = match &rec {
            Some(r) => r.password_hash.clone(),
            None => DUMMY_HASH.clone(),
        };
        let disabled = phc.starts_with(rules::DISABLED_HASH_PREFIX);
        let ok = self
            .password_work(move || {
                let phc = phc.trim_start_matches(rules::DISABLED_HASH_PREFIX);
                auth::verify_password(&password, phc)
            })
            .await?;
        match rec {
            // Only the account's owner learns it is disabled.
            Some(_) if ok && disabled => Err(ApiError::new(
                Code::AccountDisabled,
                "this account is disabled; ask an administrator",
            )),
            Some(r) if ok => self.start_session(r.user, device).await,
            _ => Err(bad()),
        }
    }

    /// Runs password hashing on a blocking thread, a bounded number at once,
    /// after a bounded wait in a bounded queue (`unavailable` beyond either).
    async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || {
            metrics::ERRORS
                .with_label_values(&[metrics::ERROR_PASSWORD_QUEUE_FULL])
                .inc();
            ApiError::new(
                Code::Unavailable,
                "too many logins at once; retry in a few seconds",
            )
        };
        let queued = QueueGuard::enter(&self.password_queue);
        if queued.ahead >= MAX_PASSWORD_QUEUE {
            return Err(busy());
        }
        let _slot =
            match tokio::time::timeout(PASSWORD_QUEUE_WAIT, self.password_slots.acquire()).await {
                Ok(slot) => slot.map_err(|e| ApiError::internal("password slots", e))?,
                Err(_) => return Err(busy()),
            };
        drop(queued);
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::internal("password task", e))
    }

    /// A new login session of `user`: its row on the user's shard (ending
    /// the least recently used beyond [`MAX_SESSIONS`], forgetting those
    /// ended a day ago), and the tokens.
    async fn start_session(&self, user: User, device: &str) -> Result<Session, ApiError> {
        let now = now_ms();
        let id = loop {
            let id: u64 = rand::random();
            if id != 0 {
                break id;
            }
        };
        let refresh = crate::auth::RefreshToken::new(user.id, id, 0);
        let expires_at = now.saturating_add(self.refresh_ttl.as_millis() as i64);
        let all = self.store.sessions(user.id).await?;
        let before = now - KEEP_ENDED_MS;
        // Only when there is something to forget: a purge's range delete
        // takes gap locks that concurrent logins would wait on.
        let purge = all
            .iter()
            .any(|s| s.expires_at < before || s.revoked_at.is_some_and(|r| r < before));
        let mut live: Vec<SessionRecord> = all.into_iter().filter(|s| s.is_live(now)).collect();
        live.sort_by_key(|s| std::cmp::Reverse(s.used_at));
        let evicted: Vec<u64> = live.iter().skip(MAX_SESSIONS - 1).map(|s| s.id).collect();
        let mut batch = Vec::new();
        if purge {
            batch.push(Mutation::PurgeSessions {
                user_id: user.id,
                before,
            });
        }
        batch.extend(evicted.iter().map(|&old| Mutation::RevokeSessions {
            user_id: user.id,
            session_id: Some(old),
            at: now,
        }));
        batch.push(Mutation::PutSession(SessionRecord {
            user_id: user.id,
            id,
            generation: 0,
            secret_hash: refresh.secret_hash()?,
            device: device_label(device),
            created_at: now,
            used_at: now,
            expires_at,
            revoked_at: None,
        }));
        self.store.apply(&batch).await?;
        for old in evicted {
            self.announce_revoked(user.id, Some(old)).await;
        }
        self.answer(user, refresh, expires_at)
    }

    fn answer(
        &self,
        user: User,
        refresh: crate::auth::RefreshToken,
        refresh_expires_ms: i64,
    ) -> Result<Session, ApiError> {
        let (token, expires_at) = self.tokens.issue(user.id, &user.name, refresh.session)?;
        Ok(Session {
            user,
            token,
            expires_at,
            refresh_expires_at: refresh_expires_ms / 1000,
            session_id: SessionId(refresh.session),
            refresh_token: refresh.to_string(),
        })
    }

    /// Exchanges a refresh token for a new access token and a new refresh
    /// token (the old one is spent). A token presented again after it was
    /// exchanged means two holders: the session ends, and both must log in.
    pub async fn refresh(&self, token: &str, from: IpAddr) -> Result<Session, ApiError> {
        let from = crate::listen::address_key(from);
        self.limiter
            .check(Action::Refresh, &from.to_string())
            .await?;
        let invalid = || ApiError::new(Code::InvalidToken, "the refresh token is invalid");
        let t = crate::auth::RefreshToken::parse(token).ok_or_else(invalid)?;
        let rec = self
            .store
            .session(t.user, t.session)
            .await?
            .ok_or_else(invalid)?;
        if rec.revoked_at.is_some() {
            return Err(session_ended());
        }
        if t.generation < rec.generation {
            // Only a holder of one of the session's tokens knows its id.
            return Err(self.reused(t.user, t.session).await);
        }
        let hash = t.secret_hash()?;
        if t.generation != rec.generation || !same(&hash, &rec.secret_hash) {
            return Err(invalid());
        }
        let now = now_ms();
        if rec.expires_at <= now {
            return Err(ApiError::new(
                Code::TokenExpired,
                "the session expired; log in again",
            ));
        }
        let next = crate::auth::RefreshToken::new(t.user, t.session, t.generation + 1);
        let next_hash = next.secret_hash()?;
        let expires_at = now.saturating_add(self.refresh_ttl.as_millis() as i64);
        self.store
            .apply(&[Mutation::RotateSession {
                user_id: t.user,
                session_id: t.session,
                generation: t.generation,
                secret_hash: next_hash.clone(),
                used_at: now,
                expires_at,
            }])
            .await?;
        // The rotation is a compare-and-set: another refresh with the same
        // token may have won it.
        match self.store.session(t.user, t.session).await? {
            Some(s) if s.generation == next.generation && same(&s.secret_hash, &next_hash) => {}
            _ => return Err(self.reused(t.user, t.session).await),
        }
        let user = self
            .user_opt(t.user)
            .await?
            .ok_or_else(|| ApiError::new(Code::UserNotFound, "your account no longer exists"))?;
        self.answer(user, next, expires_at)
    }

    /// A refresh token used twice: ends its session.
    async fn reused(&self, user: UserId, session: u64) -> ApiError {
        metrics::ERRORS
            .with_label_values(&[metrics::ERROR_REFRESH_TOKEN_REUSED])
            .inc();
        tracing::warn!(%user, session, "a refresh token was used twice: ending its session");
        if let Err(e) = self.end_sessions(user, Some(session)).await {
            return e;
        }
        ApiError::new(
            Code::SessionRevoked,
            "this refresh token was already used: the session is ended; log in again",
        )
    }

    /// Ends one session of `user`, or all of them: stored first, then told
    /// to every gateway (which refuse its tokens and close its connections).
    pub async fn end_sessions(&self, user: UserId, session: Option<u64>) -> Result<(), ApiError> {
        self.store
            .apply(&[Mutation::RevokeSessions {
                user_id: user,
                session_id: session,
                at: now_ms(),
            }])
            .await?;
        self.announce_revoked(user, session).await;
        Ok(())
    }

    /// Tells every gateway, this one at once, that a session ended. A lost
    /// message is made up for by the gateways' periodic reads.
    async fn announce_revoked(&self, user: UserId, session: Option<u64>) {
        self.sessions.revoked(user, session);
        let json = serde_json::to_vec(&Revocation {
            session_id: session,
        })
        .unwrap_or_default();
        let env = Envelope::encode(PubKind::Revoked, ChatId(0), user.0, now_ms(), &json);
        if let Err(e) = self.pubsub.publish(SESSIONS_CHANNEL, env).await {
            metrics::ERRORS
                .with_label_values(&[metrics::ERROR_REVOCATION_PUBLISH])
                .inc();
            tracing::warn!(error = %e, %user, "revocation not published; gateways will read it");
        }
    }

    /// The caller's live sessions, the current one marked.
    pub async fn sessions(&self, me: crate::auth::Verified) -> Result<Vec<SessionView>, ApiError> {
        let now = now_ms();
        Ok(self
            .store
            .sessions(me.user)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now))
            .map(|s| SessionView {
                id: SessionId(s.id),
                current: s.id == me.session,
                device: s.device,
                created_at: s.created_at,
                used_at: s.used_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    /// Ends one of the caller's sessions (`session_not_found` unless it is
    /// theirs and live).
    pub async fn end_session(&self, me: UserId, session: SessionId) -> Result<(), ApiError> {
        match self.store.session(me, session.0).await? {
            Some(s) if s.is_live(now_ms()) => self.end_sessions(me, Some(session.0)).await,
            _ => Err(ApiError::new(Code::SessionNotFound, "no such session")),
        }
    }

    /// The caller's own account.
    pub async fn me(&self, me: UserId) -> Result<User, ApiError> {
        self.user_opt(me)
            .await?
            .ok_or_else(|| ApiError::new(Code::UserNotFound, "your account no longer exists"))
    }

    /// A user by id, for `me` (lookups are limited per user).
    pub async fn user(&self, me: UserId, id: UserId) -> Result<User, ApiError> {
        self.limiter.check(Action::Lookup, &me.to_string()).await?;
        self.user_opt(id)
            .await?
            .ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))
    }

    async fn user_opt(&self, id: UserId) -> Result<Option<User>, ApiError> {
        Ok(self.store.users(&[id]).await?.into_iter().next())
    }

    /// A user by login name, for `me` (limited per user).
    pub async fn user_by_name(&self, me: UserId, name: &str) -> Result<User, ApiError> {
        self.limiter
            .check(Action::LookupName, &me.to_string())
            .await?;
        self.store
            .user_by_name(name)
            .await?
            .map(|r| r.user)
            .ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))
    }

    /// Users by id (unknown ids are skipped), at most [`MAX_USER_LOOKUP`],
    /// for `me` (each id counts against the lookup limit).
    pub async fn users(&self, me: UserId, ids: &[UserId]) -> Result<Vec<User>, ApiError> {
        if ids.len() > MAX_USER_LOOKUP {
            return Err(ApiError::new(
                Code::InvalidLimit,
                format!("at most {MAX_USER_LOOKUP} ids per request"),
            ));
        }
        let cost = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        self.limiter
            .check_n(Action::Lookup, &me.to_string(), cost)
            .await?;
        Ok(self.store.users(ids).await?)
    }
}

//! Accounts: register, log in, look users up.

use chat_core::model::{User, UserRecord};
use chat_core::{Code, StoreError, UserId, now_ms, rules};
use serde::Serialize;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{MAX_PASSWORD_QUEUE, MAX_USER_LOOKUP, PASSWORD_QUEUE_WAIT, Service};
use crate::error::ApiError;
use crate::limits::{self, Action};
use crate::{auth, metrics};

/// Answer of register and login.
#[derive(Debug, Serialize)]
pub struct Session {
    /// The account.
    pub user: User,
    /// Access token (JWT).
    pub token: String,
    /// When the token expires, Unix seconds.
    pub expires_at: i64,
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
        let user = User {
            id: UserId(self.ids.next()),
            name,
            created_at: now_ms(),
        };
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
        self.session(user)
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
        let ok = self
            .password_work(move || auth::verify_password(&password, &phc))
            .await?;
        match rec {
            Some(r) if ok => self.session(r.user),
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
                .with_label_values(&["password_queue_full"])
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

    fn session(&self, user: User) -> Result<Session, ApiError> {
        let (token, expires_at) = self.tokens.issue(user.id, &user.name)?;
        Ok(Session {
            user,
            token,
            expires_at,
        })
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

//! Accounts: register, log in, look users up.

use chat_core::model::{User, UserRecord};
use chat_core::{Code, StoreError, UserId, now_ms, rules};
use serde::Serialize;

use super::{MAX_USER_LOOKUP, Service};
use crate::auth;
use crate::error::ApiError;

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

impl Service {
    /// Creates an account and logs it in; `name_taken` when the name is used.
    pub async fn register(&self, name: String, password: String) -> Result<Session, ApiError> {
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
    /// password, in the same time.
    pub async fn login(&self, name: &str, password: String) -> Result<Session, ApiError> {
        let bad = || ApiError::new(Code::InvalidCredentials, "wrong name or password");
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

    /// Runs password hashing on a blocking thread, a bounded number at once.
    async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = self
            .password_slots
            .acquire()
            .await
            .map_err(|e| ApiError::internal("password slots", e))?;
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

    /// A user by id.
    pub async fn user(&self, id: UserId) -> Result<User, ApiError> {
        self.user_opt(id)
            .await?
            .ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))
    }

    async fn user_opt(&self, id: UserId) -> Result<Option<User>, ApiError> {
        Ok(self.store.users(&[id]).await?.into_iter().next())
    }

    /// A user by login name.
    pub async fn user_by_name(&self, name: &str) -> Result<User, ApiError> {
        self.store
            .user_by_name(name)
            .await?
            .map(|r| r.user)
            .ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))
    }

    /// Users by id (unknown ids are skipped), at most [`MAX_USER_LOOKUP`].
    pub async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, ApiError> {
        if ids.len() > MAX_USER_LOOKUP {
            return Err(ApiError::new(
                Code::InvalidLimit,
                format!("at most {MAX_USER_LOOKUP} ids per request"),
            ));
        }
        Ok(self.store.users(ids).await?)
    }
}

//! Whether a login session still lives, as this gateway knows it: every
//! authenticated request and connection asks here, with the session its
//! access token names.
//!
//! A logout or a revocation is published on [`SESSIONS_CHANNEL`] to every
//! gateway ([`Sessions::revoked`]), which refuses the session's tokens from
//! then on and closes its connections. The store decides the rest: a session
//! not seen for [`GatewayConfig::session_check`] is read again (one read per
//! session per interval, not per request), so a revocation whose message was
//! lost is honoured within that interval, and a gateway whose pub/sub
//! reconnected forgets everything it knew ([`Sessions::forget_all`]).
//!
//! [`SESSIONS_CHANNEL`]: chat_core::wire::SESSIONS_CHANNEL
//! [`GatewayConfig::session_check`]: crate::GatewayConfig

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_core::ports::Store;
use chat_core::{Code, UserId, now_ms};

use crate::auth::Verified;
use crate::error::ApiError;
use crate::metrics;

/// Sessions remembered at most; beyond, the memory starts over (it only
/// costs store reads).
const MAX_KNOWN: usize = 100_000;

/// What this gateway knows of a session.
#[derive(Clone, Copy, Debug)]
enum Known {
    /// Live when read at that instant.
    Live(Instant),
    /// Ended.
    Revoked,
}

/// The sessions this gateway checked or heard were revoked.
pub struct Sessions {
    store: Arc<dyn Store>,
    known: Mutex<HashMap<(UserId, u64), Known>>,
    /// How long a live answer is trusted without reading the store again.
    check_every: Duration,
}

impl Sessions {
    /// Checks against `store`, trusting a live answer for `check_every`.
    pub fn new(store: Arc<dyn Store>, check_every: Duration) -> Sessions {
        Sessions {
            store,
            known: Mutex::new(HashMap::new()),
            check_every,
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<(UserId, u64), Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok` when the token's session lives; `session_revoked` when it ended.
    /// A store that does not answer lets the token through (it expires in
    /// minutes, and the revocation's message reaches the gateway anyway),
    /// counted in `gateway_errors_total{kind="session_check"}`.
    pub async fn check(&self, v: &Verified) -> Result<(), ApiError> {
        let key = (v.user, v.session);
        match self.known().get(&key) {
            Some(Known::Revoked) => return Err(revoked()),
            Some(Known::Live(at)) if at.elapsed() < self.check_every => return Ok(()),
            _ => {}
        }
        let read_at = Instant::now();
        match self.store.session(v.user, v.session).await {
            Ok(Some(s)) if s.is_live(now_ms()) => {
                let mut known = self.known();
                if known.len() >= MAX_KNOWN {
                    known.clear();
                }
                // A revocation heard while reading wins.
                if !matches!(known.get(&key), Some(Known::Revoked)) {
                    known.insert(key, Known::Live(read_at));
                    return Ok(());
                }
                Err(revoked())
            }
            Ok(_) => {
                self.remember_revoked(key);
                Err(revoked())
            }
            Err(e) => {
                metrics::ERRORS
                    .with_label_values(&[metrics::ERROR_SESSION_CHECK])
                    .inc();
                tracing::warn!(error = %e, user = %v.user, "session check failed; letting the token through");
                Ok(())
            }
        }
    }

    fn remember_revoked(&self, key: (UserId, u64)) {
        let mut known = self.known();
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        known.insert(key, Known::Revoked);
    }

    /// A session of `user` ended (`None`: all of them), as published.
    pub fn revoked(&self, user: UserId, session: Option<u64>) {
        match session {
            Some(id) => self.remember_revoked((user, id)),
            // Which sessions are unknown here: read each again when next seen.
            None => self.known().retain(|(u, _), _| *u != user),
        }
    }

    /// Forgets everything (pub/sub was away: revocations may have been lost).
    pub fn forget_all(&self) {
        self.known().clear();
    }
}

fn revoked() -> ApiError {
    ApiError::new(
        Code::SessionRevoked,
        "this session was logged out; log in again",
    )
}

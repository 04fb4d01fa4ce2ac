//! Rate limits per user, per client address and per connection (the table
//! and its defaults are in docs/security.md). The state of the per-user and
//! per-address limits lives in a shared [`Throttle`] (Redis in distributed
//! mode, so a limit holds across gateways); while that is away, each gateway
//! enforces them alone from its own [`LocalThrottle`] (`gateway_throttle_fallback_total`).
//! Per-connection limits need no sharing and are kept by the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chat_core::throttle::{LocalThrottle, Rate, Throttle, now_us};

use crate::error::ApiError;
use crate::metrics;

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Login attempts per client address.
    LoginAddress,
    /// Login attempts per login name and client address: a brute force on
    /// one name from one place, which never locks out the name's owner
    /// logging in from elsewhere.
    LoginName,
    /// Registrations per client address.
    Register,
    /// Token refreshes per client address.
    Refresh,
    /// Messages sent or forwarded, per user.
    Send,
    /// Edits and deletions, per user.
    Edit,
    /// Chats created, per user.
    CreateChat,
    /// History pages, per user.
    History,
    /// Message searches, per user.
    Search,
    /// Subscriptions, per WebSocket connection.
    Subscribe,
    /// Users looked up by id, per user (a lookup of n ids counts n): the
    /// directory cannot be walked.
    Lookup,
    /// Users looked up by login name, per user.
    LookupName,
    /// Groups created, per user: a daily quota (`quota_exceeded`).
    GroupsPerDay,
    /// Profile changes (display name, about, avatar), per user.
    Profile,
    /// Typing notices, per WebSocket connection (beyond the one a second
    /// per chat that is passed on; the rest are dropped quietly).
    Typing,
}

impl Action {
    /// Every action, in the order of the table.
    pub const ALL: [Action; 15] = [
        Action::LoginAddress,
        Action::LoginName,
        Action::Register,
        Action::Refresh,
        Action::Send,
        Action::Edit,
        Action::CreateChat,
        Action::History,
        Action::Search,
        Action::Subscribe,
        Action::Lookup,
        Action::LookupName,
        Action::GroupsPerDay,
        Action::Profile,
        Action::Typing,
    ];

    /// The key in `--rate-limits`, the metric label and the throttle key prefix.
    pub fn name(self) -> &'static str {
        match self {
            Action::LoginAddress => "login_ip",
            Action::LoginName => "login_name_ip",
            Action::Register => "register_ip",
            Action::Refresh => "refresh_ip",
            Action::Send => "send",
            Action::Edit => "edit",
            Action::CreateChat => "create_chat",
            Action::History => "history",
            Action::Search => "search",
            Action::Subscribe => "subscribe",
            Action::Lookup => "lookup",
            Action::LookupName => "lookup_name",
            Action::GroupsPerDay => "groups_per_day",
            Action::Profile => "profile",
            Action::Typing => "typing",
        }
    }

    /// What the refusal says there were too many of.
    fn what(self) -> &'static str {
        match self {
            Action::LoginAddress | Action::LoginName => "login attempts",
            Action::Register => "registrations from this address",
            Action::Refresh => "token refreshes from this address",
            Action::Send => "messages",
            Action::Edit => "edits and deletions",
            Action::CreateChat => "new chats",
            Action::History => "history reads",
            Action::Search => "searches",
            Action::Subscribe => "subscriptions",
            Action::Lookup => "user lookups",
            Action::LookupName => "lookups by name",
            Action::GroupsPerDay => "groups created today",
            Action::Profile => "profile changes",
            Action::Typing => "typing notices",
        }
    }

    /// The default rate.
    pub fn default_rate(self) -> Rate {
        let s = Duration::from_secs(1);
        let min = Duration::from_secs(60);
        let h = Duration::from_secs(3600);
        match self {
            Action::LoginAddress => Rate::new(30, min),
            Action::LoginName => Rate::new(5, min).burst(10),
            Action::Register => Rate::new(10, h).burst(20),
            Action::Refresh => Rate::new(60, min).burst(120),
            Action::Send => Rate::new(20, s).burst(40),
            Action::Edit => Rate::new(10, s).burst(20),
            Action::CreateChat => Rate::new(20, min),
            Action::History => Rate::new(20, s).burst(50),
            Action::Search => Rate::new(2, s).burst(10),
            Action::Subscribe => Rate::new(50, s).burst(500),
            Action::Lookup => Rate::new(600, min).burst(2000),
            Action::LookupName => Rate::new(30, min).burst(60),
            Action::GroupsPerDay => Rate::new(50, Duration::from_secs(86_400)),
            Action::Profile => Rate::new(10, min).burst(20),
            Action::Typing => Rate::new(10, s).burst(30),
        }
    }
}

/// The rate of each action; `None` where it is off.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    rates: Vec<(Action, Option<Rate>)>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            rates: Action::ALL
                .iter()
                .map(|a| (*a, Some(a.default_rate())))
                .collect(),
        }
    }
}

impl RateLimits {
    /// No limits at all.
    pub fn off() -> Self {
        RateLimits {
            rates: Action::ALL.iter().map(|a| (*a, None)).collect(),
        }
    }

    /// The defaults changed by `spec`: `off` (no limits), or
    /// `key=RATE|off,…` (RATE as `N/s|min|h|d[:BURST]`).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if spec == "off" {
            return Ok(RateLimits::off());
        }
        let mut limits = RateLimits::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: write key=RATE or key=off"))?;
            let action = Action::ALL
                .into_iter()
                .find(|a| a.name() == key.trim())
                .ok_or_else(|| {
                    format!(
                        "unknown rate limit `{key}` (known: {})",
                        Action::ALL.map(Action::name).join(", ")
                    )
                })?;
            let rate = match value.trim() {
                "off" => None,
                v => Some(v.parse::<Rate>()?),
            };
            limits.set(action, rate);
        }
        Ok(limits)
    }

    /// Sets one action's rate.
    pub fn set(&mut self, action: Action, rate: Option<Rate>) {
        if let Some(slot) = self.rates.iter_mut().find(|(a, _)| *a == action) {
            slot.1 = rate;
        }
    }

    /// One action's rate.
    pub fn get(&self, action: Action) -> Option<Rate> {
        self.rates
            .iter()
            .find(|(a, _)| *a == action)
            .and_then(|(_, r)| *r)
    }
}

/// After the shared throttle fails, how long the local one is used alone
/// before the shared one is tried again.
const FALLBACK_FOR: Duration = Duration::from_secs(2);
/// Longest wait for the shared throttle's answer.
const SHARED_TIMEOUT: Duration = Duration::from_millis(250);

/// Enforces [`RateLimits`].
pub struct Limiter {
    limits: RateLimits,
    shared: Option<Arc<dyn Throttle>>,
    local: LocalThrottle,
    /// Until when (µs since the epoch) the shared throttle is skipped.
    shared_down_until: AtomicU64,
}

impl Limiter {
    /// A limiter keeping its state in `shared` (with a local fallback), or
    /// only locally.
    pub fn new(limits: RateLimits, shared: Option<Arc<dyn Throttle>>) -> Limiter {
        Limiter {
            limits,
            shared,
            local: LocalThrottle::new(100_000),
            shared_down_until: AtomicU64::new(0),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Takes one `action` by `subject` (a user id, an address, a name and
    /// address): `too_many_requests` with the wait when over its rate
    /// (`quota_exceeded` for a quota).
    pub async fn check(&self, action: Action, subject: &str) -> Result<(), ApiError> {
        self.check_n(action, subject, 1).await
    }

    /// [`Limiter::check`] for `cost` at once (at most the burst).
    pub async fn check_n(&self, action: Action, subject: &str, cost: u32) -> Result<(), ApiError> {
        let Some(rate) = self.limits.get(action) else {
            return Ok(());
        };
        let key = format!("{}:{subject}", action.name());
        let verdict = match self.take_shared(&key, &rate, cost).await {
            Some(v) => v,
            None => self.local.take_at(&key, &rate, cost, now_us()),
        };
        verdict.map_err(|wait| refused(action, wait))
    }

    /// The shared throttle's verdict, or `None` when it is away.
    async fn take_shared(&self, key: &str, rate: &Rate, cost: u32) -> Option<Result<(), Duration>> {
        let shared = self.shared.as_ref()?;
        if now_us() < self.shared_down_until.load(Ordering::Relaxed) {
            metrics::THROTTLE_FALLBACK.inc();
            return None;
        }
        let failed = match tokio::time::timeout(SHARED_TIMEOUT, shared.take(key, rate, cost)).await
        {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer in time".to_string(),
        };
        let until = now_us() + FALLBACK_FOR.as_micros() as u64;
        if self.shared_down_until.swap(until, Ordering::Relaxed) < now_us() {
            tracing::warn!(error = %failed, "rate limits: shared throttle away; limiting per gateway");
        }
        metrics::THROTTLE_FALLBACK.inc();
        None
    }
}

/// A per-connection limit: one arrival time, no sharing.
#[derive(Debug, Default)]
pub struct ConnLimit {
    tat: Option<u64>,
}

impl ConnLimit {
    /// Takes one `action` under `limits`.
    pub fn check(&mut self, limits: &RateLimits, action: Action) -> Result<(), ApiError> {
        let Some(rate) = limits.get(action) else {
            return Ok(());
        };
        match chat_core::throttle::gcra(self.tat, now_us(), &rate, 1) {
            Ok(next) => {
                self.tat = Some(next);
                Ok(())
            }
            Err(wait) => Err(refused(action, wait)),
        }
    }
}

/// The refusal of `action` until `wait` has passed.
fn refused(action: Action, wait: Duration) -> ApiError {
    metrics::THROTTLED.with_label_values(&[action.name()]).inc();
    let e = ApiError::throttled(action.what(), wait);
    match action {
        Action::GroupsPerDay => ApiError {
            code: chat_core::Code::QuotaExceeded,
            message: format!(
                "the daily quota of new groups is used up; {}",
                e.message
                    .trim_start_matches("too many groups created today; ")
            ),
            ..e
        },
        _ => e,
    }
}

/// The part of a login name a key holds: names are short, a long one is cut
/// (at a character boundary) so a key stays small.
pub fn name_key(name: &str) -> &str {
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_changes_the_defaults() {
        let l = RateLimits::parse("send=5/s, register_ip=off,login_ip=100/min:200").unwrap();
        assert_eq!(
            l.get(Action::Send),
            Some(Rate::new(5, Duration::from_secs(1)))
        );
        assert_eq!(l.get(Action::Register), None);
        assert_eq!(l.get(Action::LoginAddress).map(|r| r.burst), Some(200));
        assert_eq!(l.get(Action::Edit), Some(Action::Edit.default_rate()));
        assert_eq!(RateLimits::parse("off").unwrap(), RateLimits::off());
        assert_eq!(RateLimits::parse("").unwrap(), RateLimits::default());
        for bad in ["send", "nope=1/s", "send=fast", "send=0/s"] {
            assert!(RateLimits::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[tokio::test]
    async fn a_limit_refuses_with_the_wait_and_keys_apart() {
        let mut limits = RateLimits::off();
        limits.set(Action::Send, Some(Rate::new(2, Duration::from_secs(60))));
        let l = Limiter::new(limits, None);
        l.check(Action::Send, "1").await.unwrap();
        l.check(Action::Send, "1").await.unwrap();
        let e = l.check(Action::Send, "1").await.unwrap_err();
        assert_eq!(e.code, chat_core::Code::TooManyRequests);
        assert!(e.retry_after.is_some_and(|w| w <= Duration::from_secs(30)));
        l.check(Action::Send, "2").await.unwrap();
        l.check(Action::Edit, "1").await.unwrap();
    }

    /// A shared throttle that is down.
    struct Down;

    #[async_trait::async_trait]
    impl Throttle for Down {
        async fn take(
            &self,
            _key: &str,
            _rate: &Rate,
            _cost: u32,
        ) -> Result<Result<(), Duration>, chat_core::CacheError> {
            Err(chat_core::CacheError::Unavailable(
                "connection refused".into(),
            ))
        }
    }

    #[tokio::test]
    async fn limits_hold_per_gateway_while_the_shared_throttle_is_away() {
        let mut limits = RateLimits::off();
        limits.set(
            Action::LoginAddress,
            Some(Rate::new(3, Duration::from_secs(60))),
        );
        let l = Limiter::new(limits, Some(Arc::new(Down)));
        let before = metrics::THROTTLE_FALLBACK.get();
        for _ in 0..3 {
            l.check(Action::LoginAddress, "10.0.0.1").await.unwrap();
        }
        let e = l.check(Action::LoginAddress, "10.0.0.1").await.unwrap_err();
        assert_eq!(e.code, chat_core::Code::TooManyRequests);
        assert!(metrics::THROTTLE_FALLBACK.get() >= before + 4);
    }

    #[test]
    fn long_names_are_cut_at_a_character() {
        let n = "я".repeat(100);
        assert!(name_key(&n).len() <= 64);
        assert_eq!(name_key("bob"), "bob");
    }
}

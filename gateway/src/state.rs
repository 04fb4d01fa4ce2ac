//! The gateway's configuration, dependencies and shared state.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chat_core::ports::{Cache, Log, PubSub, Store};
use chat_core::rules::Limits;
use chat_core::throttle::Throttle;
use chat_core::{COMMANDS_TOPIC, IdGenerator};
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::limits::RateLimits;
use crate::listen::ConnLimits;
use crate::service::Service;

/// Settings of a gateway.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Unique id of this gateway instance (its reply channel is `gw:{id}`).
    pub instance_id: String,
    /// HS256 secret of access tokens.
    pub jwt_secret: Vec<u8>,
    /// Earlier secrets whose tokens are still accepted (key rotation).
    pub jwt_previous_secrets: Vec<Vec<u8>>,
    /// Lifetime of access tokens.
    pub token_ttl: Duration,
    /// How long a login session lives without a refresh (each refresh
    /// extends it by this much).
    pub refresh_ttl: Duration,
    /// How long a gateway trusts that a session lives before reading it
    /// again (a revocation whose pub/sub message was lost is honoured within
    /// this).
    pub session_check: Duration,
    /// Input limits (text length, client id length…).
    pub limits: Limits,
    /// Largest WebSocket text frame accepted; larger ones get a `too_large` error
    /// frame, and frames over twice this close the connection (1009).
    pub max_frame_bytes: usize,
    /// Largest HTTP request body.
    pub max_body_bytes: usize,
    /// Largest avatar upload (`PUT /me/avatar`'s body).
    pub max_avatar_bytes: usize,
    /// Events queued per connection before it counts as a slow consumer.
    pub conn_queue: usize,
    /// How often a connection checks, against the store, that its user is
    /// still a member of the chats it follows.
    pub membership_recheck: Duration,
    /// Commands a connection may have in flight.
    pub max_inflight: usize,
    /// How long a command waits for its outcome.
    pub reply_timeout: Duration,
    /// How long a new connection has to authenticate.
    pub auth_timeout: Duration,
    /// How long one write to a client may take before it counts as slow.
    pub write_timeout: Duration,
    /// Most messages per history page.
    pub max_page: u32,
    /// Topic commands are produced to.
    pub commands_topic: String,
    /// The web client served at `/`.
    pub web: crate::web::WebClient,
    /// On shutdown, how long connections and requests have to finish.
    pub drain: Duration,
    /// Connection caps and HTTP timeouts.
    pub conns: ConnLimits,
    /// How often a WebSocket is pinged; one silent (no frame, no pong) for
    /// two of these is closed.
    pub ws_ping: Duration,
    /// Most messages a subscription replays (`since_seq` further behind is
    /// refused with `replay_too_long`).
    pub max_replay: u64,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` names the client (rate limits key on
    /// the client's address).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Presence heartbeat and group limit.
    pub presence: crate::presence::PresenceSettings,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            instance_id: "gw-1".into(),
            jwt_secret: Vec::new(),
            jwt_previous_secrets: Vec::new(),
            token_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            session_check: Duration::from_secs(60),
            limits: Limits::default(),
            max_frame_bytes: 64 * 1024,
            max_body_bytes: 64 * 1024,
            max_avatar_bytes: 5 * 1024 * 1024,
            conn_queue: 1024,
            membership_recheck: Duration::from_secs(60),
            max_inflight: 256,
            reply_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_page: 200,
            commands_topic: COMMANDS_TOPIC.into(),
            web: crate::web::WebClient::None,
            drain: Duration::from_secs(10),
            conns: ConnLimits::default(),
            ws_ping: Duration::from_secs(30),
            max_replay: 10_000,
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            presence: Default::default(),
        }
    }
}

/// What a gateway talks to.
#[derive(Clone)]
pub struct Deps {
    /// Commands go here.
    pub log: Arc<dyn Log>,
    /// Accounts are written here; history is read from here.
    pub store: Arc<dyn Store>,
    /// Chat lists and pre-checks are read through this.
    pub cache: Arc<dyn Cache>,
    /// Events arrive through this.
    pub pubsub: Arc<dyn PubSub>,
    /// Ids for users, chats and messages.
    pub ids: Arc<IdGenerator>,
    /// Where rate limits are counted across gateways (Redis); `None`: in
    /// this process only.
    pub throttle: Option<Arc<dyn Throttle>>,
    /// Who is online (Redis in distributed mode, in-process in standalone).
    pub presence: Arc<dyn chat_core::presence::Presence>,
}

/// Everything a request handler or connection needs.
pub struct Gateway {
    /// Settings.
    pub cfg: GatewayConfig,
    /// Dependencies.
    pub deps: Deps,
    /// Every request a client can make, whatever the transport.
    pub service: Service,
    /// Subscriptions and replies.
    pub hub: Arc<Hub>,
    /// Cancelled when the gateway starts draining: every connection closes
    /// with 1012 (reconnect elsewhere).
    pub draining: CancellationToken,
    /// False while draining, for `/readyz`.
    pub accepting: AtomicBool,
    /// Where connections report their user's comings and goings.
    pub presence: crate::presence::Tracker,
    /// WebSocket connections open (drain waits for them to close).
    pub open_connections: std::sync::atomic::AtomicUsize,
}

/// Shared state of the axum app.
#[derive(Clone)]
pub struct AppState(pub Arc<Gateway>);

impl Deref for AppState {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.0
    }
}

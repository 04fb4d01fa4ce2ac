//! Prometheus metrics of the gateway, and the `/metrics` encoder.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, TextEncoder,
};

fn register<T: prometheus::core::Collector + Clone + 'static>(c: T) -> T {
    let _ = prometheus::default_registry().register(Box::new(c.clone()));
    c
}

/// Open WebSocket connections.
pub static CONNECTIONS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new("gateway_connections", "Open WebSocket connections").expect("valid gauge"),
    )
});

/// Channels this gateway is subscribed to.
pub static CHANNELS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "gateway_channels",
            "Pub/sub channels subscribed by this gateway",
        )
        .expect("valid gauge"),
    )
});

/// Frames pushed to clients (events, replayed history, acks).
pub static DELIVERIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_deliveries_total",
            "Frames pushed to WebSocket clients",
        )
        .expect("valid counter"),
    )
});

/// Live events dropped because the connection already had them (seq ≤ delivered).
pub static DUPLICATES_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_duplicates_dropped_total",
            "Live messages dropped as already delivered",
        )
        .expect("valid counter"),
    )
});

/// Gaps in live delivery refilled from the store.
pub static GAPS_FILLED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_gaps_filled_total",
            "Delivery gaps refilled from history",
        )
        .expect("valid counter"),
    )
});

/// Removals a connection found by checking the store (their pub/sub events
/// were lost): the connection stopped following the chat then.
pub static REMOVALS_FOUND: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_removals_found_total",
            "Removals found by a connection's membership check, not by pub/sub",
        )
        .expect("valid counter"),
    )
});

/// Joins a connection did not follow because the store says the user is
/// not a member (any more): the join arrived after a removal.
pub static STALE_JOINS_IGNORED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_stale_joins_ignored_total",
            "Joins not followed: the store says the user is no longer a member",
        )
        .expect("valid counter"),
    )
});

/// Connections closed because their queue filled.
pub static SLOW_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_slow_clients_dropped_total",
            "Connections closed as slow consumers",
        )
        .expect("valid counter"),
    )
});

/// Open TCP connections (HTTP and WebSocket).
pub static TCP_CONNECTIONS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "gateway_tcp_connections",
            "Open TCP connections, HTTP and WebSocket",
        )
        .expect("valid gauge"),
    )
});

/// Connections refused at accept, by reason (`per_gateway`, `per_address`).
pub static CONNECTIONS_REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "gateway_connections_refused_total",
                "Connections refused at accept by a connection cap",
            ),
            &["reason"],
        )
        .expect("valid counter"),
    )
});

/// Connections closed for idling: no request head in time, or a WebSocket
/// silent through two pings.
pub static IDLE_CLOSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "gateway_idle_closed_total",
                "Connections closed for idling (HTTP header timeout, WebSocket without pong)",
            ),
            &["kind"],
        )
        .expect("valid counter"),
    )
});

/// Requests refused by a rate limit, by limit.
pub static THROTTLED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "gateway_throttled_total",
                "Requests refused by a rate limit (too_many_requests)",
            ),
            &["limit"],
        )
        .expect("valid counter"),
    )
});

/// Rate-limit checks decided by this gateway alone while the shared
/// throttle (Redis) was away.
pub static THROTTLE_FALLBACK: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_throttle_fallback_total",
            "Rate-limit checks made locally because the shared throttle was away",
        )
        .expect("valid counter"),
    )
});

/// Commands produced to the log.
pub static COMMANDS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new("gateway_commands_total", "Commands produced to the log")
            .expect("valid counter"),
    )
});

/// Errors answered, by code.
pub static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("gateway_errors_total", "Errors answered to clients"),
            &["code"],
        )
        .expect("valid counter"),
    )
});

/// Seconds from the gateway accepting a send to a client receiving the message.
pub static E2E_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "gateway_e2e_delivery_seconds",
                "Accept at a gateway to push to a client",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Users coming online or going offline, as this gateway saw it (`status`).
pub static PRESENCE_TRANSITIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "gateway_presence_transitions_total",
                "Users who came online or went offline through this gateway",
            ),
            &["status"],
        )
        .expect("valid counter"),
    )
});

/// Presence frames published to chats (transitions and online counts).
pub static PRESENCE_PUSHED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_presence_pushed_total",
            "Presence and online-count frames published to chat channels",
        )
        .expect("valid counter"),
    )
});

/// Reports to the presence tier that failed (retried at the next heartbeat).
pub static PRESENCE_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "gateway_presence_failures_total",
            "Presence reports that failed (retried at the next heartbeat)",
        )
        .expect("valid counter"),
    )
});

/// `reason` of a connection refused by `max_connections`.
pub const REFUSED_PER_GATEWAY: &str = "per_gateway";
/// `reason` of a connection refused by `max_connections_per_ip`.
pub const REFUSED_PER_ADDRESS: &str = "per_address";
/// `kind` of a connection closed without a request head in time.
pub const IDLE_HTTP_HEADER: &str = "http_header";
/// `kind` of a WebSocket closed after two unanswered pings.
pub const IDLE_WEBSOCKET: &str = "websocket";
/// `code` of a session check that failed (the token was let through).
pub const ERROR_SESSION_CHECK: &str = "session_check";
/// `code` of a login refused because the password hashing queue was full.
pub const ERROR_PASSWORD_QUEUE_FULL: &str = "password_queue_full";
/// `code` of a refresh token used twice (its session ends).
pub const ERROR_REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";
/// `code` of a revocation that could not be published to the gateways.
pub const ERROR_REVOCATION_PUBLISH: &str = "revocation_publish";

/// Registers every gateway metric, with a series at zero for each label
/// value known in advance (refusal reasons, idle kinds, rate limits, error
/// codes), so that `/metrics` exports them from start-up rather than from
/// their first increment.
pub fn init() {
    LazyLock::force(&CONNECTIONS);
    LazyLock::force(&CHANNELS);
    LazyLock::force(&DELIVERIES);
    LazyLock::force(&DUPLICATES_DROPPED);
    LazyLock::force(&GAPS_FILLED);
    LazyLock::force(&REMOVALS_FOUND);
    LazyLock::force(&STALE_JOINS_IGNORED);
    LazyLock::force(&SLOW_DROPPED);
    LazyLock::force(&TCP_CONNECTIONS);
    LazyLock::force(&THROTTLE_FALLBACK);
    LazyLock::force(&COMMANDS);
    LazyLock::force(&E2E_SECONDS);
    LazyLock::force(&PRESENCE_PUSHED);
    LazyLock::force(&PRESENCE_FAILURES);
    for status in ["online", "offline"] {
        PRESENCE_TRANSITIONS.with_label_values(&[status]);
    }
    for reason in [REFUSED_PER_GATEWAY, REFUSED_PER_ADDRESS] {
        CONNECTIONS_REFUSED.with_label_values(&[reason]);
    }
    for kind in [IDLE_HTTP_HEADER, IDLE_WEBSOCKET] {
        IDLE_CLOSED.with_label_values(&[kind]);
    }
    for action in crate::limits::Action::ALL {
        THROTTLED.with_label_values(&[action.name()]);
    }
    let own = [
        ERROR_SESSION_CHECK,
        ERROR_PASSWORD_QUEUE_FULL,
        ERROR_REFRESH_TOKEN_REUSED,
        ERROR_REVOCATION_PUBLISH,
    ];
    for code in chat_core::Code::all()
        .map(chat_core::Code::as_str)
        .chain(own)
    {
        ERRORS.with_label_values(&[code]);
    }
}

/// The default registry in the Prometheus text format.
pub fn render() -> String {
    let mut buf = Vec::new();
    let enc = TextEncoder::new();
    if let Err(e) = enc.encode(&prometheus::gather(), &mut buf) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    String::from_utf8(buf).unwrap_or_default()
}

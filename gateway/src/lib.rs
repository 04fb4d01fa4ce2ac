//! The gateway role: HTTP API under `/api/v1`, WebSocket `/ws`, health and
//! metrics, and the web client's files. Stateless: it holds connections and the
//! subscriptions they need, nothing durable.
//!
//! Architecture invariant: the gateway writes only accounts to the store; every
//! change to a chat goes through the log to the writer.

pub mod auth;
pub mod avatar;
mod commands;
pub mod error;
mod http;
pub mod hub;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod presence;
mod reads;
pub mod reqid;
pub mod service;
pub mod sessions;
mod state;
pub mod web;
pub mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chat_core::Code;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use commands::Commander;
pub use error::ApiError;
pub use reads::Reads;
pub use state::{AppState, Deps, Gateway, GatewayConfig};

/// The OpenAPI document of `/api/v1`, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Why a gateway could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The JWT secret is unusable.
    #[error("jwt: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// Pub/sub could not be set up.
    #[error("pub/sub: {0}")]
    PubSub(#[from] chat_core::CacheError),
    /// Serving failed.
    #[error("serve: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the gateway state and starts its pub/sub dispatcher.
pub async fn build(cfg: GatewayConfig, deps: Deps) -> Result<AppState, GatewayError> {
    metrics::init();
    let tokens = auth::Tokens::rotating(&cfg.jwt_secret, &cfg.jwt_previous_secrets, cfg.token_ttl)?;
    let (subscriber, inbox) = deps.pubsub.subscriber().await?;
    let sessions = Arc::new(sessions::Sessions::new(
        deps.store.clone(),
        cfg.session_check,
    ));
    let hub = hub::Hub::new(subscriber, sessions.clone());
    // Replies to this gateway's commands arrive on its own channel; ended
    // sessions on one every gateway listens to.
    let gw_chan = chat_core::wire::gateway_channel(&cfg.instance_id);
    hub.listen_replies(&gw_chan).await?;
    hub.listen_sessions().await?;
    tokio::spawn(hub.clone().run(inbox));
    let service = service::Service {
        limits: cfg.limits.clone(),
        store: deps.store.clone(),
        ids: deps.ids.clone(),
        tokens,
        sessions,
        refresh_ttl: cfg.refresh_ttl,
        pubsub: deps.pubsub.clone(),
        reads: Reads {
            store: deps.store.clone(),
            cache: deps.cache.clone(),
        },
        commander: Commander {
            log: deps.log.clone(),
            hub: hub.clone(),
            instance: cfg.instance_id.clone(),
            topic: cfg.commands_topic.clone(),
            timeout: cfg.reply_timeout,
        },
        password_slots: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
        password_queue: Default::default(),
        image_slots: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
        limiter: limits::Limiter::new(cfg.rate_limits.clone(), deps.throttle.clone()),
        presence: deps.presence.clone(),
        presence_group_limit: cfg.presence.group_limit,
    };
    let tracker = presence::Tracker::start(
        cfg.instance_id.clone(),
        cfg.presence,
        deps.presence.clone(),
        deps.store.clone(),
        service.reads.clone(),
        deps.pubsub.clone(),
    );
    Ok(AppState(Arc::new(Gateway {
        cfg,
        deps,
        service,
        hub,
        draining: CancellationToken::new(),
        accepting: AtomicBool::new(true),
        presence: tracker,
        open_connections: std::sync::atomic::AtomicUsize::new(0),
    })))
}

/// The router: API, WebSocket, health, metrics, and the web client.
pub fn app(st: AppState) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/auth/register", post(http::register))
        .route("/auth/login", post(http::login))
        .route("/auth/refresh", post(http::refresh))
        .route("/auth/logout", post(http::logout))
        .route("/me", get(http::me).patch(http::update_me))
        .route(
            "/me/avatar",
            put(http::put_avatar)
                .delete(http::delete_avatar)
                .layer(DefaultBodyLimit::max(st.cfg.max_avatar_bytes)),
        )
        .route("/me/sessions", get(http::sessions).delete(http::logout_all))
        .route(
            "/me/sessions/{id}",
            axum::routing::delete(http::end_session),
        )
        .route(
            "/me/presence",
            get(http::presence_setting).put(http::set_presence_setting),
        )
        .route("/me/blocks", get(http::blocks))
        .route("/me/blocks/{user}", put(http::block).delete(http::unblock))
        .route("/users", get(http::users))
        .route("/users/by-name/{name}", get(http::user_by_name))
        .route("/users/{id}", get(http::user))
        .route("/users/{id}/avatar", get(http::avatar))
        .route("/chats", get(http::chat_list).post(http::create_chat))
        .route("/chats/{id}", get(http::get_chat).patch(http::update_chat))
        .route(
            "/chats/{id}/members",
            get(http::members).post(http::add_member),
        )
        .route(
            "/chats/{id}/members/{user}",
            axum::routing::patch(http::set_role).delete(http::remove_member),
        )
        .route("/chats/{id}/presence", get(http::chat_presence))
        .route("/chats/{id}/bans", get(http::bans))
        .route(
            "/chats/{id}/bans/{user}",
            axum::routing::delete(http::unban),
        )
        .route("/chats/{id}/messages", get(http::history).post(http::send))
        .route(
            "/chats/{id}/messages/{seq}",
            axum::routing::patch(http::edit).delete(http::delete),
        )
        .route("/chats/{id}/messages/{seq}/forward", post(http::forward))
        .route(
            "/chats/{id}/messages/{seq}/reactions/{emoji}",
            put(http::react).delete(http::unreact),
        )
        .route("/chats/{id}/pins/{seq}", put(http::pin).delete(http::unpin))
        .route("/chats/{id}/mute", put(http::mute).delete(http::unmute))
        .route("/chats/{id}/read", put(http::read))
        .route("/search", get(http::search))
        .fallback(api_not_found)
        .method_not_allowed_fallback(api_method_not_allowed)
        .layer(DefaultBodyLimit::max(st.cfg.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            st.cfg.conns.request_timeout,
            listen::deadline,
        ));
    let router = Router::new()
        .nest("/api/v1", api)
        // The nest does not take its own path with a trailing slash: answer
        // it as the API would, not with the web client.
        .route("/api/v1/", axum::routing::any(api_not_found))
        .route("/ws", get(ws::upgrade))
        // A request id and span for the API and WebSocket upgrades (not for
        // probes, metrics and the client's files).
        .layer(axum::middleware::from_fn(reqid::layer))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
    st.cfg
        .web
        .route(router)
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        ))
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(st)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn api_not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such API endpoint")
}

async fn api_method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}

/// Ready unless draining. Dependencies are reported but do not fail readiness:
/// they are shared by every gateway, so failing all of them together would turn a
/// partial outage (one shard down) into a total one.
async fn readyz(State(st): State<AppState>) -> Response {
    if !st.accepting.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    let store = match st.deps.store.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("degraded ({e})"),
    };
    let cache = match st.deps.cache.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("degraded ({e})"),
    };
    let ring = st
        .deps
        .store
        .routing()
        .map_or(String::new(), |r| format!("ring: {r}\n"));
    format!("ready\nstore: {store}\ncache: {cache}\n{ring}").into_response()
}

async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(),
    )
        .into_response()
}

/// Serves on an already-bound listener until `shutdown` is cancelled, then
/// drains: stops accepting, closes every WebSocket with code 1012 (reconnect
/// elsewhere), and waits at most the configured drain time for requests to
/// finish.
pub async fn serve(
    st: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let router = app(st.clone());
    let admission = listen::Admission::new(st.cfg.conns.clone());
    let stop = CancellationToken::new();
    let st2 = st.clone();
    let stop2 = stop.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        st2.accepting.store(false, Ordering::Relaxed);
        st2.draining.cancel();
        stop2.cancel();
        tracing::info!("gateway draining");
    });
    listen::serve(listener, router, admission, stop, st.cfg.drain).await?;
    Ok(())
}

//! Distributed mode: each role as its own process on Kafka, MySQL/MariaDB shards
//! and Redis.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chat_core::IdGenerator;
use chat_core::ports::{Cache, Log, PubSub, Store};
use chat_core::progress::Progress;
use chat_gateway::Deps;
use chat_kafka::{KafkaConfig, KafkaLog};
use chat_redis::{RedisCache, RedisConfig, RedisPubSub};
use chat_store::{MySqlConfig, ShardedStore};
use tokio_util::sync::CancellationToken;

use crate::config::{
    FanoutArgs, GatewayArgs, KafkaSettings, LogSettings, MysqlSettings, RedisSettings,
    WorkerSettings, WriterArgs,
};

/// The topics a role uses: a gateway produces commands; a writer consumes
/// them and produces events (and parks commands); a fanout worker consumes
/// events (and parks them). Each role creates and reads only its own, so
/// that the brokers' ACLs can grant each exactly that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Gateway,
    Writer,
    Fanout,
}

async fn kafka(
    k: &KafkaSettings,
    log: &LogSettings,
    client: &str,
    role: Role,
) -> anyhow::Result<KafkaLog> {
    let mut c = KafkaConfig::new(
        k.kafka_brokers
            .clone()
            .unwrap_or_else(|| "127.0.0.1:9092".into()),
    );
    c.partitions = log.partitions();
    c.replication = k.topic_replication.unwrap_or(c.replication);
    if let Some(ms) = k.kafka_session_timeout_ms {
        c.session_timeout = Duration::from_millis(ms.max(1000));
    }
    c.client_id = client.to_string();
    c.linger_ms = k.kafka_linger_ms.unwrap_or(c.linger_ms);
    if let Some(ms) = k.kafka_fetch_wait_ms {
        c.fetch_wait = Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = k.kafka_commit_interval_ms {
        c.commit_interval = Duration::from_millis(ms.max(1));
    }
    if let Some(o) = &k.kafka_options {
        c.extra = crate::config::kafka_options(o).map_err(anyhow::Error::msg)?;
    }
    c.security = chat_kafka::KafkaSecurity {
        protocol: k.kafka_security_protocol.clone(),
        sasl_mechanism: k.kafka_sasl_mechanism.clone(),
        sasl_username: k.kafka_sasl_username.clone(),
        sasl_password: k.kafka_sasl_password.clone(),
        ssl_ca_location: k.kafka_ssl_ca.clone(),
    };
    c.security.validate().map_err(anyhow::Error::msg)?;
    let (commands, events) = (log.commands_topic(), log.events_topic());
    let (dead_commands, dead_events) = (
        chat_core::dead_letters_topic(&commands),
        chat_core::dead_letters_topic(&events),
    );
    let topics: Vec<&str> = match role {
        Role::Gateway => vec![&commands],
        Role::Writer => vec![&commands, &events, &dead_commands],
        Role::Fanout => vec![&events, &dead_events],
    };
    KafkaLog::connect(c, &topics)
        .await
        .context("connecting to Kafka")
}

/// The two shards `deploy/local` starts.
const LOCAL_SHARDS: &str =
    "shard0=mysql://chat:chat@127.0.0.1:3307/chat,shard1=mysql://chat:chat@127.0.0.1:3308/chat";

/// The shards, routed by the ring state recorded on them; `process` names
/// this process among its followers, `None` for an inspection tool that
/// records and follows nothing (see `chat_store::MySqlConfig::follow`).
pub(crate) async fn shards(
    m: &MysqlSettings,
    process: Option<&str>,
) -> anyhow::Result<ShardedStore> {
    let cfg = mysql_config(m, process)?;
    ShardedStore::connect(&cfg)
        .await
        .context("connecting to the MySQL shards")
}

/// The store's settings (see [`shards`]).
pub(crate) fn mysql_config(
    m: &MysqlSettings,
    process: Option<&str>,
) -> anyhow::Result<MySqlConfig> {
    let spec = m.mysql_shards.as_deref().unwrap_or(LOCAL_SHARDS);
    let shards = MySqlConfig::parse_shards(spec).map_err(anyhow::Error::msg)?;
    if shards.is_empty() {
        bail!("no MySQL shards configured (CHAT_MYSQL_SHARDS)");
    }
    let cfg = MySqlConfig {
        shards,
        ring_version: m.ring_version.unwrap_or(1),
        vnodes_per_weight: m.ring_vnodes.unwrap_or(160),
        max_connections: m.mysql_pool.unwrap_or(16),
        create_databases: true,
        follow: process.is_some(),
        process: format!(
            "{} {} on {}",
            process.unwrap_or("inspector"),
            std::process::id(),
            hostname()
        ),
    };
    Ok(cfg)
}

/// This machine's name, for telling processes apart in `ring_followers`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

pub(crate) fn redis_cfg(r: &RedisSettings, inbox: Option<usize>) -> RedisConfig {
    let mut c = RedisConfig::new(
        r.redis_url
            .clone()
            .unwrap_or_else(|| "redis://127.0.0.1:6380".into()),
    );
    c.prefix = r.redis_prefix.clone().unwrap_or_default();
    c.inbox = inbox.unwrap_or(c.inbox);
    c
}

fn banner(line: String) {
    // Stdout may be a closed pipe: printing must not bring the process down.
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The address a worker serves its health and metrics on.
fn metrics_listen(w: &WorkerSettings) -> SocketAddr {
    w.metrics_listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Runs a gateway until `shutdown` is cancelled.
pub async fn gateway(a: GatewayArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    a.gateway.validate()?;
    a.limits.validate()?;
    a.log.validate()?;
    let Some(secret) = a.gateway.jwt_secret.clone() else {
        bail!("CHAT_JWT_SECRET must be set: at least 32 bytes, the same on every gateway");
    };
    let node = a
        .gateway
        .node_id
        .unwrap_or_else(|| rand::random::<u16>() & chat_core::id::MAX_NODE);
    let instance = a.gateway.instance_id.clone().unwrap_or_else(|| {
        format!(
            "gw-{}-{}-{node}",
            std::process::id(),
            chat_core::now_ms() % 1_000_000
        )
    });
    let log: Arc<dyn Log> = Arc::new(kafka(&a.kafka, &a.log, &instance, Role::Gateway).await?);
    let store: Arc<dyn Store> = Arc::new(shards(&a.mysql, Some("gateway")).await?);
    let redis = RedisCache::connect(redis_cfg(&a.redis, None)).await?;
    let throttle: Arc<dyn chat_core::throttle::Throttle> = Arc::new(redis.clone());
    let presence: Arc<dyn chat_core::presence::Presence> = Arc::new(redis.presence());
    let cache: Arc<dyn Cache> = Arc::new(redis);
    let inbox = Some(a.gateway.pubsub_inbox());
    let pubsub: Arc<dyn PubSub> = Arc::new(RedisPubSub::connect(redis_cfg(&a.redis, inbox)).await?);
    let cfg = a
        .gateway
        .gateway_config(&a.limits, &a.log, instance.clone(), secret.into_bytes());
    let deps = Deps {
        log,
        store,
        cache,
        pubsub,
        ids: Arc::new(IdGenerator::new(node)),
        throttle: Some(throttle),
        presence,
    };
    let st = chat_gateway::build(cfg, deps).await?;
    let listen = a.gateway.listen();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    banner(format!(
        "chat gateway listening on http://{} (instance {instance}, node {node})",
        listener.local_addr()?
    ));
    chat_gateway::serve(st, listener, shutdown).await?;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Runs a writer until `shutdown` is cancelled; the current batch is committed first.
pub async fn writer(a: WriterArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    a.limits.validate()?;
    a.log.validate()?;
    let log = kafka(&a.kafka, &a.log, "writer", Role::Writer).await?;
    let store = shards(&a.mysql, Some("writer")).await?;
    let ready_store: Arc<dyn Store> = Arc::new(store.clone());
    let progress = Arc::new(Progress::default());
    chat_writer::metrics::init();
    let addr = ops_server(
        metrics_listen(&a.worker),
        Ready {
            store: Some(ready_store),
            cache: None,
            progress: progress.clone(),
        },
    )
    .await?;
    banner(format!("chat writer metrics on http://{addr}"));
    let d = chat_writer::WriterConfig::default();
    let commands_topic = a.log.commands_topic();
    let cfg = chat_writer::WriterConfig {
        group: a
            .worker
            .group
            .clone()
            .unwrap_or_else(|| format!("writer.{commands_topic}")),
        dead_letters_topic: chat_core::dead_letters_topic(&commands_topic),
        commands_topic,
        events_topic: a.log.events_topic(),
        batch_max: a.worker.batch_max.unwrap_or(d.batch_max),
        limits: a.limits.limits(),
        progress,
        ..d
    };
    let log_arc: Arc<dyn Log> = Arc::new(log.clone());
    chat_writer::run(
        cfg,
        log_arc,
        Arc::new(store.clone()),
        shutdown.cancelled_owned(),
    )
    .await?;
    log.flush(Duration::from_secs(10));
    store.close().await;
    Ok(())
}

/// Runs a fanout worker until `shutdown` is cancelled.
pub async fn fanout(a: FanoutArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    a.log.validate()?;
    let log: Arc<dyn Log> = Arc::new(kafka(&a.kafka, &a.log, "fanout", Role::Fanout).await?);
    let cache: Arc<dyn Cache> = Arc::new(RedisCache::connect(redis_cfg(&a.redis, None)).await?);
    let pubsub: Arc<dyn PubSub> = Arc::new(RedisPubSub::connect(redis_cfg(&a.redis, None)).await?);
    let progress = Arc::new(Progress::default());
    chat_fanout::metrics::init();
    let addr = ops_server(
        metrics_listen(&a.worker),
        Ready {
            store: None,
            cache: Some(cache.clone()),
            progress: progress.clone(),
        },
    )
    .await?;
    banner(format!("chat fanout metrics on http://{addr}"));
    let events_topic = a.log.events_topic();
    let d = chat_fanout::FanoutConfig::on(events_topic.clone());
    let cfg = chat_fanout::FanoutConfig {
        group: a
            .worker
            .group
            .clone()
            .unwrap_or_else(|| format!("fanout.{events_topic}")),
        batch_max: a.worker.batch_max.unwrap_or(d.batch_max),
        progress,
        ..d
    };
    chat_fanout::run(cfg, log, cache, pubsub, shutdown.cancelled_owned()).await?;
    Ok(())
}

/// A worker whose loop has not turned for this long is stalled: `/healthz`
/// fails (a liveness probe restarts it). Retries of a failing batch turn it.
const STALLED_AFTER: Duration = Duration::from_secs(60);
/// A worker whose batch keeps failing for this long is not ready.
const UNREADY_AFTER_FAILING: Duration = Duration::from_secs(30);

/// What `/healthz` and `/readyz` check.
#[derive(Clone)]
struct Ready {
    store: Option<Arc<dyn Store>>,
    cache: Option<Arc<dyn Cache>>,
    progress: Arc<Progress>,
}

/// `/healthz`: the worker's loop still turns; its progress as JSON.
async fn healthz(State(r): State<Ready>) -> Response {
    let report = axum::Json(r.progress.report());
    if r.progress.alive(STALLED_AFTER) {
        report.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, report).into_response()
    }
}

async fn readyz(State(r): State<Ready>) -> Response {
    if r.progress.failing_longer_than(UNREADY_AFTER_FAILING) {
        let failing = r.progress.report().failing_for_s.unwrap_or_default();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the current batch has been failing for {failing} s"),
        )
            .into_response();
    }
    if let Some(s) = &r.store
        && let Err(e) = s.ping().await
    {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")).into_response();
    }
    if let Some(c) = &r.cache
        && let Err(e) = c.ping().await
    {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("cache: {e}")).into_response();
    }
    match r.store.as_ref().and_then(|s| s.routing()) {
        Some(ring) => format!("ready\nring: {ring}\n").into_response(),
        None => "ready".into_response(),
    }
}

/// `/healthz`, `/readyz` and `/metrics` of a worker role.
async fn ops_server(addr: SocketAddr, ready: Ready) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|| async { chat_gateway::metrics::render() }),
        )
        .with_state(ready);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(local)
}

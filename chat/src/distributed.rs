//! Distributed mode: each role as its own process on Kafka, MySQL/MariaDB shards
//! and Redis.

use std::future::Future;
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
use chat_core::rules::Limits;
use chat_gateway::{Deps, GatewayConfig};
use chat_kafka::{KafkaConfig, KafkaLog};
use chat_redis::{RedisCache, RedisConfig, RedisPubSub};
use chat_store::{MySqlConfig, ShardedStore};
use tokio::sync::watch;

use crate::config::{ClusterArgs, GatewayArgs, WorkerArgs};

async fn kafka(c: &ClusterArgs, client: &str) -> anyhow::Result<KafkaLog> {
    let mut k = KafkaConfig::new(&c.kafka_brokers);
    k.partitions = c.partitions;
    k.replication = c.topic_replication;
    k.session_timeout = Duration::from_millis(c.kafka_session_timeout_ms.max(1000));
    k.client_id = client.to_string();
    k.linger_ms = c.kafka_linger_ms;
    k.fetch_wait = Duration::from_millis(c.kafka_fetch_wait_ms.max(1));
    k.commit_interval = Duration::from_millis(c.kafka_commit_interval_ms.max(1));
    k.extra = c.kafka_options.0.clone();
    KafkaLog::connect(k, &[&c.commands_topic, &c.events_topic])
        .await
        .context("connecting to Kafka")
}

async fn shards(c: &ClusterArgs) -> anyhow::Result<ShardedStore> {
    let shards = MySqlConfig::parse_shards(&c.mysql_shards).map_err(anyhow::Error::msg)?;
    if shards.is_empty() {
        bail!("no MySQL shards configured (CHAT_MYSQL_SHARDS)");
    }
    let cfg = MySqlConfig {
        shards,
        ring_version: c.ring_version,
        vnodes_per_weight: c.ring_vnodes,
        max_connections: c.mysql_pool,
        create_databases: true,
    };
    ShardedStore::connect(&cfg)
        .await
        .context("connecting to the MySQL shards")
}

fn redis_cfg(c: &ClusterArgs) -> RedisConfig {
    let mut r = RedisConfig::new(&c.redis_url);
    r.prefix = c.redis_prefix.clone();
    r
}

fn limits(c: &ClusterArgs) -> Limits {
    Limits {
        max_text_chars: c.max_text_chars,
        ..Limits::default()
    }
}

fn banner(line: String) {
    // Stdout may be a closed pipe: printing must not bring the process down.
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Runs a gateway until `shutdown`.
pub async fn gateway(
    a: GatewayArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if a.jwt_secret.len() < 32 {
        bail!("CHAT_JWT_SECRET must be at least 32 bytes and the same on every gateway");
    }
    let node = a
        .node_id
        .unwrap_or_else(|| rand::random::<u16>() & chat_core::id::MAX_NODE);
    let instance = a.instance_id.clone().unwrap_or_else(|| {
        format!(
            "gw-{}-{}-{node}",
            std::process::id(),
            chat_core::now_ms() % 1_000_000
        )
    });
    let log: Arc<dyn Log> = Arc::new(kafka(&a.cluster, &instance).await?);
    let store: Arc<dyn Store> = Arc::new(shards(&a.cluster).await?);
    let cache: Arc<dyn Cache> = Arc::new(RedisCache::connect(redis_cfg(&a.cluster)).await?);
    let pubsub: Arc<dyn PubSub> = Arc::new(RedisPubSub::connect(redis_cfg(&a.cluster)).await?);
    let cfg = GatewayConfig {
        instance_id: instance.clone(),
        jwt_secret: a.jwt_secret.into_bytes(),
        token_ttl: Duration::from_secs(a.token_ttl_secs),
        limits: limits(&a.cluster),
        max_frame_bytes: a.max_frame_bytes,
        max_body_bytes: a.max_frame_bytes,
        conn_queue: a.conn_queue,
        commands_topic: a.cluster.commands_topic.clone(),
        web_dir: a.web_dir,
        ..GatewayConfig::default()
    };
    let deps = Deps {
        log,
        store,
        cache,
        pubsub,
        ids: Arc::new(IdGenerator::new(node)),
    };
    let (drain_tx, drain_rx) = watch::channel(false);
    let st = chat_gateway::build(cfg, deps, drain_rx).await?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    banner(format!(
        "chat gateway listening on http://{} (instance {instance}, node {node})",
        listener.local_addr()?
    ));
    chat_gateway::serve(
        st,
        listener,
        shutdown,
        drain_tx,
        Duration::from_secs(a.cluster.drain_secs),
    )
    .await?;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Runs a writer until `shutdown`; the current batch is committed first.
pub async fn writer(
    a: WorkerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let log = kafka(&a.cluster, "writer").await?;
    let store = shards(&a.cluster).await?;
    let ready_store: Arc<dyn Store> = Arc::new(store.clone());
    let addr = ops_server(
        a.metrics_listen,
        Ready {
            store: Some(ready_store),
            cache: None,
        },
    )
    .await?;
    banner(format!("chat writer metrics on http://{addr}"));
    let cfg = chat_writer::WriterConfig {
        group: a
            .group
            .clone()
            .unwrap_or_else(|| format!("writer.{}", a.cluster.commands_topic)),
        commands_topic: a.cluster.commands_topic.clone(),
        events_topic: a.cluster.events_topic.clone(),
        batch_max: a.batch_max,
        limits: limits(&a.cluster),
        ..Default::default()
    };
    let log_arc: Arc<dyn Log> = Arc::new(log.clone());
    chat_writer::run(cfg, log_arc, Arc::new(store.clone()), shutdown).await?;
    log.flush(Duration::from_secs(10));
    store.close().await;
    Ok(())
}

/// Runs a fanout worker until `shutdown`.
pub async fn fanout(
    a: WorkerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let log: Arc<dyn Log> = Arc::new(kafka(&a.cluster, "fanout").await?);
    let cache: Arc<dyn Cache> = Arc::new(RedisCache::connect(redis_cfg(&a.cluster)).await?);
    let pubsub: Arc<dyn PubSub> = Arc::new(RedisPubSub::connect(redis_cfg(&a.cluster)).await?);
    let addr = ops_server(
        a.metrics_listen,
        Ready {
            store: None,
            cache: Some(cache.clone()),
        },
    )
    .await?;
    banner(format!("chat fanout metrics on http://{addr}"));
    let cfg = chat_fanout::FanoutConfig {
        group: a
            .group
            .clone()
            .unwrap_or_else(|| format!("fanout.{}", a.cluster.events_topic)),
        events_topic: a.cluster.events_topic.clone(),
        batch_max: a.batch_max,
        ..Default::default()
    };
    chat_fanout::run(cfg, log, cache, pubsub, shutdown).await?;
    Ok(())
}

/// What `/readyz` checks.
#[derive(Clone)]
struct Ready {
    store: Option<Arc<dyn Store>>,
    cache: Option<Arc<dyn Cache>>,
}

async fn readyz(State(r): State<Ready>) -> Response {
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
    "ready".into_response()
}

/// `/healthz`, `/readyz` and `/metrics` of a worker role.
async fn ops_server(addr: SocketAddr, ready: Ready) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
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

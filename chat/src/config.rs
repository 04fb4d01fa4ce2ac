//! Configuration of the binary: flags, environment variables (`CHAT_*`) and an
//! optional TOML file, in that order of precedence, then defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

/// The chat platform.
#[derive(Parser, Debug)]
#[command(
    name = "chat",
    version,
    about = "A chat backend: standalone, or gateway/writer/fanout roles"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "CHAT_LOG_FORMAT", default_value = "text", global = true, value_parser = ["text", "json"])]
    pub log_format: String,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every role in one process on embedded parts (in-process log, SQLite, in-process cache).
    Standalone(StandaloneArgs),
    /// Distributed: a WebSocket/HTTP gateway (Kafka, MySQL shards, Redis).
    Gateway(GatewayArgs),
    /// Distributed: a writer consuming commands into the MySQL shards.
    Writer(WorkerArgs),
    /// Distributed: a fanout worker updating Redis and publishing events.
    Fanout(WorkerArgs),
}

/// Settings every distributed role shares.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Kafka bootstrap brokers.
    #[arg(long, env = "CHAT_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Partitions of the topics, when this process creates them.
    #[arg(long, env = "CHAT_PARTITIONS", default_value_t = 8)]
    pub partitions: u32,
    /// Kafka consumer session timeout in milliseconds: how soon a dead writer's or
    /// fanout worker's partitions move to another (too short, and a busy broker's
    /// slow heartbeat answers cause needless rebalances).
    #[arg(long, env = "CHAT_KAFKA_SESSION_TIMEOUT_MS", default_value_t = 15_000)]
    pub kafka_session_timeout_ms: u64,
    /// Kafka producer linger in milliseconds: how long a record waits to share a
    /// request with others (librdkafka sends one request per partition).
    #[arg(long, env = "CHAT_KAFKA_LINGER_MS", default_value_t = 5)]
    pub kafka_linger_ms: u32,
    /// Longest time in milliseconds the broker holds a consumer's fetch to
    /// gather more records (answers early once 64 KiB are ready).
    #[arg(long, env = "CHAT_KAFKA_FETCH_WAIT_MS", default_value_t = 5)]
    pub kafka_fetch_wait_ms: u64,
    /// How often in milliseconds the writer and fanout commit their consumed
    /// offsets (also on rebalance and shutdown); a crash replays at most this much.
    #[arg(long, env = "CHAT_KAFKA_COMMIT_INTERVAL_MS", default_value_t = 1000)]
    pub kafka_commit_interval_ms: u64,
    /// Extra librdkafka properties, `key=value,key=value`, applied last to
    /// every producer and consumer (e.g. `compression.type=zstd`).
    #[arg(long, env = "CHAT_KAFKA_OPTIONS", default_value = "", value_parser = parse_kafka_options)]
    pub kafka_options: KafkaOptions,
    /// Replication factor of the topics, when this process creates them.
    #[arg(long, env = "CHAT_TOPIC_REPLICATION", default_value_t = 1)]
    pub topic_replication: i32,
    /// Topic of commands (gateway → writer).
    #[arg(long, env = "CHAT_COMMANDS_TOPIC", default_value = "chat.commands")]
    pub commands_topic: String,
    /// Topic of effects (writer → fanout).
    #[arg(long, env = "CHAT_EVENTS_TOPIC", default_value = "chat.events")]
    pub events_topic: String,
    /// MySQL/MariaDB shards: `name[:weight]=mysql://user:pass@host:port/db,…`.
    #[arg(
        long,
        env = "CHAT_MYSQL_SHARDS",
        default_value = "shard0=mysql://chat:chat@127.0.0.1:3307/chat,shard1=mysql://chat:chat@127.0.0.1:3308/chat"
    )]
    pub mysql_shards: String,
    /// Version of the shard ring.
    #[arg(long, env = "CHAT_RING_VERSION", default_value_t = 1)]
    pub ring_version: u64,
    /// Virtual nodes per unit of shard weight.
    #[arg(long, env = "CHAT_RING_VNODES", default_value_t = 160)]
    pub ring_vnodes: u32,
    /// Connections per shard.
    #[arg(long, env = "CHAT_MYSQL_POOL", default_value_t = 16)]
    pub mysql_pool: u32,
    /// Redis URL.
    #[arg(long, env = "CHAT_REDIS_URL", default_value = "redis://127.0.0.1:6380")]
    pub redis_url: String,
    /// Prefix of every Redis key and channel (several deployments on one Redis).
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "")]
    pub redis_prefix: String,
    /// Longest message text in characters.
    #[arg(long, env = "CHAT_MAX_TEXT_CHARS", default_value_t = 4096)]
    pub max_text_chars: usize,
    /// Seconds to drain on SIGTERM.
    #[arg(long, env = "CHAT_DRAIN_SECS", default_value_t = 10)]
    pub drain_secs: u64,
}

/// Flags of `gateway`.
#[derive(Args, Debug, Clone)]
pub struct GatewayArgs {
    /// Shared settings.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Address to listen on.
    #[arg(long, env = "CHAT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// HS256 secret for access tokens, the same on every gateway (≥ 32 bytes).
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
    /// Access token lifetime in seconds.
    #[arg(long, env = "CHAT_TOKEN_TTL_SECS", default_value_t = 86_400)]
    pub token_ttl_secs: u64,
    /// Node id (0-1023) in generated ids: unique per gateway [default: random].
    #[arg(long, env = "CHAT_NODE_ID")]
    pub node_id: Option<u16>,
    /// Instance id: the reply channel `gw:{id}` [default: derived from host, pid and node].
    #[arg(long, env = "CHAT_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Largest WebSocket frame / HTTP body in bytes.
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", default_value_t = 65_536)]
    pub max_frame_bytes: usize,
    /// Events queued per connection before it is closed as slow.
    #[arg(long, env = "CHAT_CONN_QUEUE", default_value_t = 1024)]
    pub conn_queue: usize,
    /// Directory of the built web client.
    #[arg(long, env = "CHAT_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
}

/// Flags of `writer` and `fanout`.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Shared settings.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Address of `/healthz`, `/readyz` and `/metrics` (`:0` picks a port).
    #[arg(long, env = "CHAT_METRICS_LISTEN", default_value = "127.0.0.1:0")]
    pub metrics_listen: SocketAddr,
    /// Most records per batch.
    #[arg(long, env = "CHAT_BATCH_MAX", default_value_t = 1000)]
    pub batch_max: usize,
    /// Kafka consumer group [default: `writer.{commands topic}` or
    /// `fanout.{events topic}`, so deployments with their own topics never share
    /// a group].
    #[arg(long, env = "CHAT_CONSUMER_GROUP")]
    pub group: Option<String>,
}

/// Flags of `standalone`. Every flag also reads an environment variable; unset
/// ones fall back to the config file, then to the default shown.
#[derive(Args, Debug, Default)]
pub struct StandaloneArgs {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "CHAT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CHAT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the database and the generated JWT secret [default: ./data].
    #[arg(long, env = "CHAT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HS256 secret for access tokens [default: generated once, kept in DATA_DIR/jwt.secret].
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Access token lifetime in seconds [default: 86400].
    #[arg(long, env = "CHAT_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// Longest message text in characters [default: 4096].
    #[arg(long, env = "CHAT_MAX_TEXT_CHARS")]
    pub max_text_chars: Option<usize>,
    /// Largest WebSocket frame / HTTP body in bytes [default: 65536].
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Events queued per connection before it is closed as slow [default: 1024].
    #[arg(long, env = "CHAT_CONN_QUEUE")]
    pub conn_queue: Option<usize>,
    /// Partitions of the in-process log [default: 8].
    #[arg(long, env = "CHAT_PARTITIONS")]
    pub partitions: Option<u32>,
    /// Node id (0-1023) embedded in generated ids [default: 1].
    #[arg(long, env = "CHAT_NODE_ID")]
    pub node_id: Option<u16>,
    /// fsync every SQLite commit (survives power loss) [default: true].
    #[arg(long, env = "CHAT_SQLITE_FSYNC")]
    pub sqlite_fsync: Option<bool>,
    /// Directory of the built web client [default: web/dist when it exists].
    #[arg(long, env = "CHAT_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Seconds to drain connections on shutdown [default: 10].
    #[arg(long, env = "CHAT_DRAIN_SECS")]
    pub drain_secs: Option<u64>,
}

/// The config file: the same settings as the flags.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    jwt_secret: Option<String>,
    token_ttl_secs: Option<u64>,
    max_text_chars: Option<usize>,
    max_frame_bytes: Option<usize>,
    conn_queue: Option<usize>,
    partitions: Option<u32>,
    node_id: Option<u16>,
    sqlite_fsync: Option<bool>,
    web_dir: Option<PathBuf>,
    drain_secs: Option<u64>,
}

/// Resolved settings of standalone mode.
#[derive(Clone, Debug)]
pub struct StandaloneConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Explicit JWT secret; `None` = generated and kept in the data directory.
    pub jwt_secret: Option<String>,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Longest text.
    pub max_text_chars: usize,
    /// Largest frame/body.
    pub max_frame_bytes: usize,
    /// Per-connection queue.
    pub conn_queue: usize,
    /// Log partitions.
    pub partitions: u32,
    /// Id node.
    pub node_id: u16,
    /// SQLite fsync.
    pub sqlite_fsync: bool,
    /// Web client directory.
    pub web_dir: Option<PathBuf>,
    /// Drain time.
    pub drain: Duration,
}

impl StandaloneConfig {
    /// Defaults with data in `data_dir`, listening on `listen`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StandaloneConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            jwt_secret: None,
            token_ttl: Duration::from_secs(86_400),
            max_text_chars: 4096,
            max_frame_bytes: 65_536,
            conn_queue: 1024,
            partitions: 8,
            node_id: 1,
            sqlite_fsync: true,
            web_dir: None,
            drain: Duration::from_secs(10),
        }
    }

    /// Flags and environment over the file over defaults.
    pub fn resolve(a: StandaloneArgs) -> anyhow::Result<Self> {
        let f: FileConfig = match &a.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let d = StandaloneConfig::new("data");
        let web_default = PathBuf::from("web/dist");
        let cfg = StandaloneConfig {
            listen: a.listen.or(f.listen).unwrap_or(d.listen),
            data_dir: a.data_dir.or(f.data_dir).unwrap_or(d.data_dir),
            jwt_secret: a.jwt_secret.or(f.jwt_secret),
            token_ttl: a
                .token_ttl_secs
                .or(f.token_ttl_secs)
                .map_or(d.token_ttl, Duration::from_secs),
            max_text_chars: a
                .max_text_chars
                .or(f.max_text_chars)
                .unwrap_or(d.max_text_chars),
            max_frame_bytes: a
                .max_frame_bytes
                .or(f.max_frame_bytes)
                .unwrap_or(d.max_frame_bytes),
            conn_queue: a.conn_queue.or(f.conn_queue).unwrap_or(d.conn_queue),
            partitions: a.partitions.or(f.partitions).unwrap_or(d.partitions),
            node_id: a.node_id.or(f.node_id).unwrap_or(d.node_id),
            sqlite_fsync: a.sqlite_fsync.or(f.sqlite_fsync).unwrap_or(d.sqlite_fsync),
            web_dir: a.web_dir.or(f.web_dir).or_else(|| {
                web_default
                    .join("index.html")
                    .exists()
                    .then_some(web_default)
            }),
            drain: a
                .drain_secs
                .or(f.drain_secs)
                .map_or(d.drain, Duration::from_secs),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.node_id > chat_core::id::MAX_NODE {
            bail!("node_id must be at most {}", chat_core::id::MAX_NODE);
        }
        if self.partitions == 0 || self.partitions > 1024 {
            bail!("partitions must be between 1 and 1024");
        }
        if self.max_text_chars == 0 || self.max_frame_bytes < 1024 || self.conn_queue == 0 {
            bail!("max_text_chars and conn_queue must be positive, max_frame_bytes at least 1024");
        }
        if let Some(s) = &self.jwt_secret
            && s.len() < 32
        {
            bail!("jwt_secret must be at least 32 bytes");
        }
        Ok(())
    }
}

/// Parsed `--kafka-options`.
#[derive(Debug, Clone, Default)]
pub struct KafkaOptions(pub Vec<(String, String)>);

fn parse_kafka_options(s: &str) -> Result<KafkaOptions, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => return Err(format!("`{item}` is not key=value")),
        }
    }
    Ok(KafkaOptions(out))
}

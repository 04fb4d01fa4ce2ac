//! Configuration of the binary. Each group of settings is defined once, here,
//! and shared by every subcommand it applies to (`standalone` and the
//! distributed roles): a field is at once a flag, a `CHAT_*` environment
//! variable and a key of the TOML file given with `--config`. Flags and
//! environment win over the file; what none of them sets takes the default
//! named in the field's help (the role library's `Default` where it has one).
//!
//! The README's settings table lists every field once, with the modes it
//! applies to; `readme_lists_every_setting` keeps the two in step.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chat_core::rules::Limits;
use clap::{Args, Parser, Subcommand};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

/// Subcommands (each role's settings boxed: they are large, and of
/// different sizes).
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every role in one process on embedded parts (in-process log, SQLite, in-process cache).
    Standalone(Box<StandaloneConfig>),
    /// Distributed: a WebSocket/HTTP gateway (Kafka, MySQL shards, Redis).
    Gateway(Box<GatewayArgs>),
    /// Distributed: a writer consuming commands into the MySQL shards.
    Writer(Box<WriterArgs>),
    /// Distributed: a fanout worker updating Redis and publishing events.
    Fanout(Box<FanoutArgs>),
    /// Distributed: what the MySQL shards hold, and what a change of the
    /// ring (adding, removing or re-weighting a shard) would move.
    #[cfg(feature = "distributed")]
    Shards(crate::shards::ShardsArgs),
    /// Applies the database migrations and exits: a standalone data
    /// directory's SQLite file, or every MySQL shard.
    ///
    /// Examples:
    ///   chat migrate --data-dir /var/lib/chat
    ///   CHAT_MYSQL_SHARDS='shard0=mysql://…,shard1=mysql://…' chat migrate
    Migrate(crate::admin::Target),
    /// Accounts: create, disable, enable, reset a password.
    User(crate::admin::UserArgs),
    /// Chats as stored: `chat chat inspect ID`.
    Chat(crate::admin::ChatArgs),
    /// Writes every user, session, chat, member and message as JSON Lines
    /// (standalone's database or the shards), a page at a time; progress on
    /// stderr. Stop the roles first for a consistent copy (each table is read
    /// in pages under traffic).
    ///
    /// Examples:
    ///   chat export --data-dir /var/lib/chat -o chat.jsonl
    ///   CHAT_MYSQL_SHARDS='shard0=mysql://…,shard1=mysql://…' chat export | gzip > chat.jsonl.gz
    #[command(verbatim_doc_comment)]
    Export(crate::admin::ExportArgs),
    /// Reads an export (from either mode) into a new standalone data
    /// directory, or into the shards: checked whole before anything is
    /// replaced; a file cut short is refused.
    ///
    /// Examples:
    ///   chat import chat.jsonl --data-dir /var/lib/chat-new
    ///   gunzip -c chat.jsonl.gz | CHAT_MYSQL_SHARDS='shard0=mysql://…' chat import -
    #[command(verbatim_doc_comment)]
    Import(crate::admin::ImportArgs),
}

// ------------------------------------------------------------ groups

/// The gateway: HTTP, WebSocket and accounts (standalone, `gateway`).
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct GatewaySettings {
    /// Address to listen on; `:0` picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = "CHAT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// HS256 secret of access tokens, at least 32 bytes and the same on every
    /// gateway [standalone default: generated once into DATA_DIR/jwt.secret;
    /// required by `gateway`].
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Earlier JWT secrets, comma-separated: tokens they signed stay valid
    /// until they expire (key rotation: the new secret in `jwt_secret`, the
    /// old one here, on every gateway) [default: none].
    #[arg(long, env = "CHAT_JWT_PREVIOUS_SECRETS", hide_env_values = true)]
    pub jwt_previous_secrets: Option<String>,
    /// Access token lifetime in seconds; clients renew them with their
    /// refresh token [default: 900].
    #[arg(long, env = "CHAT_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// Seconds a login session lives without being refreshed; each refresh
    /// extends it [default: 2592000, 30 days].
    #[arg(long, env = "CHAT_REFRESH_TTL_SECS")]
    pub refresh_ttl_secs: Option<u64>,
    /// Seconds a gateway trusts that a session lives before reading it again
    /// from the store: the bound on honouring a logout whose pub/sub message
    /// was lost [default: 60].
    #[arg(long, env = "CHAT_SESSION_CHECK_SECS")]
    pub session_check_secs: Option<u64>,
    /// Largest WebSocket frame and HTTP body in bytes [default: 65536].
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Events queued per connection before it is closed as slow (4008)
    /// [default: 1024].
    #[arg(long, env = "CHAT_CONN_QUEUE")]
    pub conn_queue: Option<usize>,
    /// Seconds between two checks, per WebSocket connection, that the user is
    /// still a member of the chats it follows (against the store): the bound
    /// on how long a removal whose pub/sub events were lost goes unnoticed
    /// [default: 60].
    #[arg(long, env = "CHAT_MEMBERSHIP_RECHECK_SECS")]
    pub membership_recheck_secs: Option<u64>,
    /// Events the gateway's pub/sub subscriber holds before further ones are
    /// dropped (and refilled from the store by seq) [default: 65536].
    #[arg(long, env = "CHAT_PUBSUB_INBOX")]
    pub pubsub_inbox: Option<usize>,
    /// Node id (0-1023) in generated ids, unique per gateway [standalone
    /// default: 1; `gateway` default: random].
    #[arg(long, env = "CHAT_NODE_ID")]
    pub node_id: Option<u16>,
    /// Instance id: the reply channel `gw:{id}`, unique per gateway [default:
    /// derived from the process id, time and node].
    #[arg(long, env = "CHAT_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Directory of a build of the web client (`web/dist`), served at `/`
    /// instead of the one embedded at build time [default: the embedded one].
    #[arg(long, env = "CHAT_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// On SIGTERM, seconds for connections and requests to finish [default: 10].
    #[arg(long, env = "CHAT_DRAIN_SECS")]
    pub drain_secs: Option<u64>,
    /// Open connections (HTTP and WebSocket) per gateway; more are answered
    /// 503 and closed [default: 10000].
    #[arg(long, env = "CHAT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections per client address (an IPv6 client by its /64); 0
    /// is no cap. Behind a proxy this counts the proxy [default: 1000].
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a request head may take, and a keep-alive connection may idle,
    /// before the connection is closed (slowloris) [default: 10].
    #[arg(long, env = "CHAT_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds one HTTP request, body included, may take (`timeout`, 504)
    /// [default: 30].
    #[arg(long, env = "CHAT_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Seconds between two WebSocket pings; a connection silent for two is
    /// closed (4009) [default: 30].
    #[arg(long, env = "CHAT_WS_PING_SECS")]
    pub ws_ping_secs: Option<u64>,
    /// Seconds between two presence reports of a gateway's users; a report
    /// keeps a user online for three, so a dead gateway's users go offline
    /// within that [default: 20].
    #[arg(long, env = "CHAT_PRESENCE_HEARTBEAT_SECS")]
    pub presence_heartbeat_secs: Option<u64>,
    /// Groups up to this many members are told each member's presence
    /// changes; bigger ones only a count of online members [default: 100].
    #[arg(long, env = "CHAT_PRESENCE_GROUP_LIMIT")]
    pub presence_group_limit: Option<u32>,
    /// Most messages a subscription replays; a `since_seq` further behind is
    /// refused with `replay_too_long` (page history over HTTP) [default: 10000].
    #[arg(long, env = "CHAT_MAX_REPLAY")]
    pub max_replay: Option<u64>,
    /// Largest avatar upload in bytes (`too_large`, 413, beyond) [default:
    /// 5242880].
    #[arg(long, env = "CHAT_MAX_AVATAR_BYTES")]
    pub max_avatar_bytes: Option<usize>,
    /// Rate limits over their defaults: `off`, or `key=N/s|min|h|d[:BURST]`
    /// or `key=off`, comma-separated; keys `login_ip`, `login_name_ip`,
    /// `register_ip`, `refresh_ip`, `send`, `edit`, `create_chat`,
    /// `history`, `search`, `subscribe`, `lookup`, `lookup_name`,
    /// `groups_per_day`, `profile`, `typing` (see docs/security.md)
    /// [default: the table there].
    #[arg(long, env = "CHAT_RATE_LIMITS", value_parser = check_rate_limits)]
    pub rate_limits: Option<String>,
    /// Proxies (addresses or CIDR blocks, comma-separated) whose
    /// `X-Forwarded-For` names the client for rate limits [default: none].
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", value_parser = check_trusted_proxies)]
    pub trusted_proxies: Option<String>,
}

fn check_rate_limits(s: &str) -> Result<String, String> {
    chat_gateway::limits::RateLimits::parse(s).map(|_| s.to_string())
}

fn check_trusted_proxies(s: &str) -> Result<String, String> {
    parse_proxies(s).map(|_| s.to_string())
}

/// `10.0.0.0/8,192.168.1.7` → networks (an address is its own /32 or /128).
fn parse_proxies(s: &str) -> Result<Vec<ipnet::IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{p}` is neither an address nor a CIDR block"))
        })
        .collect()
}

/// Limits on user input, checked by the gateway and again by the writer
/// (standalone, `gateway`, `writer`).
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct LimitSettings {
    /// Longest message text in characters [default: 4096].
    #[arg(long, env = "CHAT_MAX_TEXT_CHARS")]
    pub max_text_chars: Option<usize>,
    /// Most members a group may be created with in one request [default: 1000].
    #[arg(long, env = "CHAT_MAX_INITIAL_MEMBERS")]
    pub max_initial_members: Option<usize>,
    /// Most members of a group (`quota_exceeded` beyond) [default: 20000].
    #[arg(long, env = "CHAT_MAX_GROUP_MEMBERS")]
    pub max_group_members: Option<usize>,
    /// Most chats a user is a member of (`quota_exceeded` beyond; checked by
    /// the gateway) [default: 20000].
    #[arg(long, env = "CHAT_MAX_CHATS_PER_USER")]
    pub max_chats_per_user: Option<usize>,
}

/// The command and event logs (every mode).
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogSettings {
    /// Partitions of the in-process log, or of the Kafka topics this process
    /// creates (at most that many writers and fanout workers share the work)
    /// [default: 8].
    #[arg(long, env = "CHAT_PARTITIONS")]
    pub partitions: Option<u32>,
    /// Topic of commands, gateway → writer [default: chat.commands].
    #[arg(long, env = "CHAT_COMMANDS_TOPIC")]
    pub commands_topic: Option<String>,
    /// Topic of effects, writer → fanout [default: chat.events].
    #[arg(long, env = "CHAT_EVENTS_TOPIC")]
    pub events_topic: Option<String>,
}

/// The embedded parts of standalone mode.
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmbeddedSettings {
    /// Directory of the SQLite database and the generated JWT secret
    /// [default: ./data].
    #[arg(long, env = "CHAT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// fsync every SQLite commit: survives power loss, not only crashes
    /// [default: true].
    #[arg(long, env = "CHAT_SQLITE_FSYNC")]
    pub sqlite_fsync: Option<bool>,
    /// Entries of the in-process cache (chat summaries, members, memberships;
    /// the least recently used are evicted) [default: 200000].
    #[arg(long, env = "CHAT_CACHE_ENTRIES")]
    pub cache_entries: Option<usize>,
}

/// Kafka (`gateway`, `writer`, `fanout`).
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct KafkaSettings {
    /// Kafka bootstrap brokers [default: 127.0.0.1:9092].
    #[arg(long, env = "CHAT_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Replication factor of the topics this process creates [default: 1].
    #[arg(long, env = "CHAT_TOPIC_REPLICATION")]
    pub topic_replication: Option<i32>,
    /// Consumer session timeout in milliseconds: how soon a dead writer's or
    /// fanout worker's partitions move to another (too short, and a busy
    /// broker's slow heartbeat answers cause needless rebalances) [default: 15000].
    #[arg(long, env = "CHAT_KAFKA_SESSION_TIMEOUT_MS")]
    pub kafka_session_timeout_ms: Option<u64>,
    /// Producer linger in milliseconds: how long a record waits to share a
    /// request with others [default: 5].
    #[arg(long, env = "CHAT_KAFKA_LINGER_MS")]
    pub kafka_linger_ms: Option<u32>,
    /// Longest time in milliseconds the broker holds a consumer's fetch to
    /// gather more records (answers early once 64 KiB are ready) [default: 5].
    #[arg(long, env = "CHAT_KAFKA_FETCH_WAIT_MS")]
    pub kafka_fetch_wait_ms: Option<u64>,
    /// How often in milliseconds the writer and fanout commit their consumed
    /// offsets (also on rebalance and shutdown); a crash replays at most this
    /// much [default: 1000].
    #[arg(long, env = "CHAT_KAFKA_COMMIT_INTERVAL_MS")]
    pub kafka_commit_interval_ms: Option<u64>,
    /// Extra librdkafka properties `key=value,key=value`, applied last to every
    /// producer and consumer (e.g. `compression.type=zstd`) [default: none].
    #[arg(long, env = "CHAT_KAFKA_OPTIONS", value_parser = check_kafka_options)]
    pub kafka_options: Option<String>,
    /// How the clients reach the brokers: `plaintext`, `ssl` (TLS),
    /// `sasl_plaintext` or `sasl_ssl` (SASL over TLS) [default: plaintext].
    #[arg(long, env = "CHAT_KAFKA_SECURITY_PROTOCOL")]
    pub kafka_security_protocol: Option<String>,
    /// SASL mechanism: `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`
    /// [default: SCRAM-SHA-512].
    #[arg(long, env = "CHAT_KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,
    /// SASL user: one per role, so the brokers' ACLs tell gateways, writers
    /// and fanout workers apart [default: none].
    #[arg(long, env = "CHAT_KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,
    /// SASL password [default: none].
    #[arg(long, env = "CHAT_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates (TLS)
    /// [default: the system's CA store].
    #[arg(long, env = "CHAT_KAFKA_SSL_CA")]
    pub kafka_ssl_ca: Option<String>,
}

/// The MySQL/MariaDB shards (`gateway`, `writer`).
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct MysqlSettings {
    /// Shards: `name[:weight]=mysql://user:pass@host:port/db,…`; names place
    /// keys, never rename one. The ring of a new deployment; afterwards
    /// where to find the ring recorded on the shards, which every role
    /// follows (`chat shards migrate` changes it) [default: the two
    /// deploy/local shards].
    #[arg(long, env = "CHAT_MYSQL_SHARDS")]
    pub mysql_shards: Option<String>,
    /// First version of the shard ring (a new deployment's) [default: 1].
    #[arg(long, env = "CHAT_RING_VERSION")]
    pub ring_version: Option<u64>,
    /// Virtual nodes per unit of shard weight (a new deployment's)
    /// [default: 160].
    #[arg(long, env = "CHAT_RING_VNODES")]
    pub ring_vnodes: Option<u32>,
    /// Connections per shard [default: 16].
    #[arg(long, env = "CHAT_MYSQL_POOL")]
    pub mysql_pool: Option<u32>,
}

/// Redis (`gateway`, `fanout`).
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct RedisSettings {
    /// Redis URL; several comma-separated node URLs are a Redis Cluster with
    /// sharded pub/sub [default: redis://127.0.0.1:6380].
    #[arg(long, env = "CHAT_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel (several deployments on one
    /// Redis) [default: none].
    #[arg(long, env = "CHAT_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
}

/// A log consumer role (`writer`, `fanout`).
#[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerSettings {
    /// Address of `/healthz`, `/readyz` and `/metrics`; `:0` picks a port
    /// [default: 127.0.0.1:0].
    #[arg(long, env = "CHAT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Most records per batch [default: 1000].
    #[arg(long, env = "CHAT_BATCH_MAX")]
    pub batch_max: Option<usize>,
    /// Kafka consumer group [default: `writer.{commands topic}` or
    /// `fanout.{events topic}`, so deployments with their own topics never
    /// share a group].
    #[arg(long, env = "CHAT_CONSUMER_GROUP")]
    pub group: Option<String>,
}

/// The `--config` flag every subcommand has.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigFile {
    /// TOML file with any of this subcommand's settings (keys as the flags,
    /// in snake_case); flags and environment variables win over it.
    #[arg(long, env = "CHAT_CONFIG")]
    pub config: Option<PathBuf>,
}

// ------------------------------------------------------------ subcommands

/// A subcommand's settings: `--config` and the groups it takes, each group
/// flattened into the flags and into the file's keys.
macro_rules! subcommand {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $group:ty,)* }) => {
        $(#[$doc])*
        #[derive(Args, Debug, Clone, Default, Serialize, Deserialize)]
        pub struct $name {
            /// The configuration file.
            #[command(flatten)]
            #[serde(skip)]
            pub file: ConfigFile,
            $(
                $(#[$fdoc])*
                #[command(flatten)]
                #[serde(flatten)]
                pub $field: $group,
            )*
        }

        impl Layered for $name {
            fn config_file(&self) -> Option<&Path> {
                self.file.config.as_deref()
            }
            fn set_config_file(&mut self, path: PathBuf) {
                self.file.config = Some(path);
            }
        }
    };
}

subcommand!(
    /// Settings of `standalone`.
    StandaloneConfig {
        /// The gateway.
        gateway: GatewaySettings,
        /// Input limits.
        limits: LimitSettings,
        /// The in-process log.
        log: LogSettings,
        /// SQLite and the in-process cache.
        embedded: EmbeddedSettings,
    }
);

subcommand!(
    /// Settings of `gateway`.
    GatewayArgs {
        /// The gateway.
        gateway: GatewaySettings,
        /// Input limits.
        limits: LimitSettings,
        /// Topics and partitions.
        log: LogSettings,
        /// Kafka.
        kafka: KafkaSettings,
        /// Shards.
        mysql: MysqlSettings,
        /// Redis.
        redis: RedisSettings,
    }
);

subcommand!(
    /// Settings of `writer`.
    WriterArgs {
        /// Batches, group, metrics address.
        worker: WorkerSettings,
        /// Input limits.
        limits: LimitSettings,
        /// Topics and partitions.
        log: LogSettings,
        /// Kafka.
        kafka: KafkaSettings,
        /// Shards.
        mysql: MysqlSettings,
    }
);

subcommand!(
    /// Settings of `fanout`.
    FanoutArgs {
        /// Batches, group, metrics address.
        worker: WorkerSettings,
        /// Topics and partitions.
        log: LogSettings,
        /// Kafka.
        kafka: KafkaSettings,
        /// Redis.
        redis: RedisSettings,
    }
);

/// A subcommand's settings: flags and environment over its `--config` file.
pub trait Layered: Args + Serialize + DeserializeOwned + Sized {
    /// The `--config` file named, if any.
    fn config_file(&self) -> Option<&Path>;

    /// The settings with the file's keys under the flags and environment.
    /// A key this subcommand does not know is an error naming it.
    fn layered(self) -> anyhow::Result<Self> {
        let Some(path) = self.config_file().map(Path::to_path_buf) else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut table: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let known = setting_names::<Self>();
        if let Some(unknown) = table.keys().find(|k| !known.contains(k.as_str())) {
            bail!(
                "{}: unknown setting `{unknown}` (this subcommand takes: {})",
                path.display(),
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        let given = toml::Table::try_from(&self).context("settings from flags")?;
        table.extend(given);
        let mut merged: Self = table
            .try_into()
            .with_context(|| format!("settings in {}", path.display()))?;
        merged.set_config_file(path);
        Ok(merged)
    }

    /// Remembers where the file was.
    fn set_config_file(&mut self, path: PathBuf);
}

/// The settings a subcommand takes, by key (the flag's name in snake_case).
pub fn setting_names<T: Args>() -> BTreeSet<String> {
    T::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| id != "config")
        .collect()
}

// ------------------------------------------------------------ resolution

impl LimitSettings {
    /// The limits, defaults where unset.
    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        Limits {
            max_text_chars: self.max_text_chars.unwrap_or(d.max_text_chars),
            max_initial_members: self.max_initial_members.unwrap_or(d.max_initial_members),
            max_group_members: self.max_group_members.unwrap_or(d.max_group_members),
            max_chats_per_user: self.max_chats_per_user.unwrap_or(d.max_chats_per_user),
            ..d
        }
    }
}

impl LogSettings {
    /// Partitions of the log.
    pub fn partitions(&self) -> u32 {
        self.partitions.unwrap_or(8)
    }

    /// The commands topic.
    pub fn commands_topic(&self) -> String {
        self.commands_topic
            .clone()
            .unwrap_or_else(|| chat_core::COMMANDS_TOPIC.into())
    }

    /// The events topic.
    pub fn events_topic(&self) -> String {
        self.events_topic
            .clone()
            .unwrap_or_else(|| chat_core::EVENTS_TOPIC.into())
    }
}

impl GatewaySettings {
    /// The listen address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The gateway library's config: these settings over its defaults.
    pub fn gateway_config(
        &self,
        limits: &LimitSettings,
        log: &LogSettings,
        instance_id: String,
        jwt_secret: Vec<u8>,
    ) -> chat_gateway::GatewayConfig {
        let d = chat_gateway::GatewayConfig::default();
        let frame = self.max_frame_bytes.unwrap_or(d.max_frame_bytes);
        chat_gateway::GatewayConfig {
            instance_id,
            jwt_secret,
            jwt_previous_secrets: self
                .jwt_previous_secrets
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec())
                .collect(),
            token_ttl: self
                .token_ttl_secs
                .map_or(d.token_ttl, |s| Duration::from_secs(s.max(1))),
            refresh_ttl: self
                .refresh_ttl_secs
                .map_or(d.refresh_ttl, |s| Duration::from_secs(s.max(1))),
            session_check: self
                .session_check_secs
                .map_or(d.session_check, |s| Duration::from_secs(s.max(1))),
            limits: limits.limits(),
            max_frame_bytes: frame,
            max_body_bytes: frame,
            conn_queue: self.conn_queue.unwrap_or(d.conn_queue),
            membership_recheck: self
                .membership_recheck_secs
                .map_or(d.membership_recheck, |s| Duration::from_secs(s.max(1))),
            commands_topic: log.commands_topic(),
            web: chat_gateway::web::WebClient::choose(
                self.web_dir.clone(),
                Some(crate::web::FILES),
            ),
            drain: self.drain_secs.map_or(d.drain, Duration::from_secs),
            conns: chat_gateway::listen::ConnLimits {
                max_connections: self.max_connections.unwrap_or(d.conns.max_connections),
                max_per_address: self
                    .max_connections_per_ip
                    .unwrap_or(d.conns.max_per_address),
                header_timeout: self
                    .header_timeout_secs
                    .map_or(d.conns.header_timeout, |s| Duration::from_secs(s.max(1))),
                request_timeout: self
                    .request_timeout_secs
                    .map_or(d.conns.request_timeout, |s| Duration::from_secs(s.max(1))),
            },
            ws_ping: self
                .ws_ping_secs
                .map_or(d.ws_ping, |s| Duration::from_secs(s.max(1))),
            max_replay: self.max_replay.unwrap_or(d.max_replay),
            presence: chat_gateway::presence::PresenceSettings {
                heartbeat: self
                    .presence_heartbeat_secs
                    .map_or(d.presence.heartbeat, |s| Duration::from_secs(s.max(1))),
                group_limit: self.presence_group_limit.unwrap_or(d.presence.group_limit),
            },
            max_avatar_bytes: self.max_avatar_bytes.unwrap_or(d.max_avatar_bytes),
            // Checked when parsed (the flag's value parser, `validate`).
            rate_limits: self
                .rate_limits
                .as_deref()
                .and_then(|s| chat_gateway::limits::RateLimits::parse(s).ok())
                .unwrap_or_default(),
            trusted_proxies: self
                .trusted_proxies
                .as_deref()
                .and_then(|s| parse_proxies(s).ok())
                .unwrap_or_default(),
            ..d
        }
    }

    /// Events a pub/sub subscriber holds.
    pub fn pubsub_inbox(&self) -> usize {
        self.pubsub_inbox.unwrap_or(65_536)
    }

    /// Rejects values that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.node_id.is_some_and(|n| n > chat_core::id::MAX_NODE) {
            bail!("node_id must be at most {}", chat_core::id::MAX_NODE);
        }
        if self.max_frame_bytes.is_some_and(|b| b < 1024) {
            bail!("max_frame_bytes must be at least 1024");
        }
        if self.conn_queue == Some(0) || self.pubsub_inbox == Some(0) {
            bail!("conn_queue and pubsub_inbox must be positive");
        }
        if self.max_connections == Some(0) {
            bail!("max_connections must be positive");
        }
        // A file's values do not pass the flags' parsers.
        if let Some(r) = &self.rate_limits {
            check_rate_limits(r).map_err(|e| anyhow::anyhow!("rate_limits: {e}"))?;
        }
        if let Some(p) = &self.trusted_proxies {
            check_trusted_proxies(p).map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        }
        if let Some(s) = &self.jwt_secret
            && s.len() < 32
        {
            bail!("jwt_secret must be at least 32 bytes");
        }
        if let Some(p) = &self.jwt_previous_secrets
            && p.split(',')
                .map(str::trim)
                .any(|s| !s.is_empty() && s.len() < 32)
        {
            bail!("each of jwt_previous_secrets must be at least 32 bytes");
        }
        Ok(())
    }
}

impl StandaloneConfig {
    /// Defaults with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let mut c = StandaloneConfig::default();
        c.embedded.data_dir = Some(data_dir.into());
        c
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.embedded
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("data"))
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.gateway.validate()?;
        self.limits.validate()?;
        self.log.validate()?;
        if self.embedded.cache_entries == Some(0) {
            bail!("cache_entries must be positive");
        }
        Ok(())
    }
}

impl LimitSettings {
    /// Rejects limits that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_text_chars == Some(0) {
            bail!("max_text_chars must be positive");
        }
        if self.max_group_members == Some(0) || self.max_chats_per_user == Some(0) {
            bail!("max_group_members and max_chats_per_user must be positive");
        }
        Ok(())
    }
}

impl LogSettings {
    /// Rejects a partition count the log cannot have.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.partitions.is_some_and(|p| p == 0 || p > 1024) {
            bail!("partitions must be between 1 and 1024");
        }
        Ok(())
    }
}

/// Parsed `kafka_options`: `key=value` pairs.
pub fn kafka_options(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => return Err(format!("`{item}` is not key=value")),
        }
    }
    Ok(out)
}

fn check_kafka_options(s: &str) -> Result<String, String> {
    kafka_options(s).map(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("chat").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn a_file_fills_what_flags_leave_unset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chat.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nbatch_max = 7\nkafka_linger_ms = 3\nmax_text_chars = 50\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let Command::Writer(w) = parse(&["writer", "--config", f, "--batch-max", "9"]) else {
            panic!()
        };
        let err = w.layered().unwrap_err().to_string();
        assert!(err.contains("unknown setting `listen`"), "{err}");

        std::fs::write(
            &file,
            "batch_max = 7\nkafka_linger_ms = 3\nmax_text_chars = 50\n",
        )
        .unwrap();
        let Command::Writer(w) = parse(&["writer", "--config", f, "--batch-max", "9"]) else {
            panic!()
        };
        let w = w.layered().unwrap();
        assert_eq!(w.worker.batch_max, Some(9), "the flag wins");
        assert_eq!(w.kafka.kafka_linger_ms, Some(3));
        assert_eq!(w.limits.limits().max_text_chars, 50);
        assert_eq!(w.mysql.ring_vnodes, None, "unset stays unset");
    }

    #[test]
    fn every_subcommand_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "commands_topic = \"c.3\"\n").unwrap();
        let f = file.to_str().unwrap();
        for sub in ["standalone", "gateway", "writer", "fanout"] {
            let log = match parse(&[sub, "--config", f]) {
                Command::Standalone(c) => c.layered().unwrap().log,
                Command::Gateway(c) => c.layered().unwrap().log,
                Command::Writer(c) => c.layered().unwrap().log,
                Command::Fanout(c) => c.layered().unwrap().log,
                #[cfg(feature = "distributed")]
                Command::Shards(_) => unreachable!("not parsed here"),
                Command::Migrate(_)
                | Command::User(_)
                | Command::Chat(_)
                | Command::Export(_)
                | Command::Import(_) => {
                    unreachable!("not parsed here")
                }
            };
            assert_eq!(log.commands_topic(), "c.3", "{sub}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Cli::try_parse_from(["chat", "gateway", "--kafka-options", "nonsense"]).is_err());
        let mut c = StandaloneConfig::new("d");
        c.gateway.node_id = Some(5000);
        assert!(c.validate().is_err());
        let mut c = StandaloneConfig::new("d");
        c.log.partitions = Some(0);
        assert!(c.validate().is_err());
        assert!(StandaloneConfig::new("d").validate().is_ok());
    }

    /// Every setting of every subcommand has a row in the README's settings
    /// table, with its environment variable and the subcommands it applies to.
    #[test]
    fn readme_lists_every_setting() {
        fn envs<T: Args>() -> Vec<(String, String)> {
            T::augment_args(clap::Command::new("settings"))
                .get_arguments()
                .filter(|a| a.get_id() != "config")
                .map(|a| {
                    let env = a
                        .get_env()
                        .expect("every setting has an environment variable");
                    (a.get_id().to_string(), env.to_string_lossy().into_owned())
                })
                .collect()
        }
        let readme = include_str!("../../README.md");
        let mut subs: std::collections::BTreeMap<(String, String), BTreeSet<&str>> =
            Default::default();
        for (sub, names) in [
            ("standalone", envs::<StandaloneConfig>()),
            ("gateway", envs::<GatewayArgs>()),
            ("writer", envs::<WriterArgs>()),
            ("fanout", envs::<FanoutArgs>()),
        ] {
            for n in names {
                subs.entry(n).or_default().insert(sub);
            }
        }
        for ((name, env), used_by) in subs {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("README has no settings row for `{name}`"));
            assert!(
                row.contains(&format!("`{env}`")),
                "{name}: {env} missing in {row}"
            );
            for sub in used_by {
                let mode = if sub == "standalone" { "S" } else { &sub[..1] };
                assert!(
                    row.split('|').nth(2).is_some_and(|m| m.contains(mode)),
                    "{name}: README row does not mark {sub} ({mode}): {row}"
                );
            }
        }
    }
}

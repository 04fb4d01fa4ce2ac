//! The chat binary as a library: configuration and the wiring of each mode, so
//! that tests boot the whole server in-process.

pub mod admin;
pub mod config;
#[cfg(feature = "distributed")]
pub mod distributed;
#[cfg(feature = "distributed")]
pub mod shards;
/// The web client embedded at build time (see `build.rs`).
pub mod web {
    include!(concat!(env!("OUT_DIR"), "/web_files.rs"));
}

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chat_core::IdGenerator;
use chat_core::ports::{Cache, Log, PubSub, Store};
use chat_embedded::{MemCache, MemLog, MemLogConfig, MemPresence, MemPubSub};
use chat_gateway::Deps;
use chat_store::{SqliteConfig, SqliteStore};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::StandaloneConfig;

/// A running standalone server.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The web client it serves.
    pub web: chat_gateway::web::WebClient,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Drains and stops every role, then returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("standalone task")?
    }

    /// Waits until the server stops by itself (or fails).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("standalone task")?
    }

    /// The token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Reads the JWT secret from the data directory, generating it on first start.
pub fn load_or_create_secret(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = dir.join("jwt.secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        if s.len() >= 32 {
            return Ok(s.into_bytes());
        }
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &hex).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    tracing::info!(path = %path.display(), "generated a JWT secret");
    Ok(hex.into_bytes())
}

/// Starts every role in this process on the embedded parts, serving on `listener`.
///
/// Shutdown order: the gateway drains first (connections get 1012 and
/// requests finish), then the writer and fanout finish their batch and stop.
pub async fn start_standalone(
    cfg: StandaloneConfig,
    listener: TcpListener,
) -> anyhow::Result<Running> {
    cfg.validate()?;
    let data_dir = cfg.data_dir();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let secret = match &cfg.gateway.jwt_secret {
        Some(s) => s.clone().into_bytes(),
        None => load_or_create_secret(&data_dir)?,
    };
    let mut sq = SqliteConfig::new(data_dir.join("chat.db"));
    sq.fsync_every_commit = cfg.embedded.sqlite_fsync.unwrap_or(true);
    let sqlite = SqliteStore::open(&sq)
        .await
        .context("opening the database")?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let log: Arc<dyn Log> = Arc::new(MemLog::new(MemLogConfig {
        partitions: cfg.log.partitions(),
        ..MemLogConfig::default()
    }));
    let cache: Arc<dyn Cache> =
        Arc::new(MemCache::new(cfg.embedded.cache_entries.unwrap_or(200_000)));
    let pubsub: Arc<dyn PubSub> = Arc::new(MemPubSub::new(cfg.gateway.pubsub_inbox()));
    let node = cfg.gateway.node_id.unwrap_or(1);
    let instance = cfg
        .gateway
        .instance_id
        .clone()
        .unwrap_or_else(|| format!("standalone-{node}"));
    let gw_cfg = cfg
        .gateway
        .gateway_config(&cfg.limits, &cfg.log, instance, secret);
    let deps = Deps {
        log: log.clone(),
        store: store.clone(),
        cache: cache.clone(),
        pubsub: pubsub.clone(),
        ids: Arc::new(IdGenerator::new(node)),
        // One process: the gateway's own throttle is the whole truth.
        throttle: None,
        presence: Arc::new(MemPresence::new(
            cfg.embedded.cache_entries.unwrap_or(200_000),
        )),
    };

    // Exported from the first scrape, before the roles' tasks start.
    chat_writer::metrics::init();
    chat_fanout::metrics::init();
    let shutdown = CancellationToken::new();
    // The writer and fanout stop once the gateway has drained.
    let roles = CancellationToken::new();
    let writer_cfg = chat_writer::WriterConfig {
        limits: cfg.limits.limits(),
        commands_topic: cfg.log.commands_topic(),
        events_topic: cfg.log.events_topic(),
        dead_letters_topic: chat_core::dead_letters_topic(&cfg.log.commands_topic()),
        ..Default::default()
    };
    let writer = {
        let (log, store, stop) = (log.clone(), store.clone(), roles.clone());
        supervise("writer", roles.clone(), move || {
            chat_writer::run(
                writer_cfg.clone(),
                log.clone(),
                store.clone(),
                stop.clone().cancelled_owned(),
            )
        })
    };
    let fanout_cfg = chat_fanout::FanoutConfig::on(cfg.log.events_topic());
    let fanout = {
        let (log, cache, pubsub, stop) =
            (log.clone(), cache.clone(), pubsub.clone(), roles.clone());
        supervise("fanout", roles.clone(), move || {
            chat_fanout::run(
                fanout_cfg.clone(),
                log.clone(),
                cache.clone(),
                pubsub.clone(),
                stop.clone().cancelled_owned(),
            )
        })
    };
    let web = gw_cfg.web.clone();
    let st = chat_gateway::build(gw_cfg, deps).await?;
    let addr = listener.local_addr()?;
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        let served = chat_gateway::serve(st, listener, token).await;
        roles.cancel();
        writer.await.context("writer task")?;
        fanout.await.context("fanout task")?;
        served?;
        sqlite.close().await;
        tracing::info!("standalone stopped");
        Ok(())
    });
    Ok(Running {
        addr,
        web,
        shutdown,
        task,
    })
}

/// Runs a role's loop in its own task until `stop` is cancelled, and starts it
/// again (after a pause that grows to 5 s) whenever it fails or panics: its
/// state is rebuilt from the store and it resumes from the log's committed
/// offsets, so nothing is lost and the standalone server never runs on with a
/// dead writer or fanout.
fn supervise<F, Fut, E>(
    role: &'static str,
    stop: CancellationToken,
    start: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(100);
        loop {
            let why = match tokio::spawn(start()).await {
                Ok(Ok(())) if stop.is_cancelled() => return,
                Ok(Ok(())) => "stopped".to_string(),
                Ok(Err(e)) => format!("failed: {e}"),
                Err(e) => format!("panicked: {e}"),
            };
            if stop.is_cancelled() {
                tracing::error!(role, "{why} while stopping");
                return;
            }
            tracing::error!(role, restart_in = ?pause, "{why}; starting it again");
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    })
}

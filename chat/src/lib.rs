//! The chat binary as a library: configuration and the wiring of each mode, so
//! that tests boot the whole server in-process.

pub mod config;
#[cfg(feature = "distributed")]
pub mod distributed;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chat_core::IdGenerator;
use chat_core::ports::{Cache, Log, PubSub, Store};
use chat_core::rules::Limits;
use chat_embedded::{MemCache, MemLog, MemLogConfig, MemPubSub};
use chat_gateway::{Deps, GatewayConfig};
use chat_store::{SqliteConfig, SqliteStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::StandaloneConfig;

/// A running standalone server.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Drains and stops every role, then returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("standalone task")?
    }

    /// Waits until the server stops by itself (or fails).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("standalone task")?
    }

    /// A handle that asks the server to stop.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
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
pub async fn start_standalone(
    cfg: StandaloneConfig,
    listener: TcpListener,
) -> anyhow::Result<Running> {
    cfg.validate()?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let secret = match &cfg.jwt_secret {
        Some(s) => s.clone().into_bytes(),
        None => load_or_create_secret(&cfg.data_dir)?,
    };
    let mut sq = SqliteConfig::new(cfg.data_dir.join("chat.db"));
    sq.fsync_every_commit = cfg.sqlite_fsync;
    let sqlite = SqliteStore::open(&sq)
        .await
        .context("opening the database")?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let log: Arc<dyn Log> = Arc::new(MemLog::new(MemLogConfig {
        partitions: cfg.partitions,
        ..MemLogConfig::default()
    }));
    let cache: Arc<dyn Cache> = Arc::new(MemCache::new(200_000));
    let pubsub: Arc<dyn PubSub> = Arc::new(MemPubSub::new(65_536));
    let limits = Limits {
        max_text_chars: cfg.max_text_chars,
        ..Limits::default()
    };

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (drain_tx, drain_rx) = watch::channel(false);
    let (roles_tx, roles_rx) = watch::channel(false);

    let gw_cfg = GatewayConfig {
        instance_id: format!("standalone-{}", cfg.node_id),
        jwt_secret: secret,
        token_ttl: cfg.token_ttl,
        limits: limits.clone(),
        max_frame_bytes: cfg.max_frame_bytes,
        max_body_bytes: cfg.max_frame_bytes,
        conn_queue: cfg.conn_queue,
        web_dir: cfg.web_dir.clone(),
        ..GatewayConfig::default()
    };
    let deps = Deps {
        log: log.clone(),
        store: store.clone(),
        cache: cache.clone(),
        pubsub: pubsub.clone(),
        ids: Arc::new(IdGenerator::new(cfg.node_id)),
    };
    let wait_roles = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let writer = tokio::spawn(chat_writer::run(
        chat_writer::WriterConfig {
            limits,
            ..Default::default()
        },
        log.clone(),
        store.clone(),
        wait_roles(roles_rx.clone()),
    ));
    let fanout = tokio::spawn(chat_fanout::run(
        chat_fanout::FanoutConfig::default(),
        log.clone(),
        cache.clone(),
        pubsub.clone(),
        wait_roles(roles_rx),
    ));
    let st = chat_gateway::build(gw_cfg, deps, drain_rx).await?;
    let addr = listener.local_addr()?;
    let drain = cfg.drain;
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.wait_for(|v| *v).await;
        };
        let served = chat_gateway::serve(st, listener, shutdown, drain_tx, drain).await;
        // The gateway is drained: let the writer and fanout finish their batch.
        let _ = roles_tx.send(true);
        let w = writer.await.context("writer task")?;
        let f = fanout.await.context("fanout task")?;
        served?;
        w?;
        f?;
        sqlite.close().await;
        tracing::info!("standalone stopped");
        Ok(())
    });
    Ok(Running {
        addr,
        stop: stop_tx,
        task,
    })
}

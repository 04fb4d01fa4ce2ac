//! The test kit: boots the standalone server in-process on port 0 with its data
//! in a temporary directory ([`TestServer`]), runs the binary as a process
//! ([`proc`]), and speaks the typed HTTP API ([`api`]) and WebSocket ([`ws`])
//! with the bodies and frames of [`types`]. [`schema`] checks answers against
//! the OpenAPI document; [`cluster`] runs the distributed roles.

#![allow(dead_code)]

pub mod api;
#[cfg(feature = "distributed")]
pub mod cluster;
pub mod live;
pub mod mentions;
pub mod mute;
pub mod pins;
pub mod proc;
pub mod profiles;
pub mod reactions;
pub mod schema;
#[cfg(feature = "distributed")]
pub mod traffic;
pub mod types;
pub mod ws;

use std::path::Path;

use chat::{Running, StandaloneConfig};

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use api::{Api, Client, Refusal, Resp};
#[allow(unused_imports)]
pub use types::*;
#[allow(unused_imports)]
pub use ws::{FRAME_WAIT, Next, Ws};

/// The JWT secret tests configure, so they can forge and expire tokens.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Rate limits of the test servers: off. Every test client comes from
/// 127.0.0.1 and many tests send as fast as they can; the tests of the
/// limits (security.rs) set their own.
pub const TEST_RATE_LIMITS: &str = "off";

/// The server in-process, on the embedded log, cache and SQLite.
pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub ws_url: String,
    pub dir: tempfile::TempDir,
    pub cfg: StandaloneConfig,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut StandaloneConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = StandaloneConfig::new(dir.path().join("data"));
        cfg.gateway.jwt_secret = Some(SECRET.into());
        cfg.embedded.sqlite_fsync = Some(false);
        cfg.gateway.drain_secs = Some(2);
        cfg.gateway.rate_limits = Some(TEST_RATE_LIMITS.into());
        f(&mut cfg);
        Self::boot(dir, cfg).await
    }

    async fn boot(dir: tempfile::TempDir, cfg: StandaloneConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let running = chat::start_standalone(cfg.clone(), listener)
            .await
            .expect("start standalone");
        let addr = running.addr;
        TestServer {
            running: Some(running),
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/ws"),
            dir,
            cfg,
        }
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }

    /// Stops gracefully and starts again on the same data directory.
    pub async fn restart(mut self) -> TestServer {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
        let TestServer { dir, cfg, .. } = self;
        Self::boot(dir, cfg).await
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
    }
}

/// `chat standalone` as a process on port 0 with its data in `dir`, logging to
/// `dir/<log_name>`.
pub fn spawn_standalone(dir: &Path, log_name: &str) -> proc::ChatProc {
    standalone_process(dir, log_name).start()
}

/// The standalone binary's command line (data in `dir`, log `log_name`), to
/// add arguments and environment to before starting it.
pub fn standalone_process(dir: &Path, log_name: &str) -> proc::Spawn {
    proc::Spawn::new(env!("CARGO_BIN_EXE_chat"), dir.join(log_name))
        .args([
            "standalone",
            "--listen",
            "127.0.0.1:0",
            "--jwt-secret",
            SECRET,
            "--rate-limits",
            TEST_RATE_LIMITS,
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
}

/// `s` percent-encoded for a query string (every byte but the unreserved).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `(chat_id, seq)` of a search page's hits (`GET /search`).
pub fn search_hits(v: &serde_json::Value) -> Vec<(String, u64)> {
    v["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {v}"))
        .iter()
        .map(|h| {
            (
                h["chat_id"].as_str().expect("chat_id").to_string(),
                h["seq"].as_u64().expect("seq"),
            )
        })
        .collect()
}

//! Distributed test harness: runs the roles as real processes of the `chat`
//! binary against the services started by `deploy/local/up.sh` (Kafka, two
//! MariaDB shards, Redis), with fresh topics, databases and Redis prefix per
//! cluster so runs never collide.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use super::proc::{ChatProc, Spawn};
use super::{SECRET, TEST_RATE_LIMITS};

pub struct Cluster {
    pub env: Vec<(String, String)>,
    pub procs: HashMap<String, ChatProc>,
    pub dir: tempfile::TempDir,
    pub run: String,
    pub mysql_shards: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub kafka: String,
    pub commands_topic: String,
    next_node: u16,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} must be set: run `eval \"$(deploy/local/up.sh)\"` first")
    })
}

impl Cluster {
    /// An empty cluster with its own topics, databases and Redis prefix.
    pub fn new() -> Cluster {
        static N: AtomicU64 = AtomicU64::new(0);
        let run = format!(
            "{}x{}x{}",
            std::process::id(),
            chat_core::now_ms() % 100_000_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let shards: Vec<String> = env("CHAT_MYSQL_SHARDS")
            .split(',')
            .map(|s| {
                let (base, _) = s.rsplit_once('/').expect("shard url with a database");
                format!("{base}/it_{run}")
            })
            .collect();
        let mysql_shards = shards.join(",");
        let redis_url = env("CHAT_REDIS_URL");
        let kafka = env("CHAT_KAFKA_BROKERS");
        let redis_prefix = format!("it{run}:");
        let commands_topic = format!("it.{run}.commands");
        let env = vec![
            ("CHAT_KAFKA_BROKERS".to_string(), kafka.clone()),
            ("CHAT_MYSQL_SHARDS".into(), mysql_shards.clone()),
            ("CHAT_REDIS_URL".into(), redis_url.clone()),
            ("CHAT_REDIS_PREFIX".into(), redis_prefix.clone()),
            ("CHAT_COMMANDS_TOPIC".into(), commands_topic.clone()),
            ("CHAT_EVENTS_TOPIC".into(), format!("it.{run}.events")),
            ("CHAT_PARTITIONS".into(), "8".into()),
            ("CHAT_JWT_SECRET".into(), SECRET.into()),
            ("CHAT_DRAIN_SECS".into(), "2".into()),
            ("CHAT_RATE_LIMITS".into(), TEST_RATE_LIMITS.into()),
            // Fast failover for the kill tests (the broker's minimum is 6 s).
            ("CHAT_KAFKA_SESSION_TIMEOUT_MS".into(), "6000".into()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        Cluster {
            env,
            procs: HashMap::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            run,
            mysql_shards,
            redis_url,
            redis_prefix,
            kafka,
            commands_topic,
            next_node: 1,
        }
    }

    /// The same cluster on another Redis (for example a Redis Cluster's nodes).
    pub fn with_redis(mut self, url: &str) -> Cluster {
        self.redis_url = url.to_string();
        for (k, v) in &mut self.env {
            if k == "CHAT_REDIS_URL" {
                *v = url.to_string();
            }
        }
        self
    }

    /// Starts a role process named `name` and waits for its banner; returns
    /// the address it prints (a gateway's HTTP, a worker's metrics).
    pub fn spawn(&mut self, role: &str, name: &str) -> String {
        self.spawn_with(role, name, &[])
    }

    /// [`Cluster::spawn`] with settings of its own (`(variable, value)`,
    /// over the cluster's).
    pub fn spawn_with(&mut self, role: &str, name: &str, env: &[(&str, &str)]) -> String {
        let log = self.dir.path().join(format!("{name}.log"));
        let mut cmd = Spawn::new(env!("CARGO_BIN_EXE_chat"), log)
            .arg(role)
            .envs(self.env.iter().cloned())
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if role == "gateway" {
            let node = self.next_node;
            self.next_node += 1;
            cmd = cmd
                .args(["--listen", "127.0.0.1:0", "--node-id", &node.to_string()])
                .args(["--instance-id", &format!("{name}-{}", self.run)]);
        }
        let p = cmd.start();
        let addr = p.addr.clone();
        self.procs.insert(name.to_string(), p);
        addr
    }

    /// The standard topology: `w` writers, `f` fanout workers, `g` gateways
    /// (named writer-N, fanout-N, gw-N). Returns the gateways' base URLs.
    pub fn start(&mut self, w: usize, f: usize, g: usize) -> Vec<String> {
        for i in 0..w {
            self.spawn("writer", &format!("writer-{i}"));
        }
        for i in 0..f {
            self.spawn("fanout", &format!("fanout-{i}"));
        }
        (0..g)
            .map(|i| format!("http://{}", self.spawn("gateway", &format!("gw-{i}"))))
            .collect()
    }

    /// Waits for a process to exit by itself (a failpoint), up to `wait`.
    pub fn wait_exit(&mut self, name: &str, wait: std::time::Duration) -> std::process::ExitStatus {
        let mut p = self.take(name);
        p.wait_exit(wait)
            .unwrap_or_else(|| panic!("{name} did not exit within {wait:?}"))
    }

    /// Sends a signal (`STOP`, `CONT`…) to a process.
    pub fn signal(&self, name: &str, sig: &str) {
        let pid = self.procs[name].pid().to_string();
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {name}");
    }

    /// SIGKILLs a process.
    pub fn kill(&mut self, name: &str) {
        self.take(name).kill();
    }

    /// Sends SIGTERM and waits for a clean exit; returns how long it took.
    pub fn terminate(&mut self, name: &str) -> std::time::Duration {
        let p = self.take(name);
        let log = p.log.clone();
        let (exit, took) = p.terminate();
        assert!(
            exit.success(),
            "{name} exited with {exit}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        took
    }

    fn take(&mut self, name: &str) -> ChatProc {
        self.procs
            .remove(name)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    /// The sharded store the cluster writes to, for checking what is stored.
    pub async fn store(&self) -> chat_store::ShardedStore {
        let cfg = chat_store::MySqlConfig {
            shards: chat_store::MySqlConfig::parse_shards(&self.mysql_shards).expect("shards"),
            ring_version: 1,
            vnodes_per_weight: 160,
            max_connections: 4,
            create_databases: true,
            follow: true,
            process: "test".into(),
        };
        chat_store::ShardedStore::connect(&cfg)
            .await
            .expect("connect shards")
    }

    /// The per-shard database URLs, in configuration order.
    pub fn shard_urls(&self) -> Vec<(String, String)> {
        chat_store::MySqlConfig::parse_shards(&self.mysql_shards)
            .expect("shards")
            .into_iter()
            .map(|s| (s.name, s.url))
            .collect()
    }

    /// Drops the cluster's databases and topics (its few Redis keys are left).
    pub async fn cleanup(mut self) {
        self.procs.clear();
        use sqlx::migrate::MigrateDatabase;
        for (_, url) in self.shard_urls() {
            let _ = sqlx::MySql::drop_database(&url).await;
        }
        let events = format!("it.{}.events", self.run);
        let dead = chat_core::dead_letters_topic(&events);
        let dead_commands = chat_core::dead_letters_topic(&self.commands_topic);
        let topics = [
            self.commands_topic.as_str(),
            events.as_str(),
            dead.as_str(),
            dead_commands.as_str(),
        ];
        match chat_kafka::KafkaLog::connect(chat_kafka::KafkaConfig::new(&self.kafka), &[]).await {
            Ok(log) => {
                if let Err(e) = log.delete_topics(&topics).await {
                    eprintln!("could not delete the topics {topics:?}: {e}");
                }
            }
            Err(e) => eprintln!("could not delete the topics {topics:?}: {e}"),
        }
    }

    /// Runs a deploy/local script (`down.sh kafka`, `up.sh kafka`…).
    pub fn local(script: &str, service: &str) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Command::new("bash")
            .arg(root.join("deploy/local").join(script))
            .arg(service)
            .stdout(Stdio::null())
            .status()
            .expect("run deploy/local script");
        assert!(status.success(), "deploy/local/{script} {service} failed");
    }
}

/// `redis-cli CONFIG SET` on the cluster's Redis; the old value back on drop.
pub struct RedisSetting {
    port: String,
    name: &'static str,
    old: String,
}

/// The port of a `redis://host:port` URL.
pub fn redis_port(url: &str) -> String {
    let port = url.rsplit(':').next().expect("port");
    port.trim_end_matches('/').to_string()
}

pub fn redis_cli(port: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", port])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(out.status.success(), "redis-cli {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl RedisSetting {
    pub fn set(url: &str, name: &'static str, value: &str) -> RedisSetting {
        let port = redis_port(url);
        let old = redis_cli(&port, &["CONFIG", "GET", name]);
        let old = old.lines().nth(1).unwrap_or_default().to_string();
        assert_eq!(redis_cli(&port, &["CONFIG", "SET", name, value]), "OK");
        RedisSetting { port, name, old }
    }
}

impl Drop for RedisSetting {
    fn drop(&mut self) {
        redis_cli(&self.port, &["CONFIG", "SET", self.name, &self.old]);
    }
}

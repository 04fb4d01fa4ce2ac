//! The chaos suite (issue 12): steady traffic through the distributed stack
//! (two gateways, two writers, two fanout workers, Kafka, two MariaDB shards,
//! Redis) while, round after round, every kind of fault of normal operation
//! is injected, and what the promises say is counted after each round:
//!
//! - **lost**: sends acknowledged but not in history (must be 0);
//! - **duplicates**: one `client_msg_id` stored twice (0);
//! - **gaps**: a chat's history not exactly `1..n`, or a watcher's socket
//!   (reconnecting and resuming by `since_seq`) not holding exactly `1..n`
//!   of each chat, once, in order (0);
//! - **leaks**: a message sent after a member's removal reaching that
//!   member's open socket, or their history read answered (0);
//! - **recover**: per fault, from the service being back (or the process
//!   restarted) until every chat has had a send acknowledged again.
//!
//! Faults per round: SIGKILL (and restart) a writer, a fanout worker and a
//! gateway; SIGSTOP a writer past the Kafka session timeout; restart the
//! Kafka broker; restart a shard under traffic; flush Redis, restart it, and
//! make it refuse writes (`maxmemory` 1 with `noeviction`) for a while.
//!
//! `CHAT_CHAOS_ROUNDS` rounds (1 in the test command; `deploy/local/chaos.sh
//! ROUNDS` runs more). Its own test binary: it restarts the shared services.

#![cfg(feature = "distributed")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, RedisSetting, redis_cli, redis_port};
use common::traffic::*;
use common::*;

/// What one round measured.
#[derive(Default)]
struct Round {
    sent: usize,
    acked: usize,
    failed: usize,
    internal: usize,
    lost: usize,
    duplicates: usize,
    gaps: usize,
    leaks: usize,
    recover: Vec<(&'static str, Duration)>,
}

impl Round {
    fn line(&self, n: usize, of: usize, took: Duration) -> String {
        let recover: Vec<String> = self
            .recover
            .iter()
            .map(|(f, d)| format!("{f} {:.1}s", d.as_secs_f64()))
            .collect();
        format!(
            "chaos round {n}/{of} ({:.0} s): sent {}, acked {}, failed {} (internal {}); persisted {}, lost {}, duplicates {}, gaps {}, leaks {}; recover: {}",
            took.as_secs_f64(),
            self.sent,
            self.acked,
            self.failed,
            self.internal,
            self.acked - self.lost,
            self.lost,
            self.duplicates,
            self.gaps,
            self.leaks,
            recover.join(", ")
        )
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillWriter,
    KillFanout,
    KillGateway,
    StopWriter,
    RestartKafka,
    RestartShard,
    FlushRedis,
    RestartRedis,
    RedisRefusesWrites,
}

impl Fault {
    const ALL: [Fault; 9] = [
        Fault::KillWriter,
        Fault::KillFanout,
        Fault::KillGateway,
        Fault::StopWriter,
        Fault::RestartKafka,
        Fault::RestartShard,
        Fault::FlushRedis,
        Fault::RestartRedis,
        Fault::RedisRefusesWrites,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::KillWriter => "writer-kill",
            Fault::KillFanout => "fanout-kill",
            Fault::KillGateway => "gateway-kill",
            Fault::StopWriter => "writer-stop",
            Fault::RestartKafka => "kafka-restart",
            Fault::RestartShard => "shard-restart",
            Fault::FlushRedis => "redis-flush",
            Fault::RestartRedis => "redis-restart",
            Fault::RedisRefusesWrites => "redis-oom",
        }
    }

    /// Injects the fault and ends it; returns when it ended (the service or
    /// process back).
    async fn inject(self, cl: &mut Cluster, gws: &Gateways, round: usize) -> Instant {
        let restart = |cl: &mut Cluster, role: &str, name: &str| {
            cl.kill(name);
            cl.spawn(role, name)
        };
        match self {
            Fault::KillWriter => {
                restart(cl, "writer", &format!("writer-{}", round % 2));
            }
            Fault::KillFanout => {
                restart(cl, "fanout", &format!("fanout-{}", round % 2));
            }
            Fault::KillGateway => {
                let i = round % 2;
                let addr = restart(cl, "gateway", &format!("gw-{i}"));
                gws.lock().unwrap()[i] = format!("http://{addr}");
            }
            Fault::StopWriter => {
                // Past the session timeout (6 s here): its partitions move.
                let name = format!("writer-{}", (round + 1) % 2);
                cl.signal(&name, "STOP");
                tokio::time::sleep(Duration::from_secs(9)).await;
                cl.signal(&name, "CONT");
            }
            Fault::RestartKafka => {
                tokio::task::block_in_place(|| {
                    Cluster::local("down.sh", "kafka");
                    Cluster::local("up.sh", "kafka");
                });
            }
            Fault::RestartShard => {
                tokio::task::block_in_place(|| {
                    Cluster::local("down.sh", "shard1");
                    std::thread::sleep(Duration::from_secs(1));
                    Cluster::local("up.sh", "shard1");
                });
            }
            Fault::FlushRedis => {
                assert_eq!(redis_cli(&redis_port(&cl.redis_url), &["FLUSHALL"]), "OK");
            }
            Fault::RestartRedis => {
                tokio::task::block_in_place(|| {
                    Cluster::local("down.sh", "redis");
                    Cluster::local("up.sh", "redis");
                });
            }
            Fault::RedisRefusesWrites => {
                let policy = RedisSetting::set(&cl.redis_url, "maxmemory-policy", "noeviction");
                let full = RedisSetting::set(&cl.redis_url, "maxmemory", "1");
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop((full, policy));
            }
        }
        Instant::now()
    }
}

/// A member whose socket stays open (and reconnects) through the round and
/// who is removed while one of the round's faults is injected: nothing sent
/// after the removal may reach her, over WS or HTTP.
struct Probe {
    chat: String,
    got: Received,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// A group of alice, carol and eve, with eve's socket following it.
async fn probe(
    alice: &Client,
    eve: &Client,
    carol: &Client,
    gws: &Gateways,
    round: usize,
) -> Probe {
    let alice = now_via(alice, gws);
    let chat = alice.group(&format!("probe {round}"), &[eve, carol]).await;
    let got: Received = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let task = watcher(
        eve.clone(),
        vec![chat.clone()],
        gws.clone(),
        got.clone(),
        stop.clone(),
    );
    alice
        .send(&chat, &format!("probe-{round}"), "hi eve")
        .await
        .created();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().get(&chat).is_none_or(|v| v.is_empty()) {
        assert!(Instant::now() < deadline, "eve's socket follows the chat");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Probe {
        chat,
        got,
        stop,
        task,
    }
}

/// Removes eve from the probe's chat, retrying through whichever gateway
/// answers (a retried removal is answered as a duplicate); returns the
/// chat's last seq in the answer. When a first try was applied but not
/// answered, messages sent in between are not checked (fewer leaks found,
/// never false ones).
fn remove_eve(
    alice: Client,
    eve_id: String,
    chat: String,
    gws: Gateways,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(240);
        for i in 0.. {
            let a = alice.via(&Api::new(gateway(&gws, i)).with_timeout(Duration::from_secs(30)));
            let path = format!("/api/v1/chats/{chat}/members/{eve_id}");
            if let Ok((status, body)) = a.api.try_call("DELETE", &path, Some(&a.token), None).await
                && status == 200
            {
                return body["last_seq"].as_u64().expect("the chat's last seq");
            }
            assert!(
                Instant::now() < deadline,
                "eve's removal never went through"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        unreachable!()
    })
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_rounds_lose_duplicate_gap_and_leak_nothing() {
    let rounds: usize = std::env::var("CHAT_CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut cl = Cluster::new();
    let gws: Gateways = Arc::new(Mutex::new(cl.start(2, 2, 2)));
    let api = Api::new(gateway(&gws, 0));
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let eve = api.register("eve").await;
    let mut chats = Vec::new();
    for i in 0..6 {
        chats.push(alice.group(&format!("chaos {i}"), &[&bob, &carol]).await);
    }
    let watched: Received = Arc::default();
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watch = watcher(
        bob.clone(),
        chats.clone(),
        gws.clone(),
        watched.clone(),
        stop_watching.clone(),
    );

    let mut failed_rounds = Vec::new();
    for round in 1..=rounds {
        let started = Instant::now();
        let probe = probe(&alice, &eve, &carol, &gws, round).await;
        let acks = Arc::new(Acks::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut targets = chats.clone();
        targets.push(probe.chat.clone());
        let senders: Vec<_> = [(&alice, "a"), (&carol, "c")]
            .into_iter()
            .map(|(who, p)| {
                sender(
                    who.clone(),
                    targets.clone(),
                    gws.clone(),
                    acks.clone(),
                    stop.clone(),
                    format!("r{round}{p}"),
                )
            })
            .collect();
        let mut r = Round::default();
        recovered(&acks, &targets, Instant::now(), "the start").await;
        // Eve is removed while one of the faults is on (a different one
        // each round).
        let removed_during = (round - 1) % Fault::ALL.len();
        let mut removal = None;
        for (i, fault) in Fault::ALL.into_iter().enumerate() {
            if i == removed_during {
                removal = Some(remove_eve(
                    alice.clone(),
                    eve.id.clone(),
                    probe.chat.clone(),
                    gws.clone(),
                ));
            }
            let ended = fault.inject(&mut cl, &gws, round).await;
            let took = recovered(&acks, &targets, ended, fault.name()).await;
            r.recover.push((fault.name(), took));
        }
        let removed_at = removal.expect("a removal").await.unwrap();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.await.unwrap();
        }
        r.sent = acks.sent.load(Ordering::Relaxed);
        r.acked = acks.count.load(Ordering::Relaxed);
        r.failed = acks.failed.load(Ordering::Relaxed);
        r.internal = acks.internal.load(Ordering::Relaxed);

        let now = now_via(&alice, &gws);
        settle(&now, &targets).await;
        let acked = acks.keys.lock().unwrap().clone();
        let st = stored(&now, &targets, &acked).await;
        (r.lost, r.duplicates, r.gaps) = (st.lost, st.duplicates, st.gaps);
        r.gaps += delivery_gaps(&watched, &chats, &st).await;

        // Nothing after the removal reached eve, over WS or HTTP.
        probe.stop.store(true, Ordering::Relaxed);
        probe.task.await.unwrap();
        r.leaks += probe
            .got
            .lock()
            .unwrap()
            .get(&probe.chat)
            .map_or(0, |v| v.iter().filter(|s| **s > removed_at).count());
        if now_via(&eve, &gws)
            .messages(&probe.chat, "")
            .await
            .is_success()
        {
            r.leaks += 1;
        }

        let line = r.line(round, rounds, started.elapsed());
        eprintln!("{line}");
        if r.lost + r.duplicates + r.gaps + r.leaks + r.internal > 0 {
            failed_rounds.push(line);
        }
    }
    stop_watching.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    assert!(
        failed_rounds.is_empty(),
        "rounds that broke a promise:\n{}",
        failed_rounds.join("\n")
    );
    cl.cleanup().await;
}

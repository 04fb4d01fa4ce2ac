//! Rate limits and logouts across gateways (docs/security.md): in distributed
//! mode the counts live in Redis, so a client alternating between gateways
//! gets no more than through one; a logout through one gateway is honoured
//! by every other at once; an account disabled from the command line is
//! refused by every gateway at once.

#![cfg(feature = "distributed")]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_across_gateways() {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    cl.spawn("fanout", "fanout-0");
    let limits = [("CHAT_RATE_LIMITS", "login_name_ip=4/min,send=3/min")];
    let gws: Vec<Api> = ["gw-0", "gw-1"]
        .iter()
        .map(|name| {
            let addr = cl.spawn_with("gateway", name, &limits);
            Api::new(format!("http://{addr}")).with_timeout(Duration::from_secs(30))
        })
        .collect();
    let alice = gws[0].register("alice").await;

    // Eight wrong passwords, alternating gateways: four are checked.
    let mut answers = Vec::new();
    for i in 0..8 {
        let r = gws[i % 2]
            .try_login("alice", "wrong-password")
            .await
            .refused();
        answers.push((r.status, r.code));
    }
    let checked = answers.iter().filter(|(s, _)| *s == 401).count();
    let throttled = answers
        .iter()
        .filter(|(s, c)| *s == 429 && c == "too_many_requests")
        .count();
    assert_eq!((checked, throttled), (4, 4), "{answers:?}");

    // Three sends a minute, whichever gateway they go through.
    let chat = alice.group("g", &[]).await;
    let on = |i: usize| alice.via(&gws[i]);
    on(0).send(&chat, "k1", "one").await.created();
    on(1).send(&chat, "k2", "two").await.created();
    on(0).send(&chat, "k3", "three").await.created();
    assert_eq!(
        on(1).send(&chat, "k4", "four").await.refused(),
        (429, "too_many_requests")
    );
    assert_eq!(alice.history_forward(&chat, 10).await.len(), 3);
    cl.cleanup().await;
}

/// A logout through one gateway is honoured by the others within seconds
/// (the revocation is published to every gateway), far sooner than their
/// periodic session check (set to an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_is_honoured_by_every_gateway_at_once() {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    cl.spawn("fanout", "fanout-0");
    let env = [("CHAT_SESSION_CHECK_SECS", "3600")];
    let gws: Vec<Api> = ["gw-0", "gw-1"]
        .iter()
        .map(|name| {
            let addr = cl.spawn_with("gateway", name, &env);
            Api::new(format!("http://{addr}")).with_timeout(Duration::from_secs(30))
        })
        .collect();
    let alice = gws[0].register("alice").await;
    let other = gws[0].login("alice").await;
    // Gateway 1 has seen both sessions live (and would trust that for an
    // hour); a WebSocket of each is open there.
    alice.via(&gws[1]).me().await.ok();
    other.via(&gws[1]).me().await.ok();
    let mut ws = alice.via(&gws[1]).ws().await;
    let mut other_ws = other.via(&gws[1]).ws().await;

    alice.logout().await.status(204);
    let refused_at = tokio::time::Instant::now();
    loop {
        let r = alice.via(&gws[1]).me().await;
        if r.status == 401 {
            assert_eq!(r.refused(), (401, "session_revoked"));
            break;
        }
        assert!(
            refused_at.elapsed() < Duration::from_secs(5),
            "gateway 1 still accepts a logged-out session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "logout through gateway 0: refused by gateway 1 after {:?}",
        refused_at.elapsed()
    );
    let closed = loop {
        match ws.next_within(Duration::from_secs(5)).await {
            Next::Frame(_) => {}
            Next::Closed(code) => break code,
            Next::Timeout => panic!("gateway 1 kept the connection of a logged-out session"),
        }
    };
    assert_eq!(closed, Some(4001));
    // The other session lives on, on both gateways.
    other.via(&gws[1]).me().await.ok();
    other_ws.ping().await;
    assert!(matches!(other_ws.next().await, Frame::Pong(_)));

    // Everywhere, through gateway 1: gateway 0 refuses at once too.
    other.via(&gws[1]).logout_everywhere().await.status(204);
    let refused_at = tokio::time::Instant::now();
    while other.me().await.status != 401 {
        assert!(refused_at.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(other.me().await.refused(), (401, "session_revoked"));
    cl.cleanup().await;
}

/// `chat user disable` on the shards, with Redis: every gateway drops the
/// user's sessions at once (their periodic check set to an hour); `chat chat
/// inspect` names the shard holding a chat; `chat export` of the shards
/// imports into a standalone data directory and into other shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_commands_work_on_the_shards() {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    cl.spawn("fanout", "fanout-0");
    let env = [("CHAT_SESSION_CHECK_SECS", "3600")];
    let addr = cl.spawn_with("gateway", "gw-0", &env);
    let gw = Api::new(format!("http://{addr}")).with_timeout(Duration::from_secs(30));
    let erin = gw.register("erin").await;
    let fred = gw.register("fred").await;
    let chat = erin.group("ops", &[&fred]).await;
    erin.me().await.ok();

    let admin = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(args)
            .envs(cl.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run chat");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "chat {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let inspected: serde_json::Value =
        serde_json::from_str(&admin(&["chat", "inspect", &chat])).unwrap();
    let store = cl.store().await;
    let shard = store.chat_shard(chat_core::ChatId(chat.parse().unwrap()));
    store.close().await;
    assert_eq!(inspected["shard"], shard.as_str());
    assert_eq!(inspected["member_count"], 2);
    assert!(admin(&["migrate"]).contains("up to date"));

    let out = admin(&["user", "disable", "erin"]);
    assert!(out.contains("every gateway told"), "{out}");
    let refused_at = tokio::time::Instant::now();
    while erin.me().await.status != 401 {
        assert!(
            refused_at.elapsed() < Duration::from_secs(5),
            "the gateway still accepts a disabled user's session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(erin.me().await.refused(), (401, "session_revoked"));
    assert_eq!(
        gw.try_login("erin", common::api::PASSWORD).await.refused(),
        (403, "account_disabled")
    );
    fred.me().await.ok();
    fred.send(&chat, "f1", "from the shards").await.created();

    // Export from the shards, import into a standalone data directory: the
    // same rows; and that export into another deployment's shards.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shards.jsonl");
    admin(&["export", "-o", file.to_str().unwrap()]);
    let export = std::fs::read_to_string(&file).unwrap();
    let standalone = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path().join("standalone"))
            .env_remove("CHAT_MYSQL_SHARDS")
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run chat");
        assert!(
            out.status.success(),
            "chat {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    standalone(&["import", file.to_str().unwrap()]);
    let again = standalone(&["export"]);
    // (In key order per database: a shards export goes shard by shard.)
    let rows = |e: &str| {
        let mut r = e.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
        r.sort();
        r
    };
    assert_eq!(rows(&again), rows(&export));
    assert!(export.contains("from the shards"));
    cl.cleanup().await;

    let mut other = Cluster::new();
    other.spawn("writer", "writer-0");
    let addr = other.spawn_with("gateway", "gw-0", &env);
    let gw = Api::new(format!("http://{addr}")).with_timeout(Duration::from_secs(30));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat"))
        .args(["import", file.to_str().unwrap()])
        .envs(other.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run chat");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fred = gw.login("fred").await;
    let (status, history) = fred
        .call("GET", &format!("/api/v1/chats/{chat}/messages"), None)
        .await;
    assert_eq!(status, 200);
    assert!(history.to_string().contains("from the shards"), "{history}");
    assert_eq!(
        gw.try_login("erin", common::api::PASSWORD).await.refused(),
        (403, "account_disabled")
    );
    other.cleanup().await;
}

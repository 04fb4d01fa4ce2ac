//! `chat shards status|plan` (issue 13, first step): keys and rows per shard
//! and, for a proposed ring, exactly the keys that would move — read from the
//! shards of a running cluster; every role names the ring it routes by, and
//! one configured with another ring than the recorded one routes by the
//! recorded one (settings only seed a new deployment).

#![cfg(feature = "distributed")]

mod common;

use std::collections::HashMap;

use common::cluster::Cluster;
use common::*;

/// Runs `chat shards ARGS` against the cluster's shards: success, stdout,
/// stderr.
fn shards(cl: &Cluster, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat"))
        .arg("shards")
        .args(args)
        .env("CHAT_MYSQL_SHARDS", &cl.mysql_shards)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run chat shards");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The body of a GET.
async fn get_text(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// `status`'s rows: shard → (chats, users, names).
fn per_shard(status: &str) -> HashMap<String, (u64, u64, u64)> {
    status
        .lines()
        .filter(|l| l.starts_with("shard"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f.get(i)?.parse::<u64>().ok();
            Some((f[0].to_string(), (n(3)?, n(4)?, n(5)?)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_status_and_plan_count_every_key() {
    let mut cl = Cluster::new();
    let writer = format!("http://{}", cl.spawn("writer", "writer-0"));
    cl.spawn("fanout", "fanout-0");
    let gw = format!("http://{}", cl.spawn("gateway", "gw-0"));
    // Every role names the ring it routes by.
    for base in [&gw, &writer] {
        let ready = get_text(&format!("{base}/readyz")).await;
        assert!(
            ready.contains("ring: v1: shard0:1, shard1:1"),
            "{base}: {ready}"
        );
        let metrics = get_text(&format!("{base}/metrics")).await;
        assert!(
            metrics.lines().any(|l| l == "store_ring_version 1"),
            "{base}"
        );
    }
    let api = Api::new(&gw);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    for i in 0..30 {
        let c = alice.group(&format!("g{i}"), &[&bob]).await;
        alice.send(&c, "k", "hi").await.created();
    }

    let (ok, status, err) = shards(&cl, &["status"]);
    assert!(ok, "{err}");
    let held = per_shard(&status);
    assert_eq!(held.len(), 2, "{status}");
    let sum = |f: fn(&(u64, u64, u64)) -> u64| held.values().map(f).sum::<u64>();
    assert_eq!(
        (sum(|h| h.0), sum(|h| h.1), sum(|h| h.2)),
        (30, 2, 2),
        "every chat, user and name, once: {status}"
    );
    assert!(
        status.contains("keys on a shard the ring does not name: 0"),
        "{status}"
    );
    for shard in ["shard0", "shard1"] {
        assert!(
            status.contains(&format!(
                "ring recorded on {shard}: v1: shard0:1, shard1:1\n"
            )),
            "the first role recorded its ring on every shard: {status}"
        );
    }

    // A role configured with another ring routes by the recorded one, and
    // says so.
    let reweighted = cl.mysql_shards.replacen("shard1=", "shard1:2=", 1);
    let other = format!(
        "http://{}",
        cl.spawn_with("writer", "writer-1", &[("CHAT_MYSQL_SHARDS", &reweighted)])
    );
    let ready = get_text(&format!("{other}/readyz")).await;
    assert!(
        ready.contains("ring: v1: shard0:1, shard1:1"),
        "a writer configured with another ring routes by the recorded one: {ready}"
    );
    let log = cl.procs["writer-1"].log_text();
    assert!(
        log.contains("the shards record another ring than this process's settings"),
        "{log}"
    );

    // Removing a shard moves exactly what it holds.
    let (ok, plan, err) = shards(&cl, &["plan", "--remove", "shard1"]);
    assert!(ok, "{err}");
    let moving = |plan: &str| {
        plan.lines()
            .find(|l| l.starts_with("moving: "))
            .unwrap_or_else(|| panic!("a moving line: {plan}"))
            .to_string()
    };
    let (chats, users, _) = held["shard1"];
    assert!(
        moving(&plan).starts_with(&format!("moving: {chats} of 30 chats")),
        "{plan}"
    );
    assert!(
        moving(&plan).contains(&format!(", {users} of 2 users")),
        "{plan}"
    );

    // Adding a third shard moves some chats, all to it.
    let (ok, plan, err) = shards(
        &cl,
        &[
            "plan",
            "--add",
            "shard2=mysql://chat:chat@127.0.0.1:3307/unused",
        ],
    );
    assert!(ok, "{err}");
    let n: u64 = moving(&plan)
        .trim_start_matches("moving: ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(0 < n && n < 30, "about a third of the chats move: {plan}");
    let routes: Vec<&str> = plan.lines().filter(|l| l.contains(" → shard")).collect();
    assert!(!routes.is_empty(), "{plan}");
    assert!(
        routes.iter().all(|l| l.contains("→ shard2:")),
        "keys only move to the new shard: {plan}"
    );

    // Bad input: a clear error, nothing read.
    for (args, says) in [
        (&["plan", "--remove", "nope"][..], "no shard nope"),
        (&["plan"][..], "say one change"),
        (
            &["plan", "--add", "shard0=mysql://chat:chat@127.0.0.1:3307/x"][..],
            "already on the ring",
        ),
        (&["plan", "--weight", "shard0=0"][..], "whole number from 1"),
    ] {
        let (ok, _, err) = shards(&cl, args);
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
    cl.cleanup().await;
}

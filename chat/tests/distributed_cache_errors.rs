//! Redis refusing writes (issue 12, item 4): at `maxmemory` with
//! `noeviction` every cache write fails while pub/sub still works. Fanout must
//! keep acknowledging and delivering (the cache updates wait in its backlog),
//! and the chat list must catch up once Redis takes writes again.
//!
//! Its own test binary: it changes the shared Redis's settings, so nothing
//! else may run beside it.

#![cfg(feature = "distributed")]

mod common;

use std::time::Duration;

use common::cluster::{Cluster, RedisSetting};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_acked_and_delivered_while_redis_refuses_writes() {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    let fanout_ops = format!("http://{}", cl.spawn("fanout", "fanout-0"));
    let gw = format!("http://{}", cl.spawn("gateway", "gw-0"));
    let api = Api::new(&gw);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let chat = alice.group("g", &[&bob]).await;
    let mut ws = bob.ws().await;
    ws.subscribe(&chat, Some(0)).await;
    alice.send(&chat, "k0", "before").await.created();
    let first = bob.chat(&chat).await.ok();
    assert_eq!(first.unread, 1);

    // Every write that needs memory is refused from now on.
    let policy = RedisSetting::set(&cl.redis_url, "maxmemory-policy", "noeviction");
    let full = RedisSetting::set(&cl.redis_url, "maxmemory", "1");
    for i in 1..=5 {
        let sent = tokio::time::timeout(
            Duration::from_secs(20),
            alice.send(&chat, &format!("k{i}"), "while redis is full"),
        )
        .await
        .expect("a send is acknowledged while Redis refuses writes")
        .created();
        let got = loop {
            match ws.next_within(Duration::from_secs(20)).await {
                Next::Frame(f) => match *f {
                    // The message sent before (delivered live, or replayed).
                    Frame::Message(m) if m.message.seq < sent.message.seq => {}
                    Frame::Message(m) => break m,
                    _ => {}
                },
                Next::Timeout => panic!("message {i} was not delivered while Redis refused writes"),
                Next::Closed(code) => panic!("Bob's connection closed ({code:?})"),
            }
        };
        assert_eq!(got.message.seq, sent.message.seq);
    }
    let fanout_log = cl.procs["fanout-0"].log_text();
    assert!(
        fanout_log.contains("cache update failed"),
        "Redis refused the cache writes: {fanout_log}"
    );

    // Redis takes writes again: the chat list catches up from the backlog.
    drop(full);
    drop(policy);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let entry = bob.chat(&chat).await.ok();
        if entry.chat.last_message.as_ref().map(|m| m.seq) == Some(6) && entry.unread == 6 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chat list did not catch up: {entry:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The worker reports its loop's progress: turning, nothing failing.
    let health = reqwest::get(format!("{fanout_ops}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let report: serde_json::Value = health.json().await.unwrap();
    assert_eq!(report["failing_for_s"], serde_json::Value::Null, "{report}");
    assert!(report["since_done_s"].is_number(), "{report}");
    let alice_view = alice.chat(&chat).await.ok();
    assert_eq!(
        (alice_view.read_seq, alice_view.unread),
        (6, 0),
        "the sender's cursor caught up too"
    );
    cl.cleanup().await;
}

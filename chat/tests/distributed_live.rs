//! Live features in distributed mode: typing straight through Redis pub/sub
//! from one gateway to subscribers on another and presence in Redis with
//! expiry (scenarios in `common/live.rs`); reactions, pins, mute and
//! mentions through the log, the shards and the cache (scenarios in
//! `common/reactions.rs`, `pins.rs`, `mute.rs`, `mentions.rs`).

#![cfg(feature = "distributed")]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::*;
use serde_json::json;

/// A writer, a fanout worker and a gateway, and the gateway's API.
fn one_of_each() -> (Cluster, Api) {
    let mut cl = Cluster::new();
    let gw = cl.start(1, 1, 1).remove(0);
    (cl, Api::new(gw).with_timeout(Duration::from_secs(30)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_the_chat_across_gateways_and_nobody_else() {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    cl.spawn("fanout", "fanout-0");
    let a = cl.spawn("gateway", "gw-0");
    let gw = Api::new(format!("http://{a}")).with_timeout(Duration::from_secs(30));
    common::live::typing_scenario(&gw, Duration::from_millis(500)).await;

    let b = cl.spawn("gateway", "gw-1");
    let other = Api::new(format!("http://{b}")).with_timeout(Duration::from_secs(30));
    let zoe = gw.register("zoe").await;
    let yan = gw.register("yan").await.via(&other);
    let g = zoe.group("two gateways", &[&yan]).await;
    let mut yan_ws = yan.ws().await;
    yan_ws.subscribe(&g, None).await;
    let mut zoe_ws = zoe.ws().await;
    zoe_ws.send(json!({"type": "typing", "chat_id": g})).await;
    let t = yan_ws.next_typing().await;
    assert_eq!((t.chat_id, t.user_id), (g, zoe.id.clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_across_gateways_and_after_one_dies() {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    cl.spawn("fanout", "fanout-0");
    let settings = [
        ("CHAT_PRESENCE_GROUP_LIMIT", "3"),
        ("CHAT_PRESENCE_HEARTBEAT_SECS", "1"),
    ];
    let a = cl.spawn_with("gateway", "gw-0", &settings);
    let b = cl.spawn_with("gateway", "gw-1", &settings);
    let gw = Api::new(format!("http://{a}")).with_timeout(Duration::from_secs(30));
    let other = Api::new(format!("http://{b}")).with_timeout(Duration::from_secs(30));
    common::live::presence_scenario(&gw, &other, Duration::from_millis(500)).await;

    // A gateway dies with a user's only connection: nobody says she left,
    // yet she goes offline once its last report expires (three heartbeats).
    let kim = gw.register("kim").await;
    let lou = gw.register("lou").await;
    let direct = kim.create_direct(&lou).await.created().id;
    let mut lou_ws = lou.ws().await.with_presence();
    lou_ws.subscribe(&direct, None).await;
    let _kim_ws = kim.via(&other).ws().await;
    let p = lou_ws
        .next_where(|f| match f {
            Frame::Presence(p) if p.user_id == kim.id => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(p.status, "online");
    cl.kill("gw-1");
    let died = std::time::Instant::now();
    let status = loop {
        lou_ws
            .send(json!({"type": "get_presence", "chat_id": direct}))
            .await;
        let list = lou_ws.next_presence_list().await;
        let kim_now = list.users.iter().find(|u| u.user_id == kim.id).cloned();
        let kim_now = kim_now.expect("kim listed");
        if kim_now.status != "online" || died.elapsed() > Duration::from_secs(20) {
            break kim_now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(status.status, "offline", "expired, not stuck online");
    assert!(status.last_seen.is_some());
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_through_the_log_and_the_shards() {
    let (cl, gw) = one_of_each();
    common::reactions::reactions_scenario(&gw).await;
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_through_the_log_and_the_cache() {
    let (cl, gw) = one_of_each();
    common::pins::pins_scenario(&gw).await;
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_on_the_users_shard_and_in_the_cache() {
    let (cl, gw) = one_of_each();
    common::mute::mute_scenario(&gw).await;
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_on_the_members_shards_and_in_the_cache() {
    let (cl, gw) = one_of_each();
    common::mentions::mentions_scenario(&gw).await;
    cl.cleanup().await;
}

//! Typing notices in distributed mode: straight through Redis pub/sub from
//! one gateway to subscribers on another (the scenario is `common/live.rs`).

#![cfg(feature = "distributed")]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::*;
use serde_json::json;

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

//! Profiles in distributed mode: the profile lives on the user's shard,
//! `user_updated` travels through Redis to contacts on another gateway, and
//! `sync_profiles` asks every shard (the scenario is `common/profiles.rs`).

#![cfg(feature = "distributed")]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_change_show_and_reach_contacts_across_gateways() {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    cl.spawn("fanout", "fanout-0");
    let a = cl.spawn("gateway", "gw-0");
    let gw = Api::new(format!("http://{a}")).with_timeout(Duration::from_secs(30));
    common::profiles::scenario(&gw, Duration::from_millis(500)).await;

    // Across gateways: a contact connected to the other one hears it.
    let b = cl.spawn("gateway", "gw-1");
    let other = Api::new(format!("http://{b}")).with_timeout(Duration::from_secs(30));
    let zoe = gw.register("zoe").await;
    let yan = gw.register("yan").await.via(&other);
    let g = zoe.group("two gateways", &[&yan]).await;
    let mut ws = yan.ws().await;
    ws.subscribe(&g, None).await;
    let u = zoe.put_avatar(common::profiles::png(64, 64)).await.ok();
    let seen = ws
        .next_where(|f| match f {
            Frame::UserUpdated(x) if x.user.id == zoe.id => Some(x.user),
            _ => None,
        })
        .await;
    assert_eq!(seen.avatar, u.avatar);
    let (st, _, _) = yan.avatar(&zoe.id).await;
    assert_eq!(st, 200, "served by the other gateway from the user's shard");
}

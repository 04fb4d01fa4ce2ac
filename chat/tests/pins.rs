//! Pinned messages on the standalone server (the scenario is
//! `common/pins.rs`, run in distributed mode too), and their bound.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_are_kept_by_the_chat_told_live_and_on_resume() {
    let s = TestServer::start().await;
    common::pins::pins_scenario(&s.api()).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_holds_at_most_fifty_pins() {
    let s = TestServer::start_with(|c| {
        c.gateway.rate_limits = Some("edit=off,send=off".into());
    })
    .await;
    let api = s.api();
    let ann = api.register("pinmax").await;
    let g = ann.group("many pins", &[]).await;
    for i in 1..=51u64 {
        ann.send(&g, &format!("k{i}"), "pin me").await.created();
    }
    for seq in 1..=50u64 {
        ann.pin(&g, seq).await.ok();
    }
    let refused = ann.pin(&g, 51).await.refused();
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (403, "quota_exceeded")
    );
    let pins = ann.chat(&g).await.ok().chat.pins;
    assert_eq!(pins.len(), 50);
    assert_eq!((pins[0], pins[49]), (50, 1), "the latest pinned first");
    // Room again once one goes.
    ann.unpin(&g, 1).await.ok();
    assert_eq!(ann.pin(&g, 51).await.ok().pins[0], 51);
    s.stop().await;
}

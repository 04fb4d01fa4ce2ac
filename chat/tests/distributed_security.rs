//! Rate limits across gateways (docs/security.md): in distributed mode the
//! counts live in Redis, so a client alternating between gateways gets no
//! more than through one.

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

//! Kafka clients that librdkafka leaves stuck (issue 12, item 6): a producer
//! in a fatal state fails every later send, and a consumer out of its group
//! while it believes itself subscribed leaves its partitions to nobody —
//! both have been seen after broker restarts. The roles replace such a
//! client and go on. Failpoints (feature `failpoints`) put the writer's
//! clients in those states.

#![cfg(all(feature = "distributed", feature = "failpoints"))]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::*;

/// A cluster whose one writer runs with the failpoint `var=value`.
async fn cluster(var: &str, value: &str) -> (Cluster, Client, String) {
    let mut cl = Cluster::new();
    cl.spawn("fanout", "fanout-0");
    let gw = format!("http://{}", cl.spawn("gateway", "gw-0"));
    cl.env.push((var.into(), value.into()));
    cl.spawn("writer", "writer-0");
    cl.env.retain(|(k, _)| k != var);
    let api = Api::new(&gw).with_timeout(Duration::from_secs(30));
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let chat = alice.group("g", &[&bob]).await;
    (cl, alice, chat)
}

/// Sends `key` until it is acknowledged (a send that times out is sent
/// again under the same key); panics after `within`.
async fn send_until_acked(alice: &Client, chat: &str, key: &str, within: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match alice.try_send(chat, key, key).await {
            Ok(r) if r.is_success() => return r.success().1.message.seq,
            Ok(r) => {
                let e = r.refused();
                assert!(
                    matches!(e.code.as_str(), "timeout" | "unavailable"),
                    "a failed send names its cause: {e:?}"
                );
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => panic!("the gateway stayed up, yet: {e:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} was never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn writer_log(cl: &Cluster) -> String {
    cl.procs["writer-0"].log_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_failed_fatally_is_replaced() {
    let (cl, alice, chat) = cluster("CHAT_FAILPOINT_KAFKA_PRODUCER_FATAL", "3").await;
    for (i, key) in ["k1", "k2", "k3", "k4", "k5"].iter().enumerate() {
        let seq = send_until_acked(&alice, &chat, key, Duration::from_secs(90)).await;
        assert_eq!(seq, i as u64 + 1, "dense");
    }
    let log = writer_log(&cl);
    assert!(
        log.contains("failpoint: the producer fails fatally"),
        "{log}"
    );
    assert!(log.contains("replaced by a new one"), "{log}");
    let h = alice.history_forward(&chat, 50).await;
    assert_eq!(seqs(&h), [1, 2, 3, 4, 5]);
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_out_of_its_group_is_replaced() {
    let (cl, alice, chat) = cluster("CHAT_FAILPOINT_KAFKA_DESERT_AFTER_SECS", "8").await;
    assert_eq!(
        send_until_acked(&alice, &chat, "before", Duration::from_secs(30)).await,
        1
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !writer_log(&cl).contains("failpoint: the consumer leaves its group silently") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failpoint fired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nobody holds the commands' partitions until the writer notices.
    assert_eq!(
        send_until_acked(&alice, &chat, "after", Duration::from_secs(120)).await,
        2
    );
    let log = writer_log(&cl);
    assert!(log.contains("replaced by a new one"), "{log}");
    let h = alice.history_forward(&chat, 50).await;
    assert_eq!(seqs(&h), [1, 2]);
    cl.cleanup().await;
}

//! A poison command in distributed mode (issue 12, item 6): a send the shards
//! keep refusing while they answer (a failpoint in the sharded store, feature
//! `failpoints`) is parked in `<commands>.dead` and answered `internal`; the
//! partition goes on, with dense sequence numbers, and nothing waits on it.

#![cfg(all(feature = "distributed", feature = "failpoints"))]

mod common;

use std::time::Duration;

use chat_core::ports::Log;
use common::cluster::Cluster;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_shards_keep_refusing_is_parked_and_the_chat_goes_on() {
    let mut cl = Cluster::new();
    cl.env
        .push(("CHAT_FAILPOINT_POISON".into(), "poison-".into()));
    let gw = cl.start(1, 1, 1).remove(0);
    let api = Api::new(&gw);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let chat = alice.group("g", &[&bob]).await;
    let mut ws = bob.ws().await;
    ws.subscribe(&chat, Some(0)).await;

    alice.send(&chat, "k1", "before").await.created();
    let refused = alice
        .send(&chat, "poison-1", "never stored")
        .await
        .refused();
    assert_eq!(refused, (500, "internal"), "the sender is told");
    let after = alice.send(&chat, "k2", "after").await.created();
    assert_eq!(after.message.seq, 2, "dense past the parked command");

    let mut seen = Vec::new();
    while seen.len() < 2 {
        match ws.next_within(Duration::from_secs(10)).await {
            Next::Frame(f) => {
                if let Frame::Message(m) = *f {
                    seen.push((m.message.seq, m.message.text));
                }
            }
            other => panic!("bob gets both messages live: {other:?}"),
        }
    }
    assert_eq!(seen, [(1, "before".into()), (2, "after".into())]);

    let dead = chat_core::dead_letters_topic(&cl.commands_topic);
    let kafka = chat_kafka::KafkaLog::connect(chat_kafka::KafkaConfig::new(&cl.kafka), &[])
        .await
        .unwrap();
    let mut consumer = kafka
        .consumer(&dead, &format!("probe-{}", cl.run))
        .await
        .unwrap();
    let mut parked = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while parked.is_empty() && tokio::time::Instant::now() < deadline {
        parked = consumer.poll(10, Duration::from_millis(500)).await.unwrap();
    }
    assert_eq!(parked.len(), 1, "the record is parked in {dead}");
    let rec: chat_core::wire::CommandRecord = serde_json::from_slice(&parked[0].payload).unwrap();
    assert!(
        matches!(rec.cmd, chat_core::wire::Command::Send { ref client_msg_id, .. } if client_msg_id == "poison-1")
    );
    drop(consumer);
    cl.cleanup().await;
}

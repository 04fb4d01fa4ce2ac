//! A writer killed after its commit and before its effects were produced:
//! its successor replays the uncommitted commands, finds them applied, and
//! must still publish them, so online members get the message live and the
//! cached chat catches up — in a quiet chat too, where no later message would
//! reveal the gap. The writer dies at that point through a failpoint (feature
//! `failpoints`).

#![cfg(all(feature = "distributed", feature = "failpoints"))]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::*;

const FAILPOINT: &str = "CHAT_FAILPOINT_EXIT_AFTER_COMMIT";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_committed_by_a_writer_that_died_before_producing_is_still_delivered() {
    let mut cl = Cluster::new();
    cl.spawn("fanout", "fanout-0");
    let gw = format!("http://{}", cl.spawn("gateway", "gw-0"));
    let api = Api::new(&gw);
    let mut writer = 0;
    let mut spawn_writer = |cl: &mut Cluster, failpoint: bool| {
        if failpoint {
            cl.env.push((FAILPOINT.into(), "crash-".into()));
        }
        let name = format!("writer-{writer}");
        writer += 1;
        cl.spawn("writer", &name);
        cl.env.retain(|(k, _)| k != FAILPOINT);
        name
    };
    let mut current = spawn_writer(&mut cl, false);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;

    for round in 0..2 {
        // A quiet chat: after the crash nothing else is sent to it.
        let chat = alice.group(&format!("quiet {round}"), &[&bob]).await;
        let mut ws = bob.ws().await;
        ws.subscribe(&chat, Some(0)).await;

        // The writer that will die: it takes over once the healthy one stops.
        cl.terminate(&current);
        current = spawn_writer(&mut cl, true);
        let key = format!("crash-{round}");
        let send = {
            let (alice, chat, key) = (alice.clone(), chat.clone(), key.clone());
            tokio::spawn(async move { alice.try_send(&chat, &key, "are you there?").await })
        };
        let status =
            tokio::task::block_in_place(|| cl.wait_exit(&current, Duration::from_secs(60)));
        assert_eq!(
            status.code(),
            Some(86),
            "the writer stopped at the failpoint"
        );
        // The sender was never answered (or timed out): the message is stored.
        let _ = send.await;
        let stored = cl.store().await;
        let history = chat_core::ports::Store::messages(
            &stored,
            chat_core::ChatId(chat.parse().unwrap()),
            chat_core::ports::HistoryPage::Latest { limit: 10 },
        )
        .await
        .unwrap();
        assert_eq!(history.len(), 1, "committed before the crash");
        assert_eq!(history[0].client_msg_id, key);
        let seq = history[0].seq;

        // A successor replays the batch: the message must now reach Bob live,
        // and the cached chat must show it.
        current = spawn_writer(&mut cl, false);
        let got = loop {
            match ws.next_within(Duration::from_secs(60)).await {
                Next::Frame(f) => {
                    if let Frame::Message(m) = *f {
                        break m;
                    }
                }
                Next::Timeout => {
                    panic!("the committed message was not delivered after the writer's crash")
                }
                Next::Closed(code) => panic!("Bob's connection closed ({code:?})"),
            }
        };
        assert_eq!(
            (got.message.chat_id.as_str(), got.message.seq),
            (chat.as_str(), seq)
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let entry = bob.chat(&chat).await.ok();
            if entry.chat.last_message.as_ref().map(|m| m.seq) == Some(seq) {
                assert_eq!(entry.unread, 1);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cached chat never showed the message: {entry:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Sending again with the same key answers the original.
        let again = alice.send(&chat, &key, "are you there?").await.ok();
        assert!(again.duplicate);
        assert_eq!(again.message.seq, seq);
    }
    cl.cleanup().await;
}

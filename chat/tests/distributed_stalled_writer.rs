//! Two writers on one partition (issue 12, item 2): a writer stopped
//! (SIGSTOP) past its session timeout loses its partitions to the other
//! writer, then wakes up (SIGCONT) with batches computed from its stale state.
//! Its epoch is older than the new owner's, so the shards refuse them: under
//! sends and membership changes, nothing acknowledged is lost, nothing is
//! stored twice, no sequence has a gap, no removed member comes back, and
//! every chat still takes messages afterwards.

#![cfg(feature = "distributed")]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_core::ports::{HistoryPage, Store};
use chat_core::{ChatId, UserId};
use common::cluster::Cluster;
use common::*;

/// What one chat's traffic had acknowledged when it stopped.
struct Acked {
    chat: String,
    keys: Vec<String>,
    /// Whether dave is a member after the last acknowledged change.
    dave_member: bool,
}

/// Calls until the call succeeds (a 5xx or a transport error is retried:
/// the writer of the chat's partition may be stopped; anything else fails
/// the test).
async fn until_ok(client: &Client, method: &str, path: &str, body: Option<serde_json::Value>) {
    loop {
        match client
            .api
            .try_call(method, path, Some(&client.token), body.clone())
            .await
        {
            Ok((s, _)) if (200..300).contains(&s) => return,
            Ok((s, body)) if s < 500 => panic!("{method} {path}: {s} {body}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Sends until the send is acknowledged.
async fn send_until_ok(client: &Client, chat: &str, key: &str) {
    let body = serde_json::json!({"client_msg_id": key, "text": "hello"});
    until_ok(
        client,
        "POST",
        &format!("/api/v1/chats/{chat}/messages"),
        Some(body),
    )
    .await;
}

/// Sends and toggles dave's membership in one chat until `stop`.
async fn traffic(alice: Client, dave: String, chat: String, stop: Arc<AtomicBool>) -> Acked {
    let mut acked = Acked {
        chat: chat.clone(),
        keys: Vec::new(),
        dave_member: true,
    };
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        if i % 4 == 0 {
            let (method, path, body) = if acked.dave_member {
                (
                    "DELETE",
                    format!("/api/v1/chats/{chat}/members/{dave}"),
                    None,
                )
            } else {
                (
                    "POST",
                    format!("/api/v1/chats/{chat}/members"),
                    Some(serde_json::json!({"user_id": dave})),
                )
            };
            until_ok(&alice, method, &path, body).await;
            acked.dave_member = !acked.dave_member;
        } else {
            let key = format!("{chat}-{i}");
            send_until_ok(&alice, &chat, &key).await;
            acked.keys.push(key);
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stalled_past_its_session_is_fenced_when_it_wakes_up() {
    let mut cl = Cluster::new();
    cl.spawn("fanout", "fanout-0");
    let gw = format!("http://{}", cl.spawn("gateway", "gw-0"));
    cl.spawn("writer", "writer-0");
    cl.spawn("writer", "writer-1");
    let api = Api::new(&gw);
    let alice = api.register("alice").await;
    let dave = api.register("dave").await;
    let mut chats = Vec::new();
    for i in 0..8 {
        chats.push(alice.group(&format!("g{i}"), &[&dave]).await);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = chats
        .iter()
        .map(|c| {
            tokio::spawn(traffic(
                alice.clone(),
                dave.id.to_string(),
                c.to_string(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Past the session timeout (6 s here): writer-1 takes every partition.
    cl.signal("writer-0", "STOP");
    tokio::time::sleep(Duration::from_secs(12)).await;
    cl.signal("writer-0", "CONT");
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.expect("traffic task"));
    }

    // Every chat still takes messages (no partition is wedged).
    for a in &acked {
        let key = format!("{}-after", a.chat);
        send_until_ok(&alice, &a.chat, &key).await;
    }

    let store = cl.store().await;
    let dave_id = UserId(dave.id.parse().unwrap());
    let dave_chats: HashSet<ChatId> = store
        .memberships(dave_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.chat_id)
        .collect();
    let mut total = 0;
    for a in &acked {
        let chat = ChatId(a.chat.parse().unwrap());
        let history = store
            .messages(
                chat,
                HistoryPage::After {
                    after: 0,
                    limit: 100_000,
                },
            )
            .await
            .unwrap();
        let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
        let dense: Vec<u64> = (1..=history.len() as u64).collect();
        assert_eq!(seqs, dense, "chat {}: sequence numbers are dense", a.chat);
        let keys: Vec<&str> = history.iter().map(|m| m.client_msg_id.as_str()).collect();
        let unique: HashSet<&str> = keys.iter().copied().collect();
        assert_eq!(
            unique.len(),
            keys.len(),
            "chat {}: a message stored twice",
            a.chat
        );
        for k in &a.keys {
            assert!(
                unique.contains(k.as_str()),
                "chat {}: acked {k} lost",
                a.chat
            );
        }
        let stored = store.chats(&[chat]).await.unwrap().remove(0);
        assert_eq!(
            stored.last_seq,
            history.len() as u64,
            "chat {}: the counters follow the messages",
            a.chat
        );
        let members = store.members(chat).await.unwrap();
        let member = members.iter().any(|m| m.user_id == dave_id);
        assert_eq!(
            (member, dave_chats.contains(&chat)),
            (a.dave_member, a.dave_member),
            "chat {}: dave's membership (chat side, user side) after the last acknowledged change",
            a.chat
        );
        total += a.keys.len();
    }
    let log = cl.procs["writer-0"].log_text();
    eprintln!(
        "{total} sends acked in {} chats; batches writer-0 had refused after waking: {}",
        acked.len(),
        log.matches("batch refused").count()
    );
    cl.cleanup().await;
}

/// The same, deterministic: the writer stops itself (a failpoint) after
/// evaluating "add dave" and before applying it. The other writer takes the
/// partition, replays the add, and then removes dave. When the first writer
/// continues, its stale batch (dave a member) must be refused, or it would
/// bring dave back on both sides.
#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_membership_batch_does_not_resurrect_a_removed_member() {
    let mut cl = Cluster::new();
    cl.spawn("fanout", "fanout-0");
    let gw = format!("http://{}", cl.spawn("gateway", "gw-0"));
    cl.env.push((
        "CHAT_FAILPOINT_STOP_BEFORE_APPLY".into(),
        "add_member".into(),
    ));
    cl.spawn("writer", "writer-0");
    cl.env
        .retain(|(k, _)| k != "CHAT_FAILPOINT_STOP_BEFORE_APPLY");
    let api = Api::new(&gw);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let dave = api.register("dave").await;
    let chat = alice.group("g", &[&bob]).await;
    alice.send(&chat, "before", "hi").await.created();

    // writer-0 evaluates the add and stops; the request waits.
    let add = {
        let (alice, chat, dave) = (alice.clone(), chat.clone(), dave.id.clone());
        tokio::spawn(async move {
            let path = format!("/api/v1/chats/{chat}/members");
            let body = serde_json::json!({"user_id": dave});
            alice
                .api
                .try_call("POST", &path, Some(&alice.token), Some(body))
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    // writer-1 takes the partition after writer-0's session times out and
    // replays the add; then dave is removed.
    cl.spawn("writer", "writer-1");
    let _ = add.await;
    let path = format!("/api/v1/chats/{chat}/members/{}", dave.id);
    until_ok(&alice, "DELETE", &path, None).await;
    let store = cl.store().await;
    let chat_id = ChatId(chat.parse().unwrap());
    let dave_id = UserId(dave.id.parse().unwrap());
    let is_member =
        |members: &[chat_core::model::Member]| members.iter().any(|m| m.user_id == dave_id);
    assert!(
        !is_member(&store.members(chat_id).await.unwrap()),
        "dave removed"
    );

    // writer-0 continues with its stale batch.
    cl.signal("writer-0", "CONT");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = cl.procs["writer-0"].log_text();
        if log.contains("failpoint: continued") {
            break log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "writer-0 did not continue: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Its batch is applied (or refused) right after it continues.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !is_member(&store.members(chat_id).await.unwrap()),
        "dave is brought back to the chat: {log}"
    );
    let lists = store.memberships(dave_id).await.unwrap();
    assert!(
        lists.iter().all(|m| m.chat_id != chat_id),
        "dave is brought back to his chat list"
    );
    assert!(
        cl.procs["writer-0"].log_text().contains("batch refused"),
        "writer-0's stale batch was refused: {}",
        cl.procs["writer-0"].log_text()
    );
    // And the chat goes on.
    alice.send(&chat, "after", "still here").await.created();
    cl.cleanup().await;
}

//! Restarting Kafka, a MariaDB shard and Redis during traffic: sends during an
//! outage either fail with a clear error or are acked and later delivered, and
//! nothing acked is lost. Restarts the services of `deploy/local` (its own test
//! binary, so no other test runs meanwhile).

#![cfg(feature = "distributed")]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::cluster::Cluster;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_kafka_a_shard_and_redis_loses_nothing_acked() {
    let mut cl = Cluster::new();
    let gws = cl.start(1, 1, 1);
    let api = Api::new(&gws[0]);
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mut chats = Vec::new();
    for i in 0..6 {
        chats.push(alice.group(&format!("f{i}"), &[&bob]).await);
    }

    // Bob watches every chat over a WebSocket, reconnecting and resuming, until
    // he holds every message (the targets are known at the end).
    let stop = Arc::new(AtomicBool::new(false));
    let targets: Arc<tokio::sync::OnceCell<std::collections::HashMap<String, u64>>> =
        Arc::default();
    let watcher = {
        let (chats, bob, targets) = (chats.clone(), bob.clone(), targets.clone());
        tokio::spawn(async move {
            let url = bob.api.ws_url();
            let mut got: std::collections::HashMap<String, Vec<u64>> = Default::default();
            'outer: loop {
                let Some(mut ws) = Ws::try_connect_raw(&url, Duration::from_secs(5)).await else {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue;
                };
                ws.auth(&bob.token).await;
                for c in &chats {
                    let since = got.get(c).and_then(|v| v.last().copied()).unwrap_or(0);
                    ws.send_subscribe(c, Some(since), None).await;
                }
                let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
                loop {
                    if let Some(t) = targets.get()
                        && chats.iter().all(|c| {
                            got.get(c).and_then(|v| v.last()).copied().unwrap_or(0) >= t[c]
                        })
                    {
                        break 'outer;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the watcher never caught up"
                    );
                    match ws.next_within(Duration::from_millis(500)).await {
                        Next::Frame(f) => {
                            if let Frame::Message(m) = *f {
                                got.entry(m.message.chat_id)
                                    .or_default()
                                    .push(m.message.seq);
                            }
                        }
                        Next::Timeout => {}
                        Next::Closed(_) => continue 'outer,
                    }
                }
            }
            got
        })
    };

    // Alice sends steadily; each send is acked, or fails with a clear error code.
    let acked = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        // A send the client gives up on after 30 s counts as a failure.
        let alice = alice.via(&Api::new(&gws[0]).with_timeout(Duration::from_secs(30)));
        let (chats, acked, failures, stop, sent) = (
            chats.clone(),
            acked.clone(),
            failures.clone(),
            stop.clone(),
            sent.clone(),
        );
        tokio::spawn(async move {
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let chat = &chats[k % chats.len()];
                let key = format!("k{k}");
                match alice.try_send(chat, &key, "during faults").await {
                    Ok(r) if r.is_success() => {
                        r.success();
                        acked.lock().unwrap().push((chat.clone(), key))
                    }
                    Ok(r) => {
                        let e = r.refused();
                        assert!(
                            matches!(e.code.as_str(), "unavailable" | "timeout")
                                && (e.status == 503 || e.status == 504),
                            "a failed send names its cause: {e:?}"
                        );
                        failures.lock().unwrap().push(e.code);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    // A send the client gave up on is not acknowledged: allowed,
                    // counted, and resent under a new key like any failed send.
                    Err(e) if e.is_timeout() => {
                        failures.lock().unwrap().push("client_timeout".into());
                    }
                    Err(e) => panic!("the gateway stayed up, yet: {e:?}"),
                }
                k += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let wait_acks = |n: usize| {
        let acked = acked.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
            while acked.lock().unwrap().len() < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "traffic did not resume"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_acks(100).await;
    for service in ["kafka", "shard1", "redis"] {
        Cluster::local("down.sh", service);
        tokio::time::sleep(Duration::from_secs(2)).await;
        Cluster::local("up.sh", service);
        let n = acked.lock().unwrap().len();
        wait_acks(n + 100).await;
    }
    stop.store(true, Ordering::Relaxed);
    sender.await.unwrap();

    // Nothing acked is lost; history is dense and has no duplicate.
    let acked = acked.lock().unwrap().clone();
    let mut last = std::collections::HashMap::new();
    for c in &chats {
        let h = alice.history_forward(c, 200).await;
        let n = h.len() as u64;
        assert_eq!(seqs(&h), (1..=n).collect::<Vec<_>>(), "dense seq in {c}");
        let keys: HashSet<&str> = h.iter().map(|m| m.client_msg_id.as_str()).collect();
        assert_eq!(keys.len(), h.len(), "no duplicate in {c}");
        for (chat, k) in acked.iter().filter(|(chat, _)| chat == c) {
            assert!(keys.contains(k.as_str()), "acked {k} in {chat} survived");
        }
        last.insert(c.clone(), n);
    }
    // The watcher ends up with every message, once, in order.
    targets.set(last.clone()).unwrap();
    let got = watcher.await.unwrap();
    for c in &chats {
        assert_eq!(
            got.get(c).cloned().unwrap_or_default(),
            (1..=last[c]).collect::<Vec<_>>(),
            "watcher holds 1..n of {c}"
        );
    }
    eprintln!(
        "faults: {} sent, {} acked, failures: {:?}",
        sent.load(Ordering::Relaxed),
        acked.len(),
        failures
            .lock()
            .unwrap()
            .iter()
            .fold(std::collections::BTreeMap::new(), |mut m, c| {
                *m.entry(c.clone()).or_insert(0) += 1;
                m
            })
    );
    cl.cleanup().await;
}

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
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMsg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_kafka_a_shard_and_redis_loses_nothing_acked() {
    let mut cl = Cluster::new();
    let gws = cl.start(1, 1, 1);
    let api = Api {
        client: reqwest::Client::new(),
        base: gws[0].clone(),
    };
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let mut chats = Vec::new();
    for i in 0..6 {
        chats.push(api.group(&alice, &format!("f{i}"), &[&bob]).await);
    }

    // Bob watches every chat over a WebSocket, reconnecting and resuming, until
    // he holds every message (the targets are known at the end).
    let stop = Arc::new(AtomicBool::new(false));
    let targets: Arc<tokio::sync::OnceCell<std::collections::HashMap<String, u64>>> =
        Arc::default();
    let watcher = {
        let (chats, bob, base, targets) =
            (chats.clone(), bob.clone(), gws[0].clone(), targets.clone());
        tokio::spawn(async move {
            let url = format!("{}/ws", base.replace("http://", "ws://"));
            let mut got: std::collections::HashMap<String, Vec<u64>> = Default::default();
            'outer: loop {
                let Ok(Ok((stream, _))) = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio_tungstenite::connect_async(&url),
                )
                .await
                else {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue;
                };
                use futures_util::StreamExt;
                let (tx, rx) = stream.split();
                let mut ws = Ws { tx, rx };
                ws.send(json!({"type": "auth", "token": bob.token})).await;
                for c in &chats {
                    let since = got.get(c).and_then(|v| v.last().copied()).unwrap_or(0);
                    ws.send(json!({"type": "subscribe", "chat_id": c, "since_seq": since}))
                        .await;
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
                    match ws.next_raw(Duration::from_millis(500)).await {
                        Some(Ok(WsMsg::Text(t))) => {
                            let v: Value = serde_json::from_str(t.as_str()).unwrap();
                            if v["type"] == "message" {
                                let m = &v["message"];
                                got.entry(m["chat_id"].as_str().unwrap().to_string())
                                    .or_default()
                                    .push(m["seq"].as_u64().unwrap());
                            }
                        }
                        Some(Err(e)) if e == "timeout" => {}
                        Some(Ok(WsMsg::Close(_))) | None | Some(Err(_)) => continue 'outer,
                        Some(Ok(_)) => {}
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
        let (api, alice, chats, acked, failures, stop, sent) = (
            api.clone(),
            alice.clone(),
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
                let r = api
                    .client
                    .post(format!("{}/api/v1/chats/{chat}/messages", api.base))
                    .bearer_auth(&alice.token)
                    .timeout(Duration::from_secs(30))
                    .json(&json!({"client_msg_id": key, "text": "during faults"}))
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().is_success() => {
                        acked.lock().unwrap().push((chat.clone(), key))
                    }
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body: Value = resp.json().await.unwrap_or(Value::Null);
                        let code = body["error"]["code"].as_str().unwrap_or("").to_string();
                        assert!(
                            matches!(code.as_str(), "unavailable" | "timeout")
                                && (status == 503 || status == 504),
                            "a failed send names its cause: {status} {body}"
                        );
                        failures.lock().unwrap().push(code);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    // A send the client gave up on is not acknowledged: allowed,
                    // counted, and resent under a new key like any failed send.
                    Err(e) if e.is_timeout() => {
                        failures.lock().unwrap().push("client_timeout".into());
                    }
                    Err(e) => panic!("the gateway stayed up, yet: {e}"),
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
        let h = api.history_forward(&alice, c, 200).await;
        let n = h.len() as u64;
        assert_eq!(seqs(&h), (1..=n).collect::<Vec<_>>(), "dense seq in {c}");
        let keys: HashSet<&str> = h
            .iter()
            .map(|m| m["client_msg_id"].as_str().unwrap())
            .collect();
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

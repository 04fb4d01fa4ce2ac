//! End-to-end behaviour of the standalone server: delivery order, history,
//! chat list and unread counts, idempotent sends, resume.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Reads frames until `n` messages of `chat` arrived; also counts acks.
async fn collect_messages(ws: &mut Ws, chat: &str, n: usize, acks: &mut usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let v = ws.next().await;
        match v["type"].as_str() {
            Some("message") if v["message"]["chat_id"] == chat => got.push(v["message"].clone()),
            Some("ack") => *acks += 1,
            Some("error") | Some("rejected") => panic!("unexpected {v}"),
            _ => {}
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_exchange_200_messages_in_order_with_history_and_unread() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let chat = api.group(&a, "pair", &[&b]).await;

    let mut wa = s.ws(&a.token).await;
    let mut wb = s.ws(&b.token).await;
    wa.subscribe(&chat, Some(0)).await;
    wb.subscribe(&chat, Some(0)).await;

    for i in 0..100 {
        wa.send(json!({"type": "send", "chat_id": chat, "client_msg_id": format!("a-{i}"), "text": format!("from alice {i}")})).await;
        wb.send(json!({"type": "send", "chat_id": chat, "client_msg_id": format!("b-{i}"), "text": format!("from bob {i}")})).await;
    }
    let (mut acks_a, mut acks_b) = (0, 0);
    let got_a = collect_messages(&mut wa, &chat, 200, &mut acks_a).await;
    let got_b = collect_messages(&mut wb, &chat, 200, &mut acks_b).await;
    let expect: Vec<u64> = (1..=200).collect();
    assert_eq!(
        seqs(&got_a),
        expect,
        "alice receives 1..200 in order, once each"
    );
    assert_eq!(
        seqs(&got_b),
        expect,
        "bob receives 1..200 in order, once each"
    );
    let ids: HashSet<&str> = got_a
        .iter()
        .map(|m| m["client_msg_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(got_a, got_b, "both see the same messages");
    while acks_a < 100 {
        if wa.next().await["type"] == "ack" {
            acks_a += 1;
        }
    }
    while acks_b < 100 {
        if wb.next().await["type"] == "ack" {
            acks_b += 1;
        }
    }

    // History, backwards and forwards, in pages of 30, is the same 200.
    let back = api.history_back(&a, &chat, 30).await;
    let fwd = api.history_forward(&b, &chat, 30).await;
    assert_eq!(seqs(&back), expect);
    assert_eq!(back, fwd);
    assert_eq!(back, got_a);

    // Chat list: last message 200; unread = last_seq - own cursor (own sends count as read).
    let last_own = |who: &str| {
        got_a
            .iter()
            .filter(|m| m["sender_id"] == who)
            .map(|m| m["seq"].as_u64().unwrap())
            .max()
            .unwrap()
    };
    for u in [&a, &b] {
        let e = api.chat_entry(u, &chat).await;
        assert_eq!(e["chat"]["last_message"]["seq"], 200);
        assert_eq!(e["chat"]["last_seq"], 200);
        assert_eq!(
            e["unread"].as_u64().unwrap(),
            200 - last_own(&u.id),
            "unread of {}",
            u.name
        );
    }
    let unread_sum: u64 = [&a, &b].iter().map(|u| 200 - last_own(&u.id)).sum();
    assert!(
        unread_sum > 0,
        "whoever did not send the last message has unread messages"
    );

    // Bob stops reading; Alice sends 5 more: Bob's unread grows by 5.
    let before = api.chat_entry(&b, &chat).await["unread"].as_u64().unwrap();
    for i in 0..5 {
        let (st, v) = api
            .call(
                "POST",
                &format!("/api/v1/chats/{chat}/messages"),
                Some(&a.token),
                Some(json!({"client_msg_id": format!("x{i}"), "text": "more"})),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
    assert_eq!(
        api.chat_entry(&b, &chat).await["unread"].as_u64().unwrap(),
        before + 5
    );
    // The cursor moves forward: unread drops...
    let (st, v) = api
        .call(
            "PUT",
            &format!("/api/v1/chats/{chat}/read"),
            Some(&b.token),
            Some(json!({"seq": 203})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["read_seq"], 203);
    assert_eq!(api.chat_entry(&b, &chat).await["unread"], 2);
    // ...and never goes back.
    let (st, v) = api
        .call(
            "PUT",
            &format!("/api/v1/chats/{chat}/read"),
            Some(&b.token),
            Some(json!({"seq": 3})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["read_seq"], 203);
    assert_eq!(api.chat_entry(&b, &chat).await["unread"], 2);
    let (st, _) = api
        .call(
            "PUT",
            &format!("/api/v1/chats/{chat}/read"),
            Some(&b.token),
            Some(json!({"seq": 205})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(api.chat_entry(&b, &chat).await["unread"], 0);
    // Bob's cursor reaches Alice's connection? No: it reaches Bob's other devices.
    let mut wb2 = s.ws(&b.token).await;
    let (st, _) = api
        .call(
            "PUT",
            &format!("/api/v1/chats/{chat}/read"),
            Some(&b.token),
            Some(json!({"seq": 205})),
        )
        .await;
    assert_eq!(st, 200);
    let r = wb2.next_of("read").await;
    assert_eq!(r["seq"], 205);
    assert_eq!(r["user_id"], b.id.as_str());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_client_msg_id_returns_the_original() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let chat = api.group(&a, "dedupe", &[&b]).await;
    let path = format!("/api/v1/chats/{chat}/messages");
    let body = json!({"client_msg_id": "same-1", "text": "hello"});

    let (s1, v1) = api
        .call("POST", &path, Some(&a.token), Some(body.clone()))
        .await;
    assert_eq!(s1, 201, "{v1}");
    assert_eq!(v1["duplicate"], false);
    let (s2, v2) = api
        .call("POST", &path, Some(&a.token), Some(body.clone()))
        .await;
    assert_eq!(s2, 200, "{v2}");
    assert_eq!(v2["duplicate"], true);
    assert_eq!(v1["message"], v2["message"], "the original comes back");

    // Racing resends: 8 concurrent sends with one key create one message.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let api = api.clone();
        let tok = a.token.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            api.call(
                "POST",
                &path,
                Some(&tok),
                Some(json!({"client_msg_id": "race-1", "text": "racing"})),
            )
            .await
        }));
    }
    let mut created = 0;
    let mut ids = HashSet::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert!(st == 201 || st == 200, "{st} {v}");
        if st == 201 {
            created += 1;
        }
        ids.insert(v["message"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(created, 1, "exactly one send creates the message");
    assert_eq!(ids.len(), 1, "every answer names the same message");

    // Over WebSocket too: the same key twice gives two acks for one message.
    let mut ws = s.ws(&a.token).await;
    for _ in 0..2 {
        ws.send(
            json!({"type": "send", "chat_id": chat, "client_msg_id": "ws-1", "text": "via ws"}),
        )
        .await;
    }
    let k1 = ws.next_of("ack").await;
    let k2 = ws.next_of("ack").await;
    assert_eq!(k1["seq"], k2["seq"]);
    assert_eq!(
        [
            k1["duplicate"].as_bool().unwrap(),
            k2["duplicate"].as_bool().unwrap()
        ]
        .iter()
        .filter(|d| **d)
        .count(),
        1
    );

    let hist = api.history_forward(&b, &chat, 100).await;
    assert_eq!(
        seqs(&hist),
        vec![1, 2, 3],
        "three distinct messages, dense seq"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_with_since_seq_gets_exactly_the_missed_messages_while_traffic_continues() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let chat = api.group(&a, "resume", &[&b]).await;

    let mut wa = s.ws(&a.token).await;
    let mut wb = s.ws(&b.token).await;
    wb.subscribe(&chat, Some(0)).await;
    for i in 0..10 {
        wa.send(json!({"type": "send", "chat_id": chat, "client_msg_id": format!("p{i}"), "text": "before"})).await;
    }
    let mut acks = 0;
    let first = collect_messages(&mut wb, &chat, 10, &mut acks).await;
    assert_eq!(seqs(&first), (1..=10).collect::<Vec<_>>());
    let held = 10;
    drop(wb);

    // 50 messages while Bob is away.
    for i in 0..50 {
        wa.send(json!({"type": "send", "chat_id": chat, "client_msg_id": format!("m{i}"), "text": format!("missed {i}")})).await;
    }
    let mut n = 0;
    while n < 60 {
        if wa.next().await["type"] == "ack" {
            n += 1;
        }
    }

    // Alice keeps sending while Bob resumes.
    let sender = {
        let api = api.clone();
        let a = a.clone();
        let chat = chat.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let (st, v) = api
                    .call(
                        "POST",
                        &format!("/api/v1/chats/{chat}/messages"),
                        Some(&a.token),
                        Some(json!({"client_msg_id": format!("live{i}"), "text": "live"})),
                    )
                    .await;
                assert_eq!(st, 201, "{v}");
            }
        })
    };
    let mut wb = s.ws(&b.token).await;
    let (sub, replayed) = wb.subscribe(&chat, Some(held)).await;
    assert!(sub["last_seq"].as_u64().unwrap() >= 60);
    let mut all = replayed;
    assert!(all.len() >= 50, "at least the 50 missed ones are replayed");
    sender.await.unwrap();
    let total = 10 + 50 + 40;
    let mut acks = 0;
    let rest = collect_messages(&mut wb, &chat, total - held as usize - all.len(), &mut acks).await;
    all.extend(rest);
    assert_eq!(
        seqs(&all),
        ((held + 1)..=(total as u64)).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    // Nothing more arrives.
    wb.send(json!({"type": "ping"})).await;
    assert_eq!(wb.next().await["type"], "pong");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_history_and_direct_chats_are_unique() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let (s1, c1) = api
        .call(
            "POST",
            "/api/v1/chats",
            Some(&a.token),
            Some(json!({"kind": "direct", "members": [b.id]})),
        )
        .await;
    assert_eq!(s1, 201, "{c1}");
    let (s2, c2) = api
        .call(
            "POST",
            "/api/v1/chats",
            Some(&b.token),
            Some(json!({"kind": "direct", "members": [a.id]})),
        )
        .await;
    assert_eq!(s2, 200, "the same direct chat comes back: {c2}");
    assert_eq!(c1["id"], c2["id"]);
    let chat = c1["id"].as_str().unwrap().to_string();
    for i in 0..20 {
        let (st, _) = api
            .call(
                "POST",
                &format!("/api/v1/chats/{chat}/messages"),
                Some(&b.token),
                Some(json!({"client_msg_id": format!("k{i}"), "text": "x"})),
            )
            .await;
        assert_eq!(st, 201);
    }
    let s = s.restart().await;
    let api = s.api();
    let a = api.login("alice").await;
    let e = api.chat_entry(&a, &chat).await;
    assert_eq!(e["unread"], 20);
    assert_eq!(e["chat"]["kind"], "direct");
    assert_eq!(
        seqs(&api.history_forward(&a, &chat, 7).await),
        (1..=20).collect::<Vec<_>>()
    );
    // Ids are strings and users can be looked up.
    let (st, u) = api
        .call("GET", "/api/v1/users/by-name/bob", Some(&a.token), None)
        .await;
    assert_eq!(st, 200);
    assert!(u["id"].is_string());
    let (st, users) = api
        .call(
            "GET",
            &format!("/api/v1/users?ids={},{}", a.id, u["id"].as_str().unwrap()),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let names: HashMap<String, String> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(names.len(), 2);
    tokio::time::sleep(Duration::from_millis(10)).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_since_pts_brings_every_change_made_while_away() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let c = api.register("carol").await;
    let chat = api.group(&a, "changes", &[&b]).await;
    let msgs = format!("/api/v1/chats/{chat}/messages");
    for i in 0..5 {
        let (st, _) = api
            .call(
                "POST",
                &msgs,
                Some(&a.token),
                Some(json!({"client_msg_id": format!("m{i}"), "text": format!("v1 {i}")})),
            )
            .await;
        assert_eq!(st, 201);
    }
    // Bob holds 1..5 and the change position of the last thing he saw.
    let mut wb = s.ws(&b.token).await;
    let (sub, held) = wb.subscribe(&chat, Some(0)).await;
    assert_eq!(seqs(&held), vec![1, 2, 3, 4, 5]);
    let held_pts = sub["last_pts"].as_u64().unwrap();
    assert!(held_pts >= 5);
    drop(wb);

    // While he is away: an edit, a delete, a new member, a role change, two messages.
    let (st, _) = api
        .call(
            "PATCH",
            &format!("{msgs}/2"),
            Some(&a.token),
            Some(json!({"text": "v2"})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = api
        .call("DELETE", &format!("{msgs}/3"), Some(&a.token), None)
        .await;
    assert_eq!(st, 200);
    let (st, _) = api
        .call(
            "POST",
            &format!("/api/v1/chats/{chat}/members"),
            Some(&a.token),
            Some(json!({"user_id": c.id})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = api
        .call(
            "PATCH",
            &format!("/api/v1/chats/{chat}/members/{}", c.id),
            Some(&a.token),
            Some(json!({"role": "moder"})),
        )
        .await;
    assert_eq!(st, 200);
    for i in 5..7 {
        let (st, _) = api
            .call(
                "POST",
                &msgs,
                Some(&a.token),
                Some(json!({"client_msg_id": format!("m{i}"), "text": "new"})),
            )
            .await;
        assert_eq!(st, 201);
    }

    let mut wb = s.ws(&b.token).await;
    wb.send(json!({"type": "subscribe", "chat_id": chat, "since_seq": 5, "since_pts": held_pts}))
        .await;
    let sub = wb.next_of("subscribed").await;
    let mut frames = Vec::new();
    loop {
        let v = wb.next().await;
        if v["type"] == "synced" {
            break;
        }
        frames.push(v);
    }
    let kinds: Vec<String> = frames
        .iter()
        .map(|f| match f["type"].as_str().unwrap() {
            "message" => format!("message {}", f["message"]["seq"]),
            t => t.to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "message 2",
            "message 3",
            "member_added",
            "role_changed",
            "message 6",
            "message 7"
        ],
        "changes in pts order, then the missed messages"
    );
    assert_eq!(frames[0]["message"]["text"], "v2");
    assert_eq!(frames[1]["message"]["deleted"], true);
    assert_eq!(frames[2]["user_id"], c.id.as_str());
    assert_eq!(frames[3]["role"], "moder");
    // Positions only grow, and the newest is the chat's.
    let pts: Vec<u64> = frames
        .iter()
        .map(|f| f["pts"].as_u64().or(f["message"]["pts"].as_u64()).unwrap())
        .collect();
    assert!(pts[..4].windows(2).all(|w| w[0] < w[1]));
    assert_eq!(pts.iter().max().copied(), sub["last_pts"].as_u64());
    s.stop().await;
}

//! End-to-end behaviour of the standalone server: delivery order, history,
//! chat list and unread counts, idempotent sends, resume.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;

/// Reads frames until `n` messages of `chat` arrived; also counts acks.
async fn collect_messages(ws: &mut Ws, chat: &str, n: usize, acks: &mut usize) -> Vec<Message> {
    let mut got = Vec::new();
    while got.len() < n {
        match ws.next().await {
            Frame::Message(m) if m.message.chat_id == chat => got.push(m.message),
            Frame::Ack(_) => *acks += 1,
            f @ (Frame::Error(_) | Frame::Rejected(_)) => panic!("unexpected {f:?}"),
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
    let chat = a.group("pair", &[&b]).await;

    let mut wa = a.ws().await;
    let mut wb = b.ws().await;
    wa.subscribe(&chat, Some(0)).await;
    wb.subscribe(&chat, Some(0)).await;

    for i in 0..100 {
        wa.send_message(&chat, &format!("a-{i}"), &format!("from alice {i}"))
            .await;
        wb.send_message(&chat, &format!("b-{i}"), &format!("from bob {i}"))
            .await;
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
    let ids: HashSet<&str> = got_a.iter().map(|m| m.client_msg_id.as_str()).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(got_a, got_b, "both see the same messages");
    while acks_a < 100 {
        if let Frame::Ack(_) = wa.next().await {
            acks_a += 1;
        }
    }
    while acks_b < 100 {
        if let Frame::Ack(_) = wb.next().await {
            acks_b += 1;
        }
    }

    // History, backwards and forwards, in pages of 30, is the same 200.
    let back = a.history_back(&chat, 30).await;
    let fwd = b.history_forward(&chat, 30).await;
    assert_eq!(seqs(&back), expect);
    assert_eq!(back, fwd);
    assert_eq!(back, got_a);

    // Chat list: last message 200; unread = last_seq - own cursor (own sends count as read).
    let last_own = |who: &str| {
        got_a
            .iter()
            .filter(|m| m.sender_id == who)
            .map(|m| m.seq)
            .max()
            .unwrap()
    };
    for u in [&a, &b] {
        let e = u.chat_entry(&chat).await;
        assert_eq!(e.chat.last_message.as_ref().map(|m| m.seq), Some(200));
        assert_eq!(e.chat.last_seq, 200);
        assert_eq!(e.unread, 200 - last_own(&u.id), "unread of {}", u.name);
    }
    let unread_sum: u64 = [&a, &b].iter().map(|u| 200 - last_own(&u.id)).sum();
    assert!(
        unread_sum > 0,
        "whoever did not send the last message has unread messages"
    );

    // Bob stops reading; Alice sends 5 more: Bob's unread grows by 5.
    let before = b.chat_entry(&chat).await.unread;
    for i in 0..5 {
        a.send(&chat, &format!("x{i}"), "more").await.created();
    }
    assert_eq!(b.chat_entry(&chat).await.unread, before + 5);
    // The cursor moves forward: unread drops...
    assert_eq!(b.read(&chat, 203).await.ok().read_seq, 203);
    assert_eq!(b.chat_entry(&chat).await.unread, 2);
    // ...and never goes back.
    assert_eq!(b.read(&chat, 3).await.ok().read_seq, 203);
    assert_eq!(b.chat_entry(&chat).await.unread, 2);
    b.read(&chat, 205).await.ok();
    assert_eq!(b.chat_entry(&chat).await.unread, 0);
    // Bob's cursor reaches Alice's connection? No: it reaches Bob's other devices.
    let mut wb2 = b.ws().await;
    b.read(&chat, 205).await.ok();
    let r = wb2.next_read().await;
    assert_eq!(r.seq, 205);
    assert_eq!(r.user_id, b.id);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_client_msg_id_returns_the_original() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let chat = a.group("dedupe", &[&b]).await;

    let v1 = a.send(&chat, "same-1", "hello").await.created();
    assert!(!v1.duplicate);
    let v2 = a.send(&chat, "same-1", "hello").await.ok();
    assert!(v2.duplicate);
    assert_eq!(v1.message, v2.message, "the original comes back");

    // Racing resends: 8 concurrent sends with one key create one message.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (a, chat) = (a.clone(), chat.clone());
        tasks.push(tokio::spawn(async move {
            a.send(&chat, "race-1", "racing").await.success()
        }));
    }
    let mut created = 0;
    let mut ids = HashSet::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert!(st == 201 || st == 200, "{st} {v:?}");
        if st == 201 {
            created += 1;
        }
        ids.insert(v.message.id);
    }
    assert_eq!(created, 1, "exactly one send creates the message");
    assert_eq!(ids.len(), 1, "every answer names the same message");

    // Over WebSocket too: the same key twice gives two acks for one message.
    let mut ws = a.ws().await;
    for _ in 0..2 {
        ws.send_message(&chat, "ws-1", "via ws").await;
    }
    let k1 = ws.next_ack().await;
    let k2 = ws.next_ack().await;
    assert!(k1.seq.is_some());
    assert_eq!(k1.seq, k2.seq);
    assert_eq!(
        [k1.duplicate, k2.duplicate].iter().filter(|d| **d).count(),
        1
    );

    let hist = b.history_forward(&chat, 100).await;
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
    let chat = a.group("resume", &[&b]).await;

    let mut wa = a.ws().await;
    let mut wb = b.ws().await;
    wb.subscribe(&chat, Some(0)).await;
    for i in 0..10 {
        wa.send_message(&chat, &format!("p{i}"), "before").await;
    }
    let mut acks = 0;
    let first = collect_messages(&mut wb, &chat, 10, &mut acks).await;
    assert_eq!(seqs(&first), (1..=10).collect::<Vec<_>>());
    let held = 10;
    drop(wb);

    // 50 messages while Bob is away.
    for i in 0..50 {
        wa.send_message(&chat, &format!("m{i}"), &format!("missed {i}"))
            .await;
    }
    let mut n = 0;
    while n < 60 {
        if let Frame::Ack(_) = wa.next().await {
            n += 1;
        }
    }

    // Alice keeps sending while Bob resumes.
    let sender = {
        let (a, chat) = (a.clone(), chat.clone());
        tokio::spawn(async move {
            for i in 0..40 {
                a.send(&chat, &format!("live{i}"), "live").await.created();
            }
        })
    };
    let mut wb = b.ws().await;
    let (sub, replayed) = wb.subscribe(&chat, Some(held)).await;
    assert!(sub.last_seq >= 60);
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
    wb.ping().await;
    assert_eq!(wb.next().await, Frame::Pong(Pong {}));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_history_and_direct_chats_are_unique() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let c1 = a.create_direct(&b).await.created();
    let c2 = b.create_direct(&a).await.ok();
    assert_eq!(c1.id, c2.id, "the same direct chat comes back");
    let chat = c1.id;
    for i in 0..20 {
        b.send(&chat, &format!("k{i}"), "x").await.created();
    }
    let s = s.restart().await;
    let api = s.api();
    let a = api.login("alice").await;
    let e = a.chat_entry(&chat).await;
    assert_eq!(e.unread, 20);
    assert_eq!(e.chat.kind, ChatKind::Direct);
    assert_eq!(
        seqs(&a.history_forward(&chat, 7).await),
        (1..=20).collect::<Vec<_>>()
    );
    // Ids are strings and users can be looked up.
    let u = a.user_by_name("bob").await.ok();
    assert_eq!(u.id, b.id);
    let users = a.users(&[&a.id, &u.id]).await.ok();
    let names: HashMap<String, String> = users.into_iter().map(|u| (u.id, u.name)).collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[&b.id], "bob");
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
    let chat = a.group("changes", &[&b]).await;
    for i in 0..5 {
        a.send(&chat, &format!("m{i}"), &format!("v1 {i}"))
            .await
            .created();
    }
    // Bob holds 1..5 and the change position of the last thing he saw.
    let mut wb = b.ws().await;
    let (sub, held) = wb.subscribe(&chat, Some(0)).await;
    assert_eq!(seqs(&held), vec![1, 2, 3, 4, 5]);
    let held_pts = sub.last_pts;
    assert!(held_pts >= 5);
    drop(wb);

    // While he is away: an edit, a delete, a new member, a role change, two messages.
    a.edit(&chat, 2, "v2").await.ok();
    a.delete(&chat, 3).await.ok();
    a.add_member(&chat, &c.id, None).await.ok();
    a.set_role(&chat, &c.id, Role::Moder).await.ok();
    for i in 5..7 {
        a.send(&chat, &format!("m{i}"), "new").await.created();
    }

    let mut wb = b.ws().await;
    wb.send_subscribe(&chat, Some(5), Some(held_pts)).await;
    let sub = wb.next_subscribed().await;
    let mut frames = Vec::new();
    loop {
        match wb.next().await {
            Frame::Synced(_) => break,
            f => frames.push(f),
        }
    }
    let kinds: Vec<String> = frames
        .iter()
        .map(|f| match f {
            Frame::Message(m) => format!("message {}", m.message.seq),
            f => f.kind().to_string(),
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
    let (
        Frame::Message(m2),
        Frame::Message(m3),
        Frame::MemberAdded(added),
        Frame::RoleChanged(role),
    ) = (&frames[0], &frames[1], &frames[2], &frames[3])
    else {
        unreachable!("checked by kind above");
    };
    assert_eq!(m2.message.text, "v2");
    assert!(m3.message.deleted);
    assert_eq!(added.user_id, c.id);
    assert_eq!(role.role, Role::Moder);
    // Positions only grow, and the newest is the chat's.
    let pts: Vec<u64> = frames.iter().map(|f| f.pts().expect("pts")).collect();
    assert!(pts[..4].windows(2).all(|w| w[0] < w[1]));
    assert_eq!(pts.iter().max().copied(), Some(sub.last_pts));
    s.stop().await;
}

/// Issue 12, item 5: a retried `POST /chats` (the answer was lost) must not
/// create a second group. With the same `client_chat_id` it answers the group
/// created the first time.
#[tokio::test]
async fn creating_a_group_again_with_its_client_chat_id_answers_the_first_group() {
    let s = TestServer::start().await;
    let api = s.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let create = |key: &str| {
        serde_json::json!({
            "kind": "group",
            "title": "trip",
            "members": [bob.id],
            "client_chat_id": key,
        })
    };
    let (status, first) = alice
        .call("POST", "/api/v1/chats", Some(create("trip-1")))
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = alice
        .call("POST", "/api/v1/chats", Some(create("trip-1")))
        .await;
    assert_eq!((status, &again["id"]), (200, &first["id"]), "{again}");
    let (status, other) = alice
        .call("POST", "/api/v1/chats", Some(create("trip-2")))
        .await;
    assert_eq!(status, 201, "another key, another group");
    assert_ne!(other["id"], first["id"]);
    let (status, bobs) = bob
        .call("POST", "/api/v1/chats", Some(create("trip-1")))
        .await;
    assert_eq!(status, 201, "the key is the creator's own");
    assert_ne!(bobs["id"], first["id"]);
    let trips = |list: ChatList| list.chats.iter().filter(|c| c.chat.title == "trip").count();
    assert_eq!(
        trips(alice.chats().await.ok()),
        2,
        "alice's two groups, each once"
    );
    assert_eq!(trips(bob.chats().await.ok()), 3, "and bob's own");

    for bad in ["", "has space", &"k".repeat(65)] {
        let (status, e) = alice.call("POST", "/api/v1/chats", Some(create(bad))).await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some("invalid_client_chat_id")),
            "{bad:?}: {e}"
        );
    }
}

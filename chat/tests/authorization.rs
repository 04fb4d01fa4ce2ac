//! Edit, delete, roles and membership: who may do what, and how refusals look.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_and_delete_keep_seq_reach_subscribers_and_respect_roles() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let c = api.register("carol").await;
    let d = api.register("dave").await;
    let chat = api.group(&a, "roles", &[&b]).await;
    let msgs = format!("/api/v1/chats/{chat}/messages");

    let mut wb = s.ws(&b.token).await;
    wb.subscribe(&chat, None).await;

    let (st, m1) = api
        .call(
            "POST",
            &msgs,
            Some(&a.token),
            Some(json!({"client_msg_id": "1", "text": "original"})),
        )
        .await;
    assert_eq!(st, 201, "{m1}");
    let (st, _) = api
        .call(
            "POST",
            &msgs,
            Some(&b.token),
            Some(json!({"client_msg_id": "2", "text": "bob's", "reply_to_seq": 1})),
        )
        .await;
    assert_eq!(st, 201);
    assert_eq!(wb.next_of("message").await["message"]["seq"], 1);
    let m2 = wb.next_of("message").await;
    assert_eq!(m2["message"]["reply_to_seq"], 1);

    // Only the author edits.
    let (st, v) = api
        .call(
            "PATCH",
            &format!("{msgs}/1"),
            Some(&b.token),
            Some(json!({"text": "hijack"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (st, v) = api
        .call(
            "PATCH",
            &format!("{msgs}/1"),
            Some(&a.token),
            Some(json!({"text": "edited"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["message"]["seq"], 1);
    let ev = wb.next_of("edited").await;
    assert_eq!(
        (ev["seq"].as_u64(), ev["text"].as_str()),
        (Some(1), Some("edited"))
    );

    // A member cannot delete someone else's message; a moderator can.
    let (st, v) = api
        .call("DELETE", &format!("{msgs}/1"), Some(&b.token), None)
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (st, v) = api
        .call(
            "PATCH",
            &format!("/api/v1/chats/{chat}/members/{}", b.id),
            Some(&a.token),
            Some(json!({"role": "moder"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(wb.next_of("role_changed").await["role"], "moder");
    let (st, v) = api
        .call("DELETE", &format!("{msgs}/1"), Some(&b.token), None)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(wb.next_of("deleted").await["seq"], 1);
    // Deleted messages cannot be edited; deleting again is a no-op.
    let (st, v) = api
        .call(
            "PATCH",
            &format!("{msgs}/1"),
            Some(&a.token),
            Some(json!({"text": "again"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("message_deleted")),
        "{v}"
    );
    let (st, _) = api
        .call("DELETE", &format!("{msgs}/1"), Some(&a.token), None)
        .await;
    assert_eq!(st, 200);

    // History shows the edit and the delete at their seq.
    let h = api.history_forward(&a, &chat, 50).await;
    assert_eq!(seqs(&h), vec![1, 2]);
    assert_eq!(h[0]["deleted"], true);
    assert_eq!(h[0]["text"], "");
    assert!(h[0]["edited_at"].is_i64());
    assert_eq!(h[1]["text"], "bob's");

    // A silent member reads but cannot post.
    let (st, v) = api
        .call(
            "POST",
            &format!("/api/v1/chats/{chat}/members"),
            Some(&a.token),
            Some(json!({"user_id": c.id, "role": "silent"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = api
        .call(
            "POST",
            &msgs,
            Some(&c.token),
            Some(json!({"client_msg_id": "c1", "text": "may I?"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("silenced")),
        "{v}"
    );
    let (st, _) = api.call("GET", &msgs, Some(&c.token), None).await;
    assert_eq!(st, 200, "silent members read");
    let mut wc = s.ws(&c.token).await;
    wc.send(json!({"type": "send", "chat_id": chat, "client_msg_id": "c2", "text": "ws"}))
        .await;
    let e = wc.next_of("error").await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("silenced"), Some("c2"))
    );
    // A moderator cannot make an admin; members cannot add.
    let (st, v) = api
        .call(
            "POST",
            &format!("/api/v1/chats/{chat}/members"),
            Some(&b.token),
            Some(json!({"user_id": d.id, "role": "admin"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (st, v) = api
        .call(
            "POST",
            &format!("/api/v1/chats/{chat}/members"),
            Some(&c.token),
            Some(json!({"user_id": d.id})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );

    // A non-member can neither read, subscribe nor post.
    let (st, v) = api.call("GET", &msgs, Some(&d.token), None).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("not_member")),
        "{v}"
    );
    let (st, v) = api
        .call(
            "POST",
            &msgs,
            Some(&d.token),
            Some(json!({"client_msg_id": "d1", "text": "hi"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("not_member")),
        "{v}"
    );
    let (st, v) = api
        .call(
            "GET",
            &format!("/api/v1/chats/{chat}"),
            Some(&d.token),
            None,
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("not_member")),
        "{v}"
    );
    let mut wd = s.ws(&d.token).await;
    wd.send(json!({"type": "subscribe", "chat_id": chat, "since_seq": 0}))
        .await;
    assert_eq!(wd.next_of("error").await["code"], "not_member");
    wd.send(json!({"type": "send", "chat_id": chat, "client_msg_id": "d2", "text": "hi"}))
        .await;
    assert_eq!(wd.next_of("error").await["code"], "not_member");
    wd.send(json!({"type": "forward", "from_chat_id": chat, "seq": 2, "to_chat_id": chat, "client_msg_id": "d3"})).await;
    assert_eq!(wd.next_of("error").await["code"], "not_member");
    // Nothing of that changed the chat.
    assert_eq!(seqs(&api.history_forward(&a, &chat, 50).await), vec![1, 2]);

    // Removing a member stops their access; they are told on their channel.
    let (st, v) = api
        .call(
            "DELETE",
            &format!("/api/v1/chats/{chat}/members/{}", c.id),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(wc.next_of("member_removed").await["user_id"], c.id.as_str());
    let (st, _) = api.call("GET", &msgs, Some(&c.token), None).await;
    assert_eq!(st, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_and_membership_events_reach_the_right_people() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let c = api.register("carol").await;
    let src = api.group(&a, "source", &[&b]).await;
    let dst = api.group(&a, "target", &[&c]).await;
    let (st, _) = api
        .call(
            "POST",
            &format!("/api/v1/chats/{src}/messages"),
            Some(&b.token),
            Some(json!({"client_msg_id": "s1", "text": "worth sharing"})),
        )
        .await;
    assert_eq!(st, 201);

    // Carol is connected but not in `source`: she sees the forward in `target`.
    let mut wc = s.ws(&c.token).await;
    wc.subscribe(&dst, None).await;
    let mut wa = s.ws(&a.token).await;
    wa.send(json!({"type": "forward", "from_chat_id": src, "seq": 1, "to_chat_id": dst, "client_msg_id": "f1"})).await;
    let ack = wa.next_of("ack").await;
    assert_eq!(ack["client_msg_id"], "f1");
    let m = wc.next_of("message").await["message"].clone();
    assert_eq!(m["text"], "worth sharing");
    assert_eq!(m["forwarded_from"]["chat_id"], src.as_str());
    assert_eq!(m["forwarded_from"]["sender_id"], b.id.as_str());
    // Carol cannot forward from a chat she is not in.
    wc.send(json!({"type": "forward", "from_chat_id": src, "seq": 1, "to_chat_id": dst, "client_msg_id": "f2"})).await;
    assert_eq!(wc.next_of("error").await["code"], "not_member");

    // Adding Carol to `source` subscribes her open connection to it at once.
    let (st, _) = api
        .call(
            "POST",
            &format!("/api/v1/chats/{src}/members"),
            Some(&a.token),
            Some(json!({"user_id": c.id})),
        )
        .await;
    assert_eq!(st, 200);
    let added = wc.next_of("member_added").await;
    assert_eq!(added["chat"]["id"], src.as_str());
    let (st, _) = api
        .call(
            "POST",
            &format!("/api/v1/chats/{src}/messages"),
            Some(&b.token),
            Some(json!({"client_msg_id": "s2", "text": "welcome"})),
        )
        .await;
    assert_eq!(st, 201);
    let m = wc.next_of("message").await["message"].clone();
    assert_eq!(
        (m["chat_id"].as_str(), m["seq"].as_u64()),
        (Some(src.as_str()), Some(2))
    );
    // A new group shows up live for its members.
    let g = api.group(&b, "new", &[&c]).await;
    let created = wc.next_of("chat_created").await;
    assert_eq!(created["chat"]["id"], g.as_str());
    // The chat list has all three, newest first.
    let (st, list) = api.call("GET", "/api/v1/chats", Some(&c.token), None).await;
    assert_eq!(st, 200);
    let ids: Vec<&str> = list["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["chat"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.contains(&g.as_str()) && ids.contains(&src.as_str()) && ids.contains(&dst.as_str())
    );
    s.stop().await;
}

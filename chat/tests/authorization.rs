//! Edit, delete, roles and membership: who may do what, and how refusals look.

mod common;

use common::*;

/// A server and three users: alice, bob and carol.
async fn alice_bob_carol() -> (TestServer, Api, [Client; 3]) {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let c = api.register("carol").await;
    (s, api, [a, b, c])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_and_delete_keep_seq_reach_subscribers_and_respect_roles() {
    let (s, api, [a, b, c]) = alice_bob_carol().await;
    let d = api.register("dave").await;
    let chat = a.group("roles", &[&b]).await;

    let mut wb = b.ws().await;
    wb.subscribe(&chat, None).await;

    let m1 = a.send(&chat, "1", "original").await.created();
    assert_eq!((m1.message.seq, m1.duplicate), (1, false));
    b.reply(&chat, "2", "bob's", 1).await.created();
    assert_eq!(wb.next_message().await.message.seq, 1);
    let m2 = wb.next_message().await;
    assert_eq!(m2.message.reply_to_seq, Some(1));

    // Only the author edits.
    assert_eq!(
        b.edit(&chat, 1, "hijack").await.refused(),
        (403, "forbidden")
    );
    let v = a.edit(&chat, 1, "edited").await.ok();
    assert_eq!(v.message.seq, 1);
    let ev = wb.next_edited().await;
    assert_eq!((ev.seq, ev.text.as_str()), (1, "edited"));

    // A member cannot delete someone else's message; a moderator can.
    assert_eq!(b.delete(&chat, 1).await.refused(), (403, "forbidden"));
    a.set_role(&chat, &b.id, Role::Moder).await.ok();
    assert_eq!(wb.next_role_changed().await.role, Role::Moder);
    b.delete(&chat, 1).await.ok();
    assert_eq!(wb.next_deleted().await.seq, 1);
    // Deleted messages cannot be edited; deleting again is a no-op.
    assert_eq!(
        a.edit(&chat, 1, "again").await.refused(),
        (409, "message_deleted")
    );
    a.delete(&chat, 1).await.ok();

    // History shows the edit and the delete at their seq.
    let h = a.history_forward(&chat, 50).await;
    assert_eq!(seqs(&h), vec![1, 2]);
    assert!(h[0].deleted);
    assert_eq!(h[0].text, "");
    assert!(h[0].edited_at.is_some());
    assert_eq!(h[1].text, "bob's");

    // A silent member reads but cannot post.
    a.add_member(&chat, &c.id, Some(Role::Silent)).await.ok();
    assert_eq!(
        c.send(&chat, "c1", "may I?").await.refused(),
        (403, "silenced")
    );
    c.messages(&chat, "").await.ok();
    let mut wc = c.ws().await;
    wc.send_message(&chat, "c2", "ws").await;
    let e = wc.next_error().await;
    assert_eq!(
        (e.code.as_str(), e.reference.as_deref()),
        ("silenced", Some("c2"))
    );
    // A moderator cannot make an admin; members cannot add.
    assert_eq!(
        b.add_member(&chat, &d.id, Some(Role::Admin))
            .await
            .refused(),
        (403, "forbidden")
    );
    assert_eq!(
        c.add_member(&chat, &d.id, None).await.refused(),
        (403, "forbidden")
    );

    // A non-member can neither read, subscribe nor post.
    assert_eq!(d.messages(&chat, "").await.refused(), (403, "not_member"));
    assert_eq!(
        d.send(&chat, "d1", "hi").await.refused(),
        (403, "not_member")
    );
    assert_eq!(d.chat(&chat).await.refused(), (403, "not_member"));
    let mut wd = d.ws().await;
    wd.send_subscribe(&chat, Some(0), None).await;
    assert_eq!(wd.next_error().await.code, "not_member");
    wd.send_message(&chat, "d2", "hi").await;
    assert_eq!(wd.next_error().await.code, "not_member");
    wd.forward(&chat, 2, &chat, "d3").await;
    assert_eq!(wd.next_error().await.code, "not_member");
    // Nothing of that changed the chat.
    assert_eq!(seqs(&a.history_forward(&chat, 50).await), vec![1, 2]);

    // Removing a member stops their access; they are told on their channel.
    a.remove_member(&chat, &c.id).await.ok();
    assert_eq!(wc.next_member_removed().await.user_id, c.id);
    assert_eq!(c.messages(&chat, "").await.refused().status, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_and_membership_events_reach_the_right_people() {
    let (s, _, [a, b, c]) = alice_bob_carol().await;
    let src = a.group("source", &[&b]).await;
    let dst = a.group("target", &[&c]).await;
    b.send(&src, "s1", "worth sharing").await.created();

    // Carol is connected but not in `source`: she sees the forward in `target`.
    let mut wc = c.ws().await;
    wc.subscribe(&dst, None).await;
    let mut wa = a.ws().await;
    wa.forward(&src, 1, &dst, "f1").await;
    let ack = wa.next_ack().await;
    assert_eq!(ack.client_msg_id.as_deref(), Some("f1"));
    let m = wc.next_message().await.message;
    assert_eq!(m.text, "worth sharing");
    let from = m.forwarded_from.expect("forwarded_from");
    assert_eq!(from.chat_id, src);
    assert_eq!(from.sender_id, b.id);
    // Carol cannot forward from a chat she is not in.
    wc.forward(&src, 1, &dst, "f2").await;
    assert_eq!(wc.next_error().await.code, "not_member");

    // Adding Carol to `source` subscribes her open connection to it at once.
    a.add_member(&src, &c.id, None).await.ok();
    let added = wc.next_member_added().await;
    assert_eq!(added.chat.id, src);
    b.send(&src, "s2", "welcome").await.created();
    let m = wc.next_message().await.message;
    assert_eq!((m.chat_id.as_str(), m.seq), (src.as_str(), 2));
    // A new group shows up live for its members.
    let g = b.group("new", &[&c]).await;
    let created = wc.next_chat_created().await;
    assert_eq!(created.chat.id, g);
    // The chat list has all three, newest first.
    let list = c.chats().await.ok();
    let ids: Vec<&str> = list.chats.iter().map(|e| e.chat.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.contains(&g.as_str()) && ids.contains(&src.as_str()) && ids.contains(&dst.as_str())
    );
    s.stop().await;
}

/// Issue 12, item 5 (decided: a rejection is not remembered): a send refused
/// because its sender is not a member, sent again with the same key once they
/// are, is accepted — judged afresh, not answered with the old refusal.
#[tokio::test]
async fn a_rejected_send_sent_again_after_the_reason_is_gone_is_accepted() {
    let s = TestServer::start().await;
    let api = s.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let chat = alice.group("g", &[]).await;
    assert_eq!(
        bob.send(&chat, "k1", "hello?").await.refused(),
        (403, "not_member")
    );
    alice.add_member(&chat, &bob.id, None).await.ok();
    let sent = bob.send(&chat, "k1", "hello?").await.created();
    assert!(!sent.duplicate);
    assert_eq!(
        sent.message.seq, 1,
        "nothing was stored by the refused send"
    );
}

/// A group stays governed: its last admin may not leave while others remain
/// (`last_admin`, 409) until another member is admin, and nobody else removes
/// its creator or changes the creator's role (403) — the creator may leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_hands_over_before_leaving_and_the_creator_is_kept() {
    let (s, _, [a, b, c]) = alice_bob_carol().await;
    let chat = a.group("governed", &[&b, &c]).await;

    assert_eq!(
        a.remove_member(&chat, &a.id).await.refused(),
        (409, "last_admin"),
        "the only admin may not leave the others without one"
    );
    a.set_role(&chat, &b.id, Role::Admin).await.ok();
    // Another admin may neither remove the creator nor change her role.
    assert_eq!(
        b.remove_member(&chat, &a.id).await.refused(),
        (403, "forbidden")
    );
    assert_eq!(
        b.set_role(&chat, &a.id, Role::Member).await.refused(),
        (403, "forbidden")
    );
    // With another admin, the creator may leave; bob is then the last admin.
    a.remove_member(&chat, &a.id).await.ok();
    assert_eq!(
        b.remove_member(&chat, &b.id).await.refused(),
        (409, "last_admin")
    );
    // Carol leaves; alone, the last admin may leave too.
    c.remove_member(&chat, &c.id).await.ok();
    b.remove_member(&chat, &b.id).await.ok();
    let members = b.members(&chat).await;
    assert_eq!(members.refused(), (403, "not_member"));
    s.stop().await;
}

/// A ban removes a member and bars them from being added again — by a
/// moderator or an admin — until an admin lifts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_member_is_not_added_again_until_an_admin_lifts_the_ban() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("alice").await;
    let m = api.register("mod").await;
    let b = api.register("bob").await;
    let c = api.register("carol").await;
    let chat = a.group("banning", &[&m, &b, &c]).await;
    a.set_role(&chat, &m.id, Role::Moder).await.ok();
    let bans = format!("/api/v1/chats/{chat}/bans");
    let ban = |who: &Client, user: &str| {
        let path = format!("/api/v1/chats/{chat}/members/{user}?ban=true");
        let who = who.clone();
        async move { who.call("DELETE", &path, None).await }
    };

    // A moderator bans bob: removed, and listed.
    assert_eq!(ban(&m, &b.id).await.0, 200);
    assert_eq!(b.members(&chat).await.refused(), (403, "not_member"));
    let (status, list) = a.call("GET", &bans, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["bans"][0]["user_id"], b.id.as_str());
    assert_eq!(list["bans"][0]["banned_by"], m.id.as_str());
    // Nobody adds him again, admins included.
    for who in [&m, &a] {
        assert_eq!(
            who.add_member(&chat, &b.id, None).await.refused(),
            (403, "banned")
        );
    }
    // Members neither see the bans nor lift them; moderators do not lift them.
    assert_eq!(c.call("GET", &bans, None).await.0, 403);
    let unban = format!("{bans}/{}", b.id);
    assert_eq!(c.call("DELETE", &unban, None).await.0, 403);
    assert_eq!(m.call("DELETE", &unban, None).await.0, 403);
    // A moderator cannot ban an admin, nobody bans the creator or themselves.
    a.set_role(&chat, &c.id, Role::Admin).await.ok();
    assert_eq!(ban(&m, &c.id).await.0, 403);
    assert_eq!(ban(&c, &a.id).await.0, 403);
    assert_eq!(ban(&c, &c.id).await.0, 403);
    // An admin lifts the ban; bob can be added again (and is not banned
    // when he leaves).
    assert_eq!(a.call("DELETE", &unban, None).await.0, 200);
    assert_eq!(
        a.call("GET", &bans, None).await.1["bans"],
        serde_json::json!([])
    );
    m.add_member(&chat, &b.id, None).await.ok();
    b.send(&chat, "back", "I'm back").await.created();
    b.remove_member(&chat, &b.id).await.ok();
    m.add_member(&chat, &b.id, None).await.ok();
    // A former member is banned by the same rules: the creator, gone, by
    // nobody.
    a.remove_member(&chat, &a.id).await.ok();
    assert_eq!(ban(&m, &a.id).await.0, 403);
    // Bad input changes nothing.
    let bad = format!("/api/v1/chats/{chat}/members/{}?ban=maybe", b.id);
    assert_eq!(a.call("DELETE", &bad, None).await.0, 400);
    assert!(b.members(&chat).await.is_success());
    s.stop().await;
}

/// A user blocks another: no direct messages from them (over HTTP or
/// WebSocket), no new direct chat, no adding into groups by them — until
/// unblocked. Others are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_user_cannot_message_or_add_the_blocker() {
    let (s, _, [a, b, c]) = alice_bob_carol().await;
    let dm = a.create_direct(&b).await.created().id;
    b.send(&dm, "b0", "hi alice").await.created();

    let block = |who: &Client, user: &str, method: &'static str| {
        let (who, path) = (who.clone(), format!("/api/v1/me/blocks/{user}"));
        async move { who.call(method, &path, None).await.0 }
    };
    assert_eq!(block(&a, &b.id, "PUT").await, 204);
    assert_eq!(block(&a, &b.id, "PUT").await, 204, "blocking twice is fine");
    let (status, list) = a.call("GET", "/api/v1/me/blocks", None).await;
    assert_eq!(
        (status, list["blocked"].clone()),
        (200, serde_json::json!([b.id]))
    );

    assert_eq!(
        b.send(&dm, "b1", "hello?").await.refused(),
        (403, "blocked")
    );
    let mut ws = b.ws().await;
    ws.send_message(&dm, "b2", "anyone?").await;
    match ws.next().await {
        Frame::Rejected(r) => assert_eq!(r.code, "blocked"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // Nor by rewriting his earlier messages.
    assert_eq!(
        b.edit(&dm, 1, "rewritten").await.refused(),
        (403, "blocked")
    );
    // The blocker may still write; the history has nothing of bob's after
    // the block.
    a.send(&dm, "a1", "not you").await.created();
    let texts: Vec<String> = a
        .history_forward(&dm, 50)
        .await
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["hi alice", "not you"]);

    // No adding alice into groups, at creation or after.
    assert_eq!(
        b.create_group("with alice", &[&a]).await.refused(),
        (403, "blocked")
    );
    let group = b.group("without alice", &[&c]).await;
    assert_eq!(
        b.add_member(&group, &a.id, None).await.refused(),
        (403, "blocked")
    );
    // Carol, not blocked, may add her.
    b.set_role(&group, &c.id, Role::Admin).await.ok();
    c.add_member(&group, &a.id, None).await.ok();

    // A new direct chat with a blocker is refused too; one the blocker
    // opens keeps the block.
    assert_eq!(block(&c, &b.id, "PUT").await, 204);
    assert_eq!(b.create_direct(&c).await.refused(), (403, "blocked"));
    let cb = c.create_direct(&b).await.created().id;
    assert_eq!(
        b.send(&cb, "c1", "hi carol").await.refused(),
        (403, "blocked")
    );

    // Unblocked, bob writes again.
    assert_eq!(block(&a, &b.id, "DELETE").await, 204);
    b.send(&dm, "b3", "back").await.created();
    // Bad input: oneself, nobody, not an id.
    assert_eq!(block(&a, &a.id, "PUT").await, 403);
    assert_eq!(block(&a, "12345", "PUT").await, 404);
    assert_eq!(block(&a, "x", "PUT").await, 400);
    s.stop().await;
}

/// Leaving a direct chat takes it out of one's list, and nothing else: the
/// other is not told and may still write, which brings it back with only the
/// new message unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_direct_chat_hides_it_until_the_other_writes() {
    let (s, _, [a, b, c]) = alice_bob_carol().await;
    let dm = a.create_direct(&b).await.created().id;
    b.send(&dm, "b1", "one").await.created();
    b.send(&dm, "b2", "two").await.created();
    let listed = |who: &Client| {
        let who = who.clone();
        async move {
            who.chats()
                .await
                .ok()
                .chats
                .into_iter()
                .map(|e| (e.chat.id, e.unread))
                .collect::<Vec<_>>()
        }
    };
    let mut a_ws = a.ws().await;
    a_ws.subscribe(&dm, None).await;
    let mut b_ws = b.ws().await;
    b_ws.subscribe(&dm, None).await;

    a.remove_member(&dm, &a.id).await.ok();
    assert_eq!(a_ws.next_chat_hidden().await.chat_id, dm);
    assert!(listed(&a).await.is_empty(), "out of alice's list");
    assert_eq!(listed(&b).await, [(dm.clone(), 0)], "bob's list unchanged");
    // Leaving again is no error; removing the other, or a ban, is refused.
    a.remove_member(&dm, &a.id).await.ok();
    assert_eq!(
        a.remove_member(&dm, &b.id).await.refused(),
        (400, "direct_chat")
    );
    let ban = format!("/api/v1/chats/{dm}/members/{}?ban=true", b.id);
    assert_eq!(a.call("DELETE", &ban, None).await.0, 400);
    // A stranger cannot "leave" it on someone's behalf, nor learn it exists.
    assert_eq!(
        c.remove_member(&dm, &c.id).await.refused(),
        (404, "chat_not_found")
    );
    // Bob saw nothing and may still write: it comes back to alice, with
    // the new message the only unread one, announced before it.
    b_ws.ping().await;
    assert!(
        matches!(b_ws.next().await, Frame::Pong(_)),
        "bob is not told"
    );
    b.send(&dm, "b3", "still there?").await.created();
    let shown = a_ws.next_chat_shown().await;
    assert_eq!(
        (shown.chat.id.as_str(), shown.chat.last_seq),
        (dm.as_str(), 2)
    );
    assert_eq!(a_ws.next_message().await.message.seq, 3);
    assert_eq!(listed(&a).await, [(dm.clone(), 1)]);
    // Alice, with no connection following it, leaves and opens it again:
    // back, read up to where it is.
    drop(a_ws);
    a.remove_member(&dm, &a.id).await.ok();
    assert!(listed(&a).await.is_empty());
    a.create_direct(&b).await.ok();
    assert_eq!(listed(&a).await, [(dm.clone(), 0)]);
    // History stays readable to both throughout.
    assert_eq!(a.history_forward(&dm, 10).await.len(), 3);
    s.stop().await;
}

/// A group may show new members only what is sent after they join: in
/// history pages, in a resume's replay and for forwards; members named at
/// creation see everything, and an admin may change the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_members_see_history_from_their_join_when_the_group_says_so() {
    let (s, _, [a, b, c]) = alice_bob_carol().await;
    let body = serde_json::json!({"kind": "group", "title": "fresh starts", "members": [c.id], "history": "from_join"});
    let (status, chat) = a.call("POST", "/api/v1/chats", Some(body)).await;
    assert_eq!(status, 201, "{chat}");
    let g = chat["id"].as_str().unwrap().to_string();
    for i in 1..=3 {
        a.send(&g, &format!("before{i}"), &format!("before {i}"))
            .await
            .created();
    }
    a.add_member(&g, &b.id, None).await.ok();
    for i in 4..=5 {
        a.send(&g, &format!("after{i}"), &format!("after {i}"))
            .await
            .created();
    }
    let seqs = |msgs: Vec<Message>| msgs.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(b.history_forward(&g, 2).await), [4, 5]);
    assert_eq!(seqs(b.history_back(&g, 2).await), [4, 5]);
    assert_eq!(
        seqs(c.history_forward(&g, 10).await),
        [1, 2, 3, 4, 5],
        "named at creation"
    );
    let view = b.call("GET", &format!("/api/v1/chats/{g}"), None).await.1;
    assert_eq!(view["history"], "from_join");
    // A resume from the beginning replays only what follows the join.
    let mut ws = b.ws().await;
    let (_, replayed) = ws.subscribe(&g, Some(0)).await;
    assert_eq!(seqs(replayed), [4, 5]);
    // Nor does a resume by change position.
    let mut by_pts = b.ws().await;
    by_pts.send_subscribe(&g, None, Some(0)).await;
    let mut resumed = Vec::new();
    loop {
        match by_pts.next().await {
            Frame::Message(m) => resumed.push(m.message.seq),
            Frame::Synced(_) => break,
            _ => {}
        }
    }
    assert!(resumed.iter().all(|s| *s > 3), "replayed {resumed:?}");
    // Edits of earlier messages do not reach him live either (their text
    // would tell what he may not read); edits of later ones do.
    a.edit(&g, 1, "secret edit").await.ok();
    a.edit(&g, 4, "visible edit").await.ok();
    let edited = ws
        .next_where(|f| match f {
            Frame::Edited(e) => Some(e),
            _ => None,
        })
        .await;
    assert_eq!((edited.seq, edited.text.as_str()), (4, "visible edit"));
    // Nor can an earlier message be forwarded out.
    let own = b.group("bob's", &[]).await;
    let fwd = serde_json::json!({"to_chat_id": own, "client_msg_id": "f"});
    let (status, body) = b
        .call(
            "POST",
            &format!("/api/v1/chats/{g}/messages/1/forward"),
            Some(fwd),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("message_not_found"))
    );
    // Only admins change the setting; set back to all, bob sees everything.
    let all = serde_json::json!({"history": "all"});
    assert_eq!(
        b.call("PATCH", &format!("/api/v1/chats/{g}"), Some(all.clone()))
            .await
            .0,
        403
    );
    assert_eq!(
        a.call("PATCH", &format!("/api/v1/chats/{g}"), Some(all))
            .await
            .0,
        200
    );
    assert_eq!(seqs(b.history_forward(&g, 10).await), [1, 2, 3, 4, 5]);
    // A group with the default shows new members everything.
    let open = a.group("open", &[]).await;
    a.send(&open, "o1", "old news").await.created();
    a.add_member(&open, &c.id, None).await.ok();
    assert_eq!(seqs(c.history_forward(&open, 10).await), [1]);
    s.stop().await;
}

/// No answer says whether two users share a direct chat: its id follows from
/// theirs, so to anyone else every request about it — over HTTP and
/// WebSocket, reads, sends and membership changes alike — is answered
/// exactly as for a chat that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_chat_of_others_is_answered_as_no_chat() {
    let (s, _, [a, b, c]) = alice_bob_carol().await;
    let dm = a.create_direct(&b).await.created().id;
    a.send(&dm, "1", "between us").await.created();
    let nowhere = "4611686018427387904".to_string();
    assert_ne!(dm, nowhere);

    let own = c.group("carol's", &[]).await;
    let forward = serde_json::json!({"to_chat_id": own, "client_msg_id": "f"});
    let member = serde_json::json!({"user_id": c.id});
    let role = serde_json::json!({"role": "member"});
    let send = serde_json::json!({"client_msg_id": "x", "text": "hi"});
    let read = serde_json::json!({"seq": 1});
    for (method, path, body) in [
        ("GET", "messages", None),
        ("POST", "messages", Some(send)),
        (
            "PATCH",
            "messages/1",
            Some(serde_json::json!({"text": "edit"})),
        ),
        ("DELETE", "messages/1", None),
        ("POST", "messages/1/forward", Some(forward)),
        ("GET", "members", None),
        ("POST", "members", Some(member)),
        ("DELETE", &format!("members/{}", b.id), None),
        ("PATCH", &format!("members/{}", b.id), Some(role)),
        ("PUT", "read", Some(read)),
        ("GET", "", None),
    ] {
        let at = |chat: &str| {
            if path.is_empty() {
                format!("/api/v1/chats/{chat}")
            } else {
                format!("/api/v1/chats/{chat}/{path}")
            }
        };
        // Each answer has its own request id; all else must be the same.
        let answer = |(status, mut body): (u16, serde_json::Value)| {
            if let Some(e) = body["error"].as_object_mut() {
                assert!(e.remove("request_id").is_some(), "{e:?}");
            }
            (status, body)
        };
        let theirs = answer(c.call(method, &at(&dm), body.clone()).await);
        let none = answer(c.call(method, &at(&nowhere), body).await);
        assert_eq!(
            theirs, none,
            "{method} {path}: the same answer as for no chat"
        );
        assert_eq!(theirs.0, 404, "{method} {path}: {theirs:?}");
    }
    // Over WebSocket: subscribing and sending.
    let mut ws = c.ws().await;
    let mut answers = Vec::new();
    for chat in [&dm, &nowhere] {
        ws.send_subscribe(chat, None, None).await;
        let sub = ws
            .next_where(|f| match f {
                Frame::Error(e) => Some((e.code, e.message)),
                _ => None,
            })
            .await;
        ws.send_message(chat, "w", "hi").await;
        let sent = ws
            .next_where(|f| match f {
                Frame::Rejected(r) => Some((r.code, r.message)),
                Frame::Error(e) => Some((e.code, e.message)),
                _ => None,
            })
            .await;
        answers.push((sub, sent));
    }
    assert_eq!(answers[0], answers[1], "the same frames as for no chat");
    assert_eq!(answers[0].0.0, "chat_not_found");
    s.stop().await;
}

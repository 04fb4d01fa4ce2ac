//! Ephemeral chat state as users meet it, in either mode: typing notices
//! reach the chat's subscribers (the typist's other devices too) and nobody
//! else, repeats within a second are dropped, and only members who may post
//! send them; presence follows connections across devices, under the
//! user's privacy setting. `live.rs` runs it standalone, `distributed_live.rs` on the
//! distributed roles.

use std::time::Duration;

use serde_json::json;

use super::*;

fn typing_of(frames: &[Frame]) -> Vec<Typing> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Typing(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The whole scenario; `wait` is how long a publish may take to arrive.
pub async fn typing_scenario(api: &Api, wait: Duration) {
    let ann = api.register("ann").await;
    let ben = api.register("ben").await;
    let sam = api.register("sam").await;
    let eve = api.register("eve").await;
    let g = ann.group("typists", &[&ben, &sam]).await;
    ann.set_role(&g, &sam.id, Role::Silent).await.ok();
    let other = eve.group("elsewhere", &[]).await;

    let mut ben_ws = ben.ws().await;
    ben_ws.subscribe(&g, None).await;
    let mut ann_other = ann.ws().await;
    ann_other.subscribe(&g, None).await;
    let mut eve_ws = eve.ws().await;
    eve_ws.subscribe(&other, None).await;
    let mut ann_ws = ann.ws().await;

    // Told to the chat's subscribers, the typist's other device included.
    ann_ws.send(json!({"type": "typing", "chat_id": g})).await;
    let t = ben_ws.next_typing().await;
    assert_eq!(
        (t.chat_id.as_str(), t.user_id.as_str()),
        (g.as_str(), ann.id.as_str())
    );
    assert_eq!(t.expires_in_ms, 6_000);
    assert_eq!(ann_other.next_typing().await.user_id, ann.id);

    // Repeats within a second are dropped quietly (no answer, no error).
    for _ in 0..5 {
        ann_ws.send(json!({"type": "typing", "chat_id": g})).await;
    }
    let answered = ann_ws.until_pong().await;
    assert!(
        answered.is_empty(),
        "nothing answers a typing notice: {answered:?}"
    );
    tokio::time::sleep(wait).await;
    let heard = ben_ws.until_pong().await;
    assert!(
        typing_of(&heard).is_empty(),
        "repeats are dropped: {heard:?}"
    );
    // After a second, the next one goes out again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    ann_ws.send(json!({"type": "typing", "chat_id": g})).await;
    assert_eq!(ben_ws.next_typing().await.user_id, ann.id);

    // Who may not: a silent member, a stranger, for a chat that does not exist.
    let mut sam_ws = sam.ws().await;
    sam_ws
        .send(json!({"type": "typing", "chat_id": g, "ref": "t1"}))
        .await;
    let e = sam_ws.next_error().await;
    assert_eq!(e.code, "silenced");
    assert_eq!(
        e.reference.as_deref(),
        Some("t1"),
        "the refusal names the notice"
    );
    let mut eve_typing = eve.ws().await;
    eve_typing
        .send(json!({"type": "typing", "chat_id": g}))
        .await;
    assert_eq!(eve_typing.next_error().await.code, "not_member");
    eve_typing
        .send(json!({"type": "typing", "chat_id": "123456789"}))
        .await;
    assert_eq!(eve_typing.next_error().await.code, "chat_not_found");
    eve_typing
        .send(json!({"type": "typing", "chat_id": "x"}))
        .await;
    assert_eq!(eve_typing.next_error().await.code, "invalid_id");

    // Nobody else heard anything, and nothing was stored.
    tokio::time::sleep(wait).await;
    let heard = eve_ws.until_pong().await;
    assert!(
        typing_of(&heard).is_empty(),
        "a stranger hears no typing: {heard:?}"
    );
    let heard = ben_ws.until_pong().await;
    assert!(
        typing_of(&heard).is_empty(),
        "refused notices go nowhere: {heard:?}"
    );
    let page = ben.messages(&g, "").await.ok();
    assert!(page.messages.is_empty(), "typing is never stored");
    let (_, replayed) = {
        let mut again = ben.ws().await;
        again.subscribe(&g, Some(0)).await
    };
    assert!(replayed.is_empty(), "nor replayed");
}

/// `get_presence` over the WebSocket.
async fn presence_of(ws: &mut Ws, chat: &str) -> PresenceList {
    ws.send(json!({"type": "get_presence", "chat_id": chat, "ref": "p"}))
        .await;
    let list = ws.next_presence_list().await;
    assert_eq!(
        (list.chat_id.as_str(), list.reference.as_deref()),
        (chat, Some("p"))
    );
    list
}

fn status_in(list: &PresenceList, user: &str) -> (String, Option<i64>) {
    let u = list
        .users
        .iter()
        .find(|u| u.user_id == user)
        .unwrap_or_else(|| panic!("{user} not listed: {list:?}"));
    (u.status.clone(), u.last_seen)
}

/// The next `presence` of `user` in `chat` (others skipped).
async fn next_presence_of(ws: &mut Ws, chat: &str, user: &str) -> PresenceFrame {
    ws.next_where(|f| match f {
        Frame::Presence(p) if p.chat_id == chat && p.user_id == user => Some(p),
        _ => None,
    })
    .await
}

/// Presence frames of `user` among `frames`.
fn presence_frames(frames: &[Frame], user: &str) -> Vec<PresenceFrame> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Presence(p) if p.user_id == user => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Presence as users meet it, with the presence group limit at 3: two
/// devices (on `api` and `second`, two gateways in distributed mode) count
/// once; offline with a last-seen time once both close; the privacy
/// setting; a group above the limit gets counts only; a non-member learns
/// nothing. `wait`: how long a publish may take to arrive.
pub async fn presence_scenario(api: &Api, second: &Api, wait: Duration) {
    let ann = api.register("pia").await;
    let ben = api.register("pib").await;
    let cat = api.register("pic").await;
    let dan = api.register("pid").await;
    let direct = ann.create_direct(&ben).await.created().id;
    let small = ann.group("small", &[&ben, &cat]).await;
    let big = ann.group("big", &[&ben, &cat, &dan]).await;

    let mut ben_ws = ben.ws().await.with_presence();
    for chat in [&direct, &small, &big] {
        ben_ws.subscribe(chat, None).await;
    }
    let mut cat_ws = cat.ws().await.with_presence();
    cat_ws.subscribe(&small, None).await;

    // Never seen: nothing to show yet.
    tokio::time::sleep(wait).await;
    let list = presence_of(&mut ben_ws, &small).await;
    assert_eq!(status_in(&list, &ann.id).0, "hidden", "{list:?}");
    assert_eq!(status_in(&list, &ben.id).0, "online", "one sees oneself");

    // Ann's first device: her direct chat and the small group are told.
    let mut ann_one = ann.ws().await;
    let p = next_presence_of(&mut ben_ws, &direct, &ann.id).await;
    assert_eq!((p.status.as_str(), p.last_seen), ("online", None));
    let p = next_presence_of(&mut ben_ws, &small, &ann.id).await;
    assert_eq!(p.status, "online");
    // The big group gets its count instead, within a few seconds.
    let count = ben_ws
        .next_where(|f| match f {
            Frame::OnlineCount(c) if c.chat_id == big && c.online >= 3 => Some(c),
            _ => None,
        })
        .await;
    assert_eq!(count.online, 3, "ann, ben and cat; not dan");
    let list = presence_of(&mut ben_ws, &big).await;
    assert!(list.users.is_empty(), "above the limit: a count only");
    assert_eq!(list.online, 3);
    let list = presence_of(&mut ben_ws, &small).await;
    assert_eq!(status_in(&list, &ann.id).0, "online");
    assert_eq!(list.online, 3);
    let (code, body) = ben
        .call("GET", &format!("/api/v1/chats/{small}/presence"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_id"] == ann.id.as_str() && u["status"] == "online"),
        "{body}"
    );

    // A second device, elsewhere: she was online already.
    let ann_two = ann.via(second).ws().await;
    tokio::time::sleep(wait).await;
    ann_one.until_pong().await;
    drop(ann_one);
    tokio::time::sleep(wait).await;
    let heard = ben_ws.until_pong().await;
    assert!(
        presence_frames(&heard, &ann.id).is_empty(),
        "a second device and one of two closing change nothing: {heard:?}"
    );
    let list = presence_of(&mut ben_ws, &small).await;
    assert_eq!(status_in(&list, &ann.id).0, "online");

    // The last one closes: offline, last seen now.
    let before = chat_core::now_ms();
    drop(ann_two);
    let p = next_presence_of(&mut ben_ws, &direct, &ann.id).await;
    assert_eq!(p.status, "offline");
    let seen = p.last_seen.expect("last seen");
    assert!(seen >= before - 1_000, "{seen} vs {before}");
    let list = presence_of(&mut ben_ws, &small).await;
    assert_eq!(status_in(&list, &ann.id), ("offline".into(), Some(seen)));
    // Cat (in the small group) heard the same: online once, then offline.
    let p = next_presence_of(&mut cat_ws, &small, &ann.id).await;
    assert_eq!(p.status, "online");
    let p = next_presence_of(&mut cat_ws, &small, &ann.id).await;
    assert_eq!((p.status.as_str(), p.last_seen), ("offline", Some(seen)));

    // Privacy: contacts only. Ben has a direct chat with her, Cat has not.
    let (code, body) = ann.call("GET", "/api/v1/me/presence", None).await;
    assert_eq!((code, body["visibility"].as_str()), (200, Some("everyone")));
    let mut ann_ws = ann.ws().await;
    assert_eq!(
        next_presence_of(&mut cat_ws, &small, &ann.id).await.status,
        "online"
    );
    let (code, body) = ann
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(json!({"visibility": "contacts"})),
        )
        .await;
    assert_eq!((code, body["visibility"].as_str()), (200, Some("contacts")));
    assert_eq!(
        ann_ws.next_presence_visibility().await.visibility,
        "contacts",
        "her devices learn it"
    );
    let p = next_presence_of(&mut cat_ws, &small, &ann.id).await;
    assert_eq!(
        (p.status.as_str(), p.last_seen),
        ("hidden", None),
        "the group is told it no longer shows"
    );
    let list = presence_of(&mut cat_ws, &small).await;
    assert_eq!(status_in(&list, &ann.id).0, "hidden");
    let list = presence_of(&mut ben_ws, &small).await;
    assert_eq!(status_in(&list, &ann.id).0, "online", "a contact sees her");
    let list = presence_of(&mut ben_ws, &direct).await;
    assert_eq!(status_in(&list, &ann.id).0, "online");

    // Nobody: hidden even from contacts, and kept across reconnects.
    let (code, _) = ann
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(json!({"visibility": "nobody"})),
        )
        .await;
    assert_eq!(code, 200);
    let p = next_presence_of(&mut ben_ws, &direct, &ann.id).await;
    assert_eq!(p.status, "hidden");
    drop(ann_ws);
    let _ann_ws = ann.ws().await;
    tokio::time::sleep(wait).await;
    let list = presence_of(&mut ben_ws, &direct).await;
    assert_eq!(status_in(&list, &ann.id), ("hidden".into(), None));
    let heard = ben_ws.until_pong().await;
    assert!(
        presence_frames(&heard, &ann.id)
            .iter()
            .all(|p| p.status == "hidden"),
        "nothing of hers shows: {heard:?}"
    );

    // A bad choice is refused and changes nothing.
    let (code, body) = ann
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(json!({"visibility": "friends"})),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    let (_, body) = ann.call("GET", "/api/v1/me/presence", None).await;
    assert_eq!(body["visibility"], "nobody");

    // A non-member learns nothing through a chat.
    let mut dan_ws = dan.ws().await;
    dan_ws
        .send(json!({"type": "get_presence", "chat_id": small, "ref": "q"}))
        .await;
    let e = dan_ws.next_error().await;
    assert_eq!(
        (e.code.as_str(), e.reference.as_deref()),
        ("not_member", Some("q"))
    );
    let (code, body) = dan
        .call("GET", &format!("/api/v1/chats/{small}/presence"), None)
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (403, Some("not_member"))
    );
}

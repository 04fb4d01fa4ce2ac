//! Pinned messages as users meet them, in either mode: admins and
//! moderators pin and unpin over HTTP and the WebSocket, the chat carries
//! its pins (latest first) in its summary and the chat list, members hear
//! each change live with a `pts`, a deletion unpins, a resumed subscription
//! is told the pins as they are, and whoever may not pin changes nothing.
//! `pins.rs` runs it standalone, `distributed_live.rs` on the distributed
//! roles.

use serde_json::json;

use super::*;

/// The chat's pins in `who`'s chat list, once they are `want`.
async fn listed_pins(who: &Client, chat: &str, want: &[u64]) -> Vec<u64> {
    who.chat_entry_until(chat, |e| e.chat.pins == want)
        .await
        .chat
        .pins
}

pub async fn pins_scenario(api: &Api) {
    let ann = api.register("pnann").await;
    let ben = api.register("pnben").await;
    let mod_ = api.register("pnmod").await;
    let eve = api.register("pneve").await;
    let g = ann.group("pins", &[&ben, &mod_]).await;
    ann.set_role(&g, &mod_.id, Role::Moder).await.ok();
    for (key, text) in [("p1", "first"), ("p2", "second"), ("p3", "third")] {
        ann.send(&g, key, text).await.created();
    }
    ann.send(&g, "p4", "gone").await.created();
    ann.delete(&g, 4).await.ok();

    let mut ben_ws = ben.ws().await;
    let (sub, _) = ben_ws.subscribe(&g, None).await;
    assert!(sub.pins.is_empty());

    // The admin pins over HTTP: the answer is the chat with its pins.
    let chat = ann.pin(&g, 1).await.ok();
    assert_eq!(chat.pins, [1]);
    assert!(chat.last_pts > sub.last_pts, "a pin is a change");
    let e = ben_ws.next_pinned().await;
    assert_eq!(
        (e.seq, e.pinned, e.user_id.as_str(), e.pins.clone(), e.pts),
        (1, true, ann.id.as_str(), vec![1], chat.last_pts)
    );

    // A moderator pins over the WebSocket: acknowledged by its ref, the
    // latest pin first.
    let mut mod_ws = mod_.ws().await;
    mod_ws
        .send(json!({"type": "pin", "chat_id": g, "seq": 2, "ref": "pin2"}))
        .await;
    let ack = mod_ws.next_ack().await;
    assert_eq!(
        (ack.reference.as_deref(), ack.duplicate),
        (Some("pin2"), false)
    );
    let e = ben_ws.next_pinned().await;
    assert_eq!((e.seq, e.pins.clone()), (2, vec![2, 1]));
    assert_eq!(ann.chat(&g).await.ok().chat.pins, [2, 1]);
    assert_eq!(listed_pins(&ben, &g, &[2, 1]).await, [2, 1]);

    // A repeat changes nothing.
    let before = ann.chat(&g).await.ok().chat.last_pts;
    assert_eq!(ann.pin(&g, 1).await.ok().pins, [2, 1]);
    assert_eq!(ann.chat(&g).await.ok().chat.last_pts, before);

    // Who may not, and what cannot be pinned.
    let no = |r: Refusal| (r.status, r.code);
    assert_eq!(
        no(ben.pin(&g, 3).await.refused()),
        (403, "forbidden".into())
    );
    assert_eq!(
        no(ben.unpin(&g, 1).await.refused()),
        (403, "forbidden".into())
    );
    assert_eq!(
        no(eve.pin(&g, 3).await.refused()),
        (403, "not_member".into())
    );
    assert_eq!(
        no(ann.pin(&g, 4).await.refused()),
        (409, "message_deleted".into())
    );
    assert_eq!(
        no(ann.pin(&g, 99).await.refused()),
        (404, "message_not_found".into())
    );
    let (status, body) = ann
        .call("PUT", &format!("/api/v1/chats/{g}/pins/x"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_id"))
    );
    ben_ws
        .send(json!({"type": "pin", "chat_id": g, "seq": 3, "ref": "nope"}))
        .await;
    let err = ben_ws.next_error().await;
    assert_eq!(
        (err.code.as_str(), err.reference.as_deref()),
        ("forbidden", Some("nope"))
    );
    assert_eq!(
        ann.chat(&g).await.ok().chat.pins,
        [2, 1],
        "refusals changed nothing"
    );

    // Deleting a pinned message unpins it.
    ann.delete(&g, 2).await.ok();
    ben_ws.next_deleted().await;
    assert_eq!(ann.chat(&g).await.ok().chat.pins, [1]);

    // Unpinned (twice: the second changes nothing).
    let chat = mod_.unpin(&g, 1).await.ok();
    assert!(chat.pins.is_empty());
    assert!(mod_.unpin(&g, 1).await.ok().pins.is_empty());
    let e = ben_ws
        .next_where(|f| match f {
            Frame::Pinned(e) if !e.pinned => Some(e),
            _ => None,
        })
        .await;
    assert_eq!((e.seq, e.pins.len(), e.pts), (1, 0, chat.last_pts));
    assert!(listed_pins(&ann, &g, &[]).await.is_empty());

    // Resume: the subscription tells the pins as they are now.
    ann.pin(&g, 3).await.ok();
    let mut again = ben.ws().await;
    again.send_subscribe(&g, None, Some(sub.last_pts)).await;
    assert_eq!(again.next_subscribed().await.pins, [3]);

    // In a direct chat either member pins; nobody else learns it exists.
    let d = ben.create_direct(&eve).await.created().id;
    ben.send(&d, "d1", "hi").await.created();
    assert_eq!(eve.pin(&d, 1).await.ok().pins, [1]);
    assert_eq!(
        no(ann.pin(&d, 1).await.refused()),
        (404, "chat_not_found".into())
    );
}

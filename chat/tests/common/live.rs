//! Ephemeral chat state as users meet it, in either mode: typing notices
//! reach the chat's subscribers (the typist's other devices too) and nobody
//! else, repeats within a second are dropped, and only members who may post
//! send them. `live.rs` runs it standalone, `distributed_live.rs` on the
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

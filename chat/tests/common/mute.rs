//! Muting a chat as a user meets it, in either mode: for good or until a
//! time, shown in the chat list and the chat (to the user only), told to
//! their other devices, unread still counted, lifted by hand or by the
//! clock; bad times and non-members refused. `mute.rs` runs it standalone,
//! `distributed_live.rs` on the distributed roles.

use std::time::Duration;

use serde_json::json;

use super::*;

/// 9999-12-31T23:59:59.999Z: the `muted_until` of a mute for good.
pub const FOREVER: i64 = 253_402_300_799_999;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// `who`'s chat-list entry for `chat`, once its mute is `want`.
async fn listed(who: &Client, chat: &str, want: Option<i64>) -> ChatEntry {
    who.chat_entry_until(chat, |e| e.muted_until == want).await
}

pub async fn mute_scenario(api: &Api) {
    let ann = api.register("muann").await;
    let ben = api.register("muben").await;
    let eve = api.register("mueve").await;
    let g = ann.group("mute", &[&ben]).await;
    let mut other_device = ben.ws().await;

    // For good: the answer is the chat as Ben sees it.
    let muted = ben.mute(&g, None).await.ok();
    assert_eq!(muted.muted_until, Some(FOREVER));
    let f = other_device.next_muted().await;
    assert_eq!(
        (f.chat_id.as_str(), f.muted_until),
        (g.as_str(), Some(FOREVER))
    );
    assert_eq!(
        listed(&ben, &g, Some(FOREVER)).await.muted_until,
        Some(FOREVER)
    );
    assert_eq!(ben.chat(&g).await.ok().muted_until, Some(FOREVER));
    // Ann's side is hers: not muted.
    assert_eq!(ann.chat(&g).await.ok().muted_until, None);

    // Unread still counts in a muted chat.
    ann.send(&g, "m1", "still counted").await.created();
    ann.send(&g, "m2", "and this").await.created();
    let entry = ben.chat_entry_until(&g, |e| e.unread == 2).await;
    assert_eq!((entry.unread, entry.muted_until), (2, Some(FOREVER)));

    // Until a time; then lifted by hand.
    let until = now_ms() + 3_600_000;
    assert_eq!(
        ben.mute(&g, Some(until)).await.ok().muted_until,
        Some(until)
    );
    assert_eq!(listed(&ben, &g, Some(until)).await.muted_until, Some(until));
    let unmuted = ben.unmute(&g).await.ok();
    assert_eq!(unmuted.muted_until, None);
    let f = other_device
        .next_where(|f| match f {
            Frame::Muted(m) if m.muted_until.is_none() => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(f.chat_id, g);
    assert_eq!(listed(&ben, &g, None).await.muted_until, None);

    // Lifted by the clock: a mute whose time has passed shows as none.
    ben.mute(&g, Some(now_ms() + 300)).await.ok();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(listed(&ben, &g, None).await.muted_until, None);
    assert_eq!(ben.chat(&g).await.ok().muted_until, None);

    // Refused, changing nothing.
    let no = |r: Refusal| (r.status, r.code);
    for bad in [now_ms() - 1_000, FOREVER + 1, 0, -5] {
        assert_eq!(
            no(ben.mute(&g, Some(bad)).await.refused()),
            (400, "invalid_mute".into()),
            "{bad}"
        );
    }
    let path = format!("/api/v1/chats/{g}/mute");
    let (status, body) = ben.call("PUT", &path, Some(json!({"for": 5}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_json"))
    );
    assert_eq!(
        no(eve.mute(&g, None).await.refused()),
        (403, "not_member".into())
    );
    let d = ann.create_direct(&ben).await.created().id;
    assert_eq!(
        no(eve.mute(&d, None).await.refused()),
        (404, "chat_not_found".into())
    );
    assert_eq!(ben.chat(&g).await.ok().muted_until, None, "nothing changed");
}

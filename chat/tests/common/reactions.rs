//! Reactions as users meet them, in either mode: added and taken back over
//! HTTP and the WebSocket, told live with a `pts`, counted with "mine" in
//! history for each reader, bounded per user and per message, refused to
//! whoever may not post, and replayed on resume like an edit.
//! `reactions.rs` runs it standalone, `distributed_live.rs` on the
//! distributed roles.

use serde_json::json;

use super::*;

/// Twenty-one different emoji.
const EMOJI: [&str; 21] = [
    "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗",
    "😙", "😚", "🙂", "🤗", "🤩",
];

/// `(emoji, count, mine)` of a message.
fn counts(m: &Message) -> Vec<(&str, u32, bool)> {
    m.reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.count, r.mine))
        .collect()
}

/// Message `seq` of `chat` as `who` reads it in history.
async fn read(who: &Client, chat: &str, seq: u64) -> Message {
    let page = who.messages(chat, "").await.ok();
    page.messages
        .into_iter()
        .find(|m| m.seq == seq)
        .unwrap_or_else(|| panic!("message {seq} in history"))
}

pub async fn reactions_scenario(api: &Api) {
    let ann = api.register("rxann").await;
    let ben = api.register("rxben").await;
    let sam = api.register("rxsam").await;
    let eve = api.register("rxeve").await;
    let g = ann.group("reactions", &[&ben, &sam]).await;
    ann.set_role(&g, &sam.id, Role::Silent).await.ok();
    ann.send(&g, "m1", "hello").await.created();
    ann.send(&g, "m2", "to be deleted").await.created();
    ann.delete(&g, 2).await.ok();

    let mut ben_ws = ben.ws().await;
    let (sub, _) = ben_ws.subscribe(&g, None).await;

    // Ann reacts over HTTP: the answer carries the message with hers.
    let r = ann.react(&g, 1, "👍").await.ok();
    assert!(!r.duplicate);
    assert_eq!(counts(&r.message), [("👍", 1, true)]);
    assert!(r.message.pts > sub.last_pts, "a reaction is a change");
    // Ben, following the chat, hears it with its pts.
    let e = ben_ws.next_reaction().await;
    assert_eq!(
        (e.seq, e.user_id.as_str(), e.emoji.as_str(), e.added, e.pts),
        (1, ann.id.as_str(), "👍", true, r.message.pts)
    );
    // Ben reacts over the WebSocket: acknowledged with the message as he sees it.
    ben_ws
        .send(json!({"type": "react", "chat_id": g, "seq": 1, "emoji": "👍", "ref": "r1"}))
        .await;
    // (His own connection hears the event too, before or after the ack.)
    let (mut ack, mut event) = (None, None);
    while ack.is_none() || event.is_none() {
        match ben_ws.next().await {
            Frame::Ack(a) => ack = Some(a),
            Frame::Reaction(e) => event = Some(e),
            _ => {}
        }
    }
    let (ack, e) = (ack.expect("ack"), event.expect("event"));
    assert_eq!(ack.reference.as_deref(), Some("r1"));
    let m = ack.message.expect("the message");
    assert_eq!(counts(&m), [("👍", 2, true)]);
    assert_eq!((e.user_id.as_str(), e.pts), (ben.id.as_str(), m.pts));

    // History: the counts, and "mine" for each reader.
    assert_eq!(counts(&read(&ann, &g, 1).await), [("👍", 2, true)]);
    assert_eq!(counts(&read(&sam, &g, 1).await), [("👍", 2, false)]);

    // A repeat changes nothing.
    let again = ann.react(&g, 1, "👍").await.ok();
    assert!(again.duplicate);
    assert_eq!(again.message.pts, m.pts);

    // At most three of one's own on a message.
    ann.react(&g, 1, "🎉").await.ok();
    ann.react(&g, 1, "❤️").await.ok();
    let refused = ann.react(&g, 1, "😂").await.refused();
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (403, "quota_exceeded")
    );
    // Taken back (twice: the second changes nothing).
    let r = ann.unreact(&g, 1, "❤️").await.ok();
    assert!(!r.duplicate);
    assert_eq!(counts(&r.message), [("👍", 2, true), ("🎉", 1, true)]);
    assert!(ann.unreact(&g, 1, "❤️").await.ok().duplicate);
    let e = ben_ws
        .next_where(|f| match f {
            Frame::Reaction(e) if !e.added => Some(e),
            _ => None,
        })
        .await;
    assert_eq!((e.emoji.as_str(), e.pts), ("❤️", r.message.pts));

    // Who may not, and what is not a reaction.
    let no = |r: Refusal| (r.status, r.code);
    assert_eq!(
        no(sam.react(&g, 1, "👍").await.refused()),
        (403, "silenced".into())
    );
    assert_eq!(
        no(eve.react(&g, 1, "👍").await.refused()),
        (403, "not_member".into())
    );
    assert_eq!(
        no(ann.react(&g, 2, "👍").await.refused()),
        (409, "message_deleted".into())
    );
    assert_eq!(
        no(ann.react(&g, 99, "👍").await.refused()),
        (404, "message_not_found".into())
    );
    for bad in ["ok", "1", "%20", "👍👍👍👍👍👍👍👍👍👍👍👍👍👍👍👍👍"]
    {
        assert_eq!(
            no(ann.react(&g, 1, bad).await.refused()),
            (400, "invalid_emoji".into()),
            "{bad}"
        );
    }
    ben_ws
        .send(json!({"type": "react", "chat_id": g, "seq": 1, "emoji": "<b>", "ref": "bad"}))
        .await;
    let err = ben_ws.next_error().await;
    assert_eq!(
        (err.code.as_str(), err.reference.as_deref()),
        ("invalid_emoji", Some("bad"))
    );
    assert_eq!(
        counts(&read(&ann, &g, 1).await),
        [("👍", 2, true), ("🎉", 1, true)],
        "refusals changed nothing"
    );

    // At most twenty different emoji on a message.
    let mut more = Vec::new();
    for i in 0..6 {
        let u = api.register(&format!("rxmore{i}")).await;
        ann.add_member(&g, &u.id, None).await.ok();
        more.push(u);
    }
    ann.send(&g, "m3", "popular").await.created();
    let reactors = [&ann, &ben]
        .into_iter()
        .chain(more.iter())
        .flat_map(|u| [u, u, u]);
    for (u, emoji) in reactors.zip(EMOJI).take(20) {
        u.react(&g, 3, emoji).await.ok();
    }
    let last = more.last().expect("more");
    let refused = last.react(&g, 3, EMOJI[20]).await.refused();
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (403, "quota_exceeded")
    );
    last.react(&g, 3, EMOJI[0]).await.ok();
    let m3 = read(&ben, &g, 3).await;
    assert_eq!(m3.reactions.len(), 20);
    assert_eq!(
        counts(&m3)[0],
        (EMOJI[0], 2, false),
        "in the order of first use"
    );

    // Resume: the message comes again, with its reactions as Ben sees them.
    let mut again = ben.ws().await;
    again.send_subscribe(&g, None, Some(sub.last_pts)).await;
    again.next_subscribed().await;
    let replayed = again
        .next_where(|f| match f {
            Frame::Message(m) if m.message.seq == 1 => Some(m.message),
            _ => None,
        })
        .await;
    assert_eq!(counts(&replayed), [("👍", 2, true), ("🎉", 1, false)]);
}

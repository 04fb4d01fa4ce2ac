//! Mentions as users meet them, in either mode: `@name` in a message is
//! resolved when it is written to the members it names (not the author,
//! not a non-member, not an unknown name), carried by the message live and
//! in history, and counted in each mentioned member's chat list until they
//! read past it. `mentions.rs` runs it standalone, `distributed_live.rs` on
//! the distributed roles.

use super::*;

/// `who`'s unread and mention counts for `chat`, once they are `want`.
async fn counts(who: &Client, chat: &str, want: (u64, u32)) -> (u64, u32) {
    let e = who
        .chat_entry_until(chat, |e| (e.unread, e.mentions) == want)
        .await;
    (e.unread, e.mentions)
}

pub async fn mentions_scenario(api: &Api) {
    let ann = api.register("mnann").await;
    let ben = api.register("mnben").await;
    let cat = api.register("mncat").await;
    let eve = api.register("mneve").await;
    let g = ann.group("mentions", &[&ben, &cat]).await;
    let mut ben_ws = ben.ws().await;
    ben_ws.subscribe(&g, None).await;

    // Ben is a member: mentioned. Eve is not, Ann wrote it, nobody is no one.
    let m = ann
        .send(&g, "m1", "hi @mnben, ask @mneve and @nobody1 (cc @mnann)")
        .await
        .created()
        .message;
    assert_eq!(m.mentions, vec![ben.id.clone()]);
    let live = ben_ws.next_message().await.message;
    assert_eq!((live.seq, live.mentions.clone()), (1, vec![ben.id.clone()]));
    assert_eq!(counts(&ben, &g, (1, 1)).await, (1, 1));
    assert_eq!(counts(&cat, &g, (1, 0)).await, (1, 0));
    assert!(
        eve.chats().await.ok().chats.iter().all(|e| e.chat.id != g),
        "a mention of a non-member does nothing"
    );
    assert_eq!(ben.chat(&g).await.ok().mentions, 1);

    // In history, for everyone.
    let page = cat.messages(&g, "").await.ok();
    assert_eq!(page.messages[0].mentions, vec![ben.id.clone()]);

    // More: a plain message counts as unread only; two names, one each.
    ann.send(&g, "m2", "no names here").await.created();
    let m3 = ann
        .send(&g, "m3", "@mnben @mncat lunch?")
        .await
        .created()
        .message;
    assert_eq!(m3.mentions, [ben.id.clone(), cat.id.clone()]);
    assert_eq!(counts(&ben, &g, (3, 2)).await, (3, 2));
    assert_eq!(counts(&cat, &g, (3, 1)).await, (3, 1));

    // Reading past a mention takes it off the count.
    ben.read(&g, 2).await.ok();
    assert_eq!(counts(&ben, &g, (1, 1)).await, (1, 1));
    ben.read(&g, 3).await.ok();
    assert_eq!(counts(&ben, &g, (0, 0)).await, (0, 0));

    // Eve, added now, was never mentioned: the earlier name did nothing.
    ann.add_member(&g, &eve.id, None).await.ok();
    assert_eq!(counts(&eve, &g, (3, 0)).await, (3, 0));
    // A forward mentions nobody where it lands.
    let d = ann.create_direct(&cat).await.created().id;
    let fw = ann.forward(&g, 3, &d, "fw1").await.created().message;
    assert!(fw.mentions.is_empty());
}

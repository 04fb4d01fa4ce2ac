//! Message search over the real server (standalone, SQLite FTS5): what a
//! member finds, newest first, page by page; what a former member, a new
//! member of a group that hides earlier history, and a stranger do not;
//! edits and deletes at once; hostile queries answered cleanly.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::Value;

/// `GET /search?{query}` as `c`: status and body.
async fn search(c: &Client, query: &str) -> (u16, Value) {
    c.call("GET", &format!("/api/v1/search?{query}"), None)
        .await
}

#[tokio::test]
async fn members_find_their_messages_newest_first_page_by_page() {
    let s = TestServer::start().await;
    let api = s.api();
    let ann = api.register("ann").await;
    let ben = api.register("ben").await;
    let eve = api.register("eve").await;
    let g = ann.group("search", &[&ben]).await;
    let d = ann.create_direct(&ben).await.created().id;
    let theirs = eve.group("eve's", &[]).await;
    for i in 1..=45 {
        ann.send(&g, &format!("n{i}"), &format!("needle number {i}"))
            .await
            .created();
    }
    ben.send(&d, "d1", "a needle in the direct chat")
        .await
        .created();
    eve.send(&theirs, "e1", "needle of eve").await.created();

    // Pages of 20: 46 hits, newest first, each once, none of eve's.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for page in 0.. {
        let q = format!("q=needle&limit=20{cursor}");
        let (st, v) = search(&ben, &q).await;
        assert_eq!(st, 200, "{v}");
        seen.extend(search_hits(&v));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&before={}", url_encode(c)),
            None => break,
        }
        assert!(page < 5, "too many pages");
    }
    assert_eq!(seen.len(), 46, "{seen:?}");
    assert_eq!(seen[0], (d.clone(), 1), "the newest first");
    assert_eq!(seen[1], (g.clone(), 45));
    assert_eq!(seen[46 - 1], (g.clone(), 1));
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        46,
        "no hit twice"
    );

    // One chat; a phrase; a prefix; highlights.
    let (_, v) = search(
        &ben,
        &format!("q={}&chat_id={g}", url_encode("\"number 7\"")),
    )
    .await;
    assert_eq!(search_hits(&v), vec![(g.clone(), 7)]);
    assert_eq!(v["hits"][0]["highlights"], serde_json::json!([[7, 15]]));
    // Opened in context: the hit in the middle of a history page.
    let (st, page) = ben
        .call(
            "GET",
            &format!("/api/v1/chats/{g}/messages?around=7&limit=5"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{page}");
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![5, 6, 7, 8, 9]);
    let (st, _) = ben
        .call(
            "GET",
            &format!("/api/v1/chats/{g}/messages?around=7&before=3"),
            None,
        )
        .await;
    assert_eq!(st, 400);
    let (_, v) = search(&ben, &format!("q=nee*&chat_id={d}")).await;
    assert_eq!(search_hits(&v), vec![(d.clone(), 1)]);

    // Edits replace the indexed text, deletes remove it, at once.
    ann.edit(&g, 45, "haystack only").await.ok();
    ann.delete(&g, 44).await.ok();
    let (_, v) = search(&ben, &format!("q=needle&chat_id={g}&limit=2")).await;
    assert_eq!(search_hits(&v), vec![(g.clone(), 43), (g.clone(), 42)]);
    let (_, v) = search(&ben, "q=haystack").await;
    assert_eq!(search_hits(&v), vec![(g.clone(), 45)]);

    // A stranger: the chat answers as any chat they are not in, and a
    // search everywhere finds only their own.
    let (st, v) = search(&eve, &format!("q=needle&chat_id={g}")).await;
    assert_eq!((st, v["error"]["code"].clone()), (403, "not_member".into()));
    let (st, v) = search(&eve, &format!("q=needle&chat_id={d}")).await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (404, "chat_not_found".into())
    );
    let (_, v) = search(&eve, "q=needle").await;
    assert_eq!(search_hits(&v), vec![(theirs.clone(), 1)]);

    // Removed from the group: its messages are gone from their results (as
    // soon as the membership cache follows, which fanout updates).
    ann.remove_member(&g, &ben.id).await.ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, v) = search(&ben, "q=needle").await;
        if search_hits(&v) == vec![(d.clone(), 1)] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn a_group_showing_history_from_the_join_hides_earlier_hits() {
    let s = TestServer::start().await;
    let api = s.api();
    let ann = api.register("ann").await;
    let cid = api.register("cid").await;
    let g = ann.group("fresh", &[]).await;
    let (st, _) = ann
        .call(
            "PATCH",
            &format!("/api/v1/chats/{g}"),
            Some(serde_json::json!({"history": "from_join"})),
        )
        .await;
    assert_eq!(st, 200);
    ann.send(&g, "k1", "secret plan before").await.created();
    ann.add_member(&g, &cid.id, None).await.ok();
    ann.send(&g, "k2", "plan after the join").await.created();
    let (_, v) = search(&cid, "q=plan").await;
    assert_eq!(search_hits(&v), vec![(g.clone(), 2)]);
    let (_, v) = search(&ann, "q=plan").await;
    assert_eq!(search_hits(&v).len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn languages_and_hostile_queries_are_answered_cleanly() {
    let s = TestServer::start().await;
    let api = s.api();
    let ann = api.register("ann").await;
    let g = ann.group("langs", &[]).await;
    for (k, text) in [
        ("r1", "Зелёная ёлка стоит в лесу"),
        ("r2", "Café crème, s'il vous plaît"),
        ("r3", "emoji 😀 then word after"),
    ] {
        ann.send(&g, k, text).await.created();
    }
    let found = |q: &'static str| {
        let ann = &ann;
        async move {
            let (st, v) = search(ann, &format!("q={}", url_encode(q))).await;
            assert_eq!(st, 200, "{q}: {v}");
            search_hits(&v)
                .into_iter()
                .map(|(_, s)| s)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("зеленая елка").await, vec![1]);
    assert_eq!(found("ЁЛКА").await, vec![1]);
    assert_eq!(found("лес*").await, vec![1]);
    assert_eq!(found("cafe creme").await, vec![2]);
    assert_eq!(found("\"then word\"").await, vec![3]);
    let (_, v) = search(&ann, &format!("q={}", url_encode("word"))).await;
    // "emoji 😀 then word": the emoji is two UTF-16 units.
    assert_eq!(v["hits"][0]["highlights"], serde_json::json!([[14, 18]]));

    let long = "x ".repeat(5000);
    for hostile in [
        "\"",
        "\"\"\"",
        "a\" OR \"b",
        "NEAR(x y)",
        "text:x",
        "^x",
        "-x +y",
        "(",
        "*",
        "😀",
        "x AND OR NOT",
        "'; DROP TABLE messages; --",
        "\u{0}",
        "%",
        long.as_str(),
    ] {
        let (st, v) = search(&ann, &format!("q={}", url_encode(hostile))).await;
        assert!(
            st == 200 || (st == 400 && v["error"]["code"] == "invalid_query"),
            "{hostile:.40}: {st} {v}"
        );
    }
    let (st, v) = search(&ann, "q=x&limit=0").await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (400, "invalid_limit".into())
    );
    let (st, v) = search(&ann, "q=x&before=garbage").await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (400, "invalid_query".into())
    );
    let (st, _) = search(&ann, "chat_id=1").await;
    assert_eq!(st, 400, "q is required");
    let (st, v) = api.call("GET", "/api/v1/search?q=x", None, None).await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (401, "auth_required".into())
    );
    s.stop().await;
}

//! Message search in distributed mode (MariaDB FULLTEXT on each shard): a
//! user's chats on both shards are searched in parallel and merged newest
//! first, page by page; edits and deletes show at once; languages and
//! hostile queries as standalone; a shard whose index does not answer gives
//! the others' hits, flagged partial.

#![cfg(feature = "distributed")]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::cluster::Cluster;
use common::*;

/// A writer, a fanout worker and a gateway; the gateway's API.
fn cluster() -> (Cluster, Api) {
    let mut cl = Cluster::new();
    cl.spawn("writer", "writer-0");
    cl.spawn("fanout", "fanout-0");
    let addr = cl.spawn("gateway", "gw-0");
    let gw = Api::new(format!("http://{addr}")).with_timeout(Duration::from_secs(30));
    (cl, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_merges_the_shards_newest_first() {
    let (cl, gw) = cluster();
    let ann = gw.register("ann").await;
    let ben = gw.register("ben").await;

    // Groups until both shards hold some.
    let store = cl.store().await;
    let mut chats: Vec<String> = Vec::new();
    let mut shards = HashSet::new();
    for i in 0..12 {
        let g = ann.group(&format!("g{i}"), &[&ben]).await;
        shards.insert(store.chat_shard(chat_core::ChatId(g.parse().unwrap())));
        chats.push(g);
        if shards.len() == 2 && chats.len() >= 3 {
            break;
        }
    }
    store.close().await;
    assert_eq!(shards.len(), 2, "both shards hold a group");

    // Sent one after the other, round the chats: the newest is the last.
    let mut sent = Vec::new();
    for i in 0..30 {
        let g = &chats[i % chats.len()];
        let seq = ann
            .send(g, &format!("k{i}"), &format!("rocket launch {i}"))
            .await
            .created()
            .message
            .seq;
        sent.push((g.clone(), seq));
    }
    sent.reverse();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (st, v) = ben
            .call(
                "GET",
                &format!("/api/v1/search?q=rocket&limit=7{cursor}"),
                None,
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["partial"], false);
        seen.extend(search_hits(&v));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&before={}", url_encode(c)),
            None => break,
        }
        assert!(seen.len() <= 30, "{seen:?}");
    }
    assert_eq!(seen, sent, "every hit once, newest first across the shards");

    // An edit and a delete show at once; one chat only.
    let (g0, s0) = sent[0].clone();
    ann.edit(&g0, s0, "quiet evening").await.ok();
    let (g1, s1) = sent[1].clone();
    ann.delete(&g1, s1).await.ok();
    let (_, v) = ben
        .call("GET", "/api/v1/search?q=rocket&limit=2", None)
        .await;
    assert_eq!(search_hits(&v), sent[2..4].to_vec());
    let (_, v) = ben
        .call("GET", &format!("/api/v1/search?q=quiet&chat_id={g0}"), None)
        .await;
    assert_eq!(search_hits(&v), vec![(g0.clone(), s0)]);

    // Languages, folding, phrases, prefixes; hostile input.
    let g = &chats[0];
    for (k, text) in [
        ("r1", "Зелёная ёлка стоит в лесу"),
        ("r2", "Café crème, s'il vous plaît"),
        ("r3", "we go to the big sea"),
    ] {
        ann.send(g, k, text).await.created();
    }
    for (q, want) in [
        ("зеленая елка", "r1"),
        ("ЁЛКА", "r1"),
        ("лес*", "r1"),
        ("cafe creme", "r2"),
        ("\"big sea\"", "r3"),
        ("go", "r3"),
    ] {
        let (st, v) = ben
            .call(
                "GET",
                &format!("/api/v1/search?q={}&chat_id={g}", url_encode(q)),
                None,
            )
            .await;
        assert_eq!(st, 200, "{q}: {v}");
        let texts: Vec<&str> = v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts.len(), 1, "{q}: {texts:?}");
        let expect = match want {
            "r1" => "Зелёная ёлка стоит в лесу",
            "r2" => "Café crème, s'il vous plaît",
            _ => "we go to the big sea",
        };
        assert_eq!(texts[0], expect, "{q}");
    }
    for hostile in [
        "\"",
        "a\" OR \"b",
        "-x +y",
        "(",
        "*",
        "😀",
        "'; DROP TABLE messages; --",
        "@x ~y <z",
    ] {
        let (st, v) = ben
            .call(
                "GET",
                &format!("/api/v1/search?q={}", url_encode(hostile)),
                None,
            )
            .await;
        assert!(
            st == 200 || (st == 400 && v["error"]["code"] == "invalid_query"),
            "{hostile}: {st} {v}"
        );
    }
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_that_fails_gives_a_partial_result() {
    let (cl, gw) = cluster();
    let ann = gw.register("ann").await;
    let store = cl.store().await;
    let mut on: std::collections::HashMap<String, String> = Default::default();
    for i in 0..16 {
        let g = ann.group(&format!("p{i}"), &[]).await;
        let shard = store.chat_shard(chat_core::ChatId(g.parse().unwrap()));
        on.entry(shard).or_insert(g);
        if on.len() == 2 {
            break;
        }
    }
    store.close().await;
    assert_eq!(on.len(), 2, "a group on each shard");
    for (shard, g) in &on {
        ann.send(g, "k", &format!("lantern on {shard}"))
            .await
            .created();
    }
    let (st, v) = ann.call("GET", "/api/v1/search?q=lantern", None).await;
    assert_eq!(
        (st, v["partial"].clone(), search_hits(&v).len()),
        (200, false.into(), 2)
    );

    // shard1's index goes away (as a shard that is down, to a query).
    let (name, url) = cl.shard_urls().into_iter().nth(1).unwrap();
    let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
    sqlx::query("RENAME TABLE message_search TO message_search_away")
        .execute(&pool)
        .await
        .unwrap();
    let (st, v) = ann.call("GET", "/api/v1/search?q=lantern", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["partial"], true, "{v}");
    let left: Vec<String> = search_hits(&v).into_iter().map(|(c, _)| c).collect();
    let other = on.iter().find(|(s, _)| **s != name).unwrap().1.clone();
    assert_eq!(left, vec![other], "the other shard's hit");
    // Only that shard asked, and failing: an error, not an empty page.
    let (st, v) = ann
        .call(
            "GET",
            &format!("/api/v1/search?q=lantern&chat_id={}", on[&name]),
            None,
        )
        .await;
    assert_eq!(st, 503, "{v}");
    sqlx::query("RENAME TABLE message_search_away TO message_search")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (_, v) = ann.call("GET", "/api/v1/search?q=lantern", None).await;
    assert_eq!(
        (v["partial"].clone(), search_hits(&v).len()),
        (false.into(), 2)
    );
    cl.cleanup().await;
}

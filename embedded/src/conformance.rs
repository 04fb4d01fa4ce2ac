//! Contracts of the log, the cache and the pub/sub, as functions that tests call
//! against every implementation (in-process here; Kafka and Redis in their
//! crates). Each panics with a message on the first violation.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use chat_core::model::{Chat, ChatKind, Member, Role};
use chat_core::ports::{Cache, CacheOp, Cached, Delivery, Log, Membership, PubSub};
use chat_core::presence::{Presence, Seen};
use chat_core::{ChatId, UserId};

/// Log: per-key order, consumer groups resume after their commit, independent
/// groups each see everything produced after they joined (the in-process log
/// keeps records only until every joined group has committed them; Kafka keeps
/// them for its retention time). `topic` must be new.
pub async fn check_log(log: &dyn Log, topic: &str) {
    let wait = Duration::from_secs(20);
    let mut c = log.consumer(topic, "conf-a").await.expect("consumer");
    // A second group, joined before anything is produced, sees everything too.
    let mut other = log.consumer(topic, "conf-b").await.expect("other group");
    let mut records = Vec::new();
    for i in 0..200u64 {
        records.push((i % 7, Bytes::from(format!("{}:{i}", i % 7))));
    }
    log.produce_batch(topic, records[..100].to_vec())
        .await
        .expect("produce batch");
    for (k, p) in &records[100..] {
        log.produce(topic, *k, p.clone()).await.expect("produce");
    }
    let mut per_key: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut n = 0;
    let deadline = tokio::time::Instant::now() + wait * 3;
    let mut taken = Vec::new();
    while n < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of 100 records consumed"
        );
        let got = c.poll(30, wait).await.expect("poll");
        for r in &got {
            let s = std::str::from_utf8(&r.payload).expect("utf8");
            let (k, i) = s.split_once(':').expect("k:i");
            assert_eq!(
                k.parse::<u64>().unwrap(),
                r.key,
                "key travels with the record"
            );
            per_key.entry(r.key).or_default().push(i.parse().unwrap());
        }
        n += got.len();
        taken.extend(got);
    }
    // Commit the first 100 only, then leave: the group resumes after them.
    c.commit(&taken[..100.min(taken.len())])
        .await
        .expect("commit");
    drop(c);
    let mut again = log.consumer(topic, "conf-a").await.expect("consumer again");
    let mut rest = Vec::new();
    let deadline = tokio::time::Instant::now() + wait * 3;
    while per_key.values().map(Vec::len).sum::<usize>() < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group did not resume"
        );
        let got = again.poll(50, wait).await.expect("poll");
        for r in &got {
            let s = std::str::from_utf8(&r.payload).expect("utf8");
            let (_, i) = s.split_once(':').expect("k:i");
            let i: u64 = i.parse().unwrap();
            let v = per_key.entry(r.key).or_default();
            // Records after the commit may repeat (at-least-once), never go back.
            if !v.contains(&i) {
                v.push(i);
            }
        }
        rest.extend(got);
    }
    again.commit(&rest).await.expect("commit");
    for (k, v) in &per_key {
        let expect: Vec<u64> = (0..200).filter(|i| i % 7 == *k).collect();
        assert_eq!(v, &expect, "records of key {k} in order, once");
    }
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + wait * 3;
    while seen < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second group saw only {seen}"
        );
        seen += other.poll(100, wait).await.expect("poll").len();
    }
}

fn chat(id: u64, pts: u64) -> Chat {
    Chat {
        id: ChatId(id),
        kind: ChatKind::Group,
        title: format!("pts {pts}"),
        created_by: UserId(1),
        created_at: 1,
        last_seq: pts,
        last_pts: pts,
        member_count: 2,
        last_message: None,
        pins: Vec::new(),
    }
}

/// The lease of a miss (panics on a hit).
fn lease<T: std::fmt::Debug>(c: Cached<T>) -> u64 {
    match c {
        Cached::Miss { lease } => lease,
        hit => panic!("expected a miss, got {hit:?}"),
    }
}

/// Cache: a miss takes a lease and only that lease's fill is read back; an
/// invalidation drops the entry and its lease; chat summaries and cursors
/// never go back. Ids from `base` must be unused.
pub async fn check_cache(cache: &dyn Cache, base: u64) {
    let (u, c) = (UserId(base + 1), ChatId(base + 2));
    let memberships = |u| async move { cache.memberships(u).await.unwrap() };
    let l = lease(memberships(u).await);
    cache.put_memberships(u, l, &[]).await.unwrap();
    assert_eq!(
        memberships(u).await,
        Cached::Hit(vec![]),
        "an empty list is not a miss"
    );
    cache.invalidate_memberships(u).await.unwrap();
    let m = Membership {
        chat_id: c,
        role: Role::Moder,
        read_seq: 4,
        muted_until: None,
        mentions: Vec::new(),
    };
    let l = lease(memberships(u).await);
    cache
        .put_memberships(u, l, std::slice::from_ref(&m))
        .await
        .unwrap();
    cache.advance_cursor(u, c, 2).await.unwrap();
    assert_eq!(
        memberships(u).await,
        Cached::Hit(vec![m.clone()]),
        "cursor never goes back"
    );
    cache.advance_cursor(u, c, 9).await.unwrap();
    let got = memberships(u).await.hit().unwrap();
    assert_eq!((got[0].read_seq, got[0].role), (9, Role::Moder));
    // A mute and unread mentions are kept, and a cursor moves past them.
    cache.invalidate_memberships(u).await.unwrap();
    let muted = Membership {
        muted_until: Some(chat_core::model::MUTED_FOREVER),
        mentions: vec![10, 14],
        ..m.clone()
    };
    let l = lease(memberships(u).await);
    cache.put_memberships(u, l, &[muted]).await.unwrap();
    cache.advance_cursor(u, c, 12).await.unwrap();
    let got = memberships(u).await.hit().unwrap();
    assert_eq!(
        (got[0].read_seq, got[0].muted_until, got[0].mentions.clone()),
        (12, Some(chat_core::model::MUTED_FOREVER), vec![10, 14])
    );
    assert_eq!(got[0].unread_mentions(), 1);
    // Mentions without a mute.
    cache.invalidate_memberships(u).await.unwrap();
    let l = lease(memberships(u).await);
    let mentioned = Membership {
        mentions: vec![20],
        ..m.clone()
    };
    cache
        .put_memberships(u, l, std::slice::from_ref(&mentioned))
        .await
        .unwrap();
    assert_eq!(memberships(u).await, Cached::Hit(vec![mentioned]));
    cache.advance_cursor(UserId(base + 50), c, 9).await.unwrap();
    assert!(
        memberships(UserId(base + 50)).await.hit().is_none(),
        "advance does not create"
    );
    // A fill racing a change: its lease was taken (and the store read)
    // before the change's invalidation; it must not stick.
    cache.invalidate_memberships(u).await.unwrap();
    let before = lease(memberships(u).await);
    cache.invalidate_memberships(u).await.unwrap();
    cache
        .put_memberships(u, before, std::slice::from_ref(&m))
        .await
        .unwrap();
    assert!(
        memberships(u).await.hit().is_none(),
        "a list read before a change never follows its invalidation"
    );
    // Two readers: the later lease wins, the earlier one's fill is dropped.
    cache.invalidate_memberships(u).await.unwrap();
    let first = lease(memberships(u).await);
    let second = lease(memberships(u).await);
    assert_ne!(first, second, "every miss takes a new lease");
    cache
        .put_memberships(u, first, std::slice::from_ref(&m))
        .await
        .unwrap();
    assert!(
        memberships(u).await.hit().is_none(),
        "a replaced lease fills nothing"
    );
    cache.advance_cursor(u, c, 10).await.unwrap();
    let l = lease(memberships(u).await);
    cache.put_memberships(u, l, &[]).await.unwrap();
    assert_eq!(
        memberships(u).await,
        Cached::Hit(vec![]),
        "a fill under its lease"
    );
    cache.invalidate_memberships(u).await.unwrap();
    assert!(memberships(u).await.hit().is_none());

    assert_eq!(cache.chats(&[c]).await.unwrap(), vec![None]);
    cache.put_chat(&chat(c.0, 5)).await.unwrap();
    cache.put_chat(&chat(c.0, 3)).await.unwrap();
    assert_eq!(
        cache.chats(&[c, ChatId(base + 3)]).await.unwrap(),
        vec![Some(chat(c.0, 5)), None],
        "older summary ignored"
    );
    cache.put_chat(&chat(c.0, 8)).await.unwrap();
    assert_eq!(cache.chats(&[c]).await.unwrap(), vec![Some(chat(c.0, 8))]);

    let members = |c| async move { cache.members(c).await.unwrap() };
    let ms = vec![Member {
        user_id: u,
        role: Role::Admin,
    }];
    let l = lease(members(c).await);
    cache.put_members(c, l, &ms).await.unwrap();
    assert_eq!(members(c).await, Cached::Hit(ms.clone()));
    // The same race on a chat's members.
    cache.invalidate_members(c).await.unwrap();
    let before = lease(members(c).await);
    cache.invalidate_members(c).await.unwrap();
    cache.put_members(c, before, &ms).await.unwrap();
    assert!(
        members(c).await.hit().is_none(),
        "a list read before a change never follows its invalidation"
    );
    let first = lease(members(c).await);
    let second = lease(members(c).await);
    cache.put_members(c, first, &ms).await.unwrap();
    assert!(
        members(c).await.hit().is_none(),
        "a replaced lease fills nothing"
    );
    let l = lease(members(c).await);
    assert_ne!(l, second);
    cache.put_members(c, l, &[]).await.unwrap();
    assert_eq!(members(c).await, Cached::Hit(Vec::new()));
    // A batch of updates, in order.
    let (c2, u2) = (ChatId(base + 10), UserId(base + 11));
    let l = lease(memberships(u2).await);
    cache
        .put_memberships(
            u2,
            l,
            &[Membership {
                chat_id: c2,
                role: Role::Member,
                read_seq: 1,
                muted_until: None,
                mentions: Vec::new(),
            }],
        )
        .await
        .unwrap();
    let ops = vec![
        CacheOp::InvalidateMembers(c2),
        CacheOp::PutChat(chat(c2.0, 4)),
        CacheOp::AdvanceCursor(u2, c2, 3),
        CacheOp::InvalidateMembers(c),
        CacheOp::PutChat(chat(c2.0, 2)),
    ];
    cache.apply(&ops).await.unwrap();
    assert!(
        members(c).await.hit().is_none(),
        "an invalidation in a batch"
    );
    assert_eq!(
        cache.chats(&[c2]).await.unwrap(),
        vec![Some(chat(c2.0, 4))],
        "the newer summary stays"
    );
    assert_eq!(memberships(u2).await.hit().unwrap()[0].read_seq, 3);
    cache
        .apply(&[CacheOp::InvalidateMemberships(u2)])
        .await
        .unwrap();
    assert!(memberships(u2).await.hit().is_none());
    cache.apply(&[]).await.unwrap();
    cache.ping().await.unwrap();
}

/// Pub/sub: subscribed channels receive in publish order, others do not,
/// unsubscribe stops delivery. `prefix` must make the channel names unused.
pub async fn check_pubsub(ps: &dyn PubSub, prefix: &str) {
    let (sub, mut inbox) = ps.subscriber().await.expect("subscriber");
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    sub.subscribe(&a).await.expect("subscribe");
    ps.publish(&a, Bytes::from_static(b"0")).await.unwrap();
    ps.publish(&b, Bytes::from_static(b"not subscribed"))
        .await
        .unwrap();
    let msgs: Vec<(String, Bytes)> = (1..=50)
        .map(|i| (a.clone(), Bytes::from(i.to_string())))
        .collect();
    ps.publish_many(msgs).await.unwrap();
    for i in 0..=50 {
        let d = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
            .await
            .expect("message in time")
            .expect("inbox open");
        let Delivery::Message {
            channel: ch,
            payload: p,
        } = d
        else {
            panic!("expected a message, got {d:?}");
        };
        assert_eq!(ch, a);
        assert_eq!(
            std::str::from_utf8(&p).unwrap(),
            i.to_string(),
            "publish order"
        );
    }
    sub.unsubscribe(&a).await.unwrap();
    ps.publish(&a, Bytes::from_static(b"late")).await.unwrap();
    let late = tokio::time::timeout(Duration::from_millis(300), inbox.recv()).await;
    assert!(late.is_err(), "nothing after unsubscribe (got {late:?})");
}

/// Presence: several gateways of one user count once, the last one to go
/// makes the user offline with a last-seen time, a report expires when its
/// gateway stops beating (a dead gateway), and the visibility travels with
/// every report. `base` keeps user ids apart from other runs.
pub async fn check_presence(p: &dyn Presence, base: u64) {
    use chat_core::presence::Visibility;
    let (a, b, never) = (UserId(base + 1), UserId(base + 2), UserId(base + 3));
    let long = Duration::from_secs(60);
    let before = chat_core::now_ms();
    assert_eq!(
        p.beat("gw-a", &[(a, Visibility::Everyone)], long)
            .await
            .expect("beat"),
        vec![false],
        "a comes online"
    );
    let was = p
        .beat(
            "gw-b",
            &[(a, Visibility::Contacts), (b, Visibility::Everyone)],
            long,
        )
        .await
        .expect("beat");
    assert_eq!(was, vec![true, false], "a already online; b comes online");
    let seen = p.seen(&[a, b, never]).await.expect("seen");
    assert!(seen[0].online && seen[1].online);
    assert_eq!(seen[0].visibility, Some(Visibility::Contacts), "the latest");
    assert_eq!(seen[2], Seen::default(), "never seen");

    // a leaves gw-a: still online through gw-b; then leaves gw-b too.
    assert!(
        p.gone("gw-a", a).await.expect("gone").online,
        "still on gw-b"
    );
    assert!(p.seen(&[a]).await.expect("seen")[0].online);
    let after = p.gone("gw-b", a).await.expect("gone");
    assert!(!after.online, "gone everywhere");
    let s = p.seen(&[a]).await.expect("seen")[0];
    assert_eq!(after, s, "leaving tells what the tier keeps");
    assert!(!s.online);
    let last = s.last_seen.expect("a last-seen time");
    assert!(
        last >= before,
        "last seen {last} is now-ish (after {before})"
    );
    assert_eq!(s.visibility, Some(Visibility::Contacts), "kept offline");

    // b's only gateway stops beating (it died): b expires, nobody said so.
    p.beat(
        "gw-dead",
        &[(b, Visibility::Everyone)],
        Duration::from_millis(300),
    )
    .await
    .expect("beat");
    // (gw-b's report of b is still live: gw-b says b left it.)
    assert!(
        p.gone("gw-b", b).await.expect("gone").online,
        "gw-dead still holds b"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let s = p.seen(&[b]).await.expect("seen")[0];
    assert!(!s.online, "a dead gateway's report expires: {s:?}");
    assert!(s.last_seen.is_some());
    // And beating again is coming online again.
    assert_eq!(
        p.beat("gw-a", &[(b, Visibility::Nobody)], long)
            .await
            .expect("beat"),
        vec![false]
    );
    assert!(
        p.gone("gw-x", b).await.expect("gone").online,
        "another gateway's leaving changes nothing"
    );
    assert!(!p.gone("gw-a", b).await.expect("gone").online);
}

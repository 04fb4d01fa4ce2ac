//! The store contract against SQLite.

use chat_store::{SqliteConfig, SqliteStore, conformance};

#[tokio::test]
async fn sqlite_store_satisfies_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("t.db")))
        .await
        .unwrap();
    conformance::check(&store, 1_000).await;
    // Reopening applies no migration twice and keeps the data.
    store.close().await;
    let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("t.db")))
        .await
        .unwrap();
    conformance::check(&store, 2_000).await;
}

/// A store whose checkpointer runs `every`, with 200 chats.
async fn store_with_chats(
    dir: &std::path::Path,
    every: std::time::Duration,
) -> (SqliteStore, Vec<chat_core::ChatId>) {
    use chat_core::ports::{Mutation, Store};
    use chat_core::{ChatId, UserId};

    let mut cfg = SqliteConfig::new(dir.join("t.db"));
    cfg.checkpoint_every = every;
    let store = SqliteStore::open(&cfg).await.unwrap();
    let chats: Vec<ChatId> = (1..=200).map(ChatId).collect();
    let batch: Vec<Mutation> = chats
        .iter()
        .map(|&id| Mutation::InsertChat(conformance::chat(id, UserId(1))))
        .collect();
    store.apply(&batch).await.unwrap();
    (store, chats)
}

/// A commit's worth of WAL: every chat's counters at `pts`.
fn counters(chats: &[chat_core::ChatId], pts: u64) -> Vec<chat_core::ports::Mutation> {
    chats
        .iter()
        .map(|&chat_id| chat_core::ports::Mutation::ChatCounters {
            chat_id,
            last_seq: pts,
            last_pts: pts,
            member_count: 1,
            last_message: None,
        })
        .collect()
}

/// The writer does not checkpoint on its commit path; the background
/// checkpointer does, so the WAL restarts from its beginning instead of growing.
#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background() {
    use chat_core::ports::Store;

    let dir = tempfile::tempdir().unwrap();
    let (store, chats) = store_with_chats(dir.path(), std::time::Duration::from_millis(300)).await;
    let wal = dir.path().join("t.db-wal");
    let mut pts = 0;
    let mut sizes = Vec::new();
    for _round in 0..4 {
        // Every round appends the same amount: 100 commits rewriting the chats.
        for _ in 0..100 {
            pts += 1;
            store.apply(&counters(&chats, pts)).await.unwrap();
        }
        sizes.push(std::fs::metadata(&wal).unwrap().len());
        // Longer than the checkpointer's period.
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    }
    assert!(sizes[0] > 100 * 4096, "the rounds wrote little: {sizes:?}");
    // Without checkpoints the WAL would be four rounds long; it restarts instead.
    assert!(
        sizes[3] < sizes[0] * 2,
        "the WAL kept growing, it was not checkpointed: {sizes:?}"
    );
    let stored = store.chats(&chats[..1]).await.unwrap();
    assert_eq!(stored[0].last_seq, pts);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_steady_writes_and_reads() {
    use chat_core::ports::Store;
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    // A writer that keeps committing and readers that keep reading: every
    // checkpoint completes, but the WAL starts over only if no reader is on a
    // WAL snapshot at the writer's next commit, which under steady reads never
    // happened by itself (the WAL grew by gigabytes a minute at load).
    let dir = tempfile::tempdir().unwrap();
    let (store, chats) = store_with_chats(dir.path(), std::time::Duration::from_millis(100)).await;
    let store = Arc::new(store);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, stop, chats) = (store.clone(), stop.clone(), chats.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    store.chats(&chats).await.unwrap();
                }
            })
        })
        .collect();
    // Each start of the WAL gives its header new salts (bytes 16..24).
    let wal = dir.path().join("t.db-wal");
    let salts = || {
        let mut header = [0u8; 24];
        std::fs::File::open(&wal)
            .and_then(|mut f| f.read_exact(&mut header))
            .ok()
            .map(|()| header[16..].to_vec())
    };
    // Until the WAL has started over 8 times; without the restarts it never
    // does. The bound is generous: a loaded machine commits slowly, and how
    // fast is not this test's question.
    let mut seen = std::collections::HashSet::new();
    let mut pts = 0;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while seen.len() < 8 && std::time::Instant::now() < until {
        pts += 1;
        store.apply(&counters(&chats, pts)).await.unwrap();
        seen.extend(salts());
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    assert!(
        seen.len() >= 8,
        "the WAL started over {} times in 30 s of steady writes and reads ({pts} commits)",
        seen.len().saturating_sub(1)
    );
    let stored = store.chats(&chats[..1]).await.unwrap();
    assert_eq!(stored[0].last_seq, pts);
}

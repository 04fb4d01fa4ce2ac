//! The store contract against real MariaDB shards (started by `deploy/local/up.sh`).
//! Needs `CHAT_MYSQL_SHARDS=name=mysql://…,name=mysql://…`; each run uses fresh
//! databases with random names.

#![cfg(feature = "mysql")]

use chat_core::ports::{Mutation, Store};
use chat_core::{ChatId, UserId};
use chat_store::{MySqlConfig, ShardedStore, conformance};

/// The shards from the environment, each pointed at a fresh database.
pub fn fresh_shards() -> Vec<chat_store::MySqlShard> {
    let spec = std::env::var("CHAT_MYSQL_SHARDS")
        .expect("CHAT_MYSQL_SHARDS must name the MariaDB shards (run deploy/local/up.sh)");
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let run = format!(
        "{}_{}_{n}",
        std::process::id(),
        chat_core::now_ms() % 100_000_000
    );
    MySqlConfig::parse_shards(&spec)
        .expect("shard spec")
        .into_iter()
        .map(|mut s| {
            let base = s
                .url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .expect("url with database");
            s.url = format!("{base}/chat_test_{run}_{}", s.name);
            s
        })
        .collect()
}

fn config() -> MySqlConfig {
    MySqlConfig {
        shards: fresh_shards(),
        ring_version: 1,
        vnodes_per_weight: 160,
        max_connections: 4,
        create_databases: true,
        follow: true,
        process: "store test".into(),
    }
}

async fn drop_databases(cfg: &MySqlConfig) {
    use sqlx::migrate::MigrateDatabase;
    for s in &cfg.shards {
        let _ = sqlx::MySql::drop_database(&s.url).await;
    }
}

#[tokio::test]
async fn sharded_mysql_store_satisfies_the_contract() {
    let cfg = config();
    let store = ShardedStore::connect(&cfg).await.expect("connect shards");
    assert!(
        store.ring().shards().len() >= 2,
        "the test needs two shards"
    );
    conformance::check(&store, 1_000).await;
    conformance::check(&store, 2_000).await;
    store.close().await;
    drop_databases(&cfg).await;
}

#[tokio::test]
async fn chats_land_on_the_shard_the_ring_names_and_batches_span_shards() {
    let cfg = config();
    let store = ShardedStore::connect(&cfg).await.expect("connect shards");
    let mut seen = std::collections::HashSet::new();
    let mut batch = Vec::new();
    for i in 0..40u64 {
        let chat = ChatId(10_000 + i);
        seen.insert(store.chat_shard(chat));
        batch.push(Mutation::InsertChat(chat_core::model::Chat {
            id: chat,
            kind: chat_core::model::ChatKind::Group,
            title: format!("c{i}"),
            created_by: UserId(1),
            created_at: 1,
            last_seq: 0,
            last_pts: 0,
            member_count: 1,
            last_message: None,
            pins: Vec::new(),
        }));
        batch.push(Mutation::PutMembership {
            user_id: UserId(500 + i),
            chat_id: chat,
            role: chat_core::model::Role::Admin,
        });
    }
    assert_eq!(seen.len(), 2, "40 chats use both shards");
    store.apply(&batch).await.expect("one batch across shards");
    store.apply(&batch).await.expect("and again: idempotent");
    let ids: Vec<ChatId> = (0..40).map(|i| ChatId(10_000 + i)).collect();
    assert_eq!(store.chats(&ids).await.unwrap().len(), 40);
    for i in 0..40u64 {
        let ms = store.memberships(UserId(500 + i)).await.unwrap();
        assert_eq!(ms.len(), 1);
    }
    store.close().await;
    drop_databases(&cfg).await;
}

/// Writes carry the ring-state version their process routes by, and a shard
/// that records another one refuses them in their own transaction (nothing
/// applied): a process that has not followed a migration's step cannot
/// write where the step moved keys away from, nor hand out fencing epochs.
#[tokio::test]
async fn a_shard_refuses_writes_routed_by_another_ring_state() {
    use chat_store::{Moved, Shard};
    let cfg = config();
    let store = ShardedStore::connect(&cfg).await.expect("connect shards");
    let v = store.state().version;
    let (_, shard) = store.shard_stores().remove(0);
    let fence = chat_core::ports::Fence {
        topic: "t".into(),
        epochs: Vec::new(),
    };
    let chat = Mutation::InsertChat(chat_core::model::Chat {
        id: ChatId(77),
        kind: chat_core::model::ChatKind::Group,
        title: "stale".into(),
        created_by: UserId(1),
        created_at: 1,
        last_seq: 0,
        last_pts: 0,
        member_count: 1,
        last_message: None,
        pins: Vec::new(),
    });
    for stale in [v - 1, v + 1] {
        let refused = shard.apply_part(&fence, Some(stale), &[&chat]).await;
        assert_eq!(refused.unwrap(), Err(Moved { shard_version: v }));
        let refused = shard.bump_fence("t", 0, Some(stale)).await;
        assert_eq!(refused.unwrap(), Err(Moved { shard_version: v }));
    }
    assert!(
        shard.chats(&[ChatId(77)]).await.unwrap().is_empty(),
        "nothing applied"
    );
    assert_eq!(
        shard.apply_part(&fence, Some(v), &[&chat]).await.unwrap(),
        Ok(())
    );
    assert_eq!(shard.chats(&[ChatId(77)]).await.unwrap().len(), 1);
    store.close().await;
    drop_databases(&cfg).await;
}

/// Logins of many new users at once (each opens a session: old ones of the
/// user purged, the new one inserted, on the user's shard) neither deadlock
/// nor fail: InnoDB's gap locks made two such transactions on neighbouring
/// user ids deadlock, answered to the client as a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_of_new_users_all_succeed() {
    let cfg = config();
    let store = std::sync::Arc::new(ShardedStore::connect(&cfg).await.expect("connect shards"));
    for round in 0..5u64 {
        let logins = (0..32u64).map(|i| {
            let store = store.clone();
            let user = UserId(700_000 + round * 100 + i);
            tokio::spawn(async move {
                let now = chat_core::now_ms();
                // What a login writes: the user's dead sessions purged, the
                // new one inserted, in one transaction.
                store
                    .apply(&[
                        Mutation::PurgeSessions {
                            user_id: user,
                            before: now - 86_400_000,
                        },
                        Mutation::PutSession(chat_core::model::SessionRecord {
                            user_id: user,
                            id: 1 + i,
                            generation: 0,
                            secret_hash: "h".into(),
                            device: String::new(),
                            created_at: now,
                            used_at: now,
                            expires_at: now + 60_000,
                            revoked_at: None,
                        }),
                    ])
                    .await
            })
        });
        for r in futures_util::future::join_all(logins).await {
            r.expect("task").expect("a login's session is stored");
        }
    }
    store.close().await;
    drop_databases(&cfg).await;
}

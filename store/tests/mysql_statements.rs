//! A shard connection keeps its prepared statements (issue 18): batches of
//! every size use a bounded number of statement texts, so sqlx's
//! per-connection cache never closes one to make room. Each such close went
//! out right before the next statement, which then waited on a delayed ACK
//! (40 ms) — after one burst of varied batch sizes, for good. Counted on the
//! servers (`Com_stmt_close`), not timed; its own test binary, so that no
//! other test's statements are counted.

#![cfg(feature = "mysql")]

use chat_core::model::{Message, Role};
use chat_core::ports::{Mutation, Store};
use chat_core::{ChatId, MessageId, UserId};
use chat_store::{MySqlConfig, ShardedStore, conformance};

fn config() -> MySqlConfig {
    let spec = std::env::var("CHAT_MYSQL_SHARDS")
        .expect("CHAT_MYSQL_SHARDS must name the MariaDB shards (run deploy/local/up.sh)");
    let run = format!(
        "{}_{}",
        std::process::id(),
        chat_core::now_ms() % 100_000_000
    );
    let shards = MySqlConfig::parse_shards(&spec)
        .expect("shard spec")
        .into_iter()
        .map(|mut s| {
            let base = s.url.rsplit_once('/').expect("url with database").0;
            s.url = format!("{base}/chat_stmt_{run}_{}", s.name);
            s
        })
        .collect();
    MySqlConfig {
        shards,
        ring_version: 1,
        vnodes_per_weight: 160,
        // Two connections per shard (migrations need two): each meets
        // hundreds of statement texts unless they are bounded.
        max_connections: 2,
        create_databases: true,
        follow: false,
        process: "statement test".into(),
    }
}

/// `Com_stmt_close` of the servers, summed.
async fn closes(cfg: &MySqlConfig) -> u64 {
    let mut n = 0;
    for s in &cfg.shards {
        let pool = sqlx::MySqlPool::connect(&s.url).await.expect("shard");
        let (_, v): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_stmt_close'")
            .fetch_one(&pool)
            .await
            .expect("status");
        n += v.parse::<u64>().unwrap_or(0);
        pool.close().await;
    }
    n
}

fn message(chat: ChatId, seq: u64) -> Message {
    Message {
        id: MessageId(1_000_000 + seq),
        chat_id: chat,
        seq,
        sender_id: UserId(1),
        client_msg_id: format!("k{seq}"),
        text: "hello".into(),
        reply_to_seq: None,
        forwarded_from: None,
        created_at: 1,
        edited_at: None,
        deleted: false,
        pts: seq,
        reactions: Vec::new(),
        mentions: Vec::new(),
    }
}

#[tokio::test]
async fn batches_of_every_size_close_no_prepared_statement() {
    let cfg = config();
    let store = ShardedStore::connect(&cfg).await.expect("connect shards");
    let chat = ChatId(77);
    let mut setup = vec![Mutation::InsertChat(conformance::chat(chat, UserId(1)))];
    for u in 1..=200 {
        setup.push(Mutation::PutMembership {
            user_id: UserId(u),
            chat_id: chat,
            role: Role::Member,
        });
    }
    store.apply(&setup).await.expect("setup");
    let before = closes(&cfg).await;
    // Writer batches of every size from 1 to 150: messages, cursors and
    // counters, and the idempotency lookup a batch starts with.
    let mut seq = 0;
    for size in 1..=150u64 {
        let msgs: Vec<Message> = (0..size)
            .map(|_| {
                seq += 1;
                message(chat, seq)
            })
            .collect();
        let keys: Vec<_> = msgs
            .iter()
            .map(|m| (m.chat_id, m.sender_id, m.client_msg_id.clone()))
            .collect();
        store.messages_by_client_ids(&keys).await.expect("lookup");
        let mut batch: Vec<Mutation> = msgs.into_iter().map(Mutation::InsertMessage).collect();
        batch.extend((1..=size).map(|u| Mutation::AdvanceCursor {
            user_id: UserId(u),
            chat_id: chat,
            seq,
        }));
        batch.push(Mutation::ChatCounters {
            chat_id: chat,
            last_seq: seq,
            last_pts: seq,
            member_count: 200,
            last_message: None,
        });
        store.apply(&batch).await.expect("batch");
    }
    let closed = closes(&cfg).await - before;
    assert_eq!(
        closed, 0,
        "prepared statements closed to make room in the connection's cache"
    );
    let stored = store.chats(&[chat]).await.expect("chat");
    assert_eq!(stored[0].last_seq, seq);
    store.close().await;
    use sqlx::migrate::MigrateDatabase;
    for s in &cfg.shards {
        let _ = sqlx::MySql::drop_database(&s.url).await;
    }
}

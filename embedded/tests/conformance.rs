//! The interface contracts against the in-process implementations.

use chat_embedded::{MemCache, MemLog, MemLogConfig, MemPubSub, conformance};

#[tokio::test]
async fn mem_log_satisfies_the_contract() {
    conformance::check_log(&MemLog::new(MemLogConfig::default()), "conf").await;
}

#[tokio::test]
async fn mem_cache_satisfies_the_contract() {
    conformance::check_cache(&MemCache::new(1000), 1_000).await;
}

#[tokio::test]
async fn mem_pubsub_satisfies_the_contract() {
    conformance::check_pubsub(&MemPubSub::new(1000), "t-").await;
}

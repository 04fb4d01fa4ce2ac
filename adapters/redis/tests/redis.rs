//! The cache and pub/sub contracts against a real Redis (`deploy/local/up.sh`),
//! isolated by a key prefix per run. Needs `CHAT_REDIS_URL`.

#![cfg(feature = "integration")]

use chat_redis::{RedisCache, RedisConfig, RedisPubSub};

fn config() -> RedisConfig {
    let url = std::env::var("CHAT_REDIS_URL").expect("CHAT_REDIS_URL (run deploy/local/up.sh)");
    let mut cfg = RedisConfig::new(url);
    cfg.prefix = format!("test{}-{}:", std::process::id(), chat_core::now_ms());
    cfg
}

#[tokio::test]
async fn redis_cache_satisfies_the_contract() {
    let cache = RedisCache::connect(config()).await.expect("connect");
    chat_embedded::conformance::check_cache(&cache, 1_000).await;
}

#[tokio::test]
async fn redis_pubsub_satisfies_the_contract() {
    let ps = RedisPubSub::connect(config()).await.expect("connect");
    chat_embedded::conformance::check_pubsub(&ps, "t-").await;
}

fn cluster_config() -> RedisConfig {
    let url = std::env::var("CHAT_REDIS_CLUSTER_URL")
        .expect("CHAT_REDIS_CLUSTER_URL (run deploy/local/redis-cluster.sh up)");
    let mut cfg = RedisConfig::new(url);
    cfg.prefix = format!("ctest{}-{}:", std::process::id(), chat_core::now_ms());
    assert!(cfg.is_cluster());
    cfg
}

#[tokio::test]
async fn redis_cluster_cache_satisfies_the_contract() {
    let cache = RedisCache::connect(cluster_config())
        .await
        .expect("connect");
    chat_embedded::conformance::check_cache(&cache, 5_000).await;
}

#[tokio::test]
async fn redis_cluster_sharded_pubsub_satisfies_the_contract() {
    let ps = RedisPubSub::connect(cluster_config())
        .await
        .expect("connect");
    // Channels spread over the nodes' slots.
    for prefix in ["t-", "u-", "v-", "w-"] {
        chat_embedded::conformance::check_pubsub(&ps, prefix).await;
    }
}

#[tokio::test]
async fn redis_presence_satisfies_the_contract() {
    let cache = RedisCache::connect(config()).await.expect("connect");
    chat_embedded::conformance::check_presence(&cache.presence(), 1_000).await;
}

#[tokio::test]
async fn redis_cluster_presence_satisfies_the_contract() {
    let cache = RedisCache::connect(cluster_config())
        .await
        .expect("connect");
    chat_embedded::conformance::check_presence(&cache.presence(), 2_000).await;
}

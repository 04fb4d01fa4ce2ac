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

#[tokio::test]
async fn mem_presence_satisfies_the_contract() {
    conformance::check_presence(&chat_embedded::MemPresence::new(1000), 1_000).await;
}

#[tokio::test]
async fn mem_presence_stays_bounded_and_keeps_online_users() {
    use chat_core::UserId;
    use chat_core::presence::{Presence, Visibility};
    let p = chat_embedded::MemPresence::new(100);
    let long = std::time::Duration::from_secs(60);
    let online: Vec<_> = (0..50).map(|i| (UserId(i), Visibility::Everyone)).collect();
    p.beat("gw", &online, long).await.unwrap();
    for i in 1_000..2_000 {
        p.beat("gw", &[(UserId(i), Visibility::Everyone)], long)
            .await
            .unwrap();
        p.gone("gw", UserId(i)).await.unwrap();
    }
    assert!(p.len() <= 100, "{} users remembered", p.len());
    let seen = p
        .seen(&online.iter().map(|u| u.0).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(seen.iter().all(|s| s.online), "online users are kept");
}

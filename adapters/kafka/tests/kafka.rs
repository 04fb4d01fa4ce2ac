//! The log contract against a real Kafka broker (`deploy/local/up.sh`), with a
//! fresh topic per run. Needs `CHAT_KAFKA_BROKERS`.

#![cfg(feature = "integration")]

use chat_kafka::{KafkaConfig, KafkaLog};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_log_satisfies_the_contract() {
    let brokers =
        std::env::var("CHAT_KAFKA_BROKERS").expect("CHAT_KAFKA_BROKERS (run deploy/local/up.sh)");
    let topic = format!("conf-{}-{}", std::process::id(), chat_core::now_ms());
    let mut cfg = KafkaConfig::new(brokers);
    cfg.partitions = 4;
    let log = KafkaLog::connect(cfg, &[&topic]).await.expect("connect");
    assert_eq!(log.partition_count(&topic).await.unwrap(), 4);
    chat_embedded::conformance::check_log(&log, &topic).await;
}

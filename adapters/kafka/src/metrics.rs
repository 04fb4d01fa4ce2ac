//! Prometheus metrics of the Kafka log.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts};

fn register<T: prometheus::core::Collector + Clone + 'static>(c: T) -> T {
    let _ = prometheus::default_registry().register(Box::new(c.clone()));
    c
}

/// Seconds from produce to acknowledgement by the brokers (`acks=all`).
pub static PRODUCE_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "log_produce_seconds",
                "Produce latency until acked by all in-sync replicas",
            )
            .buckets(prometheus::exponential_buckets(0.0002, 2.0, 16).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Records per batch produce.
pub static PRODUCE_BATCH: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new("log_produce_batch_records", "Records per batch produce")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Produces that failed.
pub static PRODUCE_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new("log_produce_errors_total", "Produces that failed").expect("valid counter"),
    )
});

/// Records not yet consumed by this member, per partition.
pub static LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "log_consumer_lag",
                "High watermark minus the consumer's position",
            ),
            &["topic", "group", "partition"],
        )
        .expect("valid gauge"),
    )
});

/// Clients replaced by new ones (`producer` after a fatal error, `consumer`
/// found out of its group or failed fatally).
pub static CLIENTS_RECREATED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "log_clients_recreated_total",
                "Kafka clients replaced by new ones (a fatal error, a consumer out of its group)",
            ),
            &["client"],
        )
        .expect("valid counter"),
    )
});

/// `client` of a replaced producer.
pub const CLIENT_PRODUCER: &str = "producer";
/// `client` of a replaced consumer.
pub const CLIENT_CONSUMER: &str = "consumer";

/// Registers every metric of the Kafka log, with a series at zero for each
/// label value known in advance (the clients), so that `/metrics` exports
/// them from start-up rather than from their first use. The lag's series
/// appear as partitions are assigned ([`assigned`]).
pub fn init() {
    LazyLock::force(&PRODUCE_SECONDS);
    LazyLock::force(&PRODUCE_BATCH);
    LazyLock::force(&PRODUCE_ERRORS);
    for client in [CLIENT_PRODUCER, CLIENT_CONSUMER] {
        CLIENTS_RECREATED.with_label_values(&[client]);
    }
}

/// Creates the lag series of partitions just assigned to a member of
/// `group` (at zero until the consumer's next lag check, within 5 s; a
/// series it had already keeps its value).
pub fn assigned(topic: &str, group: &str, partitions: impl IntoIterator<Item = i32>) {
    for p in partitions {
        LAG.with_label_values(&[topic, group, &p.to_string()]);
    }
}

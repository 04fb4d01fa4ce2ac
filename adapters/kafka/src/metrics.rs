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

/// Removes the lag series of partitions this member no longer holds: a
/// series left behind would keep its last value (and an alert on it
/// firing) while another member consumes the partition.
pub fn revoked(topic: &str, group: &str, partitions: impl IntoIterator<Item = u32>) {
    for p in partitions {
        let _ = LAG.remove_label_values(&[topic, group, &p.to_string()]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The partitions of `topic` with a lag series, from the text format.
    fn series(topic: &str) -> Vec<String> {
        let mut buf = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&prometheus::gather(), &mut buf)
            .expect("encode");
        let mut parts: Vec<String> = buf
            .lines()
            .filter(|l| {
                l.starts_with("log_consumer_lag{") && l.contains(&format!("topic=\"{topic}\""))
            })
            .filter_map(|l| {
                l.split("partition=\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(str::to_string)
            })
            .collect();
        parts.sort();
        parts
    }

    #[test]
    fn a_revoked_partition_leaves_no_lag_series_behind() {
        assigned("lag-test", "g", [0, 1, 2]);
        LAG.with_label_values(&["lag-test", "g", "1"]).set(500);
        assert_eq!(series("lag-test").len(), 3);
        revoked("lag-test", "g", [1, 2]);
        assert_eq!(series("lag-test"), vec!["0".to_string()]);
        // Unknown partitions are no error.
        revoked("lag-test", "g", [7]);
    }
}

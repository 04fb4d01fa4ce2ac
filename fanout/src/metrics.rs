//! Prometheus metrics of fanout.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge};

fn register<T: prometheus::core::Collector + Clone + 'static>(c: T) -> T {
    let _ = prometheus::default_registry().register(Box::new(c.clone()));
    c
}

/// Records per batch.
pub static BATCH_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new("fanout_batch_records", "Effect records per fanout batch")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Seconds per batch.
pub static BATCH_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "fanout_batch_seconds",
                "Time to update the cache and publish one batch",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Pub/sub messages published.
pub static PUBLISHED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new("fanout_published_total", "Pub/sub messages published")
            .expect("valid counter"),
    )
});

/// Cache updates that failed.
pub static CACHE_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new("fanout_cache_errors_total", "Cache updates that failed")
            .expect("valid counter"),
    )
});

/// Records that could not be decoded.
pub static BAD_RECORDS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "fanout_bad_records_total",
            "Undecodable effect records skipped",
        )
        .expect("valid counter"),
    )
});

/// Cache updates waiting in the backlog (the cache failed).
pub static CACHE_BACKLOG: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "fanout_cache_backlog",
            "Cache updates kept for a retry after the cache failed",
        )
        .expect("valid gauge"),
    )
});

/// Cache updates given up on and sent to the dead-letter topic.
pub static DEAD_LETTERS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "fanout_dead_letters_total",
            "Cache updates given up on (dead-lettered)",
        )
        .expect("valid counter"),
    )
});

/// Unix seconds of the last batch published.
pub static LAST_BATCH: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "fanout_last_batch_timestamp_seconds",
            "When fanout last published a batch (Unix seconds)",
        )
        .expect("valid gauge"),
    )
});

/// Unix seconds since which the current batch keeps failing; 0 when not.
pub static FAILING_SINCE: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "fanout_failing_since_timestamp_seconds",
            "Since when fanout's current batch keeps failing (Unix seconds; 0: it is not)",
        )
        .expect("valid gauge"),
    )
});

/// Registers every fanout metric, so that `/metrics` exports them (at zero)
/// from start-up rather than from their first use.
pub fn init() {
    LazyLock::force(&BATCH_SIZE);
    LazyLock::force(&BATCH_SECONDS);
    LazyLock::force(&PUBLISHED);
    LazyLock::force(&CACHE_ERRORS);
    LazyLock::force(&BAD_RECORDS);
    LazyLock::force(&CACHE_BACKLOG);
    LazyLock::force(&DEAD_LETTERS);
    LazyLock::force(&LAST_BATCH);
    LazyLock::force(&FAILING_SINCE);
}

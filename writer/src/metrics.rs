//! Prometheus metrics of the writer.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

fn register<T: prometheus::core::Collector + Clone + 'static>(c: T) -> T {
    let _ = prometheus::default_registry().register(Box::new(c.clone()));
    c
}

/// Commands per batch.
pub static BATCH_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new("writer_batch_commands", "Commands per writer batch")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Seconds from poll to commit of one batch.
pub static BATCH_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "writer_batch_seconds",
                "Time to process, persist and publish one batch",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Messages persisted.
pub static MESSAGES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new("writer_messages_total", "Messages persisted").expect("valid counter"))
});

/// Commands rejected, by code.
pub static REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("writer_rejected_total", "Commands rejected"),
            &["code"],
        )
        .expect("valid counter"),
    )
});

/// Batches retried after a store or log failure.
pub static RETRIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new("writer_retries_total", "Batches retried after a failure")
            .expect("valid counter"),
    )
});

/// Records that could not be decoded (parked, as [`PARKED`] counts too).
pub static BAD_RECORDS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "writer_bad_records_total",
            "Undecodable command records (parked in the dead-letter topic)",
        )
        .expect("valid counter"),
    )
});

/// Command records parked: undecodable, or failing alone while the store
/// answered; produced to the commands' dead-letter topic.
pub static PARKED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "writer_parked_records_total",
            "Command records parked in the dead-letter topic (undecodable, or failing alone)",
        )
        .expect("valid counter"),
    )
});

/// Chats whose state is in memory.
pub static CHATS_IN_MEMORY: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "writer_chats_in_memory",
            "Chats whose state the writer holds",
        )
        .expect("valid gauge"),
    )
});

/// Batches refused by the store: the partition was taken by another writer
/// (fenced) or the writer's state disagreed with the store (conflict). The
/// writer drops its state and rejoins the group.
pub static REFUSED_BATCHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "writer_refused_batches_total",
                "Batches the store refused (fenced by a newer owner, or conflicting)",
            ),
            &["reason"],
        )
        .expect("valid counter"),
    )
});

/// Partitions taken (a new fencing epoch each).
pub static FENCES_ACQUIRED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "writer_fences_acquired_total",
            "Commands partitions taken, each with a new fencing epoch",
        )
        .expect("valid counter"),
    )
});

/// Unix seconds of the last batch applied.
pub static LAST_BATCH: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "writer_last_batch_timestamp_seconds",
            "When the writer last applied a batch (Unix seconds)",
        )
        .expect("valid gauge"),
    )
});

/// Unix seconds since which the current batch keeps failing; 0 when not.
pub static FAILING_SINCE: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "writer_failing_since_timestamp_seconds",
            "Since when the writer's current batch keeps failing (Unix seconds; 0: it is not)",
        )
        .expect("valid gauge"),
    )
});

/// `reason` of a batch refused because another writer took a partition.
pub const REFUSED_FENCED: &str = "fenced";
/// `reason` of a batch refused because the store disagreed with the writer.
pub const REFUSED_CONFLICT: &str = "conflict";

/// Registers every writer metric, with a series at zero for each label value
/// known in advance (rejection codes, refusal reasons), so that `/metrics`
/// exports them from start-up rather than from their first increment.
pub fn init() {
    LazyLock::force(&BATCH_SIZE);
    LazyLock::force(&BATCH_SECONDS);
    LazyLock::force(&MESSAGES);
    LazyLock::force(&RETRIES);
    LazyLock::force(&BAD_RECORDS);
    LazyLock::force(&PARKED);
    LazyLock::force(&CHATS_IN_MEMORY);
    LazyLock::force(&FENCES_ACQUIRED);
    LazyLock::force(&LAST_BATCH);
    LazyLock::force(&FAILING_SINCE);
    for code in chat_core::Code::all() {
        REJECTED.with_label_values(&[code.as_str()]);
    }
    for reason in [REFUSED_FENCED, REFUSED_CONFLICT] {
        REFUSED_BATCHES.with_label_values(&[reason]);
    }
}

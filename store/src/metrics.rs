//! Prometheus metrics of the store.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts};

fn register<T: prometheus::core::Collector + Clone + 'static>(c: T) -> T {
    // A second registration (two stores in one test process) is harmless: the
    // first one is exported.
    let _ = prometheus::default_registry().register(Box::new(c.clone()));
    c
}

/// The version of the shard ring this process routes by (0: one store).
pub static RING_VERSION: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "store_ring_version",
            "Version of the shard ring this process routes by",
        )
        .expect("valid gauge"),
    )
});

/// Seconds to apply one writer batch (one transaction).
pub static APPLY_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "store_apply_seconds",
                "Time to apply one batch in one transaction",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Mutations per applied batch.
pub static APPLY_MUTATIONS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new("store_apply_mutations", "Mutations per applied batch")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 14).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Seconds per background WAL checkpoint (SQLite).
pub static CHECKPOINT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "store_wal_checkpoint_seconds",
                "Time of one background WAL checkpoint (SQLite)",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
});

/// Frames in the WAL at the last checkpoint (SQLite); it restarts from zero
/// once every frame is copied and no reader needs them.
pub static WAL_FRAMES: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "store_wal_frames",
            "Frames in the SQLite WAL at the last background checkpoint",
        )
        .expect("valid gauge"),
    )
});

/// Store errors by operation and kind.
pub static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("store_errors_total", "Store calls that failed"),
            &["op", "kind"],
        )
        .expect("valid counter"),
    )
});

/// Seconds to apply one shard's part of a batch, by shard.
pub static SHARD_APPLY_SECONDS: LazyLock<prometheus::HistogramVec> = LazyLock::new(|| {
    register(
        prometheus::HistogramVec::new(
            HistogramOpts::new(
                "store_shard_apply_seconds",
                "Time to apply one shard's part of a batch",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).unwrap_or_default()),
            &["shard"],
        )
        .expect("valid histogram"),
    )
});

/// The `kind` label of `store_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// A unique key taken (a login name, a message's seq).
    Conflict,
    /// Data the database refused (a constraint, a value out of range): it
    /// fails the same way every time.
    Rejected,
    /// The database failed or did not answer: an outage, retried.
    Unavailable,
    /// A stalled writer's batch refused: another writer took a partition.
    Fenced,
    /// A batch routed by an older ring version than the shard's.
    Moved,
    /// A batch chosen as a deadlock's victim, applied again.
    DeadlockRetried,
}

impl ErrorKind {
    /// Every kind.
    pub(crate) const ALL: [ErrorKind; 6] = [
        ErrorKind::Conflict,
        ErrorKind::Rejected,
        ErrorKind::Unavailable,
        ErrorKind::Fenced,
        ErrorKind::Moved,
        ErrorKind::DeadlockRetried,
    ];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Conflict => "conflict",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Fenced => "fenced",
            ErrorKind::Moved => "moved",
            ErrorKind::DeadlockRetried => "deadlock_retried",
        }
    }
}

/// Counts a failed call of operation `op`.
pub(crate) fn error(op: &str, kind: ErrorKind) {
    ERRORS.with_label_values(&[op, kind.as_str()]).inc();
}

/// Registers the metrics of every store, with a series at zero for each
/// error kind of `op="apply"` (the writers' batches), so that `/metrics`
/// exports them from start-up rather than from their first use. Called by
/// every store's constructor; [`init_sqlite`] adds SQLite's own, and the
/// sharded store the per-shard series of the shards it routes to.
pub fn init() {
    LazyLock::force(&RING_VERSION);
    LazyLock::force(&APPLY_SECONDS);
    LazyLock::force(&APPLY_MUTATIONS);
    for kind in ErrorKind::ALL {
        ERRORS.with_label_values(&["apply", kind.as_str()]);
    }
}

/// Registers the metrics of the SQLite store (its WAL checkpoints).
pub fn init_sqlite() {
    LazyLock::force(&CHECKPOINT_SECONDS);
    LazyLock::force(&WAL_FRAMES);
}

/// Creates the series of shards `names` (at zero), once their names are
/// known: when a sharded store starts, and when it routes by a new ring.
pub fn shards<'a>(names: impl IntoIterator<Item = &'a str>) {
    for name in names {
        SHARD_APPLY_SECONDS.with_label_values(&[name]);
    }
}

/// Records a batch of `mutations` applied since `started`.
pub fn applied(started: std::time::Instant, mutations: usize) {
    APPLY_SECONDS.observe(started.elapsed().as_secs_f64());
    APPLY_MUTATIONS.observe(mutations as f64);
}

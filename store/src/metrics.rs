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

/// Records a batch of `mutations` applied since `started`.
pub fn applied(started: std::time::Instant, mutations: usize) {
    APPLY_SECONDS.observe(started.elapsed().as_secs_f64());
    APPLY_MUTATIONS.observe(mutations as f64);
}

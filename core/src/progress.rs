//! Liveness of a worker's loop (writer, fanout): whether it still turns, when
//! it last finished a batch, and since when its current batch keeps failing.
//! The loop reports; `/healthz` and `/readyz` read.
//!
//! A batch retried while a shard or the broker is away keeps the loop turning
//! (it reports each retry), so an outage is *failing*, not *stalled*: only a
//! loop that stops reporting at all (a deadlock, a task that died) is
//! stalled, which is what a liveness probe should restart.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::model::now_ms;

/// What a worker loop reports (shared, lock-free).
#[derive(Debug)]
pub struct Progress {
    /// Unix ms of the last turn of the loop (a poll, a retry).
    beat: AtomicI64,
    /// Unix ms of the last batch done (its offsets stored).
    done: AtomicI64,
    /// Unix ms since which the current batch keeps failing; 0 when it is not.
    failing_since: AtomicI64,
}

/// A snapshot of [`Progress`], as `/healthz` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProgressReport {
    /// Seconds since the loop last turned.
    pub since_beat_s: i64,
    /// Seconds since the last batch was done (`None`: none yet).
    pub since_done_s: Option<i64>,
    /// Seconds the current batch has been failing (`None`: it is not).
    pub failing_for_s: Option<i64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            beat: AtomicI64::new(now_ms()),
            done: AtomicI64::new(0),
            failing_since: AtomicI64::new(0),
        }
    }
}

impl Progress {
    /// The loop turned (polled, or retried a failing step).
    pub fn beat(&self) {
        self.beat.store(now_ms(), Ordering::Relaxed);
    }

    /// A batch is done: the loop turns and nothing is failing.
    pub fn done(&self) {
        let now = now_ms();
        self.beat.store(now, Ordering::Relaxed);
        self.done.store(now, Ordering::Relaxed);
        self.failing_since.store(0, Ordering::Relaxed);
    }

    /// A step of the current batch failed and will be retried.
    pub fn failing(&self) {
        let now = now_ms();
        self.beat.store(now, Ordering::Relaxed);
        let _ = self
            .failing_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// What the loop last reported.
    pub fn report(&self) -> ProgressReport {
        let now = now_ms();
        let secs = |t: i64| (now - t).max(0) / 1000;
        let done = self.done.load(Ordering::Relaxed);
        let failing = self.failing_since.load(Ordering::Relaxed);
        ProgressReport {
            since_beat_s: secs(self.beat.load(Ordering::Relaxed)),
            since_done_s: (done > 0).then(|| secs(done)),
            failing_for_s: (failing > 0).then(|| secs(failing)),
        }
    }

    /// Whether the loop still turns: it reported within `stall`.
    pub fn alive(&self, stall: Duration) -> bool {
        now_ms() - self.beat.load(Ordering::Relaxed) <= stall.as_millis() as i64
    }

    /// Whether the current batch has been failing for longer than `limit`.
    pub fn failing_longer_than(&self, limit: Duration) -> bool {
        let since = self.failing_since.load(Ordering::Relaxed);
        since > 0 && now_ms() - since > limit.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_loop_is_alive_and_a_silent_one_is_not() {
        let p = Progress::default();
        assert!(p.alive(Duration::from_secs(1)));
        assert_eq!(p.report().failing_for_s, None);
        p.failing();
        let first = p.failing_since.load(Ordering::Relaxed);
        p.failing();
        assert_eq!(
            p.failing_since.load(Ordering::Relaxed),
            first,
            "failing since the first failure"
        );
        assert!(p.alive(Duration::from_secs(1)), "retrying is turning");
        assert!(!p.failing_longer_than(Duration::from_secs(60)));
        p.failing_since.store(now_ms() - 120_000, Ordering::Relaxed);
        assert!(p.failing_longer_than(Duration::from_secs(60)));
        assert_eq!(p.report().failing_for_s, Some(120));
        p.done();
        assert_eq!(p.report().failing_for_s, None);
        assert_eq!(p.report().since_done_s, Some(0));
        p.beat.store(now_ms() - 90_000, Ordering::Relaxed);
        assert!(
            !p.alive(Duration::from_secs(60)),
            "a loop that stopped reporting"
        );
    }
}

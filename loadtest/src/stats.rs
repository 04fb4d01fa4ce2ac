//! Measurements: live counters for the progress line, HdrHistograms of
//! send→ack and send→delivery latency, and their summaries.
//!
//! Connections record latency samples into small local buffers and merge them
//! into the shared histograms in batches ([`Samples`]), so the lock is taken a
//! few hundred times a second rather than once per delivery.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded, in microseconds (an hour); above it, clamped.
const MAX_US: u64 = 3_600_000_000;

/// A histogram of microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Counters read by the progress line; every connection adds to them.
#[derive(Default)]
pub struct Live {
    /// Sends written to a socket.
    pub sent: AtomicU64,
    /// Sends acknowledged (first time, not duplicates).
    pub acked: AtomicU64,
    /// Message frames received.
    pub delivered: AtomicU64,
    /// Error, rejected and transport failures.
    pub errors: AtomicU64,
    /// Sends awaiting their answer.
    pub inflight: AtomicI64,
    /// Reconnections after a connection dropped.
    pub reconnects: AtomicU64,
}

impl Live {
    /// A snapshot of the counters.
    pub fn snapshot(&self) -> LiveSnapshot {
        LiveSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            inflight: self.inflight.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

/// [`Live`] at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveSnapshot {
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub errors: u64,
    pub inflight: i64,
    pub reconnects: u64,
}

/// The run's latency histograms, and the last second's for the progress line.
pub struct Hists {
    /// send→ack of messages due after the ramp.
    pub ack: Histogram<u64>,
    /// send→delivery, per recipient connection, of messages due after the ramp.
    pub delivery: Histogram<u64>,
    /// send→ack since the last progress line (all messages).
    pub win_ack: Histogram<u64>,
    /// send→delivery since the last progress line (all messages).
    pub win_delivery: Histogram<u64>,
}

impl Default for Hists {
    fn default() -> Self {
        Hists {
            ack: histogram(),
            delivery: histogram(),
            win_ack: histogram(),
            win_delivery: histogram(),
        }
    }
}

/// A connection's buffered latency samples: `(microseconds, measured)` where
/// `measured` says the message was due after the ramp.
#[derive(Default)]
pub struct Samples {
    ack: Vec<(u64, bool)>,
    delivery: Vec<(u64, bool)>,
}

/// Samples buffered before a merge into [`Hists`].
const SAMPLE_BATCH: usize = 512;

impl Samples {
    /// Records a send→ack latency; merges when the buffer is full.
    pub fn ack(&mut self, us: u64, measured: bool, into: &Mutex<Hists>) {
        self.ack.push((us, measured));
        if self.ack.len() >= SAMPLE_BATCH {
            self.flush(into);
        }
    }

    /// Records a send→delivery latency; merges when the buffer is full.
    pub fn delivery(&mut self, us: u64, measured: bool, into: &Mutex<Hists>) {
        self.delivery.push((us, measured));
        if self.delivery.len() >= SAMPLE_BATCH {
            self.flush(into);
        }
    }

    /// Merges the buffered samples into the shared histograms.
    pub fn flush(&mut self, into: &Mutex<Hists>) {
        if self.ack.is_empty() && self.delivery.is_empty() {
            return;
        }
        let mut h = into.lock().unwrap_or_else(|p| p.into_inner());
        for &(us, measured) in &self.ack {
            let us = us.clamp(1, MAX_US);
            h.win_ack.saturating_record(us);
            if measured {
                h.ack.saturating_record(us);
            }
        }
        for &(us, measured) in &self.delivery {
            let us = us.clamp(1, MAX_US);
            h.win_delivery.saturating_record(us);
            if measured {
                h.delivery.saturating_record(us);
            }
        }
        drop(h);
        self.ack.clear();
        self.delivery.clear();
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Summarises a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    /// `p50 … max` on one line.
    pub fn line(&self) -> String {
        format!(
            "p50 {:.2} ms  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (n={})",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}

/// Counts by error code (`not_member`, `close_4008`, `connect_failed`, …).
pub type Errors = BTreeMap<String, u64>;

/// Adds one occurrence of `code`.
pub fn count(errors: &mut Errors, code: &str) {
    *errors.entry(code.to_string()).or_default() += 1;
}

/// Adds `b` into `a`.
pub fn merge(a: &mut Errors, b: &Errors) {
    for (k, v) in b {
        *a.entry(k.clone()).or_default() += v;
    }
}

/// The machine's load averages (1, 5, 15 minutes) from `/proc/loadavg`: the
/// generator shares the machine with the server, and often with other work.
pub fn load_average() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Resident set size of a process in bytes, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> std::io::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&s).ok_or_else(|| std::io::Error::other("no VmRSS line"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_merge_and_only_measured_ones_count_for_the_run() {
        let h = Mutex::new(Hists::default());
        let mut s = Samples::default();
        s.ack(1000, true, &h);
        s.ack(5000, false, &h);
        s.delivery(2000, true, &h);
        s.flush(&h);
        let h = h.into_inner().unwrap();
        assert_eq!(h.ack.len(), 1);
        assert_eq!(h.win_ack.len(), 2);
        assert_eq!(h.delivery.len(), 1);
        let l = Latency::of(&h.ack);
        assert!((l.p50_ms - 1.0).abs() < 0.01);
        assert_eq!(Latency::of(&histogram()).count, 0);
    }

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tchat\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(load_average().is_some_and(|l| l.iter().all(|x| *x >= 0.0)));
    }
}

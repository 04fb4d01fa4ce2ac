//! The open-loop send schedule.
//!
//! Message `n` (0-based, across the whole run) is due at a fixed offset from the
//! start, computed from the offered rate alone: a slow server cannot slow the
//! schedule down, and latency is measured from the due time, so time a message
//! spends waiting in the generator (for a free in-flight slot, for a blocked
//! socket) counts against the server ("coordinated omission" avoided).
//!
//! The rate ramps up linearly from 0 to `rate` over `ramp`, then stays at `rate`
//! until `duration` (which includes the ramp). Messages are dealt to the sending
//! connections round-robin: sender `j` of `s` sends messages `j, j+s, j+2s, …`.

use std::time::Duration;

/// When each message of a run is due.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Offered messages per second once ramped up.
    rate: f64,
    /// Seconds of linear ramp-up (≤ `duration`).
    ramp: f64,
    /// Seconds of sending, ramp included.
    duration: f64,
}

impl Schedule {
    /// A schedule; a ramp longer than the duration is cut to the duration.
    pub fn new(rate: f64, ramp: Duration, duration: Duration) -> Schedule {
        let duration = duration.as_secs_f64();
        Schedule {
            rate: rate.max(0.0),
            ramp: ramp.as_secs_f64().min(duration),
            duration,
        }
    }

    /// Messages due in `[0, t)` seconds, as a real number (the integral of the rate).
    fn count_at(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.duration);
        if t <= self.ramp {
            self.rate * t * t / (2.0 * self.ramp)
        } else {
            self.rate * self.ramp / 2.0 + self.rate * (t - self.ramp)
        }
    }

    /// Number of messages in the run.
    pub fn total(&self) -> u64 {
        self.count_at(self.duration).ceil() as u64
    }

    /// Seconds from the start at which message `n` is due (unchecked against the
    /// total): the `t` where `count_at(t) = n`.
    fn due_secs(&self, n: u64) -> f64 {
        let n = n as f64;
        if self.rate <= 0.0 {
            return f64::INFINITY;
        }
        let ramp_count = self.rate * self.ramp / 2.0;
        if n < ramp_count {
            (2.0 * n * self.ramp / self.rate).sqrt()
        } else {
            self.ramp + (n - ramp_count) / self.rate
        }
    }

    /// When message `n` is due, or `None` past the end of the run.
    pub fn due(&self, n: u64) -> Option<Duration> {
        (n < self.total()).then(|| Duration::from_secs_f64(self.due_secs(n)))
    }

    /// End of the ramp: messages due from here on are in the measured window.
    pub fn steady_from(&self) -> Duration {
        Duration::from_secs_f64(self.ramp)
    }

    /// End of sending.
    pub fn end(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }
}

/// The messages one sending connection owns: `first, first+stride, …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    /// The next message number this connection sends.
    pub next: u64,
    /// Number of sending connections.
    pub stride: u64,
}

impl Slots {
    /// Sender `index` of `senders`.
    pub fn new(index: u64, senders: u64) -> Slots {
        Slots {
            next: index,
            stride: senders.max(1),
        }
    }

    /// Moves to the next owned message.
    pub fn advance(&mut self) {
        self.next += self.stride;
    }

    /// Owned messages not yet taken, of a run of `total`.
    pub fn remaining(&self, total: u64) -> u64 {
        if self.next >= total {
            0
        } else {
            (total - self.next).div_ceil(self.stride)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn steady_rate_without_ramp_is_evenly_spaced() {
        let s = Schedule::new(100.0, Duration::ZERO, secs(2.0));
        assert_eq!(s.total(), 200);
        for n in 0..200 {
            let d = s.due(n).unwrap().as_secs_f64();
            assert!((d - n as f64 / 100.0).abs() < 1e-9, "n={n} d={d}");
        }
        assert_eq!(s.due(200), None);
    }

    #[test]
    fn ramp_is_monotone_slower_at_first_and_reaches_the_rate() {
        let s = Schedule::new(1000.0, secs(2.0), secs(5.0));
        // 1000 msgs/s over 3 s plus half of 2 s of ramp.
        assert_eq!(s.total(), 4000);
        let mut prev = Duration::ZERO;
        for n in 0..s.total() {
            let d = s.due(n).unwrap();
            assert!(d >= prev);
            assert!(d < secs(5.0));
            prev = d;
        }
        // During the ramp the gaps shrink; after it they are 1/rate.
        let gap = |n| (s.due(n + 1).unwrap() - s.due(n).unwrap()).as_secs_f64();
        assert!(gap(1) > gap(100));
        assert!((gap(3500) - 0.001).abs() < 1e-9);
        // The first half of the ramp carries a quarter of its messages.
        let ramp_msgs = s.count_at(2.0);
        assert!((ramp_msgs - 1000.0).abs() < 1e-9);
        assert!((s.count_at(1.0) - 250.0).abs() < 1e-9);
        assert_eq!(s.steady_from(), secs(2.0));
    }

    #[test]
    fn due_times_do_not_depend_on_anything_but_n() {
        // Open loop: the schedule is a pure function of n.
        let s = Schedule::new(333.0, secs(1.0), secs(3.0));
        let a: Vec<_> = (0..s.total()).map(|n| s.due(n)).collect();
        let b: Vec<_> = (0..s.total()).rev().map(|n| s.due(n)).collect();
        assert!(a.iter().eq(b.iter().rev()));
    }

    #[test]
    fn ramp_longer_than_duration_is_cut_and_zero_rate_sends_nothing() {
        let s = Schedule::new(100.0, secs(10.0), secs(2.0));
        assert_eq!(s.steady_from(), secs(2.0));
        assert_eq!(s.total(), 100); // half of 2 s at 100/s
        let z = Schedule::new(0.0, Duration::ZERO, secs(2.0));
        assert_eq!(z.total(), 0);
        assert_eq!(z.due(0), None);
    }

    #[test]
    fn slots_partition_the_run_between_senders() {
        let total = 103;
        let mut seen = vec![0u32; total as usize];
        let mut remaining = 0;
        for j in 0..7 {
            let mut sl = Slots::new(j, 7);
            remaining += sl.remaining(total);
            while sl.next < total {
                seen[sl.next as usize] += 1;
                sl.advance();
            }
            assert_eq!(sl.remaining(total), 0);
        }
        assert!(seen.iter().all(|&c| c == 1), "every message owned once");
        assert_eq!(remaining, total);
    }
}

//! Exactly-once, in-order delivery accounting for one (connection, chat) stream.
//!
//! The server promises that a connection receives a chat's messages in `seq`
//! order, each once, with no holes (see `docs/protocol.md`). A stream starts at
//! the chat's `last_seq` when the connection subscribed (`base`); every seq
//! above it, up to the chat's final `last_seq` read back from the server at the
//! end, must arrive exactly once, and never after a higher one.
//!
//! Memory is bounded: the stream keeps its highest seq and the holes below it
//! (seqs skipped and not yet seen), at most [`MAX_HOLES`] of them; holes past the
//! cap are counted as missing straight away.

use std::collections::BTreeSet;
use std::ops::AddAssign;

use serde::Serialize;

/// Most holes remembered per stream; a server that skips more is already
/// badly broken and the excess is reported as missing without tracking.
pub const MAX_HOLES: usize = 4096;

/// What one delivery was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The next seq: exactly what was expected.
    InOrder,
    /// Higher than the next seq: the ones between are (for now) holes.
    Skipped(u64),
    /// Fills a hole, i.e. arrives after a higher seq: out of order.
    Late,
    /// Seen before (or at or below the subscription point).
    Duplicate,
}

/// The delivery state of one chat on one connection.
#[derive(Clone, Debug)]
pub struct Stream {
    /// The chat's `last_seq` when the connection subscribed; later seqs are owed.
    base: u64,
    /// Highest seq received (`base` before any).
    hi: u64,
    /// Seqs in `(base, hi)` not received yet.
    holes: BTreeSet<u64>,
    /// Holes past [`MAX_HOLES`], counted as missing without being remembered.
    untracked: u64,
    /// Deliveries seen before.
    duplicated: u64,
    /// Deliveries that arrived after a higher seq.
    out_of_order: u64,
    /// Deliveries counted once (in order or late).
    received: u64,
}

impl Stream {
    /// A stream owed every seq after `base`.
    pub fn new(base: u64) -> Stream {
        Stream {
            base,
            hi: base,
            holes: BTreeSet::new(),
            untracked: 0,
            duplicated: 0,
            out_of_order: 0,
            received: 0,
        }
    }

    /// Accounts for the delivery of `seq`.
    pub fn on_seq(&mut self, seq: u64) -> Verdict {
        if seq == self.hi + 1 {
            self.hi = seq;
            self.received += 1;
            Verdict::InOrder
        } else if seq > self.hi {
            let skipped = seq - self.hi - 1;
            for s in self.hi + 1..seq {
                if self.holes.len() >= MAX_HOLES {
                    self.untracked += seq - s;
                    break;
                }
                self.holes.insert(s);
            }
            self.hi = seq;
            self.received += 1;
            Verdict::Skipped(skipped)
        } else if self.holes.remove(&seq) {
            self.out_of_order += 1;
            self.received += 1;
            Verdict::Late
        } else {
            self.duplicated += 1;
            Verdict::Duplicate
        }
    }

    /// The seq to resume from after a reconnect (`since_seq`).
    pub fn resume_from(&self) -> u64 {
        self.hi
    }

    /// Whether every seq up to `last_seq` has arrived.
    pub fn complete(&self, last_seq: u64) -> bool {
        self.hi >= last_seq && self.holes.is_empty() && self.untracked == 0
    }

    /// The stream's account against the chat's final `last_seq`.
    pub fn tally(&self, last_seq: u64) -> Tally {
        Tally {
            expected: last_seq.saturating_sub(self.base),
            received: self.received,
            missing: self.holes.len() as u64 + self.untracked + last_seq.saturating_sub(self.hi),
            duplicated: self.duplicated,
            out_of_order: self.out_of_order,
            beyond_last: self.hi.saturating_sub(last_seq.max(self.base)),
            unexpected: 0,
        }
    }
}

/// Correctness counters, summed over streams and connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Deliveries owed: for each stream, the seqs after its start.
    pub expected: u64,
    /// Deliveries counted once.
    pub received: u64,
    /// Owed deliveries that never arrived.
    pub missing: u64,
    /// Deliveries of a seq the connection already had.
    pub duplicated: u64,
    /// Deliveries that arrived after a higher seq of the same chat.
    pub out_of_order: u64,
    /// Seqs delivered above the chat's final `last_seq` (the server delivered
    /// something its history does not hold).
    pub beyond_last: u64,
    /// Message frames for chats the connection had not subscribed to.
    pub unexpected: u64,
}

impl Tally {
    /// Whether every correctness counter is zero.
    pub fn is_clean(&self) -> bool {
        self.missing == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.beyond_last == 0
            && self.unexpected == 0
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.expected += o.expected;
        self.received += o.received;
        self.missing += o.missing;
        self.duplicated += o.duplicated;
        self.out_of_order += o.out_of_order;
        self.beyond_last += o.beyond_last;
        self.unexpected += o.unexpected;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_exactly_once_is_clean() {
        let mut s = Stream::new(10);
        for seq in 11..=20 {
            assert_eq!(s.on_seq(seq), Verdict::InOrder);
        }
        assert!(s.complete(20));
        let t = s.tally(20);
        assert_eq!(t.expected, 10);
        assert_eq!(t.received, 10);
        assert!(t.is_clean(), "{t:?}");
        assert_eq!(s.resume_from(), 20);
    }

    #[test]
    fn duplicates_are_counted_once_each() {
        let mut s = Stream::new(0);
        s.on_seq(1);
        s.on_seq(2);
        assert_eq!(s.on_seq(2), Verdict::Duplicate);
        assert_eq!(s.on_seq(1), Verdict::Duplicate);
        s.on_seq(3);
        let t = s.tally(3);
        assert_eq!(
            (t.received, t.duplicated, t.missing, t.out_of_order),
            (3, 2, 0, 0)
        );
        assert!(!t.is_clean());
    }

    #[test]
    fn at_or_below_the_subscription_point_is_a_duplicate() {
        let mut s = Stream::new(5);
        assert_eq!(s.on_seq(5), Verdict::Duplicate);
        assert_eq!(s.on_seq(3), Verdict::Duplicate);
        assert_eq!(s.tally(5).duplicated, 2);
    }

    #[test]
    fn a_hole_filled_later_is_out_of_order_not_missing() {
        let mut s = Stream::new(0);
        s.on_seq(1);
        assert_eq!(s.on_seq(4), Verdict::Skipped(2));
        assert!(!s.complete(4));
        assert_eq!(s.on_seq(3), Verdict::Late);
        assert_eq!(s.on_seq(2), Verdict::Late);
        assert_eq!(s.on_seq(3), Verdict::Duplicate);
        assert!(s.complete(4));
        let t = s.tally(4);
        assert_eq!(
            (t.received, t.missing, t.out_of_order, t.duplicated),
            (4, 0, 2, 1)
        );
    }

    #[test]
    fn holes_and_the_tail_are_missing() {
        let mut s = Stream::new(0);
        s.on_seq(1);
        s.on_seq(3); // 2 never comes
        s.on_seq(4);
        // The chat ended at 6: 5 and 6 never came either.
        let t = s.tally(6);
        assert_eq!(t.expected, 6);
        assert_eq!(t.received, 3);
        assert_eq!(t.missing, 3);
        assert_eq!(t.out_of_order, 0);
        assert!(!s.complete(6));
    }

    #[test]
    fn seqs_beyond_the_final_last_seq_are_reported() {
        let mut s = Stream::new(0);
        s.on_seq(1);
        s.on_seq(2);
        let t = s.tally(1);
        assert_eq!(t.beyond_last, 1);
        assert!(!t.is_clean());
    }

    #[test]
    fn holes_are_bounded() {
        let mut s = Stream::new(0);
        s.on_seq(1_000_000);
        assert_eq!(s.holes.len(), MAX_HOLES);
        let t = s.tally(1_000_000);
        assert_eq!(t.missing, 999_999);
        assert_eq!(t.received, 1);
        // A late arrival of a tracked hole is still recognised.
        assert_eq!(s.on_seq(1), Verdict::Late);
        assert_eq!(s.tally(1_000_000).missing, 999_998);
    }

    #[test]
    fn tallies_add_up() {
        let mut a = Tally {
            expected: 1,
            received: 1,
            ..Tally::default()
        };
        a += Tally {
            expected: 2,
            missing: 2,
            unexpected: 1,
            ..Tally::default()
        };
        assert_eq!(a.expected, 3);
        assert_eq!(a.missing, 2);
        assert_eq!(a.unexpected, 1);
        assert!(!a.is_clean());
    }
}

//! Receiving: acks, errors and deliveries, and the completeness check.

use std::sync::atomic::Ordering;

use chat_core::ChatId;

use super::{Conn, MAX_RESENDS, MAX_SET_ASIDE, Phase};
use crate::checker::Verdict;
use crate::frames::{self, Incoming, Payload};

impl Conn {
    /// Accounts for one server frame.
    pub(super) fn on_frame(&mut self, f: Incoming) {
        match &*f.ty {
            "message" => {
                if let Some(m) = f.msg() {
                    self.on_message(m.chat_id, m.seq, &m.text);
                }
            }
            "ack" => {
                let n = f.client_msg_id.as_deref().and_then(frames::msg_number);
                let seq = f.msg().map(|m| m.seq);
                self.on_ack(n, seq, f.duplicate);
            }
            "rejected" | "error" => {
                let code = f.code.as_deref().unwrap_or("error").to_string();
                self.error(&code);
                let key = f.client_msg_id.as_deref().or(f.reference.as_deref());
                let Some(n) = key.and_then(frames::msg_number) else {
                    return;
                };
                // The outcome of a timed-out send is unknown: resend it with the
                // same key to learn it, as the protocol says; while sending on
                // schedule, only later (see `set_aside`).
                if code == "timeout"
                    && let Some(mut p) = self.pending.remove(&n)
                {
                    if !p.timed_out
                        && let Some(now) = self.now_us()
                    {
                        // The ack takes at least this long: count the timeout
                        // answer as the ack latency rather than drop the sample.
                        let measured = p.due_us >= self.window.0;
                        self.samples
                            .ack(now.saturating_sub(p.due_us), measured, &self.sh.hists);
                    }
                    p.timed_out = true;
                    if matches!(self.phase, Phase::Send { .. }) {
                        if self.set_aside.len() < MAX_SET_ASIDE {
                            self.set_aside.push((n, p));
                        } else {
                            self.report.unanswered += 1;
                            self.sh.live.inflight.fetch_sub(1, Ordering::Relaxed);
                        }
                    } else if p.resends < MAX_RESENDS {
                        p.resends += 1;
                        p.resent = true;
                        self.resend.push(p.frame.clone());
                        self.pending.insert(n, p);
                    } else {
                        self.report.unanswered += 1;
                        self.sh.live.inflight.fetch_sub(1, Ordering::Relaxed);
                    }
                    return;
                }
                if self.pending.remove(&n).is_some() {
                    self.sh.live.inflight.fetch_sub(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_message(&mut self, chat: ChatId, seq: u64, text: &str) {
        self.sh.live.delivered.fetch_add(1, Ordering::Relaxed);
        let Some(stream) = self.streams.get_mut(&chat) else {
            self.report.tally.unexpected += 1;
            return;
        };
        if stream.on_seq(seq) == Verdict::Duplicate {
            return;
        }
        let Some(now) = self.now_us() else {
            return;
        };
        if let Some(p) = Payload::parse(text).filter(|p| p.run == self.sh.run) {
            let measured = p.due_us >= self.window.0;
            self.samples
                .delivery(now.saturating_sub(p.due_us), measured, &self.sh.hists);
        }
        if self.in_window(now) {
            self.report.delivered_in_window += 1;
        }
    }

    pub(super) fn on_ack(&mut self, n: Option<u64>, seq: Option<u64>, duplicate: bool) {
        let Some(p) = n.and_then(|n| self.pending.remove(&n)) else {
            self.error("unknown_ack");
            return;
        };
        self.sh.live.inflight.fetch_sub(1, Ordering::Relaxed);
        if duplicate && !p.resent {
            self.error("unexpected_duplicate_ack");
        }
        if let Some(seq) = seq {
            let m = self.report.max_acked.entry(p.chat).or_default();
            *m = (*m).max(seq);
        }
        self.sh.live.acked.fetch_add(1, Ordering::Relaxed);
        let Some(now) = self.now_us() else {
            return;
        };
        if p.timed_out {
            return;
        }
        let measured = p.due_us >= self.window.0;
        self.samples
            .ack(now.saturating_sub(p.due_us), measured, &self.sh.hists);
        if self.in_window(now) {
            self.report.acked_in_window += 1;
        }
    }

    pub(super) fn check_complete(&mut self) {
        if self.complete {
            return;
        }
        let Some((last_seq, round)) = &self.expected else {
            return;
        };
        let done = self.pending.is_empty()
            && self.set_aside.is_empty()
            && self.streams.iter().all(|(chat, s)| {
                let last = last_seq.get(chat).copied().unwrap_or(s.resume_from());
                s.complete(last)
            });
        if done {
            self.complete = true;
            let mut inc = self.sh.incomplete.lock().unwrap_or_else(|p| p.into_inner());
            if inc.0 == *round {
                inc.1 = inc.1.saturating_sub(1);
            }
        }
    }
}

//! Sending: the open-loop schedule of a connection, and resends.

use std::sync::atomic::Ordering;

use futures_util::SinkExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::{Conn, Pending, Phase};
use crate::frames::{self, Payload};
use crate::ws::Ws;

impl Conn {
    /// The next message this connection may send now or later, and when.
    pub(super) fn next_due(&self) -> Option<(u64, Instant)> {
        let Phase::Send { start } = self.phase else {
            return None;
        };
        let slots = self.plan.slots?;
        if self.pending.len() >= self.sh.max_inflight || self.plan.chats.is_empty() {
            return None;
        }
        let at = self.sh.schedule.due(slots.next)?;
        Some((slots.next, start + at))
    }

    /// Sends every message due by now (up to the in-flight limit), in one flush.
    pub(super) async fn send_due(&mut self, ws: &mut Ws) -> Result<(), String> {
        let Some(now) = self.now_us() else {
            return Ok(());
        };
        let mut wrote = false;
        while self.pending.len() < self.sh.max_inflight {
            let Some(slots) = self.plan.slots.as_mut() else {
                break;
            };
            let Some(due) = self.sh.schedule.due(slots.next) else {
                break;
            };
            let due_us = due.as_micros() as u64;
            if due_us > now {
                break;
            }
            let n = slots.next;
            slots.advance();
            let chat = self.plan.chats[self.rng.below(self.plan.chats.len())];
            let text = Payload {
                run: &self.sh.run,
                due_us,
            }
            .text(self.sh.text_bytes);
            let id = frames::client_msg_id(&self.sh.run, self.plan.index, n);
            let frame: Utf8Bytes = frames::send_frame(chat, id, text).into();
            self.pending.insert(
                n,
                Pending {
                    due_us,
                    chat,
                    frame: frame.clone(),
                    resent: false,
                    resends: 0,
                    timed_out: false,
                },
            );
            self.sh.live.sent.fetch_add(1, Ordering::Relaxed);
            self.sh.live.inflight.fetch_add(1, Ordering::Relaxed);
            ws.feed(Message::Text(frame))
                .await
                .map_err(|_| "socket_closed".to_string())?;
            wrote = true;
        }
        if wrote {
            ws.flush().await.map_err(|_| "socket_closed".to_string())?;
        }
        Ok(())
    }

    /// Resends set-aside sends, up to the in-flight limit.
    pub(super) async fn send_set_aside(&mut self, ws: &mut Ws) -> Result<(), String> {
        let mut wrote = false;
        while self.pending.len() < self.sh.max_inflight {
            let Some((n, mut p)) = self.set_aside.pop() else {
                break;
            };
            p.resent = true;
            p.resends += 1;
            let frame = p.frame.clone();
            self.pending.insert(n, p);
            ws.feed(Message::Text(frame))
                .await
                .map_err(|_| "socket_closed".to_string())?;
            wrote = true;
        }
        if wrote {
            ws.flush().await.map_err(|_| "socket_closed".to_string())?;
        }
        Ok(())
    }

    pub(super) async fn send_resends(&mut self, ws: &mut Ws) -> Result<(), String> {
        if self.resend.is_empty() {
            return Ok(());
        }
        for frame in self.resend.drain(..) {
            ws.feed(Message::Text(frame))
                .await
                .map_err(|_| "socket_closed".to_string())?;
        }
        ws.flush().await.map_err(|_| "socket_closed".to_string())
    }

    /// Sends a `typing` notice to one of its chats when one is due (every
    /// `typing_every`, from a random offset so that connections spread out).
    pub(super) async fn send_typing(&mut self, ws: &mut Ws) -> Result<(), String> {
        let (Some(every), Phase::Send { .. }) = (self.sh.typing_every, &self.phase) else {
            return Ok(());
        };
        if self.plan.chats.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let next = *self.next_typing.get_or_insert_with(|| {
            let spread = every.as_micros().max(1) as usize;
            now + std::time::Duration::from_micros(self.rng.below(spread) as u64)
        });
        if now < next {
            return Ok(());
        }
        self.next_typing = Some(next + every);
        let chat = self.plan.chats[self.rng.below(self.plan.chats.len())];
        let frame = frames::typing_frame(chat);
        ws.send(Message::Text(frame.into()))
            .await
            .map_err(|_| "socket_closed".to_string())
    }
}

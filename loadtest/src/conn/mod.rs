//! One simulated client device in a load run: a WebSocket connection that
//! subscribes to every chat of its user, sends its share of the open-loop
//! schedule, acknowledges nothing but measures everything, and checks every
//! delivery against [`Stream`]. A dropped connection reconnects and resumes
//! with `since_seq`, as a real client would; unanswered sends are resent with
//! the same `client_msg_id`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chat_core::ChatId;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::checker::{Stream, Tally};
use crate::frames::{self, Incoming};
use crate::rng::Rng;
use crate::schedule::{Schedule, Slots};
use crate::stats::{self, Errors, Hists, Live, Samples};
use crate::ws::{self, Endpoint, Ws};

mod recv;
mod send;

/// Where the run is; every connection follows it through a `watch`.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Connecting and subscribing; nothing is sent.
    Setup,
    /// Sending on schedule; the schedule's zero is `start`.
    Send { start: Instant },
    /// Sending has ended; answers and deliveries still arrive.
    Drain { start: Instant },
    /// Every chat's final `last_seq` is known: connections report when they
    /// hold every message they are owed.
    Verify {
        start: Instant,
        last_seq: Arc<HashMap<ChatId, u64>>,
        /// Counts the reads of the truth; see [`Shared::incomplete`].
        round: u64,
    },
    /// Close and report.
    Stop,
}

impl Phase {
    fn start(&self) -> Option<Instant> {
        match self {
            Phase::Send { start } | Phase::Drain { start } | Phase::Verify { start, .. } => {
                Some(*start)
            }
            Phase::Setup | Phase::Stop => None,
        }
    }
}

/// What every connection of a run shares.
pub struct Shared {
    /// Run id: in every `client_msg_id` and message text.
    pub run: String,
    /// When each message is due.
    pub schedule: Schedule,
    /// Bytes of message text.
    pub text_bytes: usize,
    /// How often each connection sends a `typing` notice while sending.
    pub typing_every: Option<Duration>,
    /// Sends awaiting an answer per connection before the next waits (the
    /// server refuses more than 256 with `too_many_requests`).
    pub max_inflight: usize,
    /// Progress counters.
    pub live: Live,
    /// Latency histograms.
    pub hists: Mutex<Hists>,
    /// Bounds concurrent connection attempts (each costs the server a token
    /// check and some subscriptions).
    pub connect_limit: Semaphore,
    /// The current [`Phase::Verify`] round, and the connections that do not
    /// yet hold every message they are owed in it.
    pub incomplete: Mutex<(u64, usize)>,
    /// Seed of the per-connection chat choice.
    pub seed: u64,
}

/// One connection's part in the run.
pub struct Plan {
    /// Connection number (also picks the source address, see [`ws::connect`]).
    pub index: usize,
    /// The user's token.
    pub token: String,
    /// Every gateway; it connects to `endpoints[index mod len]` and, after a
    /// drop, moves on to the next one (as a client does when a gateway drains).
    pub endpoints: Arc<Vec<Endpoint>>,
    /// The user's chats: all subscribed, sends go to one at random.
    pub chats: Vec<ChatId>,
    /// The messages it sends, if it sends.
    pub slots: Option<Slots>,
}

/// A connection's results.
#[derive(Default)]
pub struct Report {
    /// Delivery correctness over its streams.
    pub tally: Tally,
    /// Failures by code.
    pub errors: Errors,
    /// Messages of its share never sent (it was at its in-flight limit until
    /// sending ended).
    pub unsent: u64,
    /// Sends without an answer at the end.
    pub unanswered: u64,
    /// Acks that arrived in the measured window.
    pub acked_in_window: u64,
    /// Deliveries that arrived in the measured window.
    pub delivered_in_window: u64,
    /// Highest seq acknowledged per chat it sent to.
    pub max_acked: HashMap<ChatId, u64>,
    /// Whether it completed setup.
    pub connected: bool,
}

/// A send awaiting its answer.
struct Pending {
    /// Microseconds after the start it was due.
    due_us: u64,
    /// Target chat.
    chat: ChatId,
    /// The frame, kept to resend after a reconnect.
    frame: Utf8Bytes,
    /// Sent again after a reconnect or a `timeout` (a `duplicate` ack is then expected).
    resent: bool,
    /// Resends after a `timeout` so far.
    resends: u32,
    /// Answered `timeout` at least once: its ack latency is the time of that
    /// answer (a lower bound), not of the ack to a resend (when to resend is
    /// the generator's choice, not the server's latency).
    timed_out: bool,
}

/// How long a connection waits for `ready` or `subscribed`.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Subscribe attempts per chat: in distributed mode a chat created a moment ago
/// may not be in every cache yet.
const SUBSCRIBE_ATTEMPTS: u32 = 20;
/// Reconnect attempts after a connection drops.
const RECONNECT_ATTEMPTS: u32 = 30;
/// Resends of one message after `timeout` answers before it is given up.
const MAX_RESENDS: u32 = 5;
/// Most timed-out sends set aside per connection; past it they are given up
/// (counted as `unanswered`) to keep memory bounded.
const MAX_SET_ASIDE: usize = 50_000;
/// How often samples are merged and completeness is checked.
const TICK: Duration = Duration::from_millis(200);

struct Conn {
    plan: Plan,
    sh: Arc<Shared>,
    phase: Phase,
    streams: HashMap<ChatId, Stream>,
    pending: HashMap<u64, Pending>,
    samples: Samples,
    rng: Rng,
    report: Report,
    /// Completeness already reported in the current [`Phase::Verify`] round.
    complete: bool,
    /// Every chat's final `last_seq`, and the round, from [`Phase::Verify`].
    expected: Option<(Arc<HashMap<ChatId, u64>>, u64)>,
    /// Microseconds after the start at which the measured window opens and closes.
    window: (u64, u64),
    /// Connection attempts so far (picks the gateway).
    attempts: usize,
    /// Frames to send again (timed-out sends), written after the frame that asked.
    resend: Vec<Utf8Bytes>,
    /// Sends answered `timeout` while sending on schedule: set aside, with their
    /// in-flight slot freed, and resent once sending has ended to learn their
    /// outcome. Resending at once would add load exactly when the server is
    /// behind (each resend is another command to process) and collapse its
    /// throughput under overload, which is not what a run means to measure.
    set_aside: Vec<(u64, Pending)>,
    /// When the next `typing` notice is due.
    next_typing: Option<Instant>,
}

/// Runs one connection through the phases; tells `ready` when subscribed.
pub async fn run(
    plan: Plan,
    sh: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Report {
    let rng = Rng::new(sh.seed ^ (plan.index as u64).wrapping_mul(0x9E37_79B9));
    let window = (
        sh.schedule.steady_from().as_micros() as u64,
        sh.schedule.end().as_micros() as u64,
    );
    let mut c = Conn {
        plan,
        sh,
        phase: Phase::Setup,
        streams: HashMap::new(),
        pending: HashMap::new(),
        samples: Samples::default(),
        rng,
        report: Report::default(),
        complete: false,
        expected: None,
        window,
        attempts: 0,
        resend: Vec::new(),
        set_aside: Vec::new(),
        next_typing: None,
    };
    let opened = {
        let sh = c.sh.clone();
        let _permit = sh.connect_limit.acquire().await;
        c.open().await
    };
    let ws = match opened {
        Ok(ws) => {
            c.report.connected = true;
            let _ = ready.send(Ok(())).await;
            ws
        }
        Err(code) => {
            stats::count(&mut c.report.errors, &code);
            c.sh.live.errors.fetch_add(1, Ordering::Relaxed);
            let _ = ready.send(Err(code)).await;
            return c.report;
        }
    };
    drop(ready);
    c.main_loop(ws, &mut phase).await;
    c.finish()
}

impl Conn {
    fn now_us(&self) -> Option<u64> {
        self.phase
            .start()
            .map(|s| Instant::now().saturating_duration_since(s).as_micros() as u64)
    }

    /// Connects to the next gateway in turn.
    async fn connect(&mut self) -> Result<Ws, ws::ConnectError> {
        let eps = &self.plan.endpoints;
        let ep = &eps[(self.plan.index + self.attempts) % eps.len()];
        self.attempts += 1;
        ws::connect(ep, &self.plan.token, self.plan.index).await
    }

    /// Connects, waits for `ready`, and subscribes to every chat one by one,
    /// each stream starting at the chat's `last_seq`.
    async fn open(&mut self) -> Result<Ws, String> {
        let mut ws = self.connect().await.map_err(|e| e.code)?;
        self.await_frame(&mut ws, |f| f.ty == "ready").await?;
        for chat in self.plan.chats.clone() {
            let mut attempt = 0;
            loop {
                attempt += 1;
                send_text(&mut ws, frames::subscribe_frame(chat, None).into())
                    .await
                    .map_err(|_| "socket_closed".to_string())?;
                let f = self
                    .await_frame(&mut ws, |f| {
                        (f.ty == "subscribed" && f.chat_id == Some(chat)) || f.ty == "error"
                    })
                    .await?;
                if let Some(base) = f {
                    self.streams.insert(chat, Stream::new(base));
                    break;
                }
                if attempt >= SUBSCRIBE_ATTEMPTS {
                    return Err("subscribe_failed".into());
                }
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
        }
        Ok(ws)
    }

    /// Reads frames until one matches `want`: `Ok(Some(last_seq))` for a
    /// `subscribed`, `Ok(None)` for anything else that matched. Message frames
    /// met meanwhile go through the checker.
    async fn await_frame(
        &mut self,
        ws: &mut Ws,
        want: impl Fn(&Incoming) -> bool,
    ) -> Result<Option<u64>, String> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let msg = tokio::time::timeout_at(deadline, ws.next())
                .await
                .map_err(|_| "answer_timeout".to_string())?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let Ok(f) = Incoming::parse(t.as_str()) else {
                        return Err("bad_frame".into());
                    };
                    if want(&f) {
                        if f.ty == "error" {
                            let code = f.code.as_deref().unwrap_or("error");
                            stats::count(&mut self.report.errors, code);
                            self.sh.live.errors.fetch_add(1, Ordering::Relaxed);
                            return Ok(None);
                        }
                        return Ok(if f.ty == "subscribed" {
                            Some(f.last_seq.unwrap_or(0))
                        } else {
                            None
                        });
                    }
                    self.on_frame(f);
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(
                        c.map_or("closed".into(), |c| format!("close_{}", u16::from(c.code)))
                    );
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err("socket_closed".into()),
            }
        }
    }

    async fn main_loop(&mut self, mut ws: Ws, phase_rx: &mut watch::Receiver<Phase>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        // The message number the timer is set for.
        let mut armed: Option<u64> = None;
        loop {
            if !self.set_aside.is_empty()
                && matches!(self.phase, Phase::Drain { .. } | Phase::Verify { .. })
                && let Err(code) = self.send_set_aside(&mut ws).await
            {
                self.error(&code);
                match self.reconnect(phase_rx).await {
                    Some(w) => ws = w,
                    None => break,
                }
                continue;
            }
            let due = self.next_due();
            if let Some((n, at)) = due
                && armed != Some(n)
            {
                sleep.as_mut().reset(at);
                armed = Some(n);
            }
            let outcome: Result<(), String> = tokio::select! {
                biased;
                changed = phase_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let p = phase_rx.borrow_and_update().clone();
                    // Messages due by the end go out (late) rather than count
                    // as unsent because the end was noticed first.
                    let last = if matches!(self.phase, Phase::Send { .. })
                        && !matches!(p, Phase::Send { .. })
                    {
                        self.send_due(&mut ws).await
                    } else {
                        Ok(())
                    };
                    self.enter(p);
                    if matches!(self.phase, Phase::Stop) {
                        break;
                    }
                    last
                }
                () = &mut sleep, if due.is_some() => {
                    armed = None;
                    self.send_due(&mut ws).await
                }
                _ = tick.tick() => {
                    self.samples.flush(&self.sh.hists);
                    self.check_complete();
                    self.send_typing(&mut ws).await
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        match Incoming::parse(t.as_str()) {
                            Ok(f) => self.on_frame(f),
                            Err(_) => self.error("bad_frame"),
                        }
                        self.send_resends(&mut ws).await
                    }
                    Some(Ok(Message::Close(c))) => Err(c.map_or("closed".into(), |c| format!("close_{}", u16::from(c.code)))),
                    Some(Ok(_)) => Ok(()),
                    Some(Err(_)) | None => Err("socket_closed".into()),
                },
            };
            if let Err(code) = outcome {
                self.error(&code);
                match self.reconnect(phase_rx).await {
                    Some(w) => ws = w,
                    None => break,
                }
            }
        }
        self.samples.flush(&self.sh.hists);
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }

    fn enter(&mut self, p: Phase) {
        if matches!(p, Phase::Drain { .. } | Phase::Verify { .. } | Phase::Stop)
            && matches!(self.phase, Phase::Send { .. } | Phase::Setup)
            && let Some(slots) = self.plan.slots
        {
            self.report.unsent += slots.remaining(self.sh.schedule.total());
            self.plan.slots = None;
        }
        if let Phase::Verify {
            last_seq, round, ..
        } = &p
        {
            self.expected = Some((last_seq.clone(), *round));
            self.complete = false;
        }
        self.phase = p;
        self.check_complete();
    }

    /// Counts a failure by code.
    fn error(&mut self, code: &str) {
        stats::count(&mut self.report.errors, code);
        self.sh.live.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether `now` (µs after the start) is in the measured window.
    fn in_window(&self, now: u64) -> bool {
        now >= self.window.0 && now <= self.window.1
    }

    /// Reconnects and resumes every chat from its highest seq, then resends
    /// the unanswered sends. `None` when the run ends first or it cannot.
    async fn reconnect(&mut self, phase_rx: &mut watch::Receiver<Phase>) -> Option<Ws> {
        self.sh.live.reconnects.fetch_add(1, Ordering::Relaxed);
        for attempt in 1..=RECONNECT_ATTEMPTS {
            if phase_rx.has_changed().unwrap_or(true) {
                let p = phase_rx.borrow_and_update().clone();
                self.enter(p);
            }
            if matches!(self.phase, Phase::Stop) {
                return None;
            }
            match self.connect().await {
                Ok(mut ws) => {
                    if self.resume(&mut ws).await.is_ok() {
                        return Some(ws);
                    }
                    self.error("resume_failed");
                }
                Err(e) => self.error(&e.code),
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(20)))).await;
        }
        self.error("gave_up_reconnecting");
        None
    }

    async fn resume(&mut self, ws: &mut Ws) -> Result<(), String> {
        self.await_frame(ws, |f| f.ty == "ready").await?;
        let subs: Vec<(ChatId, u64)> = self
            .streams
            .iter()
            .map(|(c, s)| (*c, s.resume_from()))
            .collect();
        for (chat, since) in subs {
            ws.feed(Message::text(frames::subscribe_frame(chat, Some(since))))
                .await
                .map_err(|_| "socket_closed".to_string())?;
        }
        self.resend.clear();
        for p in self.pending.values_mut() {
            p.resent = true;
            ws.feed(Message::Text(p.frame.clone()))
                .await
                .map_err(|_| "socket_closed".to_string())?;
        }
        ws.flush().await.map_err(|_| "socket_closed".to_string())
    }

    fn finish(mut self) -> Report {
        let last = self.expected.clone().map(|(m, _)| m);
        for (chat, s) in &self.streams {
            let l = last
                .as_ref()
                .and_then(|m| m.get(chat).copied())
                .unwrap_or(s.resume_from());
            self.report.tally += s.tally(l);
        }
        self.report.unanswered += (self.pending.len() + self.set_aside.len()) as u64;
        self.report
    }
}

async fn send_text(ws: &mut Ws, text: Utf8Bytes) -> Result<(), ()> {
    ws.send(Message::Text(text)).await.map_err(|_| ())
}

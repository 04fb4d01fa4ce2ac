//! One WebSocket connection: authentication, subscriptions with resume by seq,
//! commands with acks, and delivery of events in seq order without gaps or
//! duplicates. The protocol is described in `docs/protocol.md`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chat_core::ports::{Change, HistoryPage};
use chat_core::wire::{
    ClientFrame, Command, Envelope, Event, Outcome, PubKind, ServerFrame, chat_channel,
    user_channel,
};
use chat_core::{ChatId, Code, MessageId, UserId, now_ms};
use futures_util::stream::{FuturesUnordered, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};

use crate::commands::Pending;
use crate::error::ApiError;
use crate::hub::{ConnId, ConnTx};
use crate::metrics;
use crate::state::AppState;

/// Close code: authentication failed or timed out.
pub const CLOSE_AUTH: u16 = 4001;
/// Close code: the client did not keep up with its events (resume by seq).
pub const CLOSE_SLOW: u16 = 4008;
/// Close code: frame larger than the transport limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: the gateway is shutting down; reconnect (to another gateway).
pub const CLOSE_RESTART: u16 = 1012;

/// Initial read buffer of a connection.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes buffered before a write goes to the socket (bursts are flushed at their end).
const WRITE_BUFFER: usize = 8 * 1024;
/// Most bytes a connection may have buffered for writing (bounded memory).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// Messages per page when replaying history into a connection.
const REPLAY_PAGE: u32 = 200;

/// `GET /ws`: upgrades to a WebSocket. A valid bearer token in the request
/// authenticates at once; otherwise the first frame must be `auth`.
pub async fn upgrade(
    State(st): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let pre = match headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        }) {
        Some(t) => match st.tokens.verify(t.trim()) {
            Ok(u) => Some(u),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    if !st.accepting.load(std::sync::atomic::Ordering::Relaxed) {
        return ApiError::new(Code::Unavailable, "gateway is draining; connect to another")
            .into_response();
    }
    let limit = st.cfg.max_frame_bytes.saturating_mul(2).max(1024);
    // Small transport buffers: an idle connection should cost a few KiB, not the
    // 2 × 128 KiB tungstenite allocates by default. Reads of larger frames grow
    // the buffer as needed; writes are flushed per burst anyway.
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER.max(limit * 2))
        .on_upgrade(move |socket| async move { Conn::serve(st, socket, pre).await })
}

type Sink = SplitSink<WebSocket, WsMessage>;
type Reply = Pin<Box<dyn Future<Output = Bytes> + Send>>;

/// Per-chat delivery state of a connection.
struct ChatSub {
    /// Highest seq sent to the client; live messages at or below are duplicates.
    delivered: u64,
}

struct Conn {
    st: AppState,
    id: ConnId,
    user: UserId,
    sink: Sink,
    txq: ConnTx,
    subs: HashMap<ChatId, ChatSub>,
    /// Commands awaiting their outcome, each resolving to the frame to send.
    replies: FuturesUnordered<Reply>,
    /// Writes are buffered (a burst is being delivered) rather than flushed.
    coalescing: bool,
}

/// Most queued events written before one flush.
const BURST: usize = 64;

/// One socket operation, bounded by the write timeout and abandoned when the
/// connection's queue overflows meanwhile (the client stopped reading).
async fn io<F>(op: F, slow: &Notify, timeout: Duration) -> Result<(), Stop>
where
    F: Future<Output = Result<(), axum::Error>>,
{
    tokio::select! {
        r = tokio::time::timeout(timeout, op) => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => Err(Stop::Slow),
        },
        _ = slow.notified() => Err(Stop::Slow),
    }
}

fn encode(frame: &ServerFrame) -> Bytes {
    serde_json::to_vec(frame)
        .map(Bytes::from)
        .unwrap_or_default()
}

fn error_frame(code: Code, message: impl Into<String>, reference: Option<String>) -> Bytes {
    encode(&ServerFrame::Error {
        code,
        message: message.into(),
        reference,
        chat_id: None,
    })
}

fn api_error_frame(e: ApiError, reference: Option<String>) -> Bytes {
    metrics::ERRORS.with_label_values(&[e.code.as_str()]).inc();
    error_frame(e.code, e.message, reference)
}

/// Why a connection ends.
enum End {
    /// The client closed or the socket failed.
    Gone,
    /// Close with a code and reason.
    Close(u16, &'static str),
}

impl Conn {
    async fn serve(st: AppState, socket: WebSocket, pre: Option<UserId>) {
        let (mut sink, mut stream) = socket.split();
        let user = match pre {
            Some(u) => u,
            None => match authenticate(&st, &mut sink, &mut stream).await {
                Some(u) => u,
                None => return,
            },
        };
        let (tx, mut rx) = mpsc::channel::<Envelope>(st.cfg.conn_queue.max(1));
        let slow = Arc::new(Notify::new());
        let mut conn = Conn {
            id: st.hub.conn_id(),
            user,
            sink,
            txq: ConnTx {
                tx,
                slow: slow.clone(),
            },
            subs: HashMap::new(),
            replies: FuturesUnordered::new(),
            coalescing: false,
            st,
        };
        metrics::CONNECTIONS.inc();
        let end = conn.run(&mut stream, &mut rx, &slow).await;
        if let End::Close(code, reason) = end {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            // A slow client's close frame waits behind the data it has not read:
            // give it the write timeout to drain, so the client learns why.
            let wait = if code == CLOSE_SLOW {
                conn.st.cfg.write_timeout
            } else {
                Duration::from_secs(1)
            };
            let _ = tokio::time::timeout(wait, conn.sink.send(WsMessage::Close(Some(frame)))).await;
        }
        conn.cleanup().await;
        metrics::CONNECTIONS.dec();
    }

    async fn run(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        rx: &mut mpsc::Receiver<Envelope>,
        slow: &Notify,
    ) -> End {
        let mut shutdown = self.st.shutdown.clone();
        let stop = async move {
            let _ = shutdown.wait_for(|v| *v).await;
        };
        tokio::pin!(stop);
        if let Err(e) = self
            .st
            .hub
            .subscribe(&user_channel(self.user), self.id, &self.txq)
            .await
        {
            tracing::warn!(error = %e, "cannot subscribe user channel");
            return End::Close(1011, "pub/sub unavailable");
        }
        let ready = encode(&ServerFrame::Ready {
            user_id: self.user,
            gateway: self.st.cfg.instance_id.clone(),
        });
        if let Err(stop) = self.write(ready).await {
            return match stop {
                Stop::Gone => End::Gone,
                Stop::Slow => slow_close(),
            };
        }
        loop {
            let step = tokio::select! {
                biased;
                _ = &mut stop => return End::Close(CLOSE_RESTART, "server shutting down; reconnect"),
                _ = slow.notified() => return slow_close(),
                Some(frame) = self.replies.next(), if !self.replies.is_empty() => self.write(frame).await,
                Some(env) = rx.recv() => self.deliver_burst(env, rx).await,
                msg = stream.next() => match msg {
                    None => return End::Gone,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        return if is_too_big(&e) { End::Close(CLOSE_TOO_BIG, "frame too large") } else { End::Gone };
                    }
                    Some(Ok(WsMessage::Text(t))) => self.on_text(t).await,
                    Some(Ok(WsMessage::Binary(_))) => {
                        self.write(error_frame(Code::BadJson, "binary frames are not supported; send JSON text", None)).await
                    }
                    Some(Ok(WsMessage::Close(_))) => return End::Gone,
                    Some(Ok(_)) => Ok(()),
                },
            };
            match step {
                Ok(()) => {}
                Err(Stop::Gone) => return End::Gone,
                Err(Stop::Slow) => return slow_close(),
            }
        }
    }

    async fn cleanup(&mut self) {
        let hub = self.st.hub.clone();
        hub.unsubscribe(&user_channel(self.user), self.id).await;
        for chat in self.subs.keys() {
            hub.unsubscribe(&chat_channel(*chat), self.id).await;
        }
    }

    /// Sends one text frame, bounded in time: a client that does not read is slow.
    async fn write(&mut self, json: Bytes) -> Result<(), Stop> {
        let text = Utf8Bytes::try_from(json).map_err(|_| Stop::Gone)?;
        let msg = WsMessage::Text(text);
        let r = if self.coalescing {
            // Part of a burst: buffered, flushed once at its end.
            let slow = self.txq.slow.clone();
            let timeout = self.st.cfg.write_timeout;
            io(self.sink.feed(msg), &slow, timeout).await
        } else {
            let slow = self.txq.slow.clone();
            let timeout = self.st.cfg.write_timeout;
            io(self.sink.send(msg), &slow, timeout).await
        };
        if r.is_ok() {
            metrics::DELIVERIES.inc();
        }
        r
    }

    /// Delivers a burst of queued events with one flush.
    async fn deliver_burst(
        &mut self,
        first: Envelope,
        rx: &mut mpsc::Receiver<Envelope>,
    ) -> Result<(), Stop> {
        self.coalescing = true;
        let mut r = self.deliver(first).await;
        let mut n = 1;
        while r.is_ok() && n < BURST {
            match rx.try_recv() {
                Ok(env) => r = self.deliver(env).await,
                Err(_) => break,
            }
            n += 1;
        }
        self.coalescing = false;
        r?;
        let slow = self.txq.slow.clone();
        io(self.sink.flush(), &slow, self.st.cfg.write_timeout).await
    }

    async fn deliver(&mut self, env: Envelope) -> Result<(), Stop> {
        match env.kind {
            PubKind::Message => {
                let Some(sub) = self.subs.get(&env.chat_id) else {
                    return Ok(());
                };
                let delivered = sub.delivered;
                if env.seq <= delivered {
                    metrics::DUPLICATES_DROPPED.inc();
                    return Ok(());
                }
                if env.seq > delivered + 1 {
                    metrics::GAPS_FILLED.inc();
                    self.replay(env.chat_id, delivered, Some(env.seq - 1))
                        .await?;
                }
                self.write(env.json).await?;
                if let Some(sub) = self.subs.get_mut(&env.chat_id) {
                    sub.delivered = sub.delivered.max(env.seq);
                }
                if env.accepted_at > 0 {
                    let ms = (now_ms() - env.accepted_at).max(0);
                    metrics::E2E_SECONDS.observe(ms as f64 / 1000.0);
                }
                Ok(())
            }
            PubKind::ChatEvent => {
                if self.subs.contains_key(&env.chat_id) {
                    self.write(env.json).await?;
                }
                Ok(())
            }
            PubKind::Joined => {
                if !self.subs.contains_key(&env.chat_id) {
                    if self
                        .st
                        .hub
                        .subscribe(&chat_channel(env.chat_id), self.id, &self.txq)
                        .await
                        .is_err()
                    {
                        return Err(Stop::Gone);
                    }
                    self.subs
                        .insert(env.chat_id, ChatSub { delivered: env.seq });
                }
                self.write(env.json).await
            }
            PubKind::Left => {
                self.write(env.json).await?;
                if self.subs.remove(&env.chat_id).is_some() {
                    self.st
                        .hub
                        .unsubscribe(&chat_channel(env.chat_id), self.id)
                        .await;
                }
                Ok(())
            }
            PubKind::UserEvent => self.write(env.json).await,
            PubKind::Reply => Ok(()),
            PubKind::Resync => {
                let chats: Vec<(ChatId, u64)> =
                    self.subs.iter().map(|(c, s)| (*c, s.delivered)).collect();
                for (chat, delivered) in chats {
                    self.replay(chat, delivered, None).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends the stored messages with `after < seq <= upto` (or up to the newest)
    /// and advances the chat's delivered mark.
    async fn replay(&mut self, chat: ChatId, after: u64, upto: Option<u64>) -> Result<(), Stop> {
        let mut from = after;
        loop {
            if upto.is_some_and(|u| from >= u) {
                return Ok(());
            }
            let page = match self
                .st
                .deps
                .store
                .messages(
                    chat,
                    HistoryPage::After {
                        after: from,
                        limit: REPLAY_PAGE,
                    },
                )
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "history read failed during replay");
                    let f = error_frame(
                        Code::Unavailable,
                        "history is unavailable; resubscribe with since_seq",
                        None,
                    );
                    return self.write(f).await;
                }
            };
            if page.is_empty() {
                return Ok(());
            }
            for m in page {
                if upto.is_some_and(|u| m.seq > u) {
                    return Ok(());
                }
                let seq = m.seq;
                let json = serde_json::to_vec(&Event::Message { message: m })
                    .map(Bytes::from)
                    .unwrap_or_default();
                self.write(json).await?;
                from = seq;
                if let Some(sub) = self.subs.get_mut(&chat) {
                    sub.delivered = sub.delivered.max(seq);
                }
            }
        }
    }

    async fn on_text(&mut self, text: Utf8Bytes) -> Result<(), Stop> {
        if text.len() > self.st.cfg.max_frame_bytes {
            let f = error_frame(
                Code::TooLarge,
                format!("frame exceeds {} bytes", self.st.cfg.max_frame_bytes),
                None,
            );
            return self.write(f).await;
        }
        let frame: ClientFrame = match serde_json::from_str(text.as_str()) {
            Ok(f) => f,
            Err(e) => {
                let msg = e.to_string();
                let code = if msg.contains("unknown variant") {
                    Code::UnknownType
                } else if msg.contains("invalid id") {
                    Code::InvalidId
                } else {
                    Code::BadJson
                };
                metrics::ERRORS.with_label_values(&[code.as_str()]).inc();
                return self.write(error_frame(code, msg, None)).await;
            }
        };
        match self.on_frame(frame).await {
            Ok(()) => Ok(()),
            Err(Failure::Client(frame)) => self.write(frame).await,
            Err(Failure::Socket(stop)) => Err(stop),
        }
    }

    async fn on_frame(&mut self, frame: ClientFrame) -> Result<(), Failure> {
        let me = self.user;
        let st = self.st.clone();
        match frame {
            ClientFrame::Ping => self
                .write(encode(&ServerFrame::Pong))
                .await
                .map_err(Failure::Socket),
            ClientFrame::Auth { .. } => Err(Failure::api(
                ApiError::new(Code::BadJson, "already authenticated"),
                None,
            )),
            ClientFrame::Subscribe {
                chat_id,
                since_seq,
                since_pts,
            } => self.subscribe(chat_id, since_seq, since_pts).await,
            ClientFrame::Unsubscribe { chat_id } => {
                if self.subs.remove(&chat_id).is_some() {
                    st.hub.unsubscribe(&chat_channel(chat_id), self.id).await;
                }
                self.write(encode(&ServerFrame::Unsubscribed { chat_id }))
                    .await
                    .map_err(Failure::Socket)
            }
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                text,
                reply_to_seq,
            } => {
                let r = Some(client_msg_id.clone());
                crate::http::precheck_send(&st, me, chat_id, &client_msg_id, &text)
                    .await
                    .map_err(|e| Failure::in_chat(e, r.clone(), chat_id))?;
                let cmd = Command::Send {
                    chat_id,
                    message_id: MessageId(st.deps.ids.next()),
                    client_msg_id: client_msg_id.clone(),
                    text,
                    reply_to_seq,
                    forwarded_from: None,
                };
                self.submit(chat_id, cmd, Some(client_msg_id), None).await
            }
            ClientFrame::Forward {
                from_chat_id,
                seq,
                to_chat_id,
                client_msg_id,
            } => {
                let r = Some(client_msg_id.clone());
                let cmd = crate::http::forward_command(
                    &st,
                    me,
                    from_chat_id,
                    seq,
                    to_chat_id,
                    client_msg_id.clone(),
                )
                .await
                .map_err(|e| Failure::in_chat(e, r, to_chat_id))?;
                self.submit(to_chat_id, cmd, Some(client_msg_id), None)
                    .await
            }
            ClientFrame::Edit {
                chat_id,
                seq,
                text,
                reference,
            } => {
                st.cfg
                    .limits
                    .check_text(&text)
                    .map_err(|e| Failure::in_chat(e.into(), reference.clone(), chat_id))?;
                st.reads
                    .authorize(me, chat_id)
                    .await
                    .map_err(|e| Failure::in_chat(e, reference.clone(), chat_id))?;
                self.submit(
                    chat_id,
                    Command::Edit { chat_id, seq, text },
                    None,
                    reference,
                )
                .await
            }
            ClientFrame::Delete {
                chat_id,
                seq,
                reference,
            } => {
                st.reads
                    .authorize(me, chat_id)
                    .await
                    .map_err(|e| Failure::in_chat(e, reference.clone(), chat_id))?;
                self.submit(chat_id, Command::Delete { chat_id, seq }, None, reference)
                    .await
            }
            ClientFrame::Read { chat_id, seq } => {
                st.reads
                    .authorize(me, chat_id)
                    .await
                    .map_err(|e| Failure::in_chat(e, None, chat_id))?;
                self.submit(chat_id, Command::Read { chat_id, seq }, None, None)
                    .await
            }
        }
    }

    async fn subscribe(
        &mut self,
        chat: ChatId,
        since: Option<u64>,
        since_pts: Option<u64>,
    ) -> Result<(), Failure> {
        let st = self.st.clone();
        let fail = |e: ApiError| Failure::in_chat(e, None, chat);
        st.reads.authorize(self.user, chat).await.map_err(fail)?;
        // Subscribe first, then read: anything published from now on is queued, and
        // what was published before is in the store (delivered means persisted).
        if !self.subs.contains_key(&chat) {
            st.hub
                .subscribe(&chat_channel(chat), self.id, &self.txq)
                .await
                .map_err(|e| fail(e.into()))?;
        }
        let (last_seq, last_pts) = match st.deps.store.chats(&[chat]).await {
            Ok(c) => c.first().map_or((0, 0), |c| (c.last_seq, c.last_pts)),
            Err(e) => return Err(fail(e.into())),
        };
        let read_seq = st.reads.read_seq(self.user, chat).await.map_err(fail)?;
        let delivered = since.unwrap_or(last_seq).min(last_seq);
        self.subs.insert(chat, ChatSub { delivered });
        self.write(encode(&ServerFrame::Subscribed {
            chat_id: chat,
            last_seq,
            last_pts,
            read_seq,
        }))
        .await
        .map_err(Failure::Socket)?;
        if let Some(pts) = since_pts {
            // Changes to what the client holds (edits, deletes) and member and role
            // changes made while it was away; newer messages follow by seq.
            self.replay_changes(chat, pts, delivered)
                .await
                .map_err(Failure::Socket)?;
        }
        if since.is_some() || since_pts.is_some() {
            self.replay(chat, delivered, None)
                .await
                .map_err(Failure::Socket)?;
            let upto = self.subs.get(&chat).map_or(delivered, |s| s.delivered);
            self.write(encode(&ServerFrame::Synced {
                chat_id: chat,
                last_seq: upto,
            }))
            .await
            .map_err(Failure::Socket)?;
        }
        Ok(())
    }

    /// Sends the chat's changes after `pts`: messages the client already holds
    /// (`seq <= held`) in their current state, and recorded events.
    async fn replay_changes(&mut self, chat: ChatId, mut pts: u64, held: u64) -> Result<(), Stop> {
        loop {
            let page = match self
                .st
                .deps
                .store
                .changes_since(chat, pts, REPLAY_PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "change stream read failed during resume");
                    let f = error_frame(
                        Code::Unavailable,
                        "changes are unavailable; resubscribe with since_pts",
                        None,
                    );
                    return self.write(f).await;
                }
            };
            let full = page.len() as u32 == REPLAY_PAGE;
            for change in page {
                pts = change.pts();
                match change {
                    Change::Message(m) if m.seq <= held => {
                        let json = serde_json::to_vec(&Event::Message { message: m })
                            .map(Bytes::from)
                            .unwrap_or_default();
                        self.write(json).await?;
                    }
                    Change::Message(_) => {}
                    Change::Event { json, .. } => self.write(Bytes::from(json)).await?,
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn submit(
        &mut self,
        chat_id: ChatId,
        cmd: Command,
        client_msg_id: Option<String>,
        reference: Option<String>,
    ) -> Result<(), Failure> {
        let r = client_msg_id.clone().or_else(|| reference.clone());
        if self.replies.len() >= self.st.cfg.max_inflight {
            return Err(Failure::api(
                ApiError::new(
                    Code::TooManyRequests,
                    "too many commands in flight; wait for acks",
                ),
                r,
            ));
        }
        let pending: Pending = self
            .st
            .commander
            .submit(self.user, cmd)
            .await
            .map_err(|e| Failure::api(e, r))?;
        self.replies.push(Box::pin(async move {
            match pending.wait().await {
                Ok(Outcome::Ok {
                    message, duplicate, ..
                }) => encode(&ServerFrame::Ack {
                    chat_id,
                    client_msg_id,
                    reference,
                    seq: message.as_ref().map(|m| m.seq),
                    message,
                    duplicate,
                }),
                Ok(Outcome::Rejected(rej)) => {
                    metrics::ERRORS
                        .with_label_values(&[rej.code.as_str()])
                        .inc();
                    encode(&ServerFrame::Rejected {
                        chat_id,
                        client_msg_id,
                        reference,
                        code: rej.code,
                        message: rej.message,
                    })
                }
                Err(e) => api_error_frame(e, client_msg_id.or(reference)),
            }
        }));
        Ok(())
    }
}

/// A frame handler's failure: tell the client, or the connection must end.
enum Failure {
    Client(Bytes),
    Socket(Stop),
}

/// Why writing to a client stopped.
#[derive(Debug)]
enum Stop {
    /// The socket failed or the write took longer than the write timeout.
    Gone,
    /// The event queue overflowed while a write was blocked.
    Slow,
}

impl Failure {
    fn api(e: ApiError, reference: Option<String>) -> Failure {
        Failure::Client(api_error_frame(e, reference))
    }

    /// An error about one chat: the frame names it.
    fn in_chat(e: ApiError, reference: Option<String>, chat: ChatId) -> Failure {
        metrics::ERRORS.with_label_values(&[e.code.as_str()]).inc();
        Failure::Client(encode(&ServerFrame::Error {
            code: e.code,
            message: e.message,
            reference,
            chat_id: Some(chat),
        }))
    }
}

fn slow_close() -> End {
    metrics::SLOW_DROPPED.inc();
    tracing::info!("closing a slow consumer");
    End::Close(
        CLOSE_SLOW,
        "slow_consumer: event queue full; reconnect and resume by seq",
    )
}

fn is_too_big(e: &axum::Error) -> bool {
    let s = e.to_string();
    s.contains("too long") || s.contains("too big") || s.contains("Space limit exceeded")
}

/// Waits for the `auth` frame. On failure, answers with an error frame and a close.
async fn authenticate(
    st: &AppState,
    sink: &mut Sink,
    stream: &mut SplitStream<WebSocket>,
) -> Option<UserId> {
    let first = tokio::time::timeout(st.cfg.auth_timeout, stream.next()).await;
    let result: Result<UserId, ApiError> = match first {
        Err(_) => Err(ApiError::new(
            Code::AuthRequired,
            "authenticate within the time limit",
        )),
        Ok(None) | Ok(Some(Err(_))) => return None,
        Ok(Some(Ok(WsMessage::Text(t)))) => match serde_json::from_str::<ClientFrame>(t.as_str()) {
            Ok(ClientFrame::Auth { token }) => st.tokens.verify(&token),
            Ok(_) => Err(ApiError::new(
                Code::AuthRequired,
                "the first frame must be auth",
            )),
            Err(e) => Err(ApiError::new(Code::BadJson, e.to_string())),
        },
        Ok(Some(Ok(_))) => Err(ApiError::new(
            Code::AuthRequired,
            "the first frame must be an auth text frame",
        )),
    };
    match result {
        Ok(u) => Some(u),
        Err(e) => {
            let frame = api_error_frame(e, None);
            if let Ok(text) = Utf8Bytes::try_from(frame) {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), sink.send(WsMessage::Text(text)))
                        .await;
            }
            let close = CloseFrame {
                code: CLOSE_AUTH,
                reason: Utf8Bytes::from_static("authentication failed"),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                sink.send(WsMessage::Close(Some(close))),
            )
            .await;
            None
        }
    }
}

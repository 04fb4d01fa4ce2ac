//! One WebSocket connection: authentication, subscriptions with resume by seq,
//! commands with acks, and delivery of events in seq order without gaps or
//! duplicates. The protocol is described in `docs/protocol.md`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chat_core::ports::{Change, HistoryPage};
use chat_core::wire::{
    ClientFrame, Command, Event, Outcome, ServerFrame, chat_channel, user_channel,
};
use chat_core::{ChatId, Code, UserId, now_ms};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};

use crate::commands::Pending;
use crate::error::ApiError;
use crate::hub::{ConnId, ConnTx, Push};
use crate::metrics;
use crate::service::Intent;
use crate::state::AppState;

mod commands;
mod deliver;
#[cfg(test)]
mod tests;

/// Close code: authentication failed or timed out.
pub const CLOSE_AUTH: u16 = 4001;
/// Close code: the client did not keep up with its events (resume by seq).
pub const CLOSE_SLOW: u16 = 4008;
/// Close code: frame larger than the transport limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: the gateway is shutting down; reconnect (to another gateway).
pub const CLOSE_RESTART: u16 = 1012;
/// Close code: nothing heard from the client (no frame, no pong) for two
/// ping intervals.
pub const CLOSE_IDLE: u16 = 4009;

/// Largest frame accepted before authentication: an `auth` frame is a few
/// hundred bytes.
pub const PRE_AUTH_FRAME: usize = 4 * 1024;

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
    slot: Option<axum::Extension<Arc<crate::listen::Slot>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let pre = match crate::auth::bearer(&headers) {
        Some(t) => match st.service.authenticate(t).await {
            Ok(u) => Some(u),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    if !st.accepting.load(std::sync::atomic::Ordering::Relaxed) {
        return ApiError::new(Code::Unavailable, "gateway is draining; connect to another")
            .into_response();
    }
    // The connection's log lines carry the upgrade's request id and, once
    // authenticated, the user — at debug level: an enabled span costs every
    // idle connection its fields and every wake-up an enter and exit.
    let span = tracing::debug_span!(
        "ws",
        request_id = crate::reqid::current().unwrap_or_default(),
        user_id = tracing::field::Empty,
    );
    let limit = st.cfg.max_frame_bytes.saturating_mul(2).max(1024);
    // Small transport buffers: an idle connection should cost a few KiB, not the
    // 2 × 128 KiB tungstenite allocates by default. Reads of larger frames grow
    // the buffer as needed; writes are flushed per burst anyway.
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER.max(limit * 2))
        .on_upgrade(move |socket| {
            tracing::Instrument::instrument(
                async move {
                    // The connection keeps its place under the caps while it lives.
                    let _slot = slot;
                    let (sink, stream) = socket.split();
                    serve_verified(st, sink, stream, pre).await
                },
                span,
            )
        })
}

/// Serves one connection over any sink and stream of WebSocket messages (a
/// socket's halves in production, channels in tests): authenticates unless
/// `pre` names the user already, then runs [`Conn`] until the connection ends.
pub async fn serve<S, R>(st: AppState, sink: S, stream: R, pre: Option<UserId>)
where
    S: WsSink,
    R: WsStream,
{
    let pre = pre.map(|user| crate::auth::Verified {
        user,
        exp: i64::MAX,
        session: 0,
    });
    serve_verified(st, sink, stream, pre).await
}

/// [`serve`] with the token's expiry: the connection is closed (4001,
/// after a `token_expired` error frame) when its token expires.
async fn serve_verified<S, R>(
    st: AppState,
    mut sink: S,
    mut stream: R,
    pre: Option<crate::auth::Verified>,
) where
    S: WsSink,
    R: WsStream,
{
    let who = match pre {
        Some(v) => v,
        None => match authenticate(&st, &mut sink, &mut stream).await {
            Some(v) => v,
            None => return,
        },
    };
    crate::reqid::record_user(who.user);
    Conn::serve(st, sink, stream, who).await
}

/// What a connection writes to: a WebSocket's sending half.
pub trait WsSink: futures_util::Sink<WsMessage, Error = axum::Error> + Unpin + Send {}
impl<T: futures_util::Sink<WsMessage, Error = axum::Error> + Unpin + Send> WsSink for T {}

/// What a connection reads from: a WebSocket's receiving half.
pub trait WsStream:
    futures_util::Stream<Item = Result<WsMessage, axum::Error>> + Unpin + Send
{
}
impl<T: futures_util::Stream<Item = Result<WsMessage, axum::Error>> + Unpin + Send> WsStream for T {}

type Reply = Pin<Box<dyn Future<Output = Bytes> + Send>>;

/// Per-chat delivery state of a connection.
struct ChatSub {
    /// Highest seq sent to the client; live messages at or below are duplicates.
    delivered: u64,
    /// Highest seq the user may not read (where they joined, when the
    /// group shows new members only what follows; else 0): edits and
    /// deletions of those messages are not delivered.
    floor: u64,
}

/// One authenticated connection: its subscriptions with their delivery marks,
/// its commands in flight and its write buffer. Generic over the sink so that
/// tests drive it without a socket.
struct Conn<S> {
    st: AppState,
    id: ConnId,
    user: UserId,
    /// The login session of the token it authenticated with.
    session: u64,
    sink: S,
    txq: ConnTx,
    subs: HashMap<ChatId, ChatSub>,
    /// Chats this user was removed from as seen on the chat's channel, whose
    /// removal frame was delivered then: the same removal arriving on the
    /// user's channel is not delivered twice.
    left_seen: std::collections::HashSet<ChatId>,
    /// Commands awaiting their outcome, each resolving to the frame to send.
    replies: FuturesUnordered<Reply>,
    /// Frames were queued since the last flush.
    unflushed: bool,
    /// The connection's subscribe rate.
    sub_limit: crate::limits::ConnLimit,
    /// The connection's typing rate.
    typing_limit: crate::limits::ConnLimit,
    /// The chat of the last typing notice passed on, and when: a repeat
    /// within [`TYPING_REPEAT`] is dropped.
    last_typing: Option<(ChatId, std::time::Instant)>,
}

/// A connection's typing notices for one chat are passed on at most this often.
const TYPING_REPEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// Most ready items (events, outcomes) written before one flush.
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
        retry_after_ms: None,
    })
}

fn api_error_frame(e: ApiError, reference: Option<String>) -> Bytes {
    metrics::ERRORS.with_label_values(&[e.code.as_str()]).inc();
    encode(&ServerFrame::Error {
        retry_after_ms: e.retry_after_ms(),
        code: e.code,
        message: e.message,
        reference,
        chat_id: None,
    })
}

/// Why a connection ends.
enum End {
    /// The client closed or the socket failed.
    Gone,
    /// Close with a code and reason.
    Close(u16, &'static str),
}

impl<S: WsSink> Conn<S> {
    async fn serve(st: AppState, sink: S, mut stream: impl WsStream, who: crate::auth::Verified) {
        let (user, exp) = (who.user, who.exp);
        let (tx, mut rx) = mpsc::channel::<Push>(st.cfg.conn_queue.max(1));
        let slow = Arc::new(Notify::new());
        let mut conn = Conn {
            id: st.hub.conn_id(),
            user,
            session: who.session,
            sink,
            txq: ConnTx {
                tx,
                slow: slow.clone(),
            },
            subs: HashMap::new(),
            left_seen: Default::default(),
            replies: FuturesUnordered::new(),
            unflushed: false,
            sub_limit: Default::default(),
            typing_limit: Default::default(),
            last_typing: None,
            st,
        };
        metrics::CONNECTIONS.inc();
        conn.st
            .open_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        conn.st.presence.up(user);
        let end = conn.run(&mut stream, &mut rx, &slow, exp).await;
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
        conn.st.presence.down(user);
        metrics::CONNECTIONS.dec();
        conn.st
            .open_connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    async fn run(
        &mut self,
        stream: &mut impl WsStream,
        rx: &mut mpsc::Receiver<Push>,
        slow: &Notify,
        exp: i64,
    ) -> End {
        let stop = self.st.draining.clone().cancelled_owned();
        tokio::pin!(stop);
        // The token's expiry, as an instant (far off for tokens that do not
        // expire within a day: the timer only needs to fire once).
        let left = u64::try_from(exp.saturating_sub(now_ms() / 1000)).unwrap_or(0);
        let expires = tokio::time::sleep(Duration::from_secs(left.min(86_400 * 365)));
        tokio::pin!(expires);
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
        let sent = match self.write(ready).await {
            Ok(()) => self.settle(rx).await,
            failed => failed,
        };
        if let Err(stop) = sent {
            return match stop {
                Stop::Gone => End::Gone,
                Stop::Slow => slow_close(),
                Stop::Revoked => revoked_close(),
            };
        }
        let every = self.st.cfg.membership_recheck;
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ping_every = self.st.cfg.ws_ping.max(Duration::from_millis(10));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = tokio::time::Instant::now();
        loop {
            let step = tokio::select! {
                biased;
                _ = &mut stop => return End::Close(CLOSE_RESTART, "server shutting down; reconnect"),
                _ = &mut expires => {
                    let _ = self
                        .write(error_frame(Code::TokenExpired, "the token has expired; reconnect with a fresh one", None))
                        .await;
                    let _ = self.settle(rx).await;
                    return End::Close(CLOSE_AUTH, "token expired");
                }
                _ = slow.notified() => return slow_close(),
                _ = ping.tick() => {
                    if heard.elapsed() >= ping_every * 2 {
                        metrics::IDLE_CLOSED
                            .with_label_values(&[metrics::IDLE_WEBSOCKET])
                            .inc();
                        return End::Close(CLOSE_IDLE, "idle: no frame or pong within two pings");
                    }
                    self.ping().await
                }
                _ = recheck.tick(), if !self.subs.is_empty() => self.recheck_memberships(None).await,
                Some(frame) = self.replies.next(), if !self.replies.is_empty() => self.write(frame).await,
                Some(env) = rx.recv() => self.deliver(env).await,
                msg = stream.next() => match msg.inspect(|_| heard = tokio::time::Instant::now()) {
                    None => return End::Gone,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        return if is_too_big(e) { End::Close(CLOSE_TOO_BIG, "frame too large") } else { End::Gone };
                    }
                    Some(Ok(WsMessage::Text(t))) => self.on_text(t).await,
                    Some(Ok(WsMessage::Binary(_))) => {
                        self.write(error_frame(Code::BadJson, "binary frames are not supported; send JSON text", None)).await
                    }
                    Some(Ok(WsMessage::Close(_))) => return End::Gone,
                    Some(Ok(_)) => Ok(()),
                },
            };
            let step = match step {
                Ok(()) => self.settle(rx).await,
                failed => failed,
            };
            match step {
                Ok(()) => {}
                Err(Stop::Gone) => return End::Gone,
                Err(Stop::Slow) => return slow_close(),
                Err(Stop::Revoked) => return revoked_close(),
            }
        }
    }

    /// Sends a ping (answered by the client's WebSocket stack with a pong).
    async fn ping(&mut self) -> Result<(), Stop> {
        self.unflushed = true;
        let slow = self.txq.slow.clone();
        io(
            self.sink.feed(WsMessage::Ping(Bytes::new())),
            &slow,
            self.st.cfg.write_timeout,
        )
        .await
    }

    async fn cleanup(&mut self) {
        let hub = self.st.hub.clone();
        hub.unsubscribe(&user_channel(self.user), self.id).await;
        for chat in self.subs.keys() {
            hub.unsubscribe(&chat_channel(*chat), self.id).await;
        }
    }

    /// Queues one text frame in the connection's write buffer; [`Conn::settle`]
    /// flushes. Bounded in time: a client that does not read is slow.
    async fn write(&mut self, json: Bytes) -> Result<(), Stop> {
        let text = Utf8Bytes::try_from(json).map_err(|_| Stop::Gone)?;
        let msg = WsMessage::Text(text);
        self.unflushed = true;
        // Fast path, no timer: the buffer has room (it writes to the socket only
        // once it holds more than the write buffer size).
        let ready =
            std::future::poll_fn(|cx| std::task::Poll::Ready(self.sink.poll_ready_unpin(cx))).await;
        let r = match ready {
            std::task::Poll::Ready(Ok(())) => {
                self.sink.start_send_unpin(msg).map_err(|_| Stop::Gone)
            }
            std::task::Poll::Ready(Err(_)) => Err(Stop::Gone),
            std::task::Poll::Pending => {
                let slow = self.txq.slow.clone();
                io(self.sink.feed(msg), &slow, self.st.cfg.write_timeout).await
            }
        };
        if r.is_ok() {
            metrics::DELIVERIES.inc();
        }
        r
    }

    /// Writes out everything that is ready now (queued events, finished
    /// commands) and flushes once: a burst of events and a command's ack leave
    /// in one socket write instead of one each.
    async fn settle(&mut self, rx: &mut mpsc::Receiver<Push>) -> Result<(), Stop> {
        let mut yielded = false;
        for _ in 0..BURST {
            let mut progressed = false;
            if let Ok(env) = rx.try_recv() {
                self.deliver(env).await?;
                progressed = true;
            }
            if !self.replies.is_empty()
                && let Some(Some(frame)) = self.replies.next().now_or_never()
            {
                self.write(frame).await?;
                progressed = true;
            }
            if !progressed {
                if yielded || !self.unflushed {
                    break;
                }
                // Once: let the tasks about to hand this connection more (the
                // hub's dispatcher, a command's outcome) run before the flush.
                tokio::task::yield_now().await;
                yielded = true;
            }
        }
        if !self.unflushed {
            return Ok(());
        }
        self.unflushed = false;
        let slow = self.txq.slow.clone();
        io(self.sink.flush(), &slow, self.st.cfg.write_timeout).await
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
    /// The connection's login session ended (the client was told).
    Revoked,
}

impl Failure {
    fn api(e: ApiError, reference: Option<String>) -> Failure {
        Failure::Client(api_error_frame(e, reference))
    }

    /// An error about one chat: the frame names it.
    fn in_chat(e: ApiError, reference: Option<String>, chat: ChatId) -> Failure {
        metrics::ERRORS.with_label_values(&[e.code.as_str()]).inc();
        Failure::Client(encode(&ServerFrame::Error {
            retry_after_ms: e.retry_after_ms(),
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

fn revoked_close() -> End {
    End::Close(CLOSE_AUTH, "session ended: log in again")
}

/// Whether a read failed because a frame or message exceeded the size limit.
fn is_too_big(e: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        e.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(_))
    )
}

/// Waits for the `auth` frame. On failure, answers with an error frame and a close.
async fn authenticate(
    st: &AppState,
    sink: &mut impl WsSink,
    stream: &mut impl WsStream,
) -> Option<crate::auth::Verified> {
    let first = tokio::time::timeout(st.cfg.auth_timeout, stream.next()).await;
    let result: Result<crate::auth::Verified, ApiError> = match first {
        Err(_) => Err(ApiError::new(
            Code::AuthRequired,
            "authenticate within the time limit",
        )),
        Ok(None) | Ok(Some(Err(_))) => return None,
        Ok(Some(Ok(WsMessage::Text(t)))) if t.len() > PRE_AUTH_FRAME => Err(ApiError::new(
            Code::TooLarge,
            format!("a frame before authentication is at most {PRE_AUTH_FRAME} bytes"),
        )),
        Ok(Some(Ok(WsMessage::Text(t)))) => match ClientFrame::parse(t.as_str()) {
            Ok(ClientFrame::Auth { token }) => st.service.authenticate(&token).await,
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

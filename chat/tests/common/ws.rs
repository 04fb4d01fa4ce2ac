//! The WebSocket as tests use it: connect and authenticate, typed client
//! commands, and the next server frame parsed into [`Frame`] (a frame of
//! another shape fails the test).

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMsg;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::types::*;

pub type WsSink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, WsMsg>;
pub type WsStream = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// How long a test waits for one frame before failing.
pub const FRAME_WAIT: Duration = Duration::from_secs(15);

pub struct Ws {
    pub tx: WsSink,
    pub rx: WsStream,
    /// Keep `presence` and `online_count` frames (see [`Ws::with_presence`]).
    pub presence: bool,
}

/// What arrived within a wait.
#[derive(Debug)]
pub enum Next {
    Frame(Box<Frame>),
    /// A close frame (with its code), the end of the stream, or a transport error.
    Closed(Option<u16>),
    /// Nothing within the wait.
    Timeout,
}

/// Parses a server text frame; panics with the text when its shape is unknown.
pub fn parse_frame(text: &str) -> Frame {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("unexpected frame shape: {e}: {text}"))
}

impl Ws {
    /// Connects, authenticates with an `auth` frame and waits for `ready`.
    pub async fn connect(url: &str, token: &str) -> Ws {
        let mut ws = Self::connect_raw(url).await;
        ws.auth(token).await;
        match ws.next().await {
            Frame::Ready(_) => ws,
            other => panic!("expected ready, got {other:?}"),
        }
    }

    /// Connects without authenticating.
    pub async fn connect_raw(url: &str) -> Ws {
        Self::try_connect_raw(url, FRAME_WAIT)
            .await
            .unwrap_or_else(|| panic!("ws connect to {url}"))
    }

    /// Connects without authenticating; `None` when refused or slower than `wait`.
    pub async fn try_connect_raw(url: &str, wait: Duration) -> Option<Ws> {
        let (stream, _) = tokio::time::timeout(wait, tokio_tungstenite::connect_async(url))
            .await
            .ok()?
            .ok()?;
        let (tx, rx) = stream.split();
        Some(Ws {
            tx,
            rx,
            presence: false,
        })
    }

    /// Keeps the presence changes pushed to the connection's chats; without
    /// it they are skipped (they come whenever a member connects, and the
    /// scenarios of other features do not expect them).
    pub fn with_presence(mut self) -> Ws {
        self.presence = true;
        self
    }

    /// Any JSON frame.
    pub async fn send(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    /// Any text frame.
    pub async fn send_text(&mut self, s: String) {
        self.tx.send(WsMsg::Text(s.into())).await.expect("ws send");
    }

    /// `auth` (the answer is not awaited).
    pub async fn auth(&mut self, token: &str) {
        self.send(json!({"type": "auth", "token": token})).await;
    }

    /// `subscribe` (the answer is not awaited).
    pub async fn send_subscribe(
        &mut self,
        chat: &str,
        since_seq: Option<u64>,
        since_pts: Option<u64>,
    ) {
        let mut f = json!({"type": "subscribe", "chat_id": chat});
        if let Some(s) = since_seq {
            f["since_seq"] = json!(s);
        }
        if let Some(p) = since_pts {
            f["since_pts"] = json!(p);
        }
        self.send(f).await;
    }

    /// `send` a message (the answer is not awaited).
    pub async fn send_message(&mut self, chat: &str, key: &str, text: &str) {
        self.send(json!({"type": "send", "chat_id": chat, "client_msg_id": key, "text": text}))
            .await;
    }

    /// `forward` (the answer is not awaited).
    pub async fn forward(&mut self, from: &str, seq: u64, to: &str, key: &str) {
        self.send(json!({"type": "forward", "from_chat_id": from, "seq": seq, "to_chat_id": to, "client_msg_id": key}))
            .await;
    }

    /// `ping`, answered by `pong`.
    pub async fn ping(&mut self) {
        self.send(json!({"type": "ping"})).await;
    }

    /// Sends a `ping`; the frames that arrive before its `pong` (what the
    /// server had sent, or answered, before it).
    pub async fn until_pong(&mut self) -> Vec<Frame> {
        self.ping().await;
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Frame::Pong(_) => return seen,
                f => seen.push(f),
            }
        }
    }

    /// The next frame; panics on close, timeout or an unknown shape.
    pub async fn next(&mut self) -> Frame {
        match self.next_within(FRAME_WAIT).await {
            Next::Frame(f) => *f,
            Next::Closed(code) => panic!("connection closed ({code:?})"),
            Next::Timeout => panic!("timed out waiting for a frame"),
        }
    }

    /// The next frame, the close, or a timeout.
    pub async fn next_within(&mut self, wait: Duration) -> Next {
        loop {
            let m = match tokio::time::timeout(wait, self.rx.next()).await {
                Err(_) => return Next::Timeout,
                Ok(None) | Ok(Some(Err(_))) => return Next::Closed(None),
                Ok(Some(Ok(m))) => m,
            };
            match m {
                WsMsg::Text(t) => match parse_frame(t.as_str()) {
                    Frame::Presence(_) | Frame::OnlineCount(_) if !self.presence => continue,
                    f => return Next::Frame(Box::new(f)),
                },
                WsMsg::Close(c) => return Next::Closed(c.map(|c| u16::from(c.code))),
                _ => continue,
            }
        }
    }

    /// The first frame `pick` accepts, skipping others.
    pub async fn next_where<T>(&mut self, mut pick: impl FnMut(Frame) -> Option<T>) -> T {
        loop {
            if let Some(t) = pick(self.next().await) {
                return t;
            }
        }
    }

    /// Subscribes and waits for `subscribed` (and `synced` when resuming),
    /// returning the messages of `chat` replayed in between.
    pub async fn subscribe(
        &mut self,
        chat: &str,
        since: Option<u64>,
    ) -> (Subscribed, Vec<Message>) {
        self.send_subscribe(chat, since, None).await;
        let sub = self.next_subscribed().await;
        assert_eq!(sub.chat_id, chat);
        let mut replayed = Vec::new();
        if since.is_some() {
            loop {
                match self.next().await {
                    Frame::Synced(s) if s.chat_id == chat => break,
                    Frame::Message(m) if m.message.chat_id == chat => replayed.push(m.message),
                    _ => {}
                }
            }
        }
        (sub, replayed)
    }
}

/// `next_X()`: the next frame of type X, skipping others.
macro_rules! next_of {
    ($($name:ident => $variant:ident($ty:ty);)*) => {
        impl Ws {
            $(
                pub async fn $name(&mut self) -> $ty {
                    self.next_where(|f| match f {
                        Frame::$variant(x) => Some(x),
                        _ => None,
                    })
                    .await
                }
            )*
        }
    };
}

next_of! {
    next_subscribed => Subscribed(Subscribed);
    next_ack => Ack(Ack);
    next_error => Error(ErrorFrame);
    next_pong => Pong(Pong);
    next_message => Message(MessageFrame);
    next_edited => Edited(Edited);
    next_deleted => Deleted(Deleted);
    next_chat_created => ChatCreated(ChatCreated);
    next_chat_hidden => ChatHidden(ChatHidden);
    next_chat_shown => ChatShown(ChatShown);
    next_member_added => MemberAdded(MemberAdded);
    next_member_removed => MemberRemoved(MemberRemoved);
    next_role_changed => RoleChanged(RoleChanged);
    next_read => Read(ReadFrame);
    next_user_updated => UserUpdated(UserUpdated);
    next_profiles => Profiles(Profiles);
    next_typing => Typing(Typing);
    next_reaction => Reaction(ReactionEvent);
    next_pinned => Pinned(PinnedEvent);
    next_muted => Muted(MutedFrame);
    next_presence => Presence(PresenceFrame);
    next_online_count => OnlineCount(OnlineCount);
    next_presence_list => PresenceList(PresenceList);
    next_presence_visibility => PresenceVisibility(PresenceVisibility);
}

//! The gateway's pub/sub hub: one subscription per channel for the whole
//! gateway, reference-counted across its connections, and the table of command
//! replies awaited by this gateway.
//!
//! One dispatcher task reads the gateway's inbox and hands every event to the
//! queues of the connections on its channel with `try_send`: it never waits for a
//! connection. A connection whose queue is full is told to close (slow consumer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chat_core::ports::{Delivery, Inbox, Subscriber};
use chat_core::wire::{
    Envelope, Outcome, PubKind, Reply, Revocation, SESSIONS_CHANNEL, user_channel,
};
use chat_core::{CacheError, ChatId};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics;

/// Identifies a connection within this gateway.
pub type ConnId = u64;

/// What a connection's queue carries: an event to deliver, routed by what the
/// connection must do with it, or a signal from the hub. Replies never get
/// here: the hub hands them to whoever awaits them.
#[derive(Clone, Debug)]
pub enum Push {
    /// A new message: delivered in seq order, gaps refilled from the store.
    Message {
        /// Chat.
        chat_id: ChatId,
        /// Its seq.
        seq: u64,
        /// When the gateway accepted the send (Unix ms), for the latency metric.
        accepted_at: i64,
        /// The frame.
        json: Bytes,
    },
    /// Another event of a chat (edit, delete, member and role changes).
    ChatEvent {
        /// Chat.
        chat_id: ChatId,
        /// The seq of the message edited or deleted (0 for other events).
        seq: u64,
        /// The frame.
        json: Bytes,
    },
    /// The user joined a chat: follow it from `last_seq`, then deliver.
    Joined {
        /// Chat.
        chat_id: ChatId,
        /// The chat's newest seq when the user joined.
        last_seq: u64,
        /// The frame.
        json: Bytes,
    },
    /// A member was removed from a chat (on its channel): deliver; the
    /// removed user's connections then stop following it.
    MemberLeft {
        /// Chat.
        chat_id: ChatId,
        /// Who was removed.
        user_id: chat_core::UserId,
        /// The frame.
        json: Bytes,
    },
    /// The user left a chat: deliver, then stop following it.
    Left {
        /// Chat.
        chat_id: ChatId,
        /// The frame.
        json: Bytes,
    },
    /// An event of the user (read cursor, chat created elsewhere).
    UserEvent {
        /// The frame.
        json: Bytes,
    },
    /// Pub/sub reconnected and may have lost events: re-read every followed
    /// chat from the store.
    Resync,
    /// A login session of the user ended (`None`: all of them): its
    /// connections close.
    Revoked {
        /// The session.
        session: Option<u64>,
    },
}

impl Push {
    /// What an envelope asks of a connection; a reply's JSON is the error side:
    /// it is for the hub, not for a connection.
    fn of(env: Envelope) -> Result<Push, Bytes> {
        let (chat_id, json) = (env.chat_id, env.json);
        Ok(match env.kind {
            PubKind::Message => Push::Message {
                chat_id,
                seq: env.seq,
                accepted_at: env.accepted_at,
                json,
            },
            PubKind::ChatEvent => Push::ChatEvent {
                chat_id,
                seq: env.seq,
                json,
            },
            PubKind::Joined => Push::Joined {
                chat_id,
                last_seq: env.seq,
                json,
            },
            PubKind::Left => Push::Left { chat_id, json },
            PubKind::MemberLeft => Push::MemberLeft {
                chat_id,
                user_id: chat_core::UserId(env.seq),
                json,
            },
            PubKind::UserEvent => Push::UserEvent { json },
            PubKind::Revoked => Push::Revoked {
                session: serde_json::from_slice::<Revocation>(&json)
                    .ok()
                    .and_then(|r| r.session_id),
            },
            PubKind::Reply => return Err(json),
        })
    }
}

/// What the hub holds of a connection.
#[derive(Clone)]
pub struct ConnTx {
    /// The connection's bounded event queue.
    pub tx: mpsc::Sender<Push>,
    /// Signalled when the queue overflowed: the connection must close.
    pub slow: Arc<Notify>,
}

/// Subscriptions and pending replies of one gateway.
pub struct Hub {
    /// The gateway's one subscriber; the lock serializes subscribe/unsubscribe so
    /// that a channel's subscription is active before anyone relies on it.
    subscriber: tokio::sync::Mutex<Box<dyn Subscriber>>,
    /// Channel → connections on it.
    channels: Mutex<HashMap<String, HashMap<ConnId, ConnTx>>>,
    /// Request number → who waits for the outcome.
    pending: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    /// Next request number.
    next_request: AtomicU64,
    /// Next connection id.
    next_conn: AtomicU64,
    /// The channel this gateway's command replies arrive on, once listened to.
    reply_channel: Mutex<Option<String>>,
    /// What this gateway knows of login sessions (told of revocations here).
    sessions: Arc<crate::sessions::Sessions>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub over the gateway's subscriber, telling `sessions` of
    /// revocations.
    pub fn new(
        subscriber: Box<dyn Subscriber>,
        sessions: Arc<crate::sessions::Sessions>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            sessions,
            subscriber: tokio::sync::Mutex::new(subscriber),
            channels: Mutex::default(),
            pending: Mutex::default(),
            next_request: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
            reply_channel: Mutex::default(),
        })
    }

    /// A fresh connection id.
    pub fn conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a connection to a channel; when it is the channel's first, subscribes
    /// the gateway and returns only once the subscription is active.
    pub async fn subscribe(
        &self,
        channel: &str,
        conn: ConnId,
        tx: &ConnTx,
    ) -> Result<(), CacheError> {
        let sub = self.subscriber.lock().await;
        let first = {
            let mut ch = lock(&self.channels);
            let e = ch.entry(channel.to_string()).or_default();
            let first = e.is_empty();
            e.insert(conn, tx.clone());
            first
        };
        if first {
            if let Err(e) = sub.subscribe(channel).await {
                let mut ch = lock(&self.channels);
                if let Some(e) = ch.get_mut(channel) {
                    e.remove(&conn);
                    if e.is_empty() {
                        ch.remove(channel);
                    }
                }
                return Err(e);
            }
            metrics::CHANNELS.inc();
        }
        Ok(())
    }

    /// Removes a connection from a channel; unsubscribes the gateway after the last.
    pub async fn unsubscribe(&self, channel: &str, conn: ConnId) {
        let sub = self.subscriber.lock().await;
        let last = {
            let mut ch = lock(&self.channels);
            match ch.get_mut(channel) {
                Some(e) => {
                    e.remove(&conn);
                    if e.is_empty() {
                        ch.remove(channel);
                        true
                    } else {
                        false
                    }
                }
                None => false,
            }
        };
        if last {
            metrics::CHANNELS.dec();
            if let Err(e) = sub.unsubscribe(channel).await {
                tracing::warn!(channel, error = %e, "unsubscribe failed");
            }
        }
    }

    /// Whether any connection of this gateway is on `channel`.
    #[cfg(test)]
    pub(crate) fn has_channel(&self, channel: &str) -> bool {
        lock(&self.channels).contains_key(channel)
    }

    /// Subscribes the gateway to the channel of ended sessions
    /// ([`SESSIONS_CHANNEL`]).
    pub async fn listen_sessions(&self) -> Result<(), CacheError> {
        self.subscriber
            .lock()
            .await
            .subscribe(SESSIONS_CHANNEL)
            .await
    }

    /// Subscribes the gateway to its reply channel; replies arriving there go to
    /// the requests awaiting them ([`Hub::expect_reply`]).
    pub async fn listen_replies(&self, channel: &str) -> Result<(), CacheError> {
        let sub = self.subscriber.lock().await;
        sub.subscribe(channel).await?;
        *lock(&self.reply_channel) = Some(channel.to_string());
        Ok(())
    }

    /// Registers a request; the outcome arrives on the receiver.
    pub fn expect_reply(&self) -> (u64, oneshot::Receiver<Outcome>) {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        (id, rx)
    }

    /// Forgets a request nobody waits for any more.
    pub fn forget_reply(&self, request: u64) {
        lock(&self.pending).remove(&request);
    }

    /// Routes one pub/sub message: a reply to its request, an event to the
    /// connections on its channel.
    pub fn dispatch(&self, channel: &str, env: Envelope) {
        let revoked_user = (env.kind == PubKind::Revoked).then_some(chat_core::UserId(env.seq));
        let push = match Push::of(env) {
            Ok(push) => push,
            Err(reply) => return self.reply(channel, &reply),
        };
        // A revocation comes on the sessions channel: the user's connections
        // here are on their own channel.
        let user_chan;
        let channel = match (&push, revoked_user) {
            (Push::Revoked { session }, Some(user)) => {
                self.sessions.revoked(user, *session);
                user_chan = user_channel(user);
                user_chan.as_str()
            }
            _ => channel,
        };
        let ch = lock(&self.channels);
        let Some(conns) = ch.get(channel) else { return };
        for c in conns.values() {
            if c.tx.try_send(push.clone()).is_err() {
                // Full (or closing): never wait for one connection.
                c.slow.notify_one();
            }
        }
    }

    /// Hands a reply to the request awaiting it.
    fn reply(&self, channel: &str, json: &[u8]) {
        if lock(&self.reply_channel).as_deref() != Some(channel) {
            tracing::warn!(channel, "a reply on another channel than this gateway's");
            return;
        }
        match serde_json::from_slice::<Reply>(json) {
            Ok(r) => {
                if let Some(tx) = lock(&self.pending).remove(&r.request) {
                    let _ = tx.send(r.outcome);
                }
            }
            Err(e) => tracing::warn!(error = %e, "undecodable reply"),
        }
    }

    /// Tells every connection to re-read its chats from the store, once the
    /// subscriber is connected again (messages may have been lost meanwhile).
    async fn resync(self: Arc<Self>) {
        self.subscriber.lock().await.wait_connected().await;
        // Revocations may have been lost too: read every session again.
        self.sessions.forget_all();
        let conns: HashMap<ConnId, ConnTx> = lock(&self.channels)
            .values()
            .flat_map(|m| m.iter().map(|(id, c)| (*id, c.clone())))
            .collect();
        tracing::info!(
            connections = conns.len(),
            "pub/sub reconnected: resyncing connections"
        );
        for c in conns.values() {
            if c.tx.try_send(Push::Resync).is_err() {
                c.slow.notify_one();
            }
        }
    }

    /// Runs the dispatcher until the inbox closes.
    pub async fn run(self: Arc<Self>, mut inbox: Inbox) {
        while let Some(delivery) = inbox.recv().await {
            match delivery {
                Delivery::Reconnected => {
                    tokio::spawn(self.clone().resync());
                }
                Delivery::Message { channel, payload } => match Envelope::decode(payload) {
                    Some(env) => self.dispatch(&channel, env),
                    None => tracing::warn!(channel, "undecodable pub/sub payload"),
                },
            }
        }
        tracing::error!("pub/sub inbox closed: this gateway receives no more events");
    }
}

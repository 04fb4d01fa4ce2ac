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

use chat_core::CacheError;
use chat_core::ports::{Inbox, RESYNC_CHANNEL, Subscriber};
use chat_core::wire::{Envelope, Outcome, PubKind, Reply};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics;

/// Identifies a connection within this gateway.
pub type ConnId = u64;

/// What the hub holds of a connection.
#[derive(Clone)]
pub struct ConnTx {
    /// The connection's bounded event queue.
    pub tx: mpsc::Sender<Envelope>,
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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub over the gateway's subscriber.
    pub fn new(subscriber: Box<dyn Subscriber>) -> Arc<Hub> {
        Arc::new(Hub {
            subscriber: tokio::sync::Mutex::new(subscriber),
            channels: Mutex::default(),
            pending: Mutex::default(),
            next_request: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
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

    /// Routes one pub/sub message.
    pub fn dispatch(&self, channel: &str, env: Envelope) {
        if env.kind == PubKind::Reply {
            match serde_json::from_slice::<Reply>(&env.json) {
                Ok(r) => {
                    if let Some(tx) = lock(&self.pending).remove(&r.request) {
                        let _ = tx.send(r.outcome);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "undecodable reply"),
            }
            return;
        }
        let ch = lock(&self.channels);
        let Some(conns) = ch.get(channel) else { return };
        for c in conns.values() {
            if c.tx.try_send(env.clone()).is_err() {
                // Full (or closing): never wait for one connection.
                c.slow.notify_one();
            }
        }
    }

    /// Tells every connection to re-read its chats from the store, once the
    /// subscriber is connected again (messages may have been lost meanwhile).
    async fn resync(self: Arc<Self>) {
        self.subscriber.lock().await.wait_connected().await;
        let env = Envelope {
            kind: PubKind::Resync,
            chat_id: chat_core::ChatId(0),
            seq: 0,
            accepted_at: 0,
            json: bytes::Bytes::new(),
        };
        let conns: HashMap<ConnId, ConnTx> = lock(&self.channels)
            .values()
            .flat_map(|m| m.iter().map(|(id, c)| (*id, c.clone())))
            .collect();
        tracing::info!(
            connections = conns.len(),
            "pub/sub reconnected: resyncing connections"
        );
        for c in conns.values() {
            if c.tx.try_send(env.clone()).is_err() {
                c.slow.notify_one();
            }
        }
    }

    /// Runs the dispatcher until the inbox closes.
    pub async fn run(self: Arc<Self>, mut inbox: Inbox) {
        while let Some((channel, payload)) = inbox.recv().await {
            if channel == RESYNC_CHANNEL {
                tokio::spawn(self.clone().resync());
                continue;
            }
            match Envelope::decode(payload) {
                Some(env) => self.dispatch(&channel, env),
                None => tracing::warn!(channel, "undecodable pub/sub payload"),
            }
        }
        tracing::error!("pub/sub inbox closed: this gateway receives no more events");
    }
}

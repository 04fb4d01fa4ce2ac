//! In-process publish/subscribe. At-most-once like Redis pub/sub: a subscriber
//! whose inbox is full loses the message (counted and logged); gateways detect the
//! gap by seq and refill it from the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use chat_core::CacheError;
use chat_core::ports::{Delivery, Inbox, PubSub, Subscriber};
use tokio::sync::mpsc;

type Subs = HashMap<String, Vec<(u64, mpsc::Sender<Delivery>)>>;

/// The in-process [`PubSub`]. Cheap to clone.
#[derive(Clone)]
pub struct MemPubSub {
    /// Channel name → subscribers (id, inbox).
    subs: Arc<RwLock<Subs>>,
    /// Next subscriber id.
    next_id: Arc<AtomicU64>,
    /// Inbox size of each subscriber.
    inbox: usize,
    /// Messages lost to full inboxes.
    dropped: Arc<AtomicU64>,
}

impl MemPubSub {
    /// Pub/sub whose subscribers each have an inbox of `inbox` messages.
    pub fn new(inbox: usize) -> Self {
        MemPubSub {
            subs: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            inbox: inbox.max(1),
            dropped: Arc::default(),
        }
    }

    /// Messages dropped because an inbox was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl PubSub for MemPubSub {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), CacheError> {
        let subs = self.subs.read().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = subs.get(channel) {
            for (_, tx) in list {
                let d = Delivery::Message {
                    channel: channel.to_string(),
                    payload: payload.clone(),
                };
                if tx.try_send(d).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(channel, "pub/sub inbox full or closed: message dropped");
                }
            }
        }
        Ok(())
    }

    async fn subscriber(&self) -> Result<(Box<dyn Subscriber>, Inbox), CacheError> {
        let (tx, rx) = mpsc::channel(self.inbox);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok((
            Box::new(MemSubscriber {
                id,
                tx,
                subs: self.subs.clone(),
            }),
            rx,
        ))
    }
}

struct MemSubscriber {
    id: u64,
    tx: mpsc::Sender<Delivery>,
    subs: Arc<RwLock<Subs>>,
}

#[async_trait]
impl Subscriber for MemSubscriber {
    async fn subscribe(&self, channel: &str) -> Result<(), CacheError> {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        let list = subs.entry(channel.to_string()).or_default();
        if !list.iter().any(|(id, _)| *id == self.id) {
            list.push((self.id, self.tx.clone()));
        }
        Ok(())
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), CacheError> {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = subs.get_mut(channel) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subs.remove(channel);
            }
        }
        Ok(())
    }
}

impl Drop for MemSubscriber {
    fn drop(&mut self) {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        subs.retain(|_, list| {
            list.retain(|(id, _)| *id != self.id);
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribe_publish_unsubscribe() {
        let ps = MemPubSub::new(8);
        let (s, mut inbox) = ps.subscriber().await.unwrap();
        ps.publish("a", Bytes::from_static(b"lost")).await.unwrap();
        s.subscribe("a").await.unwrap();
        s.subscribe("a").await.unwrap();
        ps.publish("a", Bytes::from_static(b"1")).await.unwrap();
        ps.publish("b", Bytes::from_static(b"x")).await.unwrap();
        assert_eq!(
            inbox.recv().await.unwrap(),
            Delivery::Message {
                channel: "a".into(),
                payload: Bytes::from_static(b"1")
            }
        );
        assert!(
            inbox.try_recv().is_err(),
            "one copy per subscriber, nothing from b"
        );
        s.unsubscribe("a").await.unwrap();
        ps.publish("a", Bytes::from_static(b"2")).await.unwrap();
        assert!(inbox.try_recv().is_err());
    }

    #[tokio::test]
    async fn full_inbox_drops_and_counts() {
        let ps = MemPubSub::new(1);
        let (s, _inbox) = ps.subscriber().await.unwrap();
        s.subscribe("a").await.unwrap();
        ps.publish("a", Bytes::from_static(b"1")).await.unwrap();
        ps.publish("a", Bytes::from_static(b"2")).await.unwrap();
        assert_eq!(ps.dropped(), 1);
    }
}

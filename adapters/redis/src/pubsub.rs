//! [`PubSub`] on Redis: PUBLISH (pipelined) through one connection; each
//! subscriber is a RESP3 connection whose pushes feed a bounded inbox, which
//! resubscribes by itself after a reconnect and then signals a resync.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use chat_core::CacheError;
use chat_core::ports::{Inbox, PubSub, RESYNC_CHANNEL, Subscriber};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::{RedisConfig, unavailable};

/// The Redis [`PubSub`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisPubSub {
    client: redis::Client,
    publisher: ConnectionManager,
    cfg: RedisConfig,
    /// Messages dropped because an inbox was full.
    dropped: Arc<AtomicU64>,
}

fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

impl RedisPubSub {
    /// Connects the publisher.
    pub async fn connect(cfg: RedisConfig) -> Result<RedisPubSub, CacheError> {
        let client = redis::Client::open(resp3(&cfg.url)).map_err(unavailable)?;
        let publisher = client.get_connection_manager().await.map_err(unavailable)?;
        Ok(RedisPubSub {
            client,
            publisher,
            cfg,
            dropped: Arc::default(),
        })
    }

    /// Messages dropped because a subscriber's inbox was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl PubSub for RedisPubSub {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), CacheError> {
        let mut c = self.publisher.clone();
        redis::cmd("PUBLISH")
            .arg(format!("{}{channel}", self.cfg.prefix))
            .arg(payload.as_ref())
            .query_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn publish_many(&self, msgs: Vec<(String, Bytes)>) -> Result<(), CacheError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (ch, p) in &msgs {
            pipe.cmd("PUBLISH")
                .arg(format!("{}{ch}", self.cfg.prefix))
                .arg(p.as_ref())
                .ignore();
        }
        let mut c = self.publisher.clone();
        pipe.query_async::<()>(&mut c).await.map_err(unavailable)
    }

    async fn subscriber(&self) -> Result<(Box<dyn Subscriber>, Inbox), CacheError> {
        let (tx, rx) = mpsc::channel(self.cfg.inbox.max(1));
        let prefix = self.cfg.prefix.clone();
        let dropped = self.dropped.clone();
        let sender = move |info: PushInfo| -> Result<(), ()> {
            match info.kind {
                PushKind::Message => {
                    let mut it = info.data.into_iter();
                    if let (Some(Value::BulkString(ch)), Some(Value::BulkString(payload))) =
                        (it.next(), it.next())
                    {
                        let ch = String::from_utf8_lossy(&ch);
                        let ch = ch.strip_prefix(prefix.as_str()).unwrap_or(&ch).to_string();
                        if tx.try_send((ch, Bytes::from(payload))).is_err() {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                PushKind::Disconnection => {
                    tracing::warn!("pub/sub connection lost; resubscribing");
                    let _ = tx.try_send((RESYNC_CHANNEL.to_string(), Bytes::new()));
                }
                _ => {}
            }
            Ok(())
        };
        let cfg = ConnectionManagerConfig::new()
            .set_push_sender(sender)
            .set_automatic_resubscription();
        let conn = self
            .client
            .get_connection_manager_with_config(cfg)
            .await
            .map_err(unavailable)?;
        Ok((
            Box::new(RedisSubscriber {
                conn,
                prefix: self.cfg.prefix.clone(),
            }),
            rx,
        ))
    }
}

struct RedisSubscriber {
    conn: ConnectionManager,
    prefix: String,
}

#[async_trait]
impl Subscriber for RedisSubscriber {
    async fn subscribe(&self, channel: &str) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        c.subscribe(format!("{}{channel}", self.prefix))
            .await
            .map_err(unavailable)
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        c.unsubscribe(format!("{}{channel}", self.prefix))
            .await
            .map_err(unavailable)
    }

    async fn wait_connected(&self) {
        loop {
            let mut c = self.conn.clone();
            if redis::cmd("PING")
                .query_async::<Value>(&mut c)
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

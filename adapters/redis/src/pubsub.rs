//! [`PubSub`] on Redis: PUBLISH (pipelined) through one connection; each
//! subscriber is a RESP3 connection whose pushes feed a bounded inbox, which
//! resubscribes by itself after a reconnect and then signals a resync.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use chat_core::CacheError;
use chat_core::ports::{Delivery, Inbox, PubSub, Subscriber};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ProtocolVersion, PushInfo, PushKind, Value};

use crate::conn::Conn;
use tokio::sync::mpsc;

use crate::{RedisConfig, unavailable};

/// The Redis [`PubSub`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisPubSub {
    publisher: Conn,
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
        let publisher = Conn::connect(&cfg).await?;
        Ok(RedisPubSub {
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
        redis::cmd(self.publish_cmd())
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
        if self.publisher.is_cluster() {
            // Channels of a cluster live on the nodes of their slots: channels are
            // published concurrently, each channel's messages in order.
            let mut by_channel: Vec<(String, Vec<Bytes>)> = Vec::new();
            let mut index: std::collections::HashMap<String, usize> = Default::default();
            for (ch, p) in msgs {
                let i = *index.entry(ch.clone()).or_insert_with(|| {
                    by_channel.push((ch, Vec::new()));
                    by_channel.len() - 1
                });
                by_channel[i].1.push(p);
            }
            let sends = by_channel.iter().map(|(ch, ps)| async move {
                for p in ps {
                    self.publish(ch, p.clone()).await?;
                }
                Ok::<(), CacheError>(())
            });
            return futures_util::future::join_all(sends)
                .await
                .into_iter()
                .collect();
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
                PushKind::Message | PushKind::SMessage => {
                    let mut it = info.data.into_iter();
                    if let (Some(Value::BulkString(ch)), Some(Value::BulkString(payload))) =
                        (it.next(), it.next())
                    {
                        let ch = String::from_utf8_lossy(&ch);
                        let channel = ch.strip_prefix(prefix.as_str()).unwrap_or(&ch).to_string();
                        let d = Delivery::Message {
                            channel,
                            payload: Bytes::from(payload),
                        };
                        if tx.try_send(d).is_err() {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                PushKind::Disconnection => {
                    tracing::warn!("pub/sub connection lost; resubscribing");
                    if tx.try_send(Delivery::Reconnected).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ => {}
            }
            Ok(())
        };
        let nodes: Vec<String> = self.cfg.nodes().iter().map(|n| resp3(n)).collect();
        let conn = if self.cfg.is_cluster() {
            let client = ClusterClientBuilder::new(nodes)
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(sender)
                .tcp_settings(crate::conn::tcp())
                .build()
                .map_err(unavailable)?;
            SubConn::Cluster(client.get_async_connection().await.map_err(unavailable)?)
        } else {
            let client = crate::conn::single_client(&nodes[0])?;
            let cfg = ConnectionManagerConfig::new()
                .set_push_sender(sender)
                .set_automatic_resubscription();
            SubConn::Single(
                client
                    .get_connection_manager_with_config(cfg)
                    .await
                    .map_err(unavailable)?,
            )
        };
        Ok((
            Box::new(RedisSubscriber {
                conn,
                prefix: self.cfg.prefix.clone(),
            }),
            rx,
        ))
    }
}

impl RedisPubSub {
    /// Sharded pub/sub on a cluster: a channel lives on its slot's node.
    fn publish_cmd(&self) -> &'static str {
        if self.publisher.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }
}

/// A subscriber's connection: both kinds resubscribe by themselves after a
/// reconnect.
enum SubConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

struct RedisSubscriber {
    conn: SubConn,
    prefix: String,
}

#[async_trait]
impl Subscriber for RedisSubscriber {
    async fn subscribe(&self, channel: &str) -> Result<(), CacheError> {
        let ch = format!("{}{channel}", self.prefix);
        match &self.conn {
            SubConn::Single(c) => c.clone().subscribe(ch).await,
            SubConn::Cluster(c) => c.clone().ssubscribe(ch).await,
        }
        .map_err(unavailable)
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), CacheError> {
        let ch = format!("{}{channel}", self.prefix);
        match &self.conn {
            SubConn::Single(c) => c.clone().unsubscribe(ch).await,
            SubConn::Cluster(c) => c.clone().sunsubscribe(ch).await,
        }
        .map_err(unavailable)
    }

    async fn wait_connected(&self) {
        loop {
            let ok = match &self.conn {
                SubConn::Single(c) => redis::cmd("PING")
                    .query_async::<Value>(&mut c.clone())
                    .await
                    .is_ok(),
                SubConn::Cluster(c) => redis::cmd("PING")
                    .query_async::<Value>(&mut c.clone())
                    .await
                    .is_ok(),
            };
            if ok {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

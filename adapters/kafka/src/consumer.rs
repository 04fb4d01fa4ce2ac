//! A Kafka consumer group member behind [`chat_core::ports::Consumer`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chat_core::LogError;
use chat_core::ports::{Consumer, Record};
use futures_util::FutureExt;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};

use crate::{metrics, unavailable};

/// Records rebalances so the role can drop state of revoked partitions.
struct Ctx {
    revoked: Arc<Mutex<Vec<u32>>>,
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let mut r = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
                for e in tpl.elements() {
                    r.push(e.partition() as u32);
                }
                tracing::info!(partitions = ?r, "partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                let ps: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(partitions = ?ps, "partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// A member of a consumer group on one topic.
pub struct KafkaConsumer {
    consumer: Arc<StreamConsumer<Ctx>>,
    topic: String,
    revoked: Arc<Mutex<Vec<u32>>>,
}

impl KafkaConsumer {
    /// Joins `group` on `topic` and starts exporting its lag.
    pub(crate) fn new(cfg: ClientConfig, topic: &str, group: &str) -> Result<Self, LogError> {
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let consumer: StreamConsumer<Ctx> = cfg
            .create_with_context(Ctx {
                revoked: revoked.clone(),
            })
            .map_err(unavailable)?;
        consumer.subscribe(&[topic]).map_err(unavailable)?;
        let consumer = Arc::new(consumer);
        tokio::spawn(export_lag(
            Arc::downgrade(&consumer),
            topic.to_string(),
            group.to_string(),
        ));
        Ok(KafkaConsumer {
            consumer,
            topic: topic.to_string(),
            revoked,
        })
    }
}

fn to_record(m: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    let key = m
        .key()
        .and_then(|k| <[u8; 8]>::try_from(k).ok())
        .map_or(0, u64::from_be_bytes);
    Record {
        partition: m.partition() as u32,
        offset: m.offset().max(0) as u64,
        key,
        payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let first = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(Err(e)) => return Err(unavailable(e)),
            Ok(Ok(m)) => to_record(&m),
        };
        let mut out = vec![first];
        while out.len() < max {
            match self.consumer.recv().now_or_never() {
                Some(Ok(m)) => out.push(to_record(&m)),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    break;
                }
                None => break,
            }
        }
        Ok(out)
    }

    async fn commit(&mut self, records: &[Record]) -> Result<(), LogError> {
        let mut next: std::collections::BTreeMap<u32, u64> = Default::default();
        for r in records {
            let e = next.entry(r.partition).or_default();
            *e = (*e).max(r.offset + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in next {
            tpl.add_partition_offset(&self.topic, p as i32, Offset::Offset(o as i64))
                .map_err(unavailable)?;
        }
        // Stored, committed by librdkafka within `commit_interval` (one request
        // per interval, not per batch): a commit lost to a crash only means
        // reprocessing, and every effect downstream is idempotent.
        self.consumer.store_offsets(&tpl).map_err(unavailable)
    }

    fn take_revoked(&mut self) -> Vec<u32> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        // Leave the group cleanly so partitions move at once, not after the session timeout.
        if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "final commit");
        }
        self.consumer.unsubscribe();
    }
}

/// Every 5 s: high watermark − committed position, per assigned partition.
async fn export_lag(consumer: std::sync::Weak<StreamConsumer<Ctx>>, topic: String, group: String) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let Some(c) = consumer.upgrade() else { return };
        let topic2 = topic.clone();
        let lags = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let Ok(assigned) = c.assignment() else {
                return out;
            };
            let Ok(positions) = c.position() else {
                return out;
            };
            for e in assigned.elements_for_topic(&topic2) {
                let p = e.partition();
                let Ok((_, high)) = c.fetch_watermarks(&topic2, p, Duration::from_secs(2)) else {
                    continue;
                };
                let pos = positions
                    .find_partition(&topic2, p)
                    .and_then(|x| x.offset().to_raw())
                    .filter(|o| *o >= 0);
                if let Some(pos) = pos {
                    out.push((p, (high - pos).max(0)));
                }
            }
            out
        })
        .await
        .unwrap_or_default();
        for (p, lag) in lags {
            metrics::LAG
                .with_label_values(&[&topic, &group, &p.to_string()])
                .set(lag);
        }
    }
}

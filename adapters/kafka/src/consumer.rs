//! A Kafka consumer group member behind [`chat_core::ports::Consumer`].

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Partitions held now (to report them revoked if the client is replaced).
    assigned: Arc<Mutex<BTreeSet<u32>>>,
    /// The topic and group, for the lag series of assigned partitions.
    topic: String,
    group: String,
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let mut r = lock(&self.revoked);
                let mut held = lock(&self.assigned);
                for e in tpl.elements() {
                    r.push(e.partition() as u32);
                    held.remove(&(e.partition() as u32));
                }
                let gone: Vec<u32> = tpl
                    .elements()
                    .iter()
                    .map(|e| e.partition() as u32)
                    .collect();
                metrics::revoked(&self.topic, &self.group, gone);
                tracing::info!(partitions = ?r, "partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                let ps: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                lock(&self.assigned).extend(ps.iter().map(|p| *p as u32));
                metrics::assigned(&self.topic, &self.group, ps.iter().copied());
                tracing::info!(partitions = ?ps, "partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A member of a consumer group on one topic.
///
/// librdkafka rejoins by itself after broker restarts, but has been seen not
/// to: a client left in a fatal state, or out of its group while it believes
/// itself subscribed (the partitions it should hold then go to nobody, and
/// nothing fails). A watcher checks every 5 s, from the group coordinator's
/// member list, that this client (by its own `client.id`) is still a member;
/// a client in a fatal state, or missing from a settled group three checks in
/// a row, is replaced by a new one on the next `poll`, and every partition it
/// held is reported revoked (the role drops their state and fences).
pub struct KafkaConsumer {
    consumer: Arc<StreamConsumer<Ctx>>,
    config: ClientConfig,
    /// The client id given at creation; replacements add `-rN`.
    base_id: String,
    client_id: String,
    replacements: u32,
    topic: String,
    group: String,
    revoked: Arc<Mutex<Vec<u32>>>,
    assigned: Arc<Mutex<BTreeSet<u32>>>,
    /// Set by the watcher: the client must be replaced.
    lost: Arc<AtomicBool>,
}

impl KafkaConsumer {
    /// Joins `group` on `topic` (as `client_id`, which `config` carries) and
    /// starts watching it and exporting its lag.
    pub(crate) fn new(
        config: ClientConfig,
        client_id: String,
        topic: &str,
        group: &str,
    ) -> Result<Self, LogError> {
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let assigned = Arc::new(Mutex::new(BTreeSet::new()));
        let lost = Arc::new(AtomicBool::new(false));
        let consumer = join(&config, topic, group, &revoked, &assigned)?;
        let c = KafkaConsumer {
            consumer,
            config,
            base_id: client_id.clone(),
            client_id,
            replacements: 0,
            topic: topic.to_string(),
            group: group.to_string(),
            revoked,
            assigned,
            lost,
        };
        c.watch();
        Ok(c)
    }

    fn watch(&self) {
        tokio::spawn(watch(
            Arc::downgrade(&self.consumer),
            Watched {
                topic: self.topic.clone(),
                group: self.group.clone(),
                client_id: self.client_id.clone(),
                lost: self.lost.clone(),
            },
        ));
    }

    /// Replaces a client the watcher found lost: every partition it held is
    /// reported revoked, a new one joins under a new client id (a stale
    /// member entry of the old one must not hide the new one's absence), and
    /// the old one leaves in the background (its stored offsets committed if
    /// it still can: librdkafka's close blocks).
    fn replace(&mut self) -> Result<(), LogError> {
        let held: Vec<u32> = std::mem::take(&mut *lock(&self.assigned))
            .into_iter()
            .collect();
        metrics::revoked(&self.topic, &self.group, held.iter().copied());
        lock(&self.revoked).extend(held);
        self.replacements += 1;
        self.client_id = format!("{}-r{}", self.base_id, self.replacements);
        self.config.set("client.id", &self.client_id);
        // The old client's own rebalance callbacks must not touch the new
        // one's partitions (revocations it reports are harmless: the role
        // takes those partitions' fences again).
        self.assigned = Arc::default();
        let fresh = join(
            &self.config,
            &self.topic,
            &self.group,
            &self.revoked,
            &self.assigned,
        )?;
        let old = std::mem::replace(&mut self.consumer, fresh);
        tokio::task::spawn_blocking(move || leave(&old));
        self.lost.store(false, Ordering::SeqCst);
        self.watch();
        metrics::CLIENTS_RECREATED
            .with_label_values(&[metrics::CLIENT_CONSUMER])
            .inc();
        tracing::warn!(group = %self.group, topic = %self.topic, "the Kafka consumer was lost; replaced by a new one");
        Ok(())
    }
}

/// A new client subscribed to `topic` as a member of `group`.
fn join(
    config: &ClientConfig,
    topic: &str,
    group: &str,
    revoked: &Arc<Mutex<Vec<u32>>>,
    assigned: &Arc<Mutex<BTreeSet<u32>>>,
) -> Result<Arc<StreamConsumer<Ctx>>, LogError> {
    let consumer: StreamConsumer<Ctx> = config
        .create_with_context(Ctx {
            revoked: revoked.clone(),
            assigned: assigned.clone(),
            topic: topic.to_string(),
            group: group.to_string(),
        })
        .map_err(unavailable)?;
    consumer.subscribe(&[topic]).map_err(unavailable)?;
    Ok(Arc::new(consumer))
}

/// Leaves the group cleanly so partitions move at once, not after the
/// session timeout.
fn leave(consumer: &StreamConsumer<Ctx>) {
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final commit");
    }
    consumer.unsubscribe();
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
        if self.lost.load(Ordering::SeqCst) {
            self.replace()?;
        }
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
        std::mem::take(&mut *lock(&self.revoked))
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        // librdkafka's close blocks (up to a rebalance): off the runtime's
        // threads when there is one.
        let consumer = self.consumer.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || leave(&consumer));
            }
            Err(_) => leave(&consumer),
        }
    }
}

/// What the watcher of one client watches.
struct Watched {
    topic: String,
    group: String,
    client_id: String,
    lost: Arc<AtomicBool>,
}

/// Checks missing from a settled group before a client counts as lost.
const MISSING_CHECKS: u32 = 3;

/// Every 5 s while the client lives: exports its lag, and marks it lost when
/// it is in a fatal state or has been missing from its settled group
/// (`Stable` or `Empty`) for [`MISSING_CHECKS`] checks in a row. A group
/// that cannot be read (the coordinator is away) counts as neither.
async fn watch(consumer: std::sync::Weak<StreamConsumer<Ctx>>, w: Watched) {
    let born = std::time::Instant::now();
    let mut missing = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let Some(c) = consumer.upgrade() else { return };
        #[cfg(feature = "failpoints")]
        crate::failpoints::desert(&c, born.elapsed().as_secs());
        let (topic, group, client_id) = (w.topic.clone(), w.group.clone(), w.client_id.clone());
        let (lags, fatal, member) = tokio::task::spawn_blocking(move || {
            let fatal = c.client().fatal_error();
            let member = c
                .fetch_group_list(Some(&group), Duration::from_secs(5))
                .ok()
                .and_then(|list| {
                    let g = list.groups().first()?;
                    let settled = matches!(g.state(), "Stable" | "Empty");
                    settled.then(|| g.members().iter().any(|m| m.client_id() == client_id))
                });
            (lags(&c, &topic), fatal, member)
        })
        .await
        .unwrap_or_default();
        for (p, lag) in lags {
            metrics::LAG
                .with_label_values(&[&w.topic, &w.group, &p.to_string()])
                .set(lag);
        }
        missing = match member {
            Some(false) => missing + 1,
            Some(true) => 0,
            None => missing,
        };
        if fatal.is_some() || missing >= MISSING_CHECKS {
            tracing::error!(
                group = %w.group,
                fatal = ?fatal,
                missing_checks = missing,
                age_secs = born.elapsed().as_secs(),
                "the Kafka consumer is lost (fatal, or out of its group); replacing it"
            );
            w.lost.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// High watermark − position, per partition of `topic` the client holds.
fn lags(c: &StreamConsumer<Ctx>, topic: &str) -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    let Ok(assigned) = c.assignment() else {
        return out;
    };
    let Ok(positions) = c.position() else {
        return out;
    };
    for e in assigned.elements_for_topic(topic) {
        let p = e.partition();
        let Ok((_, high)) = c.fetch_watermarks(topic, p, Duration::from_secs(2)) else {
            continue;
        };
        let pos = positions
            .find_partition(topic, p)
            .and_then(|x| x.offset().to_raw())
            .filter(|o| *o >= 0);
        if let Some(pos) = pos {
            out.push((p, (high - pos).max(0)));
        }
    }
    out
}

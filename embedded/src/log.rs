//! An in-process partitioned log with consumer groups.
//!
//! Records live in memory until every consumer group of the topic has committed
//! past them; a full partition makes `produce` wait (backpressure), so memory is
//! bounded by `partitions × capacity`. Nothing survives a restart: in standalone
//! mode a command is acknowledged only after the writer committed it to SQLite, so
//! losing the log loses only unacknowledged commands, which clients resend.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chat_core::ports::{Consumer, Log, Record};
use chat_core::{LogError, partition_for};
use tokio::sync::watch;

/// Settings of the in-process log.
#[derive(Clone, Debug)]
pub struct MemLogConfig {
    /// Partitions per topic.
    pub partitions: u32,
    /// Records a partition holds before `produce` waits for consumers.
    pub capacity_per_partition: usize,
}

impl Default for MemLogConfig {
    fn default() -> Self {
        MemLogConfig {
            partitions: 8,
            capacity_per_partition: 16_384,
        }
    }
}

/// The in-process log. Cheap to clone.
#[derive(Clone)]
pub struct MemLog {
    /// Settings.
    cfg: MemLogConfig,
    /// Topics by name, created on first use.
    topics: Arc<Mutex<HashMap<String, Arc<Topic>>>>,
}

struct Partition {
    /// Offset of `records[0]`.
    base: u64,
    /// Records not yet committed by every group.
    records: VecDeque<(u64, Bytes)>,
}

struct Topic {
    partitions: Vec<Mutex<Partition>>,
    /// Committed offset (next to read) per group and partition.
    groups: Mutex<HashMap<String, Vec<u64>>>,
    /// Bumped on every append: consumers wait on it.
    appended: watch::Sender<u64>,
    /// Bumped on every trim: waiting producers wait on it.
    trimmed: watch::Sender<u64>,
    capacity: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemLog {
    /// A log with the given settings.
    pub fn new(cfg: MemLogConfig) -> Self {
        MemLog {
            cfg,
            topics: Arc::default(),
        }
    }

    fn topic(&self, name: &str) -> Arc<Topic> {
        let mut topics = lock(&self.topics);
        topics
            .entry(name.to_string())
            .or_insert_with(|| {
                let n = self.cfg.partitions.max(1) as usize;
                Arc::new(Topic {
                    partitions: (0..n)
                        .map(|_| {
                            Mutex::new(Partition {
                                base: 0,
                                records: VecDeque::new(),
                            })
                        })
                        .collect(),
                    groups: Mutex::default(),
                    appended: watch::channel(0).0,
                    trimmed: watch::channel(0).0,
                    capacity: self.cfg.capacity_per_partition.max(1),
                })
            })
            .clone()
    }
}

impl Topic {
    /// Drops records every group has committed, and wakes waiting producers.
    fn trim(&self) {
        let groups = lock(&self.groups);
        if groups.is_empty() {
            return;
        }
        for (i, p) in self.partitions.iter().enumerate() {
            let min = groups.values().map(|v| v[i]).min().unwrap_or(0);
            let mut p = lock(p);
            while p.base < min && !p.records.is_empty() {
                p.records.pop_front();
                p.base += 1;
            }
        }
        self.trimmed.send_modify(|v| *v += 1);
    }
}

#[async_trait]
impl Log for MemLog {
    async fn produce(&self, topic: &str, key: u64, payload: Bytes) -> Result<(), LogError> {
        let t = self.topic(topic);
        let idx = partition_for(key, t.partitions.len() as u32) as usize;
        let mut trimmed = t.trimmed.subscribe();
        loop {
            {
                let mut p = lock(&t.partitions[idx]);
                if p.records.len() < t.capacity {
                    p.records.push_back((key, payload));
                    drop(p);
                    t.appended.send_modify(|v| *v += 1);
                    return Ok(());
                }
            }
            // Partition full: wait until a consumer commits (bounded memory).
            if trimmed.changed().await.is_err() {
                return Err(LogError::Closed);
            }
        }
    }

    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>, LogError> {
        let t = self.topic(topic);
        let positions = {
            let mut groups = lock(&t.groups);
            // A new group starts at the oldest retained record of each partition.
            groups
                .entry(group.to_string())
                .or_insert_with(|| t.partitions.iter().map(|p| lock(p).base).collect())
                .clone()
        };
        let appended = t.appended.subscribe();
        Ok(Box::new(MemConsumer {
            topic: t,
            group: group.to_string(),
            positions,
            next_partition: 0,
            appended,
        }))
    }
}

/// The one member of a consumer group (standalone runs one per group): it owns
/// every partition of the topic.
struct MemConsumer {
    topic: Arc<Topic>,
    group: String,
    /// Next offset to read per partition.
    positions: Vec<u64>,
    /// Round-robin start, so that one busy partition cannot starve the others.
    next_partition: usize,
    appended: watch::Receiver<u64>,
}

impl MemConsumer {
    fn take(&mut self, max: usize) -> Vec<Record> {
        let n = self.topic.partitions.len();
        let mut out = Vec::new();
        for k in 0..n {
            let i = (self.next_partition + k) % n;
            let p = lock(&self.topic.partitions[i]);
            let start = self.positions[i].max(p.base);
            let skip = (start - p.base) as usize;
            for (j, (key, payload)) in p.records.iter().skip(skip).enumerate() {
                if out.len() >= max {
                    break;
                }
                out.push(Record {
                    partition: i as u32,
                    offset: start + j as u64,
                    key: *key,
                    payload: payload.clone(),
                });
                self.positions[i] = start + j as u64 + 1;
            }
            if out.len() >= max {
                break;
            }
        }
        self.next_partition = (self.next_partition + 1) % n;
        out
    }
}

#[async_trait]
impl Consumer for MemConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.appended.borrow_and_update();
            let got = self.take(max.max(1));
            if !got.is_empty() {
                return Ok(got);
            }
            match tokio::time::timeout_at(deadline, self.appended.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(LogError::Closed),
                Err(_) => return Ok(Vec::new()),
            }
        }
    }

    async fn commit(&mut self, records: &[Record]) -> Result<(), LogError> {
        {
            let mut groups = lock(&self.topic.groups);
            let committed = groups
                .entry(self.group.clone())
                .or_insert_with(|| vec![0; self.topic.partitions.len()]);
            for r in records {
                let slot = &mut committed[r.partition as usize];
                *slot = (*slot).max(r.offset + 1);
            }
        }
        self.topic.trim();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn per_key_order_and_commit_trims() {
        let log = MemLog::new(MemLogConfig {
            partitions: 4,
            capacity_per_partition: 1000,
        });
        let mut c = log.consumer("t", "g").await.unwrap();
        for i in 0..100u64 {
            log.produce("t", i % 5, Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        let mut seen: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut total = 0;
        while total < 100 {
            let recs = c.poll(17, Duration::from_secs(1)).await.unwrap();
            assert!(!recs.is_empty());
            total += recs.len();
            for r in &recs {
                let v: u64 = std::str::from_utf8(&r.payload).unwrap().parse().unwrap();
                seen.entry(r.key).or_default().push(v);
            }
            c.commit(&recs).await.unwrap();
        }
        for (k, vs) in seen {
            let expect: Vec<u64> = (0..100).filter(|i| i % 5 == k).collect();
            assert_eq!(vs, expect, "key {k} in order");
        }
        let t = log.topic("t");
        assert!(t.partitions.iter().all(|p| lock(p).records.is_empty()));
        assert!(
            c.poll(10, Duration::from_millis(20))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn full_partition_blocks_until_commit() {
        let log = MemLog::new(MemLogConfig {
            partitions: 1,
            capacity_per_partition: 2,
        });
        let mut c = log.consumer("t", "g").await.unwrap();
        log.produce("t", 1, Bytes::from_static(b"a")).await.unwrap();
        log.produce("t", 1, Bytes::from_static(b"b")).await.unwrap();
        let l2 = log.clone();
        let blocked =
            tokio::spawn(async move { l2.produce("t", 1, Bytes::from_static(b"c")).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!blocked.is_finished(), "third record waits for room");
        let recs = c.poll(10, Duration::from_secs(1)).await.unwrap();
        assert_eq!(recs.len(), 2);
        c.commit(&recs).await.unwrap();
        blocked.await.unwrap().unwrap();
        let recs = c.poll(10, Duration::from_secs(1)).await.unwrap();
        assert_eq!(&recs[0].payload[..], b"c");
        assert_eq!(recs[0].offset, 2);
    }

    #[tokio::test]
    async fn a_reopened_group_resumes_after_its_commit() {
        let log = MemLog::new(MemLogConfig::default());
        let mut c = log.consumer("t", "g").await.unwrap();
        for i in 0..10u64 {
            log.produce("t", 7, Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        let recs = c.poll(4, Duration::from_secs(1)).await.unwrap();
        c.commit(&recs).await.unwrap();
        drop(c);
        let mut c = log.consumer("t", "g").await.unwrap();
        let recs = c.poll(100, Duration::from_secs(1)).await.unwrap();
        assert_eq!(recs.len(), 6);
        assert_eq!(&recs[0].payload[..], b"4");
    }
}

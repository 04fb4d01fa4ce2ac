//! The [`Log`] interface on Apache Kafka.
//!
//! - Producer: idempotent, `acks=all`, records keyed by chat id and sent to the
//!   partition `chat_core::partition_for(key, n)` (FNV-1a, the same rule as the
//!   in-process log), so placement does not depend on librdkafka's partitioner.
//! - Consumer: a consumer group member whose offsets are stored after the
//!   effects and committed by librdkafka every `commit_interval` (and on
//!   revocation and close), rebalances reported through
//!   [`Consumer::take_revoked`], and consumer lag exported as `log_consumer_lag`.
//! - Request economy: the broker's cost is per request, and librdkafka sends one
//!   produce request per partition, so `linger_ms` (producer) and `fetch_wait`
//!   (consumer: the broker holds a fetch until that long has passed or
//!   `fetch_min_bytes` are ready) bound the request rates under load.
//! - Topics are created at start-up when absent (and the client may).
//! - Security ([`KafkaSecurity`]): TLS and SASL (SCRAM) for every client; the
//!   brokers' ACLs then decide what each role may do.
//!
//! Architecture invariant: rdkafka is used here and nowhere else.

mod consumer;
#[cfg(feature = "failpoints")]
mod failpoints;
pub mod metrics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chat_core::ports::{Consumer, Log};
use chat_core::{LogError, partition_for};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

pub use consumer::KafkaConsumer;

/// Settings of the Kafka log.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]` of the brokers.
    pub brokers: String,
    /// Partitions of topics this process creates.
    pub partitions: u32,
    /// Replication factor of topics this process creates.
    pub replication: i32,
    /// Producer linger: how long to wait to fill a batch.
    pub linger_ms: u32,
    /// Consumer: longest time the broker holds a fetch to gather `fetch_min_bytes`.
    pub fetch_wait: Duration,
    /// Consumer: bytes the broker waits for before answering a fetch early.
    pub fetch_min_bytes: u32,
    /// Consumer: how often stored offsets are committed (also on revocation
    /// and close). A crash replays at most this much, deduplicated downstream.
    pub commit_interval: Duration,
    /// How long a produce may take (queueing, retries, `acks=all`) before it fails.
    pub produce_timeout: Duration,
    /// Consumer session timeout: how soon a dead member's partitions move.
    pub session_timeout: Duration,
    /// Client id reported to the brokers.
    pub client_id: String,
    /// How clients authenticate and protect their connections.
    pub security: KafkaSecurity,
    /// Raw librdkafka options applied last to every client (escape hatch).
    pub extra: Vec<(String, String)>,
}

/// How the clients reach the brokers: TLS, SASL, both or neither. Applied to
/// every client (producer, consumers, admin).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl` (librdkafka's
    /// `security.protocol`); `None`: plaintext.
    pub protocol: Option<String>,
    /// `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`.
    pub sasl_mechanism: Option<String>,
    /// SASL user.
    pub sasl_username: Option<String>,
    /// SASL password.
    pub sasl_password: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates (TLS); `None`:
    /// the system's.
    pub ssl_ca_location: Option<String>,
}

impl KafkaSecurity {
    /// Checks the combination: a known protocol; SASL with a known mechanism,
    /// a user and a password; no SASL settings without SASL.
    pub fn validate(&self) -> Result<(), String> {
        let protocol = self.protocol.as_deref().unwrap_or("plaintext");
        let sasl = match protocol.to_ascii_lowercase().as_str() {
            "plaintext" | "ssl" => false,
            "sasl_plaintext" | "sasl_ssl" => true,
            other => {
                return Err(format!(
                    "kafka security protocol {other:?}: expected plaintext, ssl, sasl_plaintext or sasl_ssl"
                ));
            }
        };
        let given = self.sasl_mechanism.is_some()
            || self.sasl_username.is_some()
            || self.sasl_password.is_some();
        if !sasl {
            return match given {
                true => Err(format!(
                    "SASL settings given, but the kafka security protocol is {protocol}: use sasl_plaintext or sasl_ssl"
                )),
                false => Ok(()),
            };
        }
        match self.sasl_mechanism.as_deref().unwrap_or("SCRAM-SHA-512") {
            "SCRAM-SHA-512" | "SCRAM-SHA-256" | "PLAIN" => {}
            other => {
                return Err(format!(
                    "kafka SASL mechanism {other:?}: expected SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
                ));
            }
        }
        if self.sasl_username.is_none() || self.sasl_password.is_none() {
            return Err("kafka SASL needs a user name and a password".into());
        }
        Ok(())
    }

    fn apply(&self, c: &mut ClientConfig) {
        if let Some(p) = &self.protocol {
            c.set("security.protocol", p.to_ascii_lowercase());
            if p.to_ascii_lowercase().starts_with("sasl") {
                c.set(
                    "sasl.mechanism",
                    self.sasl_mechanism.as_deref().unwrap_or("SCRAM-SHA-512"),
                );
            }
        }
        if let Some(u) = &self.sasl_username {
            c.set("sasl.username", u);
        }
        if let Some(p) = &self.sasl_password {
            c.set("sasl.password", p);
        }
        if let Some(ca) = &self.ssl_ca_location {
            c.set("ssl.ca.location", ca);
        }
    }
}

impl KafkaConfig {
    /// Defaults for brokers at `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            partitions: 8,
            replication: 1,
            linger_ms: 5,
            fetch_wait: Duration::from_millis(5),
            fetch_min_bytes: 64 * 1024,
            commit_interval: Duration::from_secs(1),
            produce_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(15),
            client_id: "chat".into(),
            security: KafkaSecurity::default(),
            extra: Vec::new(),
        }
    }

    /// The settings every client starts from; the raw options last.
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("log_level", "4");
        self.security.apply(&mut c);
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

/// The producer in use, replaced when it is stuck.
///
/// Two ways have been met. An idempotent producer that meets a fatal error (a
/// broker restarted with its state lost, a sequence it cannot reconcile)
/// fails every later send with `_FATAL`: librdkafka's documented remedy is a
/// new instance. And after a single broker's restart a producer has been
/// seen to keep one partition's leader as unknown ("new leader -1 not found
/// in cache") and time out every send to it for minutes, while its other
/// partitions worked and a new client worked at once. So a producer is replaced when it
/// reports a fatal error, or when every send to some partition has failed
/// for `stuck_after` (with the brokers really away, a new one fails the same
/// way: one replacement per `stuck_after`). Records it still held fail back
/// to their senders, who retry them (every record is idempotent downstream;
/// the old instance may still deliver some, late).
struct ProducerSlot {
    config: ClientConfig,
    /// The generation (replacements so far) and the producer.
    current: std::sync::RwLock<(u64, FutureProducer)>,
    /// Per (topic, partition): since when every send to it has failed.
    failing_since: Mutex<HashMap<(String, i32), Instant>>,
    stuck_after: Duration,
}

impl ProducerSlot {
    fn get(&self) -> (u64, FutureProducer) {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends to these partitions succeeded.
    fn succeeded<'a>(&self, topic: &str, partitions: impl IntoIterator<Item = &'a i32>) {
        let mut failing = self.failing_since.lock().unwrap_or_else(|e| e.into_inner());
        if failing.is_empty() {
            return;
        }
        for p in partitions {
            failing.remove(&(topic.to_string(), *p));
        }
    }

    /// After a failed send to `topic`/`partition` on generation
    /// `generation`: replaces that producer if it reports a fatal error, or
    /// if every send to that partition has failed for `stuck_after` (once,
    /// however many senders saw it).
    fn recover(&self, generation: u64, producer: &FutureProducer, topic: &str, partition: i32) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.0 != generation {
            // Already replaced: the failure was the old instance's.
            return;
        }
        let why = if let Some((code, reason)) = producer.client().fatal_error() {
            format!("fatal error {code}: {reason}")
        } else {
            let mut failing = self.failing_since.lock().unwrap_or_else(|e| e.into_inner());
            let started = *failing
                .entry((topic.to_string(), partition))
                .or_insert_with(Instant::now);
            if started.elapsed() < self.stuck_after {
                return;
            }
            // Every partition starts over with the new instance.
            failing.clear();
            format!(
                "every send to {topic}/{partition} failed for {:?}",
                started.elapsed()
            )
        };
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                *current = (generation + 1, fresh);
                metrics::CLIENTS_RECREATED
                    .with_label_values(&[metrics::CLIENT_PRODUCER])
                    .inc();
                tracing::error!(cause = %why, "the Kafka producer is stuck; replaced by a new one");
            }
            Err(e) => {
                tracing::error!(cause = %why, error = %e, "the Kafka producer is stuck and a new one cannot be made")
            }
        }
    }
}

/// The Kafka [`Log`]. Cheap to clone.
#[derive(Clone)]
pub struct KafkaLog {
    cfg: KafkaConfig,
    producer: Arc<ProducerSlot>,
    /// Partition count per topic, read from the cluster's metadata.
    partitions: Arc<Mutex<HashMap<String, u32>>>,
}

impl KafkaLog {
    /// Connects, creates `topics` when absent, and reads their partition counts.
    pub async fn connect(cfg: KafkaConfig, topics: &[&str]) -> Result<KafkaLog, LogError> {
        metrics::init();
        let mut pc = cfg.client();
        pc.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", cfg.linger_ms.to_string())
            .set("compression.type", "lz4")
            .set(
                "message.timeout.ms",
                cfg.produce_timeout.as_millis().to_string(),
            );
        // The raw options again, over the producer's own.
        for (k, v) in &cfg.extra {
            pc.set(k, v);
        }
        let producer: FutureProducer = pc.create().map_err(unavailable)?;
        let stuck_after = (cfg.produce_timeout * 3).max(Duration::from_secs(10));
        let log = KafkaLog {
            cfg,
            producer: Arc::new(ProducerSlot {
                config: pc,
                current: std::sync::RwLock::new((0, producer)),
                failing_since: Mutex::default(),
                stuck_after,
            }),
            partitions: Arc::default(),
        };
        log.create_topics(topics).await?;
        for t in topics {
            log.partition_count(t).await?;
        }
        Ok(log)
    }

    async fn create_topics(&self, topics: &[&str]) -> Result<(), LogError> {
        if topics.is_empty() {
            // librdkafka rejects an empty request as an invalid argument.
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> =
            self.cfg.client().create().map_err(unavailable)?;
        let new: Vec<NewTopic> = topics
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.cfg.partitions as i32,
                    TopicReplication::Fixed(self.cfg.replication),
                )
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics(&new, &opts)
            .await
            .map_err(unavailable)?;
        for r in results {
            match r {
                Ok(t) => {
                    tracing::info!(topic = %t, partitions = self.cfg.partitions, "created topic")
                }
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                // Under ACLs a role may not create topics: an operator did,
                // or the partition count read next says they are missing.
                Err((
                    t,
                    RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed,
                )) => {
                    tracing::info!(topic = %t, "not allowed to create the topic; expecting it to exist")
                }
                Err((t, e)) => return Err(unavailable(format!("creating topic {t}: {e}"))),
            }
        }
        Ok(())
    }

    /// Deletes topics (test and benchmark runs clean up after themselves); a
    /// topic that does not exist is not an error.
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<(), LogError> {
        let admin: AdminClient<DefaultClientContext> =
            self.cfg.client().create().map_err(unavailable)?;
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for r in admin
            .delete_topics(topics, &opts)
            .await
            .map_err(unavailable)?
        {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((t, e)) => return Err(unavailable(format!("deleting topic {t}: {e}"))),
            }
        }
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t, _| !topics.contains(&t.as_str()));
        Ok(())
    }

    /// Partitions of `topic` (cached after the first metadata read).
    pub async fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        if let Some(n) = self
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
        {
            return Ok(*n);
        }
        // A topic just created (or a broker just started) may not show its
        // partitions in the metadata yet: ask again for a while.
        let deadline = Instant::now() + (self.cfg.produce_timeout * 3).max(Duration::from_secs(5));
        let n = loop {
            let producer = self.producer.get().1;
            let t = topic.to_string();
            let r = tokio::task::spawn_blocking(move || {
                let md = producer
                    .client()
                    .fetch_metadata(Some(&t), Duration::from_secs(10))
                    .map_err(|e| Ok(unavailable(e)))?;
                let Some(found) = md.topics().first() else {
                    return Err(Ok(unavailable(format!("topic {t} has no partitions"))));
                };
                // Refused by the brokers' ACLs: asking again changes nothing.
                if found.error().map(RDKafkaErrorCode::from)
                    == Some(RDKafkaErrorCode::TopicAuthorizationFailed)
                {
                    return Err(Err(unavailable(format!(
                        "not authorized to use topic {t} (the brokers' ACLs)"
                    ))));
                }
                match found.partitions().len() as u32 {
                    0 => Err(Ok(unavailable(format!("topic {t} has no partitions")))),
                    n => Ok(n),
                }
            })
            .await
            .map_err(unavailable)?;
            // `Err(Ok(e))`: maybe not yet; `Err(Err(e))`: never.
            let r = match r {
                Err(Err(refused)) => return Err(refused),
                Err(Ok(e)) => Err(e),
                Ok(n) => Ok(n),
            };
            match r {
                Ok(n) => break n,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "topic metadata not ready; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_string(), n);
        Ok(n)
    }
}

#[async_trait]
impl Log for KafkaLog {
    async fn produce(&self, topic: &str, key: u64, payload: Bytes) -> Result<(), LogError> {
        let n = self.partition_count(topic).await?;
        let kb = key.to_be_bytes();
        let partition = partition_for(key, n) as i32;
        let rec = FutureRecord::to(topic)
            .key(&kb[..])
            .payload(&payload[..])
            .partition(partition);
        let started = Instant::now();
        let (generation, producer) = self.producer.get();
        let r = producer
            .send(rec, Timeout::After(self.cfg.produce_timeout))
            .await;
        metrics::PRODUCE_SECONDS.observe(started.elapsed().as_secs_f64());
        if r.is_ok() {
            self.producer.succeeded(topic, [&partition]);
        }
        r.map(|_| ()).map_err(|(e, _)| {
            metrics::PRODUCE_ERRORS.inc();
            self.producer
                .recover(generation, &producer, topic, partition);
            unavailable(e)
        })
    }

    async fn produce_batch(&self, topic: &str, records: Vec<(u64, Bytes)>) -> Result<(), LogError> {
        let n = self.partition_count(topic).await?;
        let started = Instant::now();
        let (generation, producer) = self.producer.get();
        #[cfg(feature = "failpoints")]
        failpoints::producer_fatal(&producer);
        // Enqueue in order (per-partition order is kept by the idempotent
        // producer), then wait for every delivery.
        let mut deliveries = Vec::with_capacity(records.len());
        let mut partitions = std::collections::BTreeSet::new();
        for (key, payload) in &records {
            let kb = key.to_be_bytes();
            let partition = partition_for(*key, n) as i32;
            partitions.insert(partition);
            let mut rec = FutureRecord::to(topic)
                .key(&kb[..])
                .payload(&payload[..])
                .partition(partition);
            loop {
                match producer.send_result(rec) {
                    Ok(d) => {
                        deliveries.push(d);
                        break;
                    }
                    Err((e, r)) => {
                        if matches!(
                            e,
                            rdkafka::error::KafkaError::MessageProduction(
                                RDKafkaErrorCode::QueueFull
                            )
                        ) {
                            // The local queue is full: let it drain (bounded memory).
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            rec = r;
                            continue;
                        }
                        metrics::PRODUCE_ERRORS.inc();
                        self.producer
                            .recover(generation, &producer, topic, partition);
                        return Err(unavailable(e));
                    }
                }
            }
        }
        for (d, (key, _)) in deliveries.into_iter().zip(&records) {
            match d.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    metrics::PRODUCE_ERRORS.inc();
                    let partition = partition_for(*key, n) as i32;
                    self.producer
                        .recover(generation, &producer, topic, partition);
                    return Err(unavailable(e));
                }
                Err(_) => return Err(LogError::Closed),
            }
        }
        metrics::PRODUCE_SECONDS.observe(started.elapsed().as_secs_f64());
        metrics::PRODUCE_BATCH.observe(records.len() as f64);
        self.producer.succeeded(topic, &partitions);
        Ok(())
    }

    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>, LogError> {
        let mut c = self.cfg.client();
        c.set("group.id", group)
            // Offsets are stored by `commit` after the effects; librdkafka
            // commits the stored ones every interval, on revocation and on close.
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.commit.interval.ms",
                self.cfg.commit_interval.as_millis().max(1).to_string(),
            )
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                self.cfg.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (self.cfg.session_timeout.as_millis() / 4)
                    .max(100)
                    .to_string(),
            )
            .set(
                "fetch.wait.max.ms",
                self.cfg.fetch_wait.as_millis().max(1).to_string(),
            )
            .set(
                "fetch.min.bytes",
                self.cfg.fetch_min_bytes.max(1).to_string(),
            );
        // The raw options again, over the consumer's own.
        for (k, v) in &self.cfg.extra {
            c.set(k, v);
        }
        // A client id of its own, by which the consumer finds itself in its
        // group's member list (see `KafkaConsumer`).
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}-{}-{n}", self.cfg.client_id, std::process::id());
        c.set("client.id", &id);
        Ok(Box::new(KafkaConsumer::new(c, id, topic, group)?))
    }
}

impl KafkaLog {
    /// Waits for queued records to be delivered (before exit).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.get().1.flush(Timeout::After(timeout));
    }
}

//! The writer role: consumes `chat.commands`, authorizes, dedupes and sequences
//! each command, persists a batch in one store transaction, produces the effects
//! to `chat.events`, and only then commits the consumed offsets.
//!
//! Architecture invariant: only the writer writes chat data (chats, members,
//! messages, cursors) to the store.

#[cfg(test)]
mod across_shards;
mod apply;
#[cfg(feature = "failpoints")]
mod failpoints;
pub mod metrics;
mod state;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::ports::{Fence, Log, Record, Store};
use chat_core::progress::Progress;
use chat_core::rules::Limits;
use chat_core::wire::CommandRecord;
use chat_core::{COMMANDS_TOPIC, EVENTS_TOPIC, LogError, StoreError};

pub use apply::Batch;
pub use state::{ChatState, States};

/// Settings of a writer.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Topic consumed.
    pub commands_topic: String,
    /// Topic produced.
    pub events_topic: String,
    /// Consumer group.
    pub group: String,
    /// Most commands per batch (one transaction).
    pub batch_max: usize,
    /// Longest wait for the first command of a batch.
    pub poll_wait: Duration,
    /// Most chats whose state is kept in memory.
    pub max_chats_in_memory: usize,
    /// Input limits (text length…), enforced again here: the writer decides.
    pub limits: Limits,
    /// Where the loop reports its liveness (read by `/healthz`, `/readyz`).
    pub progress: Arc<Progress>,
    /// Rejections of the same commands by the store, in a row, after which a
    /// batch is applied command by command and a command rejected alone is
    /// parked.
    pub poison_attempts: u32,
    /// Where parked command records go ([`chat_core::dead_letters_topic`]).
    pub dead_letters_topic: String,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            commands_topic: COMMANDS_TOPIC.into(),
            events_topic: EVENTS_TOPIC.into(),
            group: "writer".into(),
            batch_max: 1000,
            poll_wait: Duration::from_millis(100),
            max_chats_in_memory: 100_000,
            limits: Limits::default(),
            progress: Arc::default(),
            poison_attempts: 5,
            dead_letters_topic: chat_core::dead_letters_topic(COMMANDS_TOPIC),
        }
    }
}

/// Why a writer stopped.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The log failed in a way retrying cannot fix (closed).
    #[error("log: {0}")]
    Log(#[from] LogError),
    /// The store refused a batch: another writer owns one of its partitions
    /// now ([`StoreError::Fenced`]), or the store disagrees with the writer's
    /// state ([`StoreError::Conflict`]). Nothing of it is acknowledged; `run`
    /// drops its state and rejoins the group.
    #[error("batch refused: {0}")]
    Refused(StoreError),
}

/// The fencing epochs of the partitions this writer holds (see
/// [`chat_core::ports::Fence`]): taken on the first batch after each
/// assignment, forgotten on revocation.
struct Fences {
    topic: String,
    epochs: HashMap<u32, u64>,
}

impl Fences {
    fn new(topic: &str) -> Self {
        Fences {
            topic: topic.to_string(),
            epochs: HashMap::new(),
        }
    }

    /// The fence of a batch, taking a new epoch for each of its partitions
    /// this writer holds none for yet (retrying until the store answers). A
    /// partition newly taken may have been written by
    /// its previous owner since this writer last read it: all state is
    /// dropped then.
    async fn of(
        &mut self,
        store: &dyn Store,
        states: &mut States,
        records: &[Record],
        progress: &Progress,
    ) -> Fence {
        let mut parts: Vec<u32> = records.iter().map(|r| r.partition).collect();
        parts.sort_unstable();
        parts.dedup();
        let mut backoff = Backoff::new();
        for &p in &parts {
            while !self.epochs.contains_key(&p) {
                match store.acquire_fence(&self.topic, p).await {
                    Ok(epoch) => {
                        metrics::FENCES_ACQUIRED.inc();
                        tracing::info!(partition = p, epoch, "partition taken");
                        self.epochs.insert(p, epoch);
                        states.clear();
                    }
                    Err(e) => {
                        tracing::warn!(partition = p, error = %e, retry_in = ?backoff.delay(), "taking the partition's fence failed; retrying");
                        backoff.wait(progress).await;
                    }
                }
            }
        }
        Fence {
            topic: self.topic.clone(),
            epochs: parts.iter().map(|p| (*p, self.epochs[p])).collect(),
        }
    }

    fn forget(&mut self, partitions: &[u32]) {
        for p in partitions {
            self.epochs.remove(p);
        }
    }
}

/// The waits between the tries of a failing step: 50 ms, doubling up to 5 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(50))
    }

    /// The next wait.
    fn delay(&self) -> Duration {
        self.0
    }

    /// Counts a retry of the current batch and waits before it.
    async fn wait(&mut self, progress: &Progress) {
        retrying(progress);
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
    }
}

/// A step of the current batch failed and will be retried.
fn retrying(progress: &Progress) {
    metrics::RETRIES.inc();
    progress.failing();
    if metrics::FAILING_SINCE.get() == 0 {
        metrics::FAILING_SINCE.set(chat_core::now_ms() / 1000);
    }
}

/// A batch is done: applied, its effects on their way.
fn done(progress: &Progress) {
    progress.done();
    metrics::FAILING_SINCE.set(0);
    metrics::LAST_BATCH.set(chat_core::now_ms() / 1000);
}

/// Effects of a persisted batch being produced, and the records they answer.
type InFlight = (
    tokio::task::JoinHandle<Result<(), WriterError>>,
    Vec<Record>,
);

/// Runs a writer until `shutdown` resolves. The current batch is finished and
/// committed before returning.
///
/// Batches overlap by one stage: batch N is persisted while batch N−1's
/// effects are still being produced (a Kafka round trip). Batch N's effects
/// are produced only once N−1's are acknowledged, so effects keep their order,
/// and offsets are committed only after a batch's effects are in the log.
pub async fn run(
    cfg: WriterConfig,
    log: Arc<dyn Log>,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WriterError> {
    metrics::init();
    let mut consumer = log.consumer(&cfg.commands_topic, &cfg.group).await?;
    let mut states = States::new(cfg.max_chats_in_memory);
    let mut fences = Fences::new(&cfg.commands_topic);
    let mut in_flight: Option<InFlight> = None;
    tokio::pin!(shutdown);
    tracing::info!(group = %cfg.group, topic = %cfg.commands_topic, "writer started");
    loop {
        let records = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = consumer.poll(cfg.batch_max, cfg.poll_wait) => match r {
                Ok(r) => r,
                Err(LogError::Closed) => return Err(LogError::Closed.into()),
                Err(e) => {
                    // The broker is away: keep trying; nothing is lost meanwhile.
                    retrying(&cfg.progress);
                    tracing::warn!(error = %e, "poll failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        cfg.progress.beat();
        let revoked = consumer.take_revoked();
        if !revoked.is_empty() {
            states.clear();
            fences.forget(&revoked);
        }
        if records.is_empty() {
            finish(&mut in_flight, &mut *consumer).await?;
            continue;
        }
        let started = Instant::now();
        let n = records.len();
        let fence = fences
            .of(&*store, &mut states, &records, &cfg.progress)
            .await;
        let persisted = match persist(&cfg, &*store, &fence, &mut states, &records).await {
            Ok(p) => p,
            Err(e) => {
                // Another writer owns a partition of this batch now (or the
                // store disagrees with this writer's state): nothing of it is
                // acknowledged. Start over as a new member: no state, no
                // epochs, and positions from the group's committed offsets.
                let reason = if matches!(e, StoreError::Fenced(_)) {
                    metrics::REFUSED_FENCED
                } else {
                    metrics::REFUSED_CONFLICT
                };
                metrics::REFUSED_BATCHES.with_label_values(&[reason]).inc();
                tracing::warn!(error = %e, "batch refused; rejoining the group");
                finish(&mut in_flight, &mut *consumer).await?;
                drop(consumer);
                states.clear();
                fences = Fences::new(&cfg.commands_topic);
                consumer = log.consumer(&cfg.commands_topic, &cfg.group).await?;
                continue;
            }
        };
        #[cfg(feature = "failpoints")]
        failpoints::after_commit(&records);
        finish(&mut in_flight, &mut *consumer).await?;
        done(&cfg.progress);
        let (log2, cfg2) = (log.clone(), cfg.clone());
        in_flight = Some((
            tokio::spawn(async move { produce_all(&*log2, &cfg2, persisted).await }),
            records,
        ));
        states.trim();
        metrics::CHATS_IN_MEMORY.set(states.len() as i64);
        metrics::BATCH_SIZE.observe(n as f64);
        metrics::BATCH_SECONDS.observe(started.elapsed().as_secs_f64());
    }
    finish(&mut in_flight, &mut *consumer).await?;
    tracing::info!("writer stopped");
    Ok(())
}

/// Waits for the batch whose effects are being produced, then commits its
/// offsets.
async fn finish(
    in_flight: &mut Option<InFlight>,
    consumer: &mut dyn chat_core::ports::Consumer,
) -> Result<(), WriterError> {
    let Some((task, records)) = in_flight.take() else {
        return Ok(());
    };
    match task.await {
        Ok(r) => r?,
        Err(e) => {
            // The task panicked or was cancelled: nothing is committed, so the
            // batch is evaluated again after a restart (idempotently).
            tracing::error!(error = %e, "producing effects did not finish");
            return Err(WriterError::Log(LogError::Closed));
        }
    }
    if let Err(e) = consumer.commit(&records).await {
        // The next commit covers these offsets; a crash before it only means
        // reprocessing, which is idempotent.
        tracing::warn!(error = %e, "commit failed");
    }
    Ok(())
}

/// Persists one batch under `fence` and produces its effects, retrying
/// transient failures until they succeed (the offsets are not committed
/// before).
pub async fn process(
    cfg: &WriterConfig,
    log: &dyn Log,
    store: &dyn Store,
    fence: &Fence,
    states: &mut States,
    records: &[Record],
) -> Result<(), WriterError> {
    let persisted = persist(cfg, store, fence, states, records)
        .await
        .map_err(WriterError::Refused)?;
    produce_all(log, cfg, persisted).await
}

/// Produces a persisted batch: its parked records to the dead-letter topic
/// first (so that an offset is never committed past a record kept nowhere),
/// then its effects.
async fn produce_all(log: &dyn Log, cfg: &WriterConfig, p: Persisted) -> Result<(), WriterError> {
    if !p.parked.is_empty() {
        produce(log, &cfg.dead_letters_topic, p.parked, &cfg.progress).await?;
    }
    produce(log, &cfg.events_topic, p.effects, &cfg.progress).await
}

/// What persisting a batch gives: the encoded effects, keyed by chat, and the
/// records parked as poison (for the dead-letter topic), keyed by chat.
#[derive(Default)]
struct Persisted {
    effects: Vec<(u64, bytes::Bytes)>,
    parked: Vec<(u64, bytes::Bytes)>,
}

/// Evaluates and persists one batch. A batch the store refuses
/// ([`StoreError::Fenced`], [`StoreError::Conflict`]) is not retried: the
/// error is returned and the caller must drop its state. Other failures are
/// retried; a batch whose data the store keeps rejecting is taken apart, and
/// a command rejected alone as often is parked: its record goes to the
/// dead-letter topic, its sender gets `internal`, and the partition moves
/// on. An outage is waited out: nothing is parked for it.
async fn persist(
    cfg: &WriterConfig,
    store: &dyn Store,
    fence: &Fence,
    states: &mut States,
    records: &[Record],
) -> Result<Persisted, StoreError> {
    let mut out = Persisted::default();
    // The decoded commands, and the record each came from (for parking).
    let mut commands = Vec::with_capacity(records.len());
    let mut sources = Vec::with_capacity(records.len());
    for r in records {
        match serde_json::from_slice::<CommandRecord>(&r.payload) {
            Ok(c) => {
                commands.push(c);
                sources.push(r);
            }
            Err(e) => {
                metrics::BAD_RECORDS.inc();
                metrics::PARKED.inc();
                tracing::error!(partition = r.partition, offset = r.offset, error = %e, "undecodable command; parked");
                out.parked.push((r.key, r.payload.clone()));
            }
        }
    }
    #[cfg(feature = "failpoints")]
    failpoints::panic_on_send(records);
    match attempt(cfg, store, fence, states, &commands).await? {
        Attempt::Applied(effects) => out.effects = encode(&effects),
        Attempt::KeepsFailing if commands.len() == 1 => {
            out.effects
                .extend(park(&commands[0], sources[0], &mut out.parked));
        }
        Attempt::KeepsFailing => {
            tracing::warn!(
                commands = commands.len(),
                "the store keeps rejecting the batch's data; applying its commands one by one"
            );
            for (c, r) in commands.iter().zip(sources) {
                match attempt(cfg, store, fence, states, std::slice::from_ref(c)).await? {
                    Attempt::Applied(effects) => out.effects.extend(encode(&effects)),
                    Attempt::KeepsFailing => out.effects.extend(park(c, r, &mut out.parked)),
                }
            }
        }
    }
    Ok(out)
}

/// Parks a command that keeps failing alone: its record joins `parked`; the
/// encoded rejection for its sender is returned.
fn park(
    c: &CommandRecord,
    r: &Record,
    parked: &mut Vec<(u64, bytes::Bytes)>,
) -> Vec<(u64, bytes::Bytes)> {
    use chat_core::wire::{EffectRecord, Outcome, RECORD_VERSION};
    metrics::PARKED.inc();
    tracing::error!(
        partition = r.partition,
        offset = r.offset,
        chat = c.cmd.chat_id().0,
        "a command keeps failing alone; parked"
    );
    parked.push((r.key, r.payload.clone()));
    let Some(reply_to) = c.reply_to.clone() else {
        return Vec::new();
    };
    let rejected = EffectRecord {
        v: RECORD_VERSION,
        accepted_at: c.accepted_at,
        event: None,
        chat: None,
        reply_to: Some(reply_to),
        outcome: Outcome::Rejected(chat_core::Rejection::new(
            chat_core::Code::Internal,
            "the command could not be stored",
        )),
    };
    encode(&[(c.cmd.chat_id(), rejected)])
}

/// How [`attempt`] ended.
enum Attempt {
    /// Applied on every shard; the effects to produce.
    Applied(Vec<(chat_core::ChatId, chat_core::wire::EffectRecord)>),
    /// Rejected `poison_attempts` times in a row by the store (see
    /// [`gives_up`]): the commands themselves fail. Nothing of the attempt is
    /// in memory.
    KeepsFailing,
}

/// Evaluates `commands` and applies their mutations under `fence`, retrying
/// failures. A failed read evaluates them again (nothing was written); a
/// failed apply applies the same mutations again (they are idempotent;
/// evaluating again would take the rows a shard already committed for
/// duplicates) until every shard holds them.
async fn attempt(
    cfg: &WriterConfig,
    store: &dyn Store,
    fence: &Fence,
    states: &mut States,
    commands: &[CommandRecord],
) -> Result<Attempt, StoreError> {
    let mut failures = 0;
    let mut backoff = Backoff::new();
    loop {
        let (result, touched) = evaluate(cfg, store, states, commands).await;
        let failed = match result {
            Ok((mutations, effects)) => {
                #[cfg(feature = "failpoints")]
                failpoints::before_apply(commands);
                loop {
                    let e = match store.apply_fenced(fence, &mutations).await {
                        Ok(()) => return Ok(Attempt::Applied(effects)),
                        Err(e @ (StoreError::Fenced(_) | StoreError::Conflict(_))) => {
                            return Err(e);
                        }
                        Err(e) => e,
                    };
                    if gives_up(cfg, &e, &mut failures) {
                        break Some(e);
                    }
                    tracing::warn!(error = %e, retry_in = ?backoff.delay(), "applying the batch failed; applying it again");
                    backoff.wait(&cfg.progress).await;
                }
            }
            Err(e) => {
                if gives_up(cfg, &e, &mut failures) {
                    Some(e)
                } else {
                    tracing::warn!(error = %e, retry_in = ?backoff.delay(), "reading for the batch failed; evaluating it again");
                    backoff.wait(&cfg.progress).await;
                    None
                }
            }
        };
        // Whatever the evaluation changed in memory is void: the store may
        // hold all, part or none of it.
        for c in touched {
            states.forget(c);
        }
        if let Some(e) = failed {
            tracing::warn!(error = %e, failures, "giving up on these commands as a whole");
            return Ok(Attempt::KeepsFailing);
        }
    }
}

/// Counts a failure of the same commands; whether they have failed enough to
/// stop retrying them as they are: `poison_attempts` failures in which the
/// store refused the data itself ([`StoreError::Rejected`]) or holds a row
/// it cannot decode ([`StoreError::Corrupt`]). An outage (anything else: a
/// shard away, read-only, out of disk, a timeout) is waited out and never
/// taken for the data's fault: it resets the count.
fn gives_up(cfg: &WriterConfig, e: &StoreError, failures: &mut u32) -> bool {
    if matches!(e, StoreError::Rejected(_) | StoreError::Corrupt(_)) {
        *failures += 1;
    } else {
        *failures = 0;
    }
    *failures >= cfg.poison_attempts
}

/// The effects, encoded, keyed by chat.
fn encode(
    effects: &[(chat_core::ChatId, chat_core::wire::EffectRecord)],
) -> Vec<(u64, bytes::Bytes)> {
    effects
        .iter()
        .filter_map(|(chat, e)| match serde_json::to_vec(e) {
            Ok(b) => Some((chat.0, bytes::Bytes::from(b))),
            Err(err) => {
                tracing::error!(error = %err, "cannot encode effect");
                None
            }
        })
        .collect()
}

/// Evaluates one batch against the writer's state once: its mutations and
/// effects, or the read that failed; and the chats it changed in memory.
async fn evaluate(
    cfg: &WriterConfig,
    store: &dyn Store,
    states: &mut States,
    commands: &[CommandRecord],
) -> (
    Result<
        (
            Vec<chat_core::ports::Mutation>,
            Vec<(chat_core::ChatId, chat_core::wire::EffectRecord)>,
        ),
        StoreError,
    >,
    Vec<chat_core::ChatId>,
) {
    let mut batch = Batch::new(store, states, &cfg.limits);
    let mut failed = batch.prefetch_duplicates(commands).await.err();
    if failed.is_none() {
        for c in commands {
            if let Err(e) = batch.handle(c.clone()).await {
                failed = Some(e);
                break;
            }
        }
    }
    let touched = batch.touched().to_vec();
    match failed {
        None => (Ok(batch.finish()), touched),
        Some(e) => (Err(e), touched),
    }
}

/// Produces a batch's effects, retrying until the log takes them.
async fn produce(
    log: &dyn Log,
    topic: &str,
    payloads: Vec<(u64, bytes::Bytes)>,
    progress: &Progress,
) -> Result<(), WriterError> {
    let mut backoff = Backoff::new();
    loop {
        match log.produce_batch(topic, payloads.clone()).await {
            Ok(()) => return Ok(()),
            Err(LogError::Closed) => return Err(LogError::Closed.into()),
            Err(e) => {
                // Effects are idempotent downstream, so producing twice is safe.
                tracing::warn!(error = %e, retry_in = ?backoff.delay(), "producing effects failed; retrying");
                backoff.wait(progress).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;
    use chat_core::model::{ChatKind, Role, User, UserRecord};
    use chat_core::ports::Store;
    use chat_core::wire::{Command, CommandRecord, EffectRecord, Outcome, RECORD_VERSION, ReplyTo};
    use chat_core::{ChatId, Code, MessageId, UserId};
    use chat_embedded::{MemLog, MemLogConfig};
    use chat_store::{SqliteConfig, SqliteStore};

    use super::*;

    /// A command record from `actor`, answered to request `request` (also
    /// its offset).
    pub(crate) fn record(actor: u64, request: u64, cmd: Command) -> Record {
        let rec = CommandRecord {
            v: RECORD_VERSION,
            actor: UserId(actor),
            accepted_at: 0,
            reply_to: Some(ReplyTo {
                gateway: "g".into(),
                request,
            }),
            cmd,
        };
        Record {
            partition: 0,
            offset: request,
            key: 0,
            payload: Bytes::from(serde_json::to_vec(&rec).unwrap()),
        }
    }

    fn send(chat: u64, key: &str) -> Command {
        Command::Send {
            chat_id: ChatId(chat),
            message_id: MessageId(chat * 1000 + key.len() as u64 + key.as_bytes()[0] as u64),
            client_msg_id: key.into(),
            text: format!("text {key}"),
            reply_to_seq: None,
            forwarded_from: None,
            mentions: Vec::new(),
        }
    }

    /// Processes one batch (with no fence) and returns the effect records
    /// that answer its requests (a record's offset is its request number).
    pub(crate) async fn effects_of(
        store: &dyn Store,
        log: &MemLog,
        states: &mut States,
        recs: &[Record],
    ) -> Vec<EffectRecord> {
        effects_with(&WriterConfig::default(), store, log, states, recs).await
    }

    /// [`effects_of`] with a writer's settings.
    pub(crate) async fn effects_with(
        cfg: &WriterConfig,
        store: &dyn Store,
        log: &MemLog,
        states: &mut States,
        recs: &[Record],
    ) -> Vec<EffectRecord> {
        let mut consumer = log.consumer(&cfg.events_topic, "t").await.unwrap();
        process(cfg, log, store, &Fence::default(), states, recs)
            .await
            .unwrap();
        let wanted: Vec<u64> = recs.iter().map(|r| r.offset).collect();
        consumer
            .poll(1000, std::time::Duration::from_millis(200))
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice::<EffectRecord>(&r.payload).unwrap())
            .filter(|e| wanted.contains(&e.reply_to.as_ref().unwrap().request))
            .collect()
    }

    /// Runs one batch and returns the outcome per request number.
    async fn run_batch(
        store: &SqliteStore,
        log: &MemLog,
        states: &mut States,
        recs: &[Record],
    ) -> HashMap<u64, Outcome> {
        effects_of(store, log, states, recs)
            .await
            .into_iter()
            .map(|e| (e.reply_to.unwrap().request, e.outcome))
            .collect()
    }

    #[tokio::test]
    async fn a_batch_sequences_dedupes_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("w.db")))
            .await
            .unwrap();
        for (id, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
            let user = User::new(UserId(id), name.into(), 0);
            store
                .create_user(&UserRecord {
                    user,
                    password_hash: "x".into(),
                })
                .await
                .unwrap();
        }
        let log = MemLog::new(MemLogConfig::default());
        let mut states = States::new(100);
        let create = Command::CreateChat {
            chat_id: ChatId(50),
            kind: ChatKind::Group,
            title: "g".into(),
            members: vec![UserId(2)],
        };
        let out = run_batch(
            &store,
            &log,
            &mut states,
            &[
                record(1, 1, send(50, "early")),
                record(1, 2, create),
                record(1, 3, send(50, "a")),
                record(2, 4, send(50, "b")),
                record(1, 5, send(50, "a")),
                record(3, 6, send(50, "c")),
                record(
                    2,
                    7,
                    Command::Edit {
                        chat_id: ChatId(50),
                        seq: 1,
                        text: "mine now".into(),
                    },
                ),
                record(
                    1,
                    8,
                    Command::SetRole {
                        chat_id: ChatId(50),
                        user_id: UserId(2),
                        role: Role::Silent,
                    },
                ),
                record(2, 9, send(50, "d")),
            ],
        )
        .await;
        let rejected = |r: u64| match &out[&r] {
            Outcome::Rejected(rej) => Some(rej.code),
            _ => None,
        };
        let seq = |r: u64| match &out[&r] {
            Outcome::Ok {
                message: Some(m),
                duplicate,
                ..
            } => Some((m.seq, *duplicate)),
            _ => None,
        };
        assert_eq!(
            rejected(1),
            Some(Code::ChatNotFound),
            "a send before the chat exists"
        );
        assert_eq!(seq(3), Some((1, false)));
        assert_eq!(seq(4), Some((2, false)));
        assert_eq!(
            seq(5),
            Some((1, true)),
            "the same key in one batch is the same message"
        );
        assert_eq!(rejected(6), Some(Code::NotMember));
        assert_eq!(rejected(7), Some(Code::Forbidden), "only the author edits");
        assert_eq!(rejected(9), Some(Code::Silenced));
        // A later batch finds the key in the store; the sequence goes on densely.
        let out2 = run_batch(
            &store,
            &log,
            &mut States::new(100),
            &[record(1, 10, send(50, "a")), record(1, 11, send(50, "e"))],
        )
        .await;
        assert!(
            matches!(&out2[&10], Outcome::Ok { message: Some(m), duplicate: true, .. } if m.seq == 1)
        );
        assert!(
            matches!(&out2[&11], Outcome::Ok { message: Some(m), duplicate: false, .. } if m.seq == 3)
        );
        let chat = store.chats(&[ChatId(50)]).await.unwrap().remove(0);
        assert_eq!(chat.last_seq, 3);
        let cursor = store.memberships(UserId(1)).await.unwrap()[0].read_seq;
        assert_eq!(cursor, 3, "a sender has read up to their own message");
    }

    /// The effects of one batch: (request, event).
    async fn batch_events(
        store: &SqliteStore,
        log: &MemLog,
        recs: &[Record],
    ) -> Vec<(u64, Option<chat_core::wire::Event>)> {
        // A fresh writer state each time, as after a restart.
        effects_of(store, log, &mut States::new(100), recs)
            .await
            .into_iter()
            .map(|e| (e.reply_to.unwrap().request, e.event))
            .collect()
    }

    /// A command found already applied (its batch committed, its effects maybe
    /// never produced: the writer died in between) produces its event again;
    /// a repeat within one batch does not.
    #[tokio::test]
    async fn commands_found_applied_produce_their_events_again() {
        use chat_core::wire::Event;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("w.db")))
            .await
            .unwrap();
        store
            .create_user(&UserRecord {
                user: User::new(UserId(1), "alice".into(), 0),
                password_hash: "x".into(),
            })
            .await
            .unwrap();
        let log = MemLog::new(MemLogConfig::default());
        let create = Command::CreateChat {
            chat_id: ChatId(60),
            kind: ChatKind::Group,
            title: "g".into(),
            members: vec![],
        };
        let edit = |text: &str| Command::Edit {
            chat_id: ChatId(60),
            seq: 1,
            text: text.into(),
        };
        let delete = Command::Delete {
            chat_id: ChatId(60),
            seq: 2,
        };
        let first = batch_events(
            &store,
            &log,
            &[
                record(1, 1, create.clone()),
                record(1, 2, send(60, "a")),
                record(1, 3, send(60, "a")),
                record(1, 4, send(60, "b")),
                record(1, 5, edit("new text")),
                record(1, 6, delete.clone()),
            ],
        )
        .await;
        let kinds: Vec<(u64, bool)> = first.iter().map(|(r, e)| (*r, e.is_some())).collect();
        assert_eq!(
            kinds,
            [
                (1, true),
                (2, true),
                (3, false),
                (4, true),
                (5, true),
                (6, true)
            ],
            "a repeat within the batch has no event of its own"
        );
        // The same commands again, as a successor replays them.
        let again = batch_events(
            &store,
            &log,
            &[
                record(1, 7, send(60, "a")),
                record(1, 8, edit("new text")),
                record(1, 9, delete),
                record(1, 10, create),
            ],
        )
        .await;
        match &again[..] {
            [
                (7, Some(Event::Message { message })),
                (
                    8,
                    Some(Event::Edited {
                        seq: 1,
                        text,
                        pts: edit_pts,
                        ..
                    }),
                ),
                (
                    9,
                    Some(Event::Deleted {
                        seq: 2,
                        pts: delete_pts,
                        ..
                    }),
                ),
                (10, Some(Event::ChatCreated { chat, members })),
            ] => {
                assert_eq!((chat.id, members.len()), (ChatId(60), 1), "the chat again");
                assert_eq!(message.seq, 1);
                assert_eq!(text, "new text");
                assert_eq!((*edit_pts, *delete_pts), (3, 4), "the stored positions");
            }
            other => panic!("expected the three events again, got {other:?}"),
        }
        let chat = store.chats(&[ChatId(60)]).await.unwrap().remove(0);
        assert_eq!(
            (chat.last_seq, chat.last_pts),
            (2, 4),
            "nothing applied twice"
        );
    }
}

//! The fanout role: consumes `chat.events`, updates the cache (chat summaries,
//! members, memberships, cursors), encodes each event once and publishes it on the
//! chat's or users' channels, and sends command outcomes to the gateway waiting
//! for them. Offsets are committed after the publishes.
//!
//! Architecture invariant: fanout only sees effects the writer produced after
//! persisting them, so nothing is delivered that history does not have.

mod backlog;
#[cfg(feature = "failpoints")]
mod failpoints;
pub mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::collections::HashMap;

use chat_core::model::Chat;
use chat_core::ports::{Cache, CacheOp, Log, PubSub};
use chat_core::progress::Progress;
use chat_core::wire::{
    EffectRecord, Envelope, Event, PubKind, Reply, chat_channel, gateway_channel, user_channel,
};
use chat_core::{ChatId, EVENTS_TOPIC, LogError, UserId};

pub use backlog::{Backlog, DeadLetter};

/// Settings of a fanout worker.
#[derive(Clone, Debug)]
pub struct FanoutConfig {
    /// Topic consumed.
    pub events_topic: String,
    /// Consumer group.
    pub group: String,
    /// Most records per batch.
    pub batch_max: usize,
    /// Longest wait for the first record of a batch.
    pub poll_wait: Duration,
    /// Where cache updates given up on go ([`chat_core::dead_letters_topic`]).
    pub dead_letters_topic: String,
    /// Longest wait on the cache for one batch's updates; after that they
    /// join the backlog and the batch is published.
    pub cache_timeout: Duration,
    /// Time between two tries of the backlog.
    pub cache_retry: Duration,
    /// Most updates kept in the backlog (one per key).
    pub cache_backlog_max: usize,
    /// Tries of one update before it is dead-lettered.
    pub cache_max_attempts: u32,
    /// Where the loop reports its liveness (read by `/healthz`, `/readyz`).
    pub progress: Arc<Progress>,
}

impl FanoutConfig {
    /// The defaults, on `events_topic` (and its dead-letter topic).
    pub fn on(events_topic: String) -> Self {
        FanoutConfig {
            dead_letters_topic: chat_core::dead_letters_topic(&events_topic),
            events_topic,
            group: "fanout".into(),
            batch_max: 1000,
            poll_wait: Duration::from_millis(100),
            cache_timeout: Duration::from_secs(2),
            cache_retry: Duration::from_secs(1),
            cache_backlog_max: 100_000,
            // About five minutes of retries, one a second.
            cache_max_attempts: 300,
            progress: Arc::default(),
        }
    }
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig::on(EVENTS_TOPIC.into())
    }
}

/// Why fanout stopped.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// The log failed in a way retrying cannot fix (closed).
    #[error("log: {0}")]
    Log(#[from] LogError),
}

/// Runs a fanout worker until `shutdown` resolves.
pub async fn run(
    cfg: FanoutConfig,
    log: Arc<dyn Log>,
    cache: Arc<dyn Cache>,
    pubsub: Arc<dyn PubSub>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), FanoutError> {
    metrics::init();
    let mut consumer = log.consumer(&cfg.events_topic, &cfg.group).await?;
    let mut cache_writes = CacheWrites::new(&cfg);
    tokio::pin!(shutdown);
    tracing::info!(group = %cfg.group, topic = %cfg.events_topic, "fanout started");
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
        if records.is_empty() {
            cache_writes.apply(&cfg, &*cache, &*log, Vec::new()).await;
            continue;
        }
        let started = Instant::now();
        let mut out = Vec::with_capacity(records.len() * 2);
        let mut effects = Vec::with_capacity(records.len());
        for r in &records {
            match serde_json::from_slice::<EffectRecord>(&r.payload) {
                Ok(effect) => {
                    route(&effect, &mut out);
                    effects.push(effect);
                }
                Err(e) => {
                    metrics::BAD_RECORDS.inc();
                    tracing::error!(partition = r.partition, offset = r.offset, error = %e, "skipping undecodable effect");
                }
            }
        }
        // The cache first (in one pipeline), so that a client reacting to an
        // event reads the state it announces — but never waiting on it: updates
        // that fail are kept and tried again while deliveries and acks go on.
        cache_writes
            .apply(&cfg, &*cache, &*log, cache_ops(&effects))
            .await;
        let n = out.len();
        let mut backoff = Duration::from_millis(50);
        while let Err(e) = pubsub.publish_many(out.clone()).await {
            // Publishing twice is harmless: gateways drop duplicates by seq.
            retrying(&cfg.progress);
            tracing::warn!(error = %e, "publish failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        metrics::PUBLISHED.inc_by(n as u64);
        if let Err(e) = consumer.commit(&records).await {
            // The next commit covers these offsets; a crash before it only means
            // reprocessing, which is idempotent.
            tracing::warn!(error = %e, "commit failed");
        }
        cfg.progress.done();
        metrics::FAILING_SINCE.set(0);
        metrics::LAST_BATCH.set(chat_core::now_ms() / 1000);
        metrics::BATCH_SIZE.observe(records.len() as f64);
        metrics::BATCH_SECONDS.observe(started.elapsed().as_secs_f64());
    }
    tracing::info!("fanout stopped");
    Ok(())
}

/// A step of the current batch failed and will be retried.
fn retrying(progress: &Progress) {
    progress.failing();
    if metrics::FAILING_SINCE.get() == 0 {
        metrics::FAILING_SINCE.set(chat_core::now_ms() / 1000);
    }
}

/// The cache updates fanout could not make yet, and when to try them again.
struct CacheWrites {
    backlog: Backlog,
    /// Set while the cache fails: no batch waits on it before then.
    retry_at: Option<Instant>,
}

impl CacheWrites {
    fn new(cfg: &FanoutConfig) -> Self {
        CacheWrites {
            backlog: Backlog::new(cfg.cache_backlog_max, cfg.cache_max_attempts),
            retry_at: None,
        }
    }

    /// Applies `fresh` (a batch's updates, maybe none) with the backlog when
    /// a retry is due; keeps what fails (or, before the retry is due, all of
    /// it) in the backlog, and dead-letters what the backlog gives up on.
    async fn apply(
        &mut self,
        cfg: &FanoutConfig,
        cache: &dyn Cache,
        log: &dyn Log,
        fresh: Vec<CacheOp>,
    ) {
        let dead = match self.retry_at {
            Some(at) if Instant::now() < at => self.backlog.defer(fresh),
            _ if fresh.is_empty() && self.backlog.is_empty() => Vec::new(),
            _ => {
                // The backlog first (older), then the batch's own (tried 0 times).
                let (mut list, tried): (Vec<CacheOp>, Vec<u32>) =
                    self.backlog.take().into_iter().unzip();
                let retried = list.len();
                list.extend(fresh);
                let error = match tokio::time::timeout(cfg.cache_timeout, cache.apply(&list)).await
                {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some(format!("no answer within {:?}", cfg.cache_timeout)),
                };
                match error {
                    None => {
                        if retried > 0 {
                            tracing::info!(updates = retried, "cache backlog applied");
                        }
                        self.retry_at = None;
                        Vec::new()
                    }
                    Some(e) => {
                        metrics::CACHE_ERRORS.inc();
                        tracing::warn!(error = %e, updates = list.len(), "cache update failed; kept for a retry, delivering meanwhile");
                        self.retry_at = Some(Instant::now() + cfg.cache_retry);
                        let tried = tried.into_iter().chain(std::iter::repeat(0));
                        self.backlog.failed(list.into_iter().zip(tried))
                    }
                }
            }
        };
        metrics::CACHE_BACKLOG.set(self.backlog.len() as i64);
        if !dead.is_empty() {
            dead_letter(cfg, log, dead).await;
        }
    }
}

/// Hands cache updates given up on to the dead-letter topic (keyed by their
/// chat or user), for an operator to look at or replay; the cache itself is
/// rebuilt from the store on a miss, so flushing the keys named there also
/// mends it.
async fn dead_letter(cfg: &FanoutConfig, log: &dyn Log, dead: Vec<DeadLetter>) {
    metrics::DEAD_LETTERS.inc_by(dead.len() as u64);
    tracing::error!(updates = dead.len(), topic = %cfg.dead_letters_topic, "cache updates given up on; dead-lettered");
    let records = dead
        .iter()
        .map(|d| {
            let key = match &d.op {
                CacheOp::PutChat(c) => c.id.0,
                CacheOp::InvalidateMembers(c) | CacheOp::AdvanceCursor(_, c, _) => c.0,
                CacheOp::InvalidateMemberships(u) => u.0,
            };
            let body =
                serde_json::json!({"op": d.op, "attempts": d.attempts, "at": chat_core::now_ms()});
            (key, Bytes::from(body.to_string()))
        })
        .collect();
    if let Err(e) = log.produce_batch(&cfg.dead_letters_topic, records).await {
        tracing::error!(error = %e, updates = dead.len(), "dead letters lost");
    }
}

/// The cache updates of a batch, in order, with the commutative ones coalesced:
/// one summary per chat (the newest: `put_chat` keeps the newer `last_pts`
/// anyway) and one cursor per (user, chat) (the highest: cursors only move
/// forward). Invalidations keep their place.
pub fn cache_ops(effects: &[EffectRecord]) -> Vec<CacheOp> {
    let mut ops = Vec::new();
    let mut chats: HashMap<ChatId, Chat> = HashMap::new();
    let mut cursors: HashMap<(UserId, ChatId), u64> = HashMap::new();
    let mut cursor_order = Vec::new();
    let mut cursor = |u: UserId, c: ChatId, s: u64| {
        let e = cursors.entry((u, c)).or_insert_with(|| {
            cursor_order.push((u, c));
            0
        });
        *e = (*e).max(s);
    };
    for e in effects {
        if let Some(chat) = &e.chat {
            match chats.get(&chat.id) {
                Some(old) if old.last_pts >= chat.last_pts => {}
                _ => {
                    chats.insert(chat.id, chat.clone());
                }
            }
        }
        let Some(ev) = &e.event else { continue };
        match ev {
            // Lists are only ever invalidated here; readers fill them from
            // the store under a lease (see `Cache::members`). A creation's
            // list is not put either: a creation produced again (found
            // applied) names only the members it created that still are.
            Event::ChatCreated { chat, members } => {
                for m in members {
                    ops.push(CacheOp::InvalidateMemberships(m.user_id));
                }
                ops.push(CacheOp::InvalidateMembers(chat.id));
            }
            Event::MemberAdded { chat, user_id, .. } => {
                ops.push(CacheOp::InvalidateMembers(chat.id));
                ops.push(CacheOp::InvalidateMemberships(*user_id));
            }
            // Only the one member's list changes: the chat's members do not.
            Event::ChatHidden { user_id, .. } | Event::ChatShown { user_id, .. } => {
                ops.push(CacheOp::InvalidateMemberships(*user_id));
            }
            Event::MemberRemoved {
                chat_id, user_id, ..
            }
            | Event::RoleChanged {
                chat_id, user_id, ..
            } => {
                ops.push(CacheOp::InvalidateMembers(*chat_id));
                ops.push(CacheOp::InvalidateMemberships(*user_id));
            }
            Event::Read {
                chat_id,
                user_id,
                seq,
            } => cursor(*user_id, *chat_id, *seq),
            // The writer moved the sender's cursor to their own message.
            Event::Message { message } => {
                cursor(message.sender_id, message.chat_id, message.seq);
                // The mentioned members' unread mentions changed (rare:
                // their cached lists are read again).
                ops.extend(
                    message
                        .mentions
                        .iter()
                        .map(|u| CacheOp::InvalidateMemberships(*u)),
                );
            }
            // The chat's new pins travel in its summary.
            Event::Edited { .. }
            | Event::Deleted { .. }
            | Event::Reaction { .. }
            | Event::Pinned { .. } => {}
        }
    }
    ops.extend(chats.into_values().map(CacheOp::PutChat));
    ops.extend(
        cursor_order
            .into_iter()
            .map(|(u, c)| CacheOp::AdvanceCursor(u, c, cursors[&(u, c)])),
    );
    ops
}

/// The channels and payloads for one effect. Each event is encoded once.
pub fn route(e: &EffectRecord, out: &mut Vec<(String, Bytes)>) {
    if let Some(ev) = &e.event {
        match serde_json::to_vec(ev) {
            Ok(json) => {
                let chat = ev.chat_id();
                let at = e.accepted_at;
                let env = |kind, seq| Envelope::encode(kind, chat, seq, at, &json);
                match ev {
                    Event::Message { message } => {
                        out.push((chat_channel(chat), env(PubKind::Message, message.seq)));
                    }
                    // An edit, deletion or reaction carries its message's seq: a
                    // member who may not read that message does not get it.
                    Event::Edited { seq, .. }
                    | Event::Deleted { seq, .. }
                    | Event::Reaction { seq, .. } => {
                        out.push((chat_channel(chat), env(PubKind::ChatEvent, *seq)));
                    }
                    // The chat's pins are the chat's, whoever may read the
                    // message pinned.
                    Event::RoleChanged { .. } | Event::Pinned { .. } => {
                        out.push((chat_channel(chat), env(PubKind::ChatEvent, 0)));
                    }
                    Event::ChatCreated { chat: c, members } => {
                        let payload = env(PubKind::Joined, c.last_seq);
                        for m in members {
                            out.push((user_channel(m.user_id), payload.clone()));
                        }
                    }
                    Event::MemberAdded {
                        chat: c, user_id, ..
                    } => {
                        out.push((chat_channel(chat), env(PubKind::ChatEvent, 0)));
                        out.push((user_channel(*user_id), env(PubKind::Joined, c.last_seq)));
                        #[cfg(feature = "failpoints")]
                        failpoints::hold_join(*user_id, out.last());
                    }
                    Event::MemberRemoved { user_id, .. } => {
                        #[cfg(feature = "failpoints")]
                        let (on_chat, on_user) = failpoints::removal_channels();
                        #[cfg(not(feature = "failpoints"))]
                        let (on_chat, on_user) = (true, true);
                        // On the chat's channel, in order with its messages:
                        // the removed user's connections stop there.
                        if on_chat {
                            out.push((chat_channel(chat), env(PubKind::MemberLeft, user_id.0)));
                        }
                        if on_user {
                            out.push((user_channel(*user_id), env(PubKind::Left, 0)));
                        }
                        #[cfg(feature = "failpoints")]
                        failpoints::replay_join(*user_id, out);
                    }
                    Event::Read { user_id, .. } => {
                        out.push((user_channel(*user_id), env(PubKind::UserEvent, 0)));
                    }
                    // To that member only: their connections stop following
                    // the chat, or follow it again from where it was.
                    Event::ChatHidden { user_id, .. } => {
                        out.push((user_channel(*user_id), env(PubKind::Left, 0)));
                    }
                    Event::ChatShown { chat: c, user_id } => {
                        out.push((user_channel(*user_id), env(PubKind::Joined, c.last_seq)));
                    }
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot encode event"),
        }
    }
    if let Some(to) = &e.reply_to {
        let reply = Reply {
            request: to.request,
            outcome: e.outcome.clone(),
        };
        match serde_json::to_vec(&reply) {
            Ok(json) => out.push((
                gateway_channel(&to.gateway),
                Envelope::encode(
                    PubKind::Reply,
                    e.event.as_ref().map_or(ChatId(0), Event::chat_id),
                    0,
                    e.accepted_at,
                    &json,
                ),
            )),
            Err(err) => tracing::error!(error = %err, "cannot encode reply"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::MessageId;
    use chat_core::model::{ChatKind, Message, Role};
    use chat_core::wire::{Outcome, RECORD_VERSION};

    fn chat(pts: u64) -> Chat {
        Chat {
            id: ChatId(1),
            kind: ChatKind::Group,
            title: "t".into(),
            created_by: UserId(1),
            created_at: 0,
            last_seq: pts,
            last_pts: pts,
            member_count: 2,
            last_message: None,
            pins: Vec::new(),
        }
    }

    fn effect(event: Event, pts: u64) -> EffectRecord {
        EffectRecord {
            v: RECORD_VERSION,
            accepted_at: 0,
            event: Some(event),
            chat: Some(chat(pts)),
            reply_to: None,
            outcome: Outcome::Ok {
                message: None,
                chat: None,
                duplicate: false,
            },
        }
    }

    fn message(seq: u64, sender: u64) -> Event {
        Event::Message {
            message: Message {
                id: MessageId(seq),
                chat_id: ChatId(1),
                seq,
                sender_id: UserId(sender),
                client_msg_id: seq.to_string(),
                text: "x".into(),
                reply_to_seq: None,
                forwarded_from: None,
                created_at: 0,
                edited_at: None,
                deleted: false,
                pts: seq,
                reactions: Vec::new(),
                mentions: Vec::new(),
            },
        }
    }

    #[test]
    fn cache_ops_coalesce_summaries_and_cursors_and_keep_invalidations() {
        let effects = vec![
            effect(message(1, 7), 1),
            effect(message(2, 7), 2),
            effect(
                Event::RoleChanged {
                    chat_id: ChatId(1),
                    user_id: UserId(8),
                    role: Role::Moder,
                    pts: 3,
                },
                3,
            ),
            effect(message(3, 8), 4),
        ];
        let ops = cache_ops(&effects);
        assert_eq!(
            ops,
            vec![
                CacheOp::InvalidateMembers(ChatId(1)),
                CacheOp::InvalidateMemberships(UserId(8)),
                CacheOp::PutChat(chat(4)),
                CacheOp::AdvanceCursor(UserId(7), ChatId(1), 2),
                CacheOp::AdvanceCursor(UserId(8), ChatId(1), 3),
            ]
        );
    }
}

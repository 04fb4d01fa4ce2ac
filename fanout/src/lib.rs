//! The fanout role: consumes `chat.events`, updates the cache (chat summaries,
//! members, memberships, cursors), encodes each event once and publishes it on the
//! chat's or users' channels, and sends command outcomes to the gateway waiting
//! for them. Offsets are committed after the publishes.
//!
//! Architecture invariant: fanout only sees effects the writer produced after
//! persisting them, so nothing is delivered that history does not have.

pub mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chat_core::ports::{Cache, Log, PubSub};
use chat_core::wire::{
    EffectRecord, Envelope, Event, PubKind, Reply, chat_channel, gateway_channel, user_channel,
};
use chat_core::{ChatId, EVENTS_TOPIC, LogError};

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
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            events_topic: EVENTS_TOPIC.into(),
            group: "fanout".into(),
            batch_max: 1000,
            poll_wait: Duration::from_millis(100),
        }
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
    let mut consumer = log.consumer(&cfg.events_topic, &cfg.group).await?;
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
                    tracing::warn!(error = %e, "poll failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        if records.is_empty() {
            continue;
        }
        let started = Instant::now();
        let mut out = Vec::with_capacity(records.len() * 2);
        for r in &records {
            match serde_json::from_slice::<EffectRecord>(&r.payload) {
                Ok(effect) => {
                    update_cache(&*cache, &effect).await;
                    route(&effect, &mut out);
                }
                Err(e) => {
                    metrics::BAD_RECORDS.inc();
                    tracing::error!(partition = r.partition, offset = r.offset, error = %e, "skipping undecodable effect");
                }
            }
        }
        let n = out.len();
        let mut backoff = Duration::from_millis(50);
        while let Err(e) = pubsub.publish_many(out.clone()).await {
            // Publishing twice is harmless: gateways drop duplicates by seq.
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
        metrics::BATCH_SIZE.observe(records.len() as f64);
        metrics::BATCH_SECONDS.observe(started.elapsed().as_secs_f64());
    }
    tracing::info!("fanout stopped");
    Ok(())
}

/// Keeps the cache true to the store. Failures are logged: every entry is also
/// rebuilt from the store on a miss, and invalidations are retried once.
async fn update_cache(cache: &dyn Cache, e: &EffectRecord) {
    let warn = |what: &str, err: chat_core::CacheError| {
        metrics::CACHE_ERRORS.inc();
        tracing::warn!(what, error = %err, "cache update failed");
    };
    if let Some(chat) = &e.chat
        && let Err(err) = cache.put_chat(chat).await
    {
        warn("put_chat", err);
    }
    let Some(ev) = &e.event else { return };
    match ev {
        Event::ChatCreated { chat, members } => {
            for m in members {
                if let Err(err) = cache.invalidate_memberships(m.user_id).await {
                    warn("invalidate_memberships", err);
                }
            }
            if let Err(err) = cache.put_members(chat.id, members).await {
                warn("put_members", err);
            }
        }
        Event::MemberAdded { chat, user_id, .. } => {
            membership_changed(cache, chat.id, *user_id, &warn).await
        }
        Event::MemberRemoved {
            chat_id, user_id, ..
        }
        | Event::RoleChanged {
            chat_id, user_id, ..
        } => membership_changed(cache, *chat_id, *user_id, &warn).await,
        Event::Read {
            chat_id,
            user_id,
            seq,
        } => {
            if let Err(err) = cache.advance_cursor(*user_id, *chat_id, *seq).await {
                warn("advance_cursor", err);
            }
        }
        Event::Message { message } => {
            // The writer moved the sender's cursor to their own message.
            if let Err(err) = cache
                .advance_cursor(message.sender_id, message.chat_id, message.seq)
                .await
            {
                warn("advance_cursor", err);
            }
        }
        Event::Edited { .. } | Event::Deleted { .. } => {}
    }
}

async fn membership_changed(
    cache: &dyn Cache,
    chat: ChatId,
    user: chat_core::UserId,
    warn: &impl Fn(&str, chat_core::CacheError),
) {
    for _ in 0..2 {
        match cache.invalidate_members(chat).await {
            Ok(()) => break,
            Err(err) => warn("invalidate_members", err),
        }
    }
    for _ in 0..2 {
        match cache.invalidate_memberships(user).await {
            Ok(()) => break,
            Err(err) => warn("invalidate_memberships", err),
        }
    }
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
                    Event::Edited { .. } | Event::Deleted { .. } | Event::RoleChanged { .. } => {
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
                    }
                    Event::MemberRemoved { user_id, .. } => {
                        out.push((chat_channel(chat), env(PubKind::ChatEvent, 0)));
                        out.push((user_channel(*user_id), env(PubKind::Left, 0)));
                    }
                    Event::Read { user_id, .. } => {
                        out.push((user_channel(*user_id), env(PubKind::UserEvent, 0)));
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

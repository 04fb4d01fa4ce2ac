//! Presence on a gateway: which of its users are connected, reported to the
//! presence tier, and the transitions told to the chats that may see them.
//!
//! Connections report `up`/`down` to one task per gateway (through an
//! unbounded channel: at most two changes per connection are ever queued, so
//! it is bounded by the connection cap). The task keeps a count of
//! connections per user. When a user's first connection here opens it beats
//! for them (good for three heartbeats); when the tier says they were not
//! online anywhere, they came online and the chats that may see it are told.
//! When their last connection here closes it says `gone`; if no other
//! gateway holds them, they went offline. Every heartbeat re-beats every
//! local user, so a gateway that dies stops beating and its users expire.
//!
//! Who is told (a frame on a chat's channel reaches every subscriber alike,
//! so it cannot depend on the viewer): a direct chat when the user shows
//! presence to contacts or everyone (the other member is a contact); a group
//! up to [`PresenceSettings::group_limit`] members when they show it to
//! everyone. Bigger groups get only a count of online members, recomputed
//! every few seconds for the groups where someone came or went.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chat_core::model::ChatKind;
use chat_core::ports::{PubSub, Store};
use chat_core::presence::{Presence, Status, Visibility};
use chat_core::wire::{Envelope, PubKind, ServerFrame, chat_channel};
use chat_core::{ChatId, UserId, now_ms};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::metrics;
use crate::reads::Reads;

/// Presence settings of a gateway.
#[derive(Clone, Copy, Debug)]
pub struct PresenceSettings {
    /// How often a gateway re-reports its users; a report is good for three
    /// of these (a dead gateway's users go offline within that).
    pub heartbeat: Duration,
    /// Groups up to this many members are told each member's transitions
    /// (and list them on request); bigger ones only a count of online
    /// members.
    pub group_limit: u32,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        PresenceSettings {
            heartbeat: Duration::from_secs(20),
            group_limit: 100,
        }
    }
}

impl PresenceSettings {
    /// How long one report keeps a user online.
    pub fn ttl(&self) -> Duration {
        self.heartbeat * 3
    }
}

/// How often the online counts of big groups are recomputed.
const COUNT_EVERY: Duration = Duration::from_secs(5);
/// Users per report to the tier.
const CHUNK: usize = 500;
/// Visibility reads at once when users come online.
const READS_AT_ONCE: usize = 16;
/// Publishes per call.
const PUBLISH_CHUNK: usize = 500;

enum Change {
    Up(UserId),
    Down(UserId),
    Visibility(UserId, Visibility),
}

/// Where connections report their user's comings and goings.
#[derive(Clone)]
pub struct Tracker {
    tx: mpsc::UnboundedSender<Change>,
}

impl Tracker {
    /// Starts the gateway's presence task.
    pub fn start(
        gateway: String,
        settings: PresenceSettings,
        presence: Arc<dyn Presence>,
        store: Arc<dyn Store>,
        reads: Reads,
        pubsub: Arc<dyn PubSub>,
    ) -> Tracker {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            gateway,
            settings,
            presence,
            store,
            reads,
            pubsub,
            local: HashMap::new(),
            dirty: HashSet::new(),
        };
        tokio::spawn(task.run(rx));
        Tracker { tx }
    }

    /// A connection of `user` opened.
    pub fn up(&self, user: UserId) {
        let _ = self.tx.send(Change::Up(user));
    }

    /// A connection of `user` closed.
    pub fn down(&self, user: UserId) {
        let _ = self.tx.send(Change::Down(user));
    }

    /// `user` changed who may see their presence (reported at once if they
    /// are connected here).
    pub fn visibility(&self, user: UserId, visibility: Visibility) {
        let _ = self.tx.send(Change::Visibility(user, visibility));
    }
}

/// A connected user as the task knows them.
struct Local {
    conns: u32,
    /// Read from the store when they came online here.
    visibility: Visibility,
}

struct Task {
    gateway: String,
    settings: PresenceSettings,
    presence: Arc<dyn Presence>,
    store: Arc<dyn Store>,
    reads: Reads,
    pubsub: Arc<dyn PubSub>,
    local: HashMap<UserId, Local>,
    /// Big groups whose online count may have changed.
    dirty: HashSet<ChatId>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Change>) {
        let every = self.settings.heartbeat.max(Duration::from_millis(100));
        let start = tokio::time::Instant::now();
        let mut beat = tokio::time::interval_at(start + every, every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut count = tokio::time::interval_at(start + COUNT_EVERY, COUNT_EVERY);
        count.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, 4096) => {
                    if n == 0 {
                        return;
                    }
                    self.apply(std::mem::take(&mut batch)).await;
                }
                _ = beat.tick() => self.heartbeat().await,
                _ = count.tick(), if !self.dirty.is_empty() => self.count_online().await,
            }
        }
    }

    /// Applies a batch of changes: the users whose count went from zero
    /// to some come online here, those whose count went to zero go.
    async fn apply(&mut self, batch: Vec<Change>) {
        let mut before: HashMap<UserId, u32> = HashMap::new();
        let mut chosen: HashMap<UserId, Visibility> = HashMap::new();
        for change in batch {
            match change {
                Change::Up(user) => {
                    let conns = self.local.get(&user).map_or(0, |l| l.conns);
                    before.entry(user).or_insert(conns);
                    self.local
                        .entry(user)
                        .or_insert(Local {
                            conns: 0,
                            visibility: Visibility::Nobody,
                        })
                        .conns += 1;
                }
                Change::Down(user) => {
                    if let Some(l) = self.local.get_mut(&user) {
                        before.entry(user).or_insert(l.conns);
                        l.conns = l.conns.saturating_sub(1);
                    }
                }
                Change::Visibility(user, v) => {
                    chosen.insert(user, v);
                }
            }
        }
        let (mut arrived, mut left) = (Vec::new(), Vec::new());
        for (user, was) in before {
            let now = self.local.get(&user).map_or(0, |l| l.conns);
            if was == 0 && now > 0 {
                arrived.push(user);
            } else if was > 0
                && now == 0
                && let Some(l) = self.local.remove(&user)
            {
                left.push((user, l.visibility));
            }
        }
        if !arrived.is_empty() {
            self.arrive(arrived).await;
        }
        for (user, v) in left {
            self.leave(user, v).await;
        }
        let mut changed = Vec::new();
        for (user, v) in chosen {
            if let Some(l) = self.local.get_mut(&user)
                && l.visibility != v
            {
                l.visibility = v;
                changed.push((user, v));
            }
        }
        if !changed.is_empty() {
            // Reported at once so that readers see the new choice; told
            // to every chat, hidden where it no longer shows.
            if let Err(e) = self
                .presence
                .beat(&self.gateway, &changed, self.settings.ttl())
                .await
            {
                metrics::PRESENCE_FAILURES.inc();
                tracing::warn!(error = %e, "presence report failed");
            }
            for (user, v) in changed {
                self.announce(user, v, Status::Online, None, true).await;
            }
        }
    }

    /// Users whose first connection here opened.
    async fn arrive(&mut self, users: Vec<UserId>) {
        // Their choice, from the store; one that cannot be read shows
        // nothing (fail closed) until they reconnect.
        let store = self.store.clone();
        let read: Vec<(UserId, Visibility)> = futures_util::stream::iter(users)
            .map(|u| {
                let store = store.clone();
                async move {
                    let v = store.presence_visibility(u).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, user = %u, "presence visibility unreadable; hidden");
                        Visibility::Nobody
                    });
                    (u, v)
                }
            })
            .buffer_unordered(READS_AT_ONCE)
            .collect()
            .await;
        let mut present = Vec::with_capacity(read.len());
        for (u, v) in read {
            // Gone again while its visibility was read: `leave` told the tier.
            if let Some(l) = self.local.get_mut(&u) {
                l.visibility = v;
                present.push((u, v));
            }
        }
        self.report(&present).await;
    }

    /// Reports `users` to the tier; those who were not online anywhere
    /// came online.
    async fn report(&mut self, users: &[(UserId, Visibility)]) {
        for chunk in users.chunks(CHUNK) {
            match self
                .presence
                .beat(&self.gateway, chunk, self.settings.ttl())
                .await
            {
                Ok(was) => {
                    for (&(user, v), was_online) in chunk.iter().zip(was) {
                        if !was_online {
                            metrics::PRESENCE_TRANSITIONS
                                .with_label_values(&["online"])
                                .inc();
                            self.announce(user, v, Status::Online, None, false).await;
                        }
                    }
                }
                Err(e) => {
                    // The next heartbeat reports them again.
                    metrics::PRESENCE_FAILURES.inc();
                    tracing::warn!(error = %e, users = chunk.len(), "presence report failed");
                }
            }
        }
    }

    /// A user's last connection here closed.
    async fn leave(&mut self, user: UserId, visibility: Visibility) {
        match self.presence.gone(&self.gateway, user).await {
            Ok(after) if after.online => {}
            Ok(after) => {
                metrics::PRESENCE_TRANSITIONS
                    .with_label_values(&["offline"])
                    .inc();
                // The time the tier keeps (its clock), so that the frame and
                // a later `get_presence` agree.
                let last_seen = Some(after.last_seen.unwrap_or_else(now_ms));
                self.announce(user, visibility, Status::Offline, last_seen, false)
                    .await;
            }
            Err(e) => {
                // The report expires: the user goes offline within the TTL,
                // untold.
                metrics::PRESENCE_FAILURES.inc();
                tracing::warn!(error = %e, %user, "presence departure not reported");
            }
        }
    }

    async fn heartbeat(&mut self) {
        let users: Vec<(UserId, Visibility)> =
            self.local.iter().map(|(&u, l)| (u, l.visibility)).collect();
        self.report(&users).await;
    }

    /// Tells the chats of `user` that may see it; `all`: also the others,
    /// as `hidden` (after a change of visibility).
    async fn announce(
        &mut self,
        user: UserId,
        visibility: Visibility,
        status: Status,
        last_seen: Option<i64>,
        all: bool,
    ) {
        let chats = match self.user_chats(user).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e.message, %user, "presence change not told");
                return;
            }
        };
        let at = now_ms();
        let mut out = Vec::new();
        for (chat, kind, members) in chats {
            let shows = match kind {
                ChatKind::Direct => visibility != Visibility::Nobody,
                ChatKind::Group if members <= self.settings.group_limit => {
                    visibility == Visibility::Everyone
                }
                ChatKind::Group => {
                    if all || visibility == Visibility::Everyone {
                        self.dirty.insert(chat);
                    }
                    continue;
                }
            };
            if !shows && !all {
                continue;
            }
            let frame = ServerFrame::Presence {
                chat_id: chat,
                user_id: user,
                status: if shows { status } else { Status::Hidden },
                last_seen: if shows { last_seen } else { None },
            };
            let Ok(json) = serde_json::to_vec(&frame) else {
                continue;
            };
            out.push((
                chat_channel(chat),
                Envelope::encode(PubKind::ChatEvent, chat, 0, at, &json),
            ));
        }
        self.publish(out).await;
    }

    /// The chats of a user: id, kind and member count.
    async fn user_chats(
        &self,
        user: UserId,
    ) -> Result<Vec<(ChatId, ChatKind, u32)>, crate::ApiError> {
        let ids: Vec<ChatId> = self
            .reads
            .memberships(user)
            .await?
            .into_iter()
            .map(|m| m.chat_id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            out.extend(
                self.reads
                    .chats(chunk)
                    .await?
                    .into_iter()
                    .map(|c| (c.id, c.kind, c.member_count)),
            );
        }
        Ok(out)
    }

    async fn publish(&self, mut out: Vec<(String, Bytes)>) {
        while !out.is_empty() {
            let rest = out.split_off(out.len().min(PUBLISH_CHUNK));
            let n = out.len() as u64;
            match self.pubsub.publish_many(out).await {
                Ok(()) => metrics::PRESENCE_PUSHED.inc_by(n),
                Err(e) => tracing::debug!(error = %e, "presence change not published"),
            }
            out = rest;
        }
    }

    /// Publishes the online count of every big group where someone came or
    /// went since the last time.
    async fn count_online(&mut self) {
        let at = now_ms();
        let mut out = Vec::new();
        for chat in std::mem::take(&mut self.dirty) {
            let online = match online_count(&self.reads, self.presence.as_ref(), chat).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(error = %e.message, %chat, "online count not computed");
                    continue;
                }
            };
            let frame = ServerFrame::OnlineCount {
                chat_id: chat,
                online,
            };
            if let Ok(json) = serde_json::to_vec(&frame) {
                out.push((
                    chat_channel(chat),
                    Envelope::encode(PubKind::ChatEvent, chat, 0, at, &json),
                ));
            }
        }
        self.publish(out).await;
    }
}

/// Members of `chat` online and showing it to everyone (reads every
/// member's presence: O(members)).
pub async fn online_count(
    reads: &Reads,
    presence: &dyn Presence,
    chat: ChatId,
) -> Result<u32, crate::ApiError> {
    let members: Vec<UserId> = reads
        .members(chat)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let mut online = 0;
    for chunk in members.chunks(CHUNK) {
        let seen = presence
            .seen(chunk)
            .await
            .map_err(|e| crate::ApiError::internal("reading presence", e))?;
        online += seen
            .iter()
            .filter(|s| s.online && s.visibility == Some(Visibility::Everyone))
            .count() as u32;
    }
    Ok(online)
}

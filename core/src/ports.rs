//! The three interfaces every role is written against: the partitioned log, the
//! store and the cache with pub/sub. Each has an embedded implementation
//! (standalone) and a distributed one (Kafka, MySQL shards, Redis).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::{CacheError, LogError, StoreError};
use crate::id::{ChatId, UserId};
use crate::model::{
    Ban, Chat, ChatSettings, LastMessage, Member, MemberChange, Message, Role, User, UserRecord,
};

// ---------------------------------------------------------------- log

/// One record read from a partition.
#[derive(Clone, Debug)]
pub struct Record {
    /// Partition it was read from.
    pub partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
    /// The key it was produced with (a chat id).
    pub key: u64,
    /// The payload.
    pub payload: Bytes,
}

/// A partitioned, ordered log (Kafka, or the in-process one).
#[async_trait]
pub trait Log: Send + Sync + 'static {
    /// Appends a record to `topic` in partition `hash(key) % partitions`; returns
    /// once the implementation considers the record durable.
    async fn produce(&self, topic: &str, key: u64, payload: Bytes) -> Result<(), LogError>;

    /// Appends many records; returns when all are durable. Order per key is kept.
    async fn produce_batch(&self, topic: &str, records: Vec<(u64, Bytes)>) -> Result<(), LogError> {
        for (k, p) in records {
            self.produce(topic, k, p).await?;
        }
        Ok(())
    }

    /// Joins consumer group `group` on `topic`.
    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>, LogError>;
}

/// A member of a consumer group: reads its partitions in order.
#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` records, waiting at most `wait` for the first one. Records of one
    /// partition come in offset order.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError>;

    /// Marks everything up to and including these records as done for the group.
    async fn commit(&mut self, records: &[Record]) -> Result<(), LogError>;

    /// Partitions taken away from this member since the last call (rebalance): state
    /// kept for their keys must be dropped and reloaded from the store.
    fn take_revoked(&mut self) -> Vec<u32> {
        Vec::new()
    }
}

// ---------------------------------------------------------------- store

/// What a writer's batch proves about its ownership: for each log partition
/// whose commands it holds, the epoch the writer was given when it took the
/// partition ([`Store::acquire_fence`]). A writer that stalled while another
/// took its partition holds an older epoch, and its batches are refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fence {
    /// The commands topic.
    pub topic: String,
    /// `(partition, epoch)`, one per partition of the batch.
    pub epochs: Vec<(u32, u64)>,
}

/// Messages a search found (see [`Store::search`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchHits {
    /// Newest first (by message id).
    pub messages: Vec<Message>,
    /// A shard holding some of the chats did not answer: its messages are
    /// missing.
    pub partial: bool,
}

/// Which page of history to read. Results are always in ascending `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryPage {
    /// The newest `limit` messages.
    Latest {
        /// Page size.
        limit: u32,
    },
    /// Up to `limit` messages with `seq < before`, the newest of them.
    Before {
        /// Exclusive upper bound.
        before: u64,
        /// Page size.
        limit: u32,
    },
    /// Up to `limit` messages with `seq > after`, the oldest of them.
    After {
        /// Exclusive lower bound.
        after: u64,
        /// Page size.
        limit: u32,
    },
}

/// A user's side of a membership: what their chat list is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The chat.
    pub chat_id: ChatId,
    /// The user's role.
    pub role: Role,
    /// The user's read cursor.
    pub read_seq: u64,
    /// Until when (Unix ms) the user muted the chat, if they did
    /// ([`crate::model::MUTED_FOREVER`] for good).
    pub muted_until: Option<i64>,
    /// Seqs of the messages mentioning the user after `read_seq`, ascending
    /// (the newest [`crate::rules::MAX_UNREAD_MENTIONS`]).
    pub mentions: Vec<u64>,
}

impl Membership {
    /// The mute's end if it still holds at `now` (Unix ms).
    pub fn muted_at(&self, now: i64) -> Option<i64> {
        self.muted_until
            .filter(|u| crate::model::is_muted(Some(*u), now))
    }

    /// Unread messages mentioning the user.
    pub fn unread_mentions(&self) -> u32 {
        self.mentions.iter().filter(|s| **s > self.read_seq).count() as u32
    }
}

/// A cache read: the value, or a miss with the lease a fill must present.
///
/// A miss takes a lease on the entry (a token never used before, replacing
/// any earlier lease); a fill is written only if its lease is still there.
/// An invalidation removes the entry, lease included. So a value read from
/// the store before a change can never be written back after the change's
/// invalidation — nor after the entry was evicted, expired or flushed: a
/// fill finding no lease is dropped (the next read takes a new one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cached<T> {
    /// The cached value.
    Hit(T),
    /// Not cached: read the store, then fill with this lease.
    Miss {
        /// What a fill presents.
        lease: u64,
    },
}

impl<T> Cached<T> {
    /// The value, if cached.
    pub fn hit(self) -> Option<T> {
        match self {
            Cached::Hit(v) => Some(v),
            Cached::Miss { .. } => None,
        }
    }
}

/// A send's idempotency key: `(chat_id, sender_id, client_msg_id)` is unique.
pub type ClientKey = (ChatId, UserId, String);

/// One entry of a chat's change stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A message in its current state (its `pts` is its latest change).
    Message(Message),
    /// A membership change (member added or removed, role changed).
    Member {
        /// Its position.
        pts: u64,
        /// What changed.
        change: MemberChange,
    },
}

impl Change {
    /// The change's position in the stream.
    pub fn pts(&self) -> u64 {
        match self {
            Change::Message(m) => m.pts,
            Change::Member { pts, .. } => *pts,
        }
    }
}

/// Merges message changes and membership changes into pts order, keeping `limit`.
pub fn merge_changes(
    mut msgs: Vec<Message>,
    members: Vec<(u64, MemberChange)>,
    limit: u32,
) -> Vec<Change> {
    let mut out: Vec<Change> = msgs.drain(..).map(Change::Message).collect();
    out.extend(
        members
            .into_iter()
            .map(|(pts, change)| Change::Member { pts, change }),
    );
    out.sort_by_key(Change::pts);
    out.truncate(limit as usize);
    out
}

/// One change a writer makes; a batch of them is applied atomically (per shard).
/// Which shard: [`Mutation::placement`].
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    /// Create a chat row.
    InsertChat(Chat),
    /// Chat-side membership upsert.
    PutMember {
        /// Chat.
        chat_id: ChatId,
        /// Member and role.
        member: Member,
    },
    /// Chat-side membership removal.
    RemoveMember {
        /// Chat.
        chat_id: ChatId,
        /// Former member.
        user_id: UserId,
    },
    /// A group's settings (replacing the stored ones).
    PutChatSettings {
        /// Chat.
        chat_id: ChatId,
        /// The settings.
        settings: ChatSettings,
    },
    /// Where a member joined: the chat's last seq when they were added
    /// (replacing an earlier join).
    PutJoin {
        /// Chat.
        chat_id: ChatId,
        /// Member.
        user_id: UserId,
        /// The chat's last seq then.
        joined_seq: u64,
    },
    /// Bar a user from a group (kept if already there).
    PutBan {
        /// Chat.
        chat_id: ChatId,
        /// The ban.
        ban: Ban,
    },
    /// Lift a ban.
    RemoveBan {
        /// Chat.
        chat_id: ChatId,
        /// The formerly banned user.
        user_id: UserId,
    },
    /// A member left a direct chat (kept if already there): it is out of
    /// their list until the other writes.
    PutHidden {
        /// Chat.
        chat_id: ChatId,
        /// The member.
        user_id: UserId,
    },
    /// The direct chat is back in the member's list.
    RemoveHidden {
        /// Chat.
        chat_id: ChatId,
        /// The member.
        user_id: UserId,
    },
    /// `user_id` blocks `blocked_id` (kept if already there).
    PutBlock {
        /// The user who blocks.
        user_id: UserId,
        /// The user blocked.
        blocked_id: UserId,
        /// Unix ms.
        at: i64,
    },
    /// `user_id` unblocks `blocked_id`.
    RemoveBlock {
        /// The user who blocked.
        user_id: UserId,
        /// The user blocked.
        blocked_id: UserId,
    },
    /// A new login session (kept if already there: a retried login).
    PutSession(crate::model::SessionRecord),
    /// Rotates a session's refresh token: only if the session is live and
    /// still at `generation` (a compare-and-set: two refreshes with the same
    /// token cannot both win; the loser finds the other's hash stored).
    RotateSession {
        /// User.
        user_id: UserId,
        /// Session.
        session_id: u64,
        /// The generation the refresh token presented carries.
        generation: u64,
        /// Hash of the new secret (stored with `generation + 1`).
        secret_hash: String,
        /// Unix ms of this refresh.
        used_at: i64,
        /// The session's new expiry, Unix ms.
        expires_at: i64,
    },
    /// Ends a user's live session, or all of them (`session_id` `None`).
    RevokeSessions {
        /// User.
        user_id: UserId,
        /// Which session; `None` for every one.
        session_id: Option<u64>,
        /// Unix ms.
        at: i64,
    },
    /// Forgets a user's sessions that expired, or were revoked, before `before`
    /// (Unix ms).
    PurgeSessions {
        /// User.
        user_id: UserId,
        /// Unix ms.
        before: i64,
    },
    /// Replaces a user's password hash: a reset, or the account disabled or
    /// enabled again (see [`crate::rules::DISABLED_HASH_PREFIX`]).
    SetPasswordHash {
        /// User.
        user_id: UserId,
        /// The PHC string, prefixed when the account is disabled.
        password_hash: String,
    },
    /// Changes a user's display name and/or about text (`None` keeps one).
    SetProfile {
        /// User.
        user_id: UserId,
        /// What changes.
        patch: crate::model::ProfilePatch,
        /// Unix ms (the profile's new `updated_at`).
        at: i64,
    },
    /// Sets who may see a user's presence (online, last seen).
    SetPresenceVisibility {
        /// User.
        user_id: UserId,
        /// The choice.
        visibility: crate::presence::Visibility,
    },
    /// Sets (or, with `None`, removes) a user's avatar.
    SetAvatar {
        /// User.
        user_id: UserId,
        /// The new image.
        avatar: Option<crate::model::Avatar>,
        /// Unix ms (the profile's new `updated_at`).
        at: i64,
    },
    /// User-side membership upsert, keeping an existing cursor.
    PutMembership {
        /// User.
        user_id: UserId,
        /// Chat.
        chat_id: ChatId,
        /// Role.
        role: Role,
    },
    /// User-side membership removal.
    RemoveMembership {
        /// User.
        user_id: UserId,
        /// Chat.
        chat_id: ChatId,
    },
    /// A new message. `(chat_id, seq)` and
    /// `(chat_id, sender_id, client_msg_id)` are unique.
    InsertMessage(Message),
    /// New text for a message.
    EditMessage {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Text.
        text: String,
        /// Unix ms.
        edited_at: i64,
        /// Change position.
        pts: u64,
    },
    /// Adds (or removes) one user's reaction to a message and moves the
    /// message's `pts` to `pts` (so that resume replays it).
    React {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Who.
        user_id: UserId,
        /// The emoji.
        emoji: String,
        /// Add (true) or remove.
        add: bool,
        /// Change position.
        pts: u64,
    },
    /// Tombstone a message.
    DeleteMessage {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Change position.
        pts: u64,
    },
    /// The chat's counters and last message; applied only if `last_pts` is newer
    /// than the stored one.
    ChatCounters {
        /// Chat.
        chat_id: ChatId,
        /// Newest seq.
        last_seq: u64,
        /// Newest change position.
        last_pts: u64,
        /// Member count.
        member_count: u32,
        /// Newest message preview.
        last_message: Option<LastMessage>,
    },
    /// A message mentions a member (kept on the member's side).
    PutMention {
        /// The member mentioned.
        user_id: UserId,
        /// The chat.
        chat_id: ChatId,
        /// The message.
        seq: u64,
    },
    /// A user mutes a chat until a time (`None`: unmutes).
    SetMute {
        /// The user.
        user_id: UserId,
        /// The chat.
        chat_id: ChatId,
        /// Unix ms, [`crate::model::MUTED_FOREVER`] for good.
        until: Option<i64>,
    },
    /// The chat's pinned messages (the latest pinned first).
    SetPins {
        /// Chat.
        chat_id: ChatId,
        /// The seqs.
        pins: Vec<u64>,
    },
    /// Record a membership change in the chat's change stream, for resume
    /// (idempotent).
    RecordChange {
        /// Chat.
        chat_id: ChatId,
        /// Its position in the chat's change stream.
        pts: u64,
        /// What changed.
        change: MemberChange,
    },
    /// Move a read cursor forward only.
    AdvanceCursor {
        /// User.
        user_id: UserId,
        /// Chat.
        chat_id: ChatId,
        /// New cursor (ignored unless greater than the stored one).
        seq: u64,
    },
}

/// Durable storage. Every call is keyed by a chat, a user or a login name, so
/// that a sharded implementation can route it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an account; [`StoreError::Conflict`] when the name is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// Looks an account up by login name.
    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Users by id (missing ids are skipped).
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError>;
    /// A user's avatar, when they have one.
    async fn avatar(&self, user: UserId) -> Result<Option<crate::model::Avatar>, StoreError>;
    /// Who may see `user`'s presence (the default until they choose).
    async fn presence_visibility(
        &self,
        user: UserId,
    ) -> Result<crate::presence::Visibility, StoreError>;
    /// Users whose profile changed after `since` (Unix ms), oldest change
    /// first, at most `limit` (every shard is asked).
    async fn profiles_since(&self, since: i64, limit: u32) -> Result<Vec<User>, StoreError>;

    /// Chats by id (missing ids are skipped).
    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError>;
    /// Members of a chat.
    async fn members(&self, chat: ChatId) -> Result<Vec<Member>, StoreError>;
    /// Users banned from a chat.
    async fn bans(&self, chat: ChatId) -> Result<Vec<Ban>, StoreError>;
    /// A chat's settings (the defaults when none were stored).
    async fn chat_settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError>;
    /// The chat's last seq when `user` was last added to it (0 when named at
    /// its creation, or unknown).
    async fn joined_seq(&self, chat: ChatId, user: UserId) -> Result<u64, StoreError>;
    /// Members of a direct chat who left it (see [`Mutation::PutHidden`]).
    async fn hidden(&self, chat: ChatId) -> Result<Vec<UserId>, StoreError>;
    /// Users `user` blocked, ascending.
    async fn blocks(&self, user: UserId) -> Result<Vec<UserId>, StoreError>;
    /// Which of `among` blocked `user`.
    async fn blockers(&self, user: UserId, among: &[UserId]) -> Result<Vec<UserId>, StoreError>;
    /// A user's login session.
    async fn session(
        &self,
        user: UserId,
        id: u64,
    ) -> Result<Option<crate::model::SessionRecord>, StoreError>;
    /// A user's login sessions (live or not, until purged), newest first.
    async fn sessions(&self, user: UserId) -> Result<Vec<crate::model::SessionRecord>, StoreError>;
    /// A page of history, ascending by seq.
    async fn messages(&self, chat: ChatId, page: HistoryPage) -> Result<Vec<Message>, StoreError>;
    /// One message by seq.
    async fn message(&self, chat: ChatId, seq: u64) -> Result<Option<Message>, StoreError>;
    /// The reactions on the messages of `chat` from `first` to `last` seq:
    /// `(seq, reaction)` by seq, each message's emoji in the order of their
    /// first use, `mine` for `viewer`'s.
    async fn reactions(
        &self,
        chat: ChatId,
        first: u64,
        last: u64,
        viewer: UserId,
    ) -> Result<Vec<(u64, crate::model::Reaction)>, StoreError>;
    /// The messages posted with these idempotency keys `(chat, sender,
    /// client_msg_id)`, for those that exist (one query per shard: the writer
    /// dedupes a whole batch at once).
    async fn messages_by_client_ids(&self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError>;

    /// The latest recorded membership change about `user` in `chat`, with its
    /// position (changes recorded before the store kept whom they are about
    /// are not found).
    async fn last_member_change(
        &self,
        chat: ChatId,
        user: UserId,
    ) -> Result<Option<(u64, MemberChange)>, StoreError>;

    /// Stored, not deleted messages of `chats` matching `query`, newest first
    /// (by message id), older than `before` when given, at most `limit`.
    async fn search(
        &self,
        query: &crate::search::Query,
        chats: &[ChatId],
        before: Option<crate::MessageId>,
        limit: u32,
    ) -> Result<SearchHits, StoreError>;

    /// Changes of a chat after position `since_pts`, in pts order, at most
    /// `limit`: messages whose latest change is newer (edited, deleted, or new)
    /// and recorded non-message events.
    async fn changes_since(
        &self,
        chat: ChatId,
        since_pts: u64,
        limit: u32,
    ) -> Result<Vec<Change>, StoreError>;

    /// The chats a user belongs to, with role and read cursor.
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError>;

    /// Applies the mutations atomically (all or none, per shard), unfenced:
    /// for tests and tools; writers use [`Store::apply_fenced`].
    async fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError> {
        self.apply_fenced(&Fence::default(), batch).await
    }

    /// Applies a writer's batch atomically (all or none, per shard), in a
    /// transaction that first checks, on each shard it writes, that every
    /// epoch of `fence` is still the partition's current one; if not, nothing
    /// is applied there and the error is [`StoreError::Fenced`].
    async fn apply_fenced(&self, fence: &Fence, batch: &[Mutation]) -> Result<(), StoreError>;

    /// Takes a log partition for a new owner: a new epoch for
    /// `(topic, partition)`, higher than any before, stored on every shard
    /// before it is returned, so that every batch fenced by an older epoch is
    /// refused from then on.
    async fn acquire_fence(&self, topic: &str, partition: u32) -> Result<u64, StoreError>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// How keys are placed, for `/readyz` and logs: the shard ring's version
    /// and shards (`v1: shard0:1, shard1:1`); `None` for a single store.
    fn routing(&self) -> Option<String> {
        None
    }
}

// ---------------------------------------------------------------- cache

/// One cache update; fanout sends a batch's updates together. Serialized
/// only into fanout's dead-letter topic.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOp {
    /// [`Cache::put_chat`].
    PutChat(Chat),
    /// [`Cache::invalidate_members`].
    InvalidateMembers(ChatId),
    /// [`Cache::invalidate_memberships`].
    InvalidateMemberships(UserId),
    /// [`Cache::advance_cursor`].
    AdvanceCursor(UserId, ChatId, u64),
}

/// A cache of what the chat list and the pre-checks read. Everything in it can be
/// rebuilt from the store: a miss is `Ok(None)`, and it may be flushed any time.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// A user's memberships (chat, role, read cursor); a miss takes a lease
    /// (see [`Cached`]).
    async fn memberships(&self, user: UserId) -> Result<Cached<Vec<Membership>>, CacheError>;
    /// Stores a user's memberships as read from the store after
    /// [`Cache::memberships`] missed with `lease`, if the lease is still
    /// there.
    async fn put_memberships(
        &self,
        user: UserId,
        lease: u64,
        list: &[Membership],
    ) -> Result<(), CacheError>;
    /// Forgets a user's memberships, and any lease (after they changed).
    async fn invalidate_memberships(&self, user: UserId) -> Result<(), CacheError>;
    /// Moves a cached read cursor forward (no-op when absent or not newer).
    async fn advance_cursor(&self, user: UserId, chat: ChatId, seq: u64) -> Result<(), CacheError>;

    /// Chat summaries (with last message); `None` per missing entry.
    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Option<Chat>>, CacheError>;
    /// Stores a chat summary unless the cached one is newer (`last_pts`).
    async fn put_chat(&self, chat: &Chat) -> Result<(), CacheError>;

    /// Members of a chat; a miss takes a lease (see [`Cached`]).
    async fn members(&self, chat: ChatId) -> Result<Cached<Vec<Member>>, CacheError>;
    /// Stores members as read from the store after [`Cache::members`]
    /// missed with `lease`, if the lease is still there.
    async fn put_members(
        &self,
        chat: ChatId,
        lease: u64,
        members: &[Member],
    ) -> Result<(), CacheError>;
    /// Forgets a chat's members, and any lease (after they changed).
    async fn invalidate_members(&self, chat: ChatId) -> Result<(), CacheError>;

    /// Whether the cache answers (for `/readyz`).
    async fn ping(&self) -> Result<(), CacheError>;

    /// Applies updates in order (pipelined where the implementation can).
    async fn apply(&self, ops: &[CacheOp]) -> Result<(), CacheError> {
        for op in ops {
            match op {
                CacheOp::PutChat(c) => self.put_chat(c).await?,
                CacheOp::InvalidateMembers(c) => self.invalidate_members(*c).await?,
                CacheOp::InvalidateMemberships(u) => self.invalidate_memberships(*u).await?,
                CacheOp::AdvanceCursor(u, c, s) => self.advance_cursor(*u, *c, *s).await?,
            }
        }
        Ok(())
    }
}

/// A lease token never handed out before in this process (and, from a
/// per-process random start, not by another process either).
pub fn new_lease() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static START: LazyLock<u64> = LazyLock::new(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    });
    static NEXT: AtomicU64 = AtomicU64::new(0);
    START
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
        .max(1)
}

/// What a [`Subscriber`]'s inbox receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A message published on a channel the subscriber follows.
    Message {
        /// The channel (without any deployment prefix).
        channel: String,
        /// The payload as published.
        payload: Bytes,
    },
    /// The subscriber's connection was lost and is being re-established:
    /// messages may have been lost meanwhile (at-most-once).
    Reconnected,
}

/// The inbox of a [`Subscriber`].
pub type Inbox = mpsc::Receiver<Delivery>;

/// Publish/subscribe on named channels (`chat:{id}`, `user:{id}`, `gw:{id}`).
/// At-most-once: gateways detect gaps by seq and refill them from the store.
#[async_trait]
pub trait PubSub: Send + Sync + 'static {
    /// Publishes to one channel.
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), CacheError>;
    /// Publishes several messages (pipelined where the implementation can).
    async fn publish_many(&self, msgs: Vec<(String, Bytes)>) -> Result<(), CacheError> {
        for (c, p) in msgs {
            self.publish(&c, p).await?;
        }
        Ok(())
    }
    /// A new subscriber with its inbox (bounded; see the implementation).
    async fn subscriber(&self) -> Result<(Box<dyn Subscriber>, Inbox), CacheError>;
}

/// The control side of a subscription set: one per gateway.
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// Starts receiving a channel; messages published after this returns arrive.
    async fn subscribe(&self, channel: &str) -> Result<(), CacheError>;
    /// Stops receiving a channel.
    async fn unsubscribe(&self, channel: &str) -> Result<(), CacheError>;
    /// Waits until the subscriber's connection is up (after a reconnect).
    async fn wait_connected(&self) {}
}

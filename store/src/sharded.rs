//! Sharding as a wrapper: [`Sharded`] is a [`Store`] over per-shard stores. The
//! `shard-router` ring alone decides where a key lives, and
//! [`Mutation::placement`] which key a write goes by: a chat and its members
//! and messages on `shard(chat)`, a user and their memberships and cursors on
//! `shard(user)`, a login name on `shard(name)`.
//!
//! A writer batch is split by shard and applied with one transaction per
//! shard, in parallel; reads spanning shards ask them in parallel. Batches
//! spanning shards are not atomic across them, so every mutation is idempotent
//! and the writer applies the same mutations again until every shard has them.
//!
//! Any [`SqlStore`] is a shard: MySQL/MariaDB in distributed mode; SQLite
//! files in tests of what happens across shards.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chat_core::model::{Chat, Member, MemberChange, Message, User, UserRecord};
use chat_core::ports::{Change, ClientKey, Fence, HistoryPage, Membership, Mutation, Store};
use chat_core::{ChatId, Placement, StoreError, UserId, name_key};
use futures_util::future::join_all;
use shard_router::{Key, Ring};
use sqlx::{Executor, IntoArguments};

use crate::dialect::Dialect;
use crate::metrics;
use crate::rows::Columns;
use crate::runs::runs;
use crate::sql::{Bind, SqlStore};

/// One shard of a [`Sharded`] store: the store contract for the keys it
/// holds, and what a sharded store does across two shards or with a part of
/// a batch.
#[async_trait]
pub trait Shard: Store {
    /// Creates an account whose login name is kept unique on this shard (the
    /// name's) and whose row goes to `users` (the user's).
    async fn create_user_on(&self, users: &Self, rec: &UserRecord) -> Result<(), StoreError>;
    /// The user a login name (canonical, see [`name_key`]) belongs to.
    async fn name_owner(&self, name_key: &str) -> Result<Option<UserId>, StoreError>;
    /// An account by id.
    async fn user_record(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    /// Applies this shard's part of a batch in one transaction, fenced (see
    /// [`Store::apply_fenced`]).
    async fn apply_part(&self, fence: &Fence, batch: &[&Mutation]) -> Result<(), StoreError>;
    /// A new epoch for a partition on this shard (the one that hands them out).
    async fn bump_fence(&self, topic: &str, partition: u32) -> Result<u64, StoreError>;
    /// Raises a partition's epoch on this shard.
    async fn raise_fence(&self, topic: &str, partition: u32, epoch: u64) -> Result<(), StoreError>;
    /// Every key this shard holds rows of.
    async fn inventory(&self) -> Result<crate::Inventory, StoreError>;
    /// Closes the shard's connections.
    async fn close(&self);
}

#[async_trait]
impl<D: Dialect> Shard for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    D::Row: Columns,
    i64: Bind<D>,
    Option<i64>: Bind<D>,
    String: Bind<D>,
    Option<String>: Bind<D>,
    &'static str: Bind<D>,
{
    async fn create_user_on(&self, users: &Self, rec: &UserRecord) -> Result<(), StoreError> {
        self.create_user_split(users, rec).await
    }

    async fn name_owner(&self, name_key: &str) -> Result<Option<UserId>, StoreError> {
        SqlStore::name_owner(self, name_key).await
    }

    async fn user_record(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        SqlStore::user_record(self, id).await
    }

    async fn apply_part(&self, fence: &Fence, batch: &[&Mutation]) -> Result<(), StoreError> {
        self.apply_runs(fence, runs(batch.iter().copied())).await
    }

    async fn bump_fence(&self, topic: &str, partition: u32) -> Result<u64, StoreError> {
        SqlStore::bump_fence(self, topic, partition).await
    }

    async fn raise_fence(&self, topic: &str, partition: u32, epoch: u64) -> Result<(), StoreError> {
        SqlStore::raise_fence(self, topic, partition, epoch).await
    }

    async fn inventory(&self) -> Result<crate::Inventory, StoreError> {
        SqlStore::inventory(self).await
    }

    async fn close(&self) {
        SqlStore::close(self).await
    }
}

/// [`Store`] over shards placed by a `shard-router` ring.
pub struct Sharded<S> {
    ring: Arc<Ring>,
    /// One store per shard, in the ring's shard order (its index space).
    shards: Arc<Vec<S>>,
    /// Test-only: applies to fail per shard (see [`Sharded::fail_next_applies`]).
    #[cfg(feature = "failpoints")]
    faults: Arc<Vec<std::sync::atomic::AtomicU32>>,
    /// Test-only: sends refused as poison (see [`Sharded::poison_sends`]).
    #[cfg(feature = "failpoints")]
    poison: Arc<std::sync::RwLock<Option<String>>>,
}

impl<S> Clone for Sharded<S> {
    fn clone(&self) -> Self {
        Sharded {
            ring: self.ring.clone(),
            shards: self.shards.clone(),
            #[cfg(feature = "failpoints")]
            faults: self.faults.clone(),
            #[cfg(feature = "failpoints")]
            poison: self.poison.clone(),
        }
    }
}

/// The ring's key for a placement.
fn key(p: Placement<'_>) -> Key<'_> {
    match p {
        Placement::Chat(c) => Key::Chat(c.0),
        Placement::User(u) => Key::User(u.0),
        Placement::Name(n) => Key::Name(n),
    }
}

impl<S: Shard> Sharded<S> {
    /// A store over `shards`, given in the order of `ring.shards()`.
    pub fn new(ring: Ring, shards: Vec<S>) -> Self {
        assert_eq!(ring.shards().len(), shards.len(), "one store per shard");
        metrics::RING_VERSION.set(ring.version() as i64);
        Sharded {
            #[cfg(feature = "failpoints")]
            faults: Arc::new(shards.iter().map(|_| Default::default()).collect()),
            #[cfg(feature = "failpoints")]
            poison: Arc::new(std::sync::RwLock::new(
                std::env::var("CHAT_FAILPOINT_POISON").ok(),
            )),
            ring: Arc::new(ring),
            shards: Arc::new(shards),
        }
    }

    /// Test-only fault injection: the next `times` applies that reach shard
    /// `index` fail there (as a shard that went away would) while the other
    /// shards of the batch commit.
    #[cfg(feature = "failpoints")]
    pub fn fail_next_applies(&self, index: usize, times: u32) {
        self.faults[index].store(times, std::sync::atomic::Ordering::SeqCst);
    }

    /// Test-only fault injection: from now on, every apply that holds a new
    /// message whose `client_msg_id` starts with `prefix` fails on that
    /// message's shard, as a shard refusing that one row's data would, while
    /// the store keeps answering. Also set by `CHAT_FAILPOINT_POISON=PREFIX`.
    #[cfg(feature = "failpoints")]
    pub fn poison_sends(&self, prefix: &str) {
        *self.poison.write().unwrap_or_else(|e| e.into_inner()) = Some(prefix.to_string());
    }

    /// The fault injected into this apply on shard `index`, if any: a
    /// poisoned send is refused ([`StoreError::Rejected`]); an armed fault
    /// (disarmed by one) is an outage.
    #[cfg(feature = "failpoints")]
    fn injected_fault(&self, index: usize, part: &[&Mutation]) -> Option<StoreError> {
        use std::sync::atomic::Ordering;
        let poison = self.poison.read().unwrap_or_else(|e| e.into_inner());
        if let Some(prefix) = poison.as_deref()
            && part.iter().any(|m| {
                matches!(m, Mutation::InsertMessage(msg) if msg.client_msg_id.starts_with(prefix))
            })
        {
            return Some(StoreError::Rejected(format!("shard {index}: injected poison")));
        }
        self.faults[index]
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
            .then(|| StoreError::Unavailable(format!("shard {index}: injected fault")))
    }

    /// No faults without the test-only feature.
    #[cfg(not(feature = "failpoints"))]
    fn injected_fault(&self, _index: usize, _part: &[&Mutation]) -> Option<StoreError> {
        None
    }

    /// The shards' stores, in the ring's shard order.
    #[cfg(feature = "mysql")]
    pub(crate) fn stores(&self) -> &[S] {
        &self.shards
    }

    /// What each shard holds, in the ring's shard order.
    pub async fn inventories(&self) -> Result<Vec<crate::Inventory>, StoreError> {
        join_all(self.shards.iter().map(|s| s.inventory()))
            .await
            .into_iter()
            .collect()
    }

    /// The ring in use.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Shard index of a chat.
    pub fn chat_shard(&self, c: ChatId) -> usize {
        self.index(Placement::Chat(c))
    }

    fn index(&self, p: Placement<'_>) -> usize {
        self.ring.shard_index_for(key(p))
    }

    fn shard(&self, p: Placement<'_>) -> &S {
        &self.shards[self.index(p)]
    }

    /// `items` grouped by shard (in the ring's shard order).
    fn split<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        place: impl Fn(&T) -> Placement<'_>,
    ) -> Vec<Vec<T>> {
        let mut groups: Vec<Vec<T>> = (0..self.shards.len()).map(|_| Vec::new()).collect();
        for item in items {
            let i = self.index(place(&item));
            groups[i].push(item);
        }
        groups
    }

    /// `read` on every shard with a group, in parallel; their rows together.
    async fn read_each<'a, T, R, F>(
        &'a self,
        groups: &'a [Vec<T>],
        read: impl Fn(&'a S, &'a [T]) -> F,
    ) -> Result<Vec<R>, StoreError>
    where
        F: Future<Output = Result<Vec<R>, StoreError>>,
    {
        let work = self
            .shards
            .iter()
            .zip(groups)
            .filter(|(_, group)| !group.is_empty())
            .map(|(shard, group)| read(shard, group));
        let mut out = Vec::new();
        for rows in join_all(work).await {
            out.extend(rows?);
        }
        Ok(out)
    }

    /// Closes every shard.
    pub async fn close(&self) {
        for s in self.shards.iter() {
            s.close().await;
        }
    }
}

#[async_trait]
impl<S: Shard> Store for Sharded<S> {
    async fn create_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        let key = name_key(&rec.user.name);
        let users = self.shard(Placement::User(rec.user.id));
        self.shard(Placement::Name(&key))
            .create_user_on(users, rec)
            .await
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = name_key(name);
        match self.shard(Placement::Name(&key)).name_owner(&key).await? {
            Some(id) => self.shard(Placement::User(id)).user_record(id).await,
            None => Ok(None),
        }
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let groups = self.split(ids.iter().copied(), |id| Placement::User(*id));
        self.read_each(&groups, |s, ids| s.users(ids)).await
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let groups = self.split(ids.iter().copied(), |id| Placement::Chat(*id));
        self.read_each(&groups, |s, ids| s.chats(ids)).await
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>, StoreError> {
        self.shard(Placement::Chat(chat)).members(chat).await
    }

    async fn messages(&self, chat: ChatId, page: HistoryPage) -> Result<Vec<Message>, StoreError> {
        self.shard(Placement::Chat(chat)).messages(chat, page).await
    }

    async fn message(&self, chat: ChatId, seq: u64) -> Result<Option<Message>, StoreError> {
        self.shard(Placement::Chat(chat)).message(chat, seq).await
    }

    async fn messages_by_client_ids(&self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let groups = self.split(keys.iter().cloned(), |k| Placement::Chat(k.0));
        self.read_each(&groups, |s, keys| s.messages_by_client_ids(keys))
            .await
    }

    async fn changes_since(
        &self,
        chat: ChatId,
        since_pts: u64,
        limit: u32,
    ) -> Result<Vec<Change>, StoreError> {
        self.shard(Placement::Chat(chat))
            .changes_since(chat, since_pts, limit)
            .await
    }

    async fn last_member_change(
        &self,
        chat: ChatId,
        user: UserId,
    ) -> Result<Option<(u64, MemberChange)>, StoreError> {
        self.shard(Placement::Chat(chat))
            .last_member_change(chat, user)
            .await
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        self.shard(Placement::User(user)).memberships(user).await
    }

    async fn apply_fenced(&self, fence: &Fence, batch: &[Mutation]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let parts = self.split(batch, |m| m.placement());
        let work = self
            .shards
            .iter()
            .zip(&parts)
            .enumerate()
            .filter(|(_, (_, part))| !part.is_empty())
            .map(|(i, (shard, part))| async move {
                if let Some(e) = self.injected_fault(i, part) {
                    return Err(e);
                }
                let t = Instant::now();
                let r = shard.apply_part(fence, part).await;
                metrics::SHARD_APPLY_SECONDS
                    .with_label_values(&[self.ring.shards()[i].name.as_str()])
                    .observe(t.elapsed().as_secs_f64());
                r
            });
        // Every shard is attempted; the gravest error is reported (a refusal
        // by fencing first, so that it is never retried; an outage before a
        // rejection, so that data is never blamed while a shard is away) and
        // the writer applies the same (idempotent) mutations again.
        let gravity = |e: &StoreError| match e {
            StoreError::Fenced(_) => 0,
            StoreError::Conflict(_) => 1,
            StoreError::Unavailable(_) => 2,
            StoreError::Corrupt(_) => 3,
            StoreError::Rejected(_) => 4,
        };
        if let Some(e) = join_all(work)
            .await
            .into_iter()
            .filter_map(Result::err)
            .min_by_key(gravity)
        {
            return Err(e);
        }
        metrics::applied(started, batch.len());
        Ok(())
    }

    /// The first shard of the ring hands out the epochs (one counter, so no
    /// two owners ever get the same one); every shard then stores it, and
    /// only then is it used.
    async fn acquire_fence(&self, topic: &str, partition: u32) -> Result<u64, StoreError> {
        let epoch = self.shards[0].bump_fence(topic, partition).await?;
        let raised = join_all(
            self.shards[1..]
                .iter()
                .map(|s| s.raise_fence(topic, partition, epoch)),
        )
        .await;
        raised.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(epoch)
    }

    fn routing(&self) -> Option<String> {
        let shards: Vec<String> = self
            .ring
            .shards()
            .iter()
            .map(|s| format!("{}:{}", s.name, s.weight))
            .collect();
        Some(format!("v{}: {}", self.ring.version(), shards.join(", ")))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        for s in self.shards.iter() {
            s.ping().await?;
        }
        Ok(())
    }
}

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

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_core::model::{
    Ban, Chat, ChatSettings, Member, MemberChange, Message, SessionRecord, User, UserRecord,
};
use chat_core::ports::{Change, ClientKey, Fence, HistoryPage, Membership, Mutation, Store};
use chat_core::{ChatId, Placement, StoreError, UserId, name_key};
use futures_util::future::join_all;
use shard_router::{Key, Ring};
use sqlx::{Executor, IntoArguments};

use crate::dialect::Dialect;
use crate::metrics;
use crate::routing::{RingState, Route, Routes};
use crate::rows::Columns;
use crate::sql::{Bind, SqlStore};

/// A write a shard refused because it routes by another version of the
/// ring state than the writer (see [`crate::routing`]): nothing of it was
/// applied there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The version the shard routes by.
    pub shard_version: u64,
}

/// The result of a write checked against the ring state's version.
pub type Checked<T> = Result<Result<T, Moved>, StoreError>;

/// One shard of a [`Sharded`] store: the store contract for the keys it
/// holds, and what a sharded store does across two shards or with a part of
/// a batch. A write given a ring-state `version` is refused ([`Moved`]) by a
/// shard that routes by another one, in the write's own transaction.
#[async_trait]
pub trait Shard: Store + Clone {
    /// Creates an account whose login name is kept unique on this shard (the
    /// name's) and whose row goes to `users` (the user's).
    async fn create_user_on(
        &self,
        users: &Self,
        rec: &UserRecord,
        version: Option<u64>,
    ) -> Checked<()>;
    /// The user a login name (canonical, see [`name_key`]) belongs to.
    async fn name_owner(&self, name_key: &str) -> Result<Option<UserId>, StoreError>;
    /// An account by id.
    async fn user_record(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    /// Applies this shard's part of a batch in one transaction, fenced (see
    /// [`Store::apply_fenced`]).
    async fn apply_part(
        &self,
        fence: &Fence,
        version: Option<u64>,
        batch: &[&Mutation],
    ) -> Checked<()>;
    /// A new epoch for a partition on this shard (the one that hands them out).
    async fn bump_fence(&self, topic: &str, partition: u32, version: Option<u64>) -> Checked<u64>;
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
    Option<Vec<u8>>: Bind<D>,
    &'static str: Bind<D>,
{
    async fn create_user_on(
        &self,
        users: &Self,
        rec: &UserRecord,
        version: Option<u64>,
    ) -> Checked<()> {
        self.create_user_split(users, rec, version).await
    }

    async fn name_owner(&self, name_key: &str) -> Result<Option<UserId>, StoreError> {
        SqlStore::name_owner(self, name_key).await
    }

    async fn user_record(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        SqlStore::user_record(self, id).await
    }

    async fn apply_part(
        &self,
        fence: &Fence,
        version: Option<u64>,
        batch: &[&Mutation],
    ) -> Checked<()> {
        self.apply_batch(fence, version, batch).await
    }

    async fn bump_fence(&self, topic: &str, partition: u32, version: Option<u64>) -> Checked<u64> {
        SqlStore::bump_fence(self, topic, partition, version).await
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

/// What a [`Sharded`] store routes by: the routes of one ring state and a
/// store for each shard they name (in [`Routes::names`]' order).
pub(crate) struct Layout<S> {
    pub(crate) routes: Routes,
    pub(crate) stores: Vec<S>,
}

impl<S> Layout<S> {
    fn route(&self, p: Placement<'_>) -> Route {
        self.routes.route(key(p))
    }

    /// The store holding `p` now.
    fn shard(&self, p: Placement<'_>) -> &S {
        &self.stores[self.route(p).shard]
    }

    /// `items` grouped by shard (in [`Routes::names`]' order).
    fn split<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        place: impl Fn(&T) -> Placement<'_>,
    ) -> Vec<Vec<T>> {
        let mut groups: Vec<Vec<T>> = (0..self.stores.len()).map(|_| Vec::new()).collect();
        for item in items {
            let i = self.route(place(&item)).shard;
            groups[i].push(item);
        }
        groups
    }
}

/// Follows the recorded ring state: a newer layout when there is one, and a
/// shard brought to the state a process already routes by.
#[async_trait]
pub(crate) trait Follow<S>: Send + Sync + 'static {
    /// The recorded state's layout if it is newer than `have`'s (reusing
    /// `have`'s stores by name).
    async fn newer(&self, have: &Layout<S>) -> Result<Option<Layout<S>>, StoreError>;
    /// Records `have`'s state on its shard `index`, which routes by an older
    /// one (a migrator that died while publishing it).
    async fn repair(&self, have: &Layout<S>, index: usize) -> Result<(), StoreError>;
    /// Reports that this process routes by `have`'s version (see
    /// [`READ_LEASE`]).
    async fn heartbeat(&self, have: &Layout<S>) -> Result<(), StoreError>;
}

/// A process reads by its layout only within this long of a confirmation
/// that the recorded state has no newer version (a look at it and a report
/// of the version, see `Sharded::confirm`); past it, a read first confirms
/// again. A migrator that flips keys waits until every process has reported
/// the flip or this long has passed, so no read sees a shard's old copy.
pub const READ_LEASE: Duration = Duration::from_secs(5);

/// How long a write waits for frozen keys (a migration copying their last
/// changes) before it fails as unavailable; the writer then retries.
const FROZEN_WAIT: Duration = Duration::from_secs(30);
/// Between two looks at whether frozen keys have flipped.
const FROZEN_POLL: Duration = Duration::from_millis(10);
/// Writes refused for another ring-state version, retried in a row, before
/// one fails as unavailable.
const MOVED_RETRIES: u32 = 100;

/// [`Store`] over shards placed by a `shard-router` ring, following the ring
/// state recorded on the shards (see [`crate::routing`]) when it has a
/// follower.
pub struct Sharded<S> {
    layout: Arc<RwLock<Arc<Layout<S>>>>,
    follow: Option<Arc<dyn Follow<S>>>,
    /// One look at the recorded state at a time.
    refreshing: Arc<tokio::sync::Mutex<()>>,
    /// The last confirmation (see [`READ_LEASE`]) and the last attempt.
    confirmed: Arc<std::sync::Mutex<(Option<Instant>, Option<Instant>)>>,
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
            layout: self.layout.clone(),
            follow: self.follow.clone(),
            refreshing: self.refreshing.clone(),
            confirmed: self.confirmed.clone(),
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
    /// A store over `shards`, given in the order of `ring.shards()`, routing
    /// by that ring for good (no recorded state, no version checks).
    pub fn new(ring: Ring, shards: Vec<S>) -> Self {
        assert_eq!(ring.shards().len(), shards.len(), "one store per shard");
        let routes = Routes::new(RingState::initial(&ring, Default::default()))
            .expect("a valid ring's state");
        Self::with_layout(
            Layout {
                routes,
                stores: shards,
            },
            None,
        )
    }

    pub(crate) fn with_layout(layout: Layout<S>, follow: Option<Arc<dyn Follow<S>>>) -> Self {
        metrics::init();
        metrics::shards(layout.routes.names().iter().map(String::as_str));
        metrics::RING_VERSION.set(layout.routes.version() as i64);
        Sharded {
            #[cfg(feature = "failpoints")]
            faults: Arc::new((0..8).map(|_| Default::default()).collect()),
            #[cfg(feature = "failpoints")]
            poison: Arc::new(std::sync::RwLock::new(
                std::env::var("CHAT_FAILPOINT_POISON").ok(),
            )),
            layout: Arc::new(RwLock::new(Arc::new(layout))),
            follow,
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
            // A follower confirms (and reports itself) before its first read.
            confirmed: Arc::new(std::sync::Mutex::new((None, None))),
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
        self.faults
            .get(index)?
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
            .then(|| StoreError::Unavailable(format!("shard {index}: injected fault")))
    }

    /// No faults without the test-only feature.
    #[cfg(not(feature = "failpoints"))]
    fn injected_fault(&self, _index: usize, _part: &[&Mutation]) -> Option<StoreError> {
        None
    }

    /// What this store routes by now.
    pub(crate) fn layout(&self) -> Arc<Layout<S>> {
        self.layout
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The version writes carry: the ring state's when this store follows
    /// one (MySQL shards check it), none for a fixed layout (tests over
    /// SQLite files).
    fn version_of(&self, l: &Layout<S>) -> Option<u64> {
        self.follow.is_some().then(|| l.routes.version())
    }

    /// Looks at the recorded ring state and routes by it if it is newer;
    /// whether the layout changed since `seen` (a version).
    pub(crate) async fn refresh(&self, seen: u64) -> bool {
        if self.follow.is_none() {
            return false;
        }
        let _one = self.refreshing.lock().await;
        if self.layout().routes.version() != seen {
            return true; // another caller refreshed meanwhile
        }
        self.follow_newer().await.unwrap_or(false)
    }

    /// Looks at the recorded state (following a newer one) and reports the
    /// version routed by; a success renews the read lease from the moment
    /// of the look.
    pub(crate) async fn confirm(&self) {
        let Some(follow) = &self.follow else {
            return;
        };
        let _one = self.refreshing.lock().await;
        let looked = Instant::now();
        self.confirmed.lock().unwrap_or_else(|e| e.into_inner()).1 = Some(looked);
        if self.follow_newer().await.is_none() {
            return;
        }
        match follow.heartbeat(&self.layout()).await {
            Ok(()) => self.confirmed.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(looked),
            Err(e) => tracing::warn!(error = %e, "reporting the ring state routed by failed"),
        }
    }

    /// Routes by the recorded state if it is newer (the caller holds
    /// `refreshing`): whether it was, `None` when it could not be read.
    async fn follow_newer(&self) -> Option<bool> {
        let follow = self.follow.as_ref()?;
        let have = self.layout();
        match follow.newer(&have).await {
            Ok(Some(new)) => {
                self.install(&have, new);
                Some(true)
            }
            Ok(None) => Some(false),
            Err(e) => {
                tracing::warn!(error = %e, "reading the recorded ring state failed");
                None
            }
        }
    }

    fn install(&self, have: &Layout<S>, new: Layout<S>) {
        tracing::info!(from = %have.routes.state(), to = %new.routes.state(), "routing by a new ring state");
        metrics::shards(new.routes.names().iter().map(String::as_str));
        metrics::RING_VERSION.set(new.routes.version() as i64);
        *self.layout.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
    }

    /// The layout to read by: confirmed within [`READ_LEASE`] (confirming
    /// first when it is not; at most one try a second while that fails, and
    /// meanwhile reads fail as unavailable rather than risk an old copy).
    async fn read_layout(&self) -> Result<Arc<Layout<S>>, StoreError> {
        if self.follow.is_none() {
            return Ok(self.layout());
        }
        let fresh =
            |c: &(Option<Instant>, Option<Instant>)| c.0.is_some_and(|t| t.elapsed() < READ_LEASE);
        let (ok, try_now) = {
            let c = self.confirmed.lock().unwrap_or_else(|e| e.into_inner());
            (
                fresh(&c),
                c.1.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)),
            )
        };
        if !ok && try_now {
            self.confirm().await;
        }
        if fresh(&self.confirmed.lock().unwrap_or_else(|e| e.into_inner())) {
            Ok(self.layout())
        } else {
            Err(StoreError::Unavailable(
                "the ring state could not be confirmed on any shard lately".into(),
            ))
        }
    }

    /// After a write refused for another version: follows a newer state, or
    /// brings a shard still on an older one up to ours.
    async fn moved(&self, l: &Layout<S>, index: usize, m: Moved) {
        let ours = l.routes.version();
        if m.shard_version > ours {
            self.refresh(ours).await;
        } else if let Some(follow) = &self.follow {
            if let Err(e) = follow.repair(l, index).await {
                tracing::warn!(error = %e, shard = %l.routes.names()[index], "recording the ring state on a shard failed");
            }
            // The state may have moved on meanwhile.
            self.refresh(ours).await;
        }
    }

    /// Waits while any of `places` is frozen by a migration, following the
    /// recorded state; fails after [`FROZEN_WAIT`] since `since`.
    async fn wait_unfrozen<'p>(
        &self,
        since: Instant,
        places: impl Fn() -> Vec<Placement<'p>>,
    ) -> Result<Arc<Layout<S>>, StoreError> {
        loop {
            let l = self.layout();
            if !places().into_iter().any(|p| l.route(p).frozen) {
                return Ok(l);
            }
            if since.elapsed() > FROZEN_WAIT {
                return Err(StoreError::Unavailable(format!(
                    "keys frozen by a migration for more than {} s (ring state {})",
                    FROZEN_WAIT.as_secs(),
                    l.routes.state()
                )));
            }
            tokio::time::sleep(FROZEN_POLL).await;
            self.refresh(l.routes.version()).await;
        }
    }

    /// The shards' stores and names, in [`Routes::names`]' order.
    pub fn shard_stores(&self) -> Vec<(String, S)> {
        let l = self.layout();
        l.routes
            .names()
            .iter()
            .cloned()
            .zip(l.stores.iter().cloned())
            .collect()
    }

    /// What each shard holds, in [`Routes::names`]' order.
    pub async fn inventories(&self) -> Result<Vec<(String, crate::Inventory)>, StoreError> {
        let shards = self.shard_stores();
        let held = join_all(shards.iter().map(|(_, s)| s.inventory())).await;
        shards
            .into_iter()
            .zip(held)
            .map(|((n, _), h)| Ok((n, h?)))
            .collect()
    }

    /// The current ring.
    pub fn ring(&self) -> Ring {
        self.layout().routes.ring().clone()
    }

    /// The ring state routed by.
    pub fn state(&self) -> RingState {
        self.layout().routes.state().clone()
    }

    /// The shard a chat is on now.
    pub fn chat_shard(&self, c: ChatId) -> String {
        self.shard_of(Placement::Chat(c))
    }

    /// The shard a key (a chat, a user, a login name) is on now.
    pub fn shard_of(&self, p: Placement<'_>) -> String {
        let l = self.layout();
        l.routes.names()[l.route(p).shard].clone()
    }

    /// `read` on every shard with a group, in parallel; their rows together.
    async fn read_each<'a, T, R, F>(
        l: &'a Layout<S>,
        groups: &'a [Vec<T>],
        read: impl Fn(&'a S, &'a [T]) -> F,
    ) -> Result<Vec<R>, StoreError>
    where
        F: Future<Output = Result<Vec<R>, StoreError>>,
    {
        let work = l
            .stores
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
        for s in self.layout().stores.iter() {
            s.close().await;
        }
    }

    /// One attempt at a batch under layout `l`: every part's outcome.
    async fn apply_once(
        &self,
        l: &Layout<S>,
        fence: &Fence,
        batch: &[Mutation],
    ) -> Vec<(usize, Checked<()>)> {
        let parts = l.split(batch, |m| m.placement());
        let version = self.version_of(l);
        let work = l
            .stores
            .iter()
            .zip(&parts)
            .enumerate()
            .filter(|(_, (_, part))| !part.is_empty())
            .map(|(i, (shard, part))| async move {
                if let Some(e) = self.injected_fault(i, part) {
                    return (i, Err(e));
                }
                let t = Instant::now();
                let r = shard.apply_part(fence, version, part).await;
                metrics::SHARD_APPLY_SECONDS
                    .with_label_values(&[l.routes.names()[i].as_str()])
                    .observe(t.elapsed().as_secs_f64());
                (i, r)
            });
        join_all(work).await
    }
}

#[async_trait]
impl<S: Shard> Store for Sharded<S> {
    async fn create_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        let name = name_key(&rec.user.name);
        let places = || vec![Placement::Name(&name), Placement::User(rec.user.id)];
        let since = Instant::now();
        for _ in 0..MOVED_RETRIES {
            let l = self.wait_unfrozen(since, places).await?;
            let at = l.route(Placement::Name(&name)).shard;
            let users = l.shard(Placement::User(rec.user.id));
            match l.stores[at]
                .create_user_on(users, rec, self.version_of(&l))
                .await?
            {
                Ok(()) => return Ok(()),
                Err(m) => self.moved(&l, at, m).await,
            }
        }
        Err(StoreError::Unavailable(
            "the ring state keeps changing".into(),
        ))
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = name_key(name);
        let l = self.read_layout().await?;
        match l.shard(Placement::Name(&key)).name_owner(&key).await? {
            Some(id) => l.shard(Placement::User(id)).user_record(id).await,
            None => Ok(None),
        }
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let l = self.read_layout().await?;
        let groups = l.split(ids.iter().copied(), |id| Placement::User(*id));
        Self::read_each(&l, &groups, |s, ids| s.users(ids)).await
    }

    async fn avatar(&self, user: UserId) -> Result<Option<chat_core::model::Avatar>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::User(user))
            .avatar(user)
            .await
    }

    async fn presence_visibility(
        &self,
        user: UserId,
    ) -> Result<chat_core::presence::Visibility, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::User(user))
            .presence_visibility(user)
            .await
    }

    async fn profiles_since(&self, since: i64, limit: u32) -> Result<Vec<User>, StoreError> {
        // Every shard in parallel, merged by change time. A user being moved
        // can be on two shards: the newer change wins.
        let l = self.read_layout().await?;
        let work = l.stores.iter().map(|s| s.profiles_since(since, limit));
        let mut all: Vec<User> = Vec::new();
        for r in join_all(work).await {
            all.extend(r?);
        }
        all.sort_by_key(|u| (u.id, std::cmp::Reverse(u.updated_at)));
        all.dedup_by_key(|u| u.id);
        all.sort_by_key(|u| (u.updated_at, u.id));
        all.truncate(limit as usize);
        Ok(all)
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let l = self.read_layout().await?;
        let groups = l.split(ids.iter().copied(), |id| Placement::Chat(*id));
        Self::read_each(&l, &groups, |s, ids| s.chats(ids)).await
    }

    async fn search(
        &self,
        query: &chat_core::search::Query,
        chats: &[ChatId],
        before: Option<chat_core::MessageId>,
        limit: u32,
    ) -> Result<chat_core::ports::SearchHits, StoreError> {
        // One query per shard holding some of the chats, in parallel; a
        // shard that does not answer leaves its part out (`partial`).
        let l = self.read_layout().await?;
        let groups = l.split(chats.iter().copied(), |id| Placement::Chat(*id));
        let work = l
            .stores
            .iter()
            .zip(&groups)
            .filter(|(_, g)| !g.is_empty())
            .map(|(shard, g)| shard.search(query, g, before, limit));
        let mut hits = chat_core::ports::SearchHits::default();
        let (mut answered, mut failed) = (0, None);
        for r in join_all(work).await {
            match r {
                Ok(h) => {
                    answered += 1;
                    hits.messages.extend(h.messages);
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            if answered == 0 {
                return Err(e);
            }
            tracing::warn!(error = %e, "search: a shard did not answer; a partial result");
            hits.partial = true;
        }
        hits.messages.sort_by_key(|m| std::cmp::Reverse(m.id));
        hits.messages.truncate(limit as usize);
        Ok(hits)
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .members(chat)
            .await
    }

    async fn bans(&self, chat: ChatId) -> Result<Vec<Ban>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .bans(chat)
            .await
    }

    async fn chat_settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .chat_settings(chat)
            .await
    }

    async fn joined_seq(&self, chat: ChatId, user: UserId) -> Result<u64, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .joined_seq(chat, user)
            .await
    }

    async fn hidden(&self, chat: ChatId) -> Result<Vec<UserId>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .hidden(chat)
            .await
    }

    async fn blocks(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::User(user))
            .blocks(user)
            .await
    }

    async fn blockers(&self, user: UserId, among: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let l = self.read_layout().await?;
        let groups = l.split(among.iter().copied(), |id| Placement::User(*id));
        Self::read_each(&l, &groups, |s, ids| s.blockers(user, ids)).await
    }

    async fn session(&self, user: UserId, id: u64) -> Result<Option<SessionRecord>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::User(user))
            .session(user, id)
            .await
    }

    async fn sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::User(user))
            .sessions(user)
            .await
    }

    async fn messages(&self, chat: ChatId, page: HistoryPage) -> Result<Vec<Message>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .messages(chat, page)
            .await
    }

    async fn message(&self, chat: ChatId, seq: u64) -> Result<Option<Message>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .message(chat, seq)
            .await
    }

    async fn reactions(
        &self,
        chat: ChatId,
        first: u64,
        last: u64,
        viewer: UserId,
    ) -> Result<Vec<(u64, chat_core::model::Reaction)>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .reactions(chat, first, last, viewer)
            .await
    }

    async fn messages_by_client_ids(&self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let l = self.read_layout().await?;
        let groups = l.split(keys.iter().cloned(), |k| Placement::Chat(k.0));
        Self::read_each(&l, &groups, |s, keys| s.messages_by_client_ids(keys)).await
    }

    async fn changes_since(
        &self,
        chat: ChatId,
        since_pts: u64,
        limit: u32,
    ) -> Result<Vec<Change>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .changes_since(chat, since_pts, limit)
            .await
    }

    async fn last_member_change(
        &self,
        chat: ChatId,
        user: UserId,
    ) -> Result<Option<(u64, MemberChange)>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::Chat(chat))
            .last_member_change(chat, user)
            .await
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        self.read_layout()
            .await?
            .shard(Placement::User(user))
            .memberships(user)
            .await
    }

    /// Waits while a migration has any of the batch's keys frozen, applies
    /// each shard's part under the layout of one ring state, and applies the
    /// batch again (idempotent) when a shard routes by another state.
    async fn apply_fenced(&self, fence: &Fence, batch: &[Mutation]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let places = || batch.iter().map(Mutation::placement).collect::<Vec<_>>();
        for _ in 0..MOVED_RETRIES {
            let l = self.wait_unfrozen(started, places).await?;
            let outcomes = self.apply_once(&l, fence, batch).await;
            // Every shard is attempted; the gravest error is reported (a
            // refusal by fencing first, so that it is never retried; an
            // outage before a rejection, so that data is never blamed while
            // a shard is away) and the writer applies the same (idempotent)
            // mutations again.
            let gravity = |e: &StoreError| match e {
                StoreError::Fenced(_) => 0,
                StoreError::Conflict(_) => 1,
                StoreError::Unavailable(_) => 2,
                StoreError::Corrupt(_) => 3,
                StoreError::Rejected(_) => 4,
            };
            let mut moved = None;
            let mut worst: Option<StoreError> = None;
            for (i, r) in outcomes {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(m)) => moved = Some((i, m)),
                    Err(e) => {
                        if worst.as_ref().is_none_or(|w| gravity(&e) < gravity(w)) {
                            worst = Some(e);
                        }
                    }
                }
            }
            match (worst, moved) {
                (Some(e), _) => return Err(e),
                (None, Some((i, m))) => self.moved(&l, i, m).await,
                (None, None) => {
                    metrics::applied(started, batch.len());
                    return Ok(());
                }
            }
        }
        Err(StoreError::Unavailable(
            "the ring state keeps changing".into(),
        ))
    }

    /// The first shard of the current ring hands out the epochs (one
    /// counter, so no two owners ever get the same one); every shard a
    /// process reaches then stores it, and only then is it used. (A migration
    /// that hands the counter to another shard raises it there first, see
    /// `publish` in mysql.rs.)
    async fn acquire_fence(&self, topic: &str, partition: u32) -> Result<u64, StoreError> {
        for _ in 0..MOVED_RETRIES {
            let l = self.layout();
            let first = &l.routes.ring().shards()[0].name;
            let at = l
                .routes
                .names()
                .iter()
                .position(|n| n == first)
                .unwrap_or(0);
            let epoch = match l.stores[at]
                .bump_fence(topic, partition, self.version_of(&l))
                .await?
            {
                Ok(epoch) => epoch,
                Err(m) => {
                    self.moved(&l, at, m).await;
                    continue;
                }
            };
            let raised = join_all(
                l.stores
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != at)
                    .map(|(_, s)| s.raise_fence(topic, partition, epoch)),
            )
            .await;
            raised.into_iter().collect::<Result<Vec<()>, _>>()?;
            return Ok(epoch);
        }
        Err(StoreError::Unavailable(
            "the ring state keeps changing".into(),
        ))
    }

    fn routing(&self) -> Option<String> {
        Some(self.layout().routes.state().to_string())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        for s in self.layout().stores.iter() {
            s.ping().await?;
        }
        Ok(())
    }
}

//! Online resharding: moves the keys a change of the ring moves, under
//! traffic, one step of hash ranges at a time (see [`crate::routing`]).
//!
//! Per step: bulk-copy the step's chats (messages, changes, members, the
//! chat row last), users (account, memberships) and login names from their
//! current shard to their new one while writes go on; *freeze* the step
//! (a new ring-state version: writers hold its keys, and a shard refuses
//! writes from a process still on the older version); copy what changed
//! meanwhile (a chat from its last copied `pts`, users and names again) and
//! any key created meanwhile; *flip* the step (its keys route by the new
//! ring). After the last step the new ring becomes current, the migrator
//! waits for every live process to route by it, and deletes the old copies.
//!
//! Every state is recorded before it is acted on, so a migrator killed at
//! any point resumes where the record says; every copy is idempotent (an
//! upsert, or a replacement of a key's rows) and runs in a transaction that
//! checks the destination still routes by the version the migrator
//! published, so a migrator that lost its lease writes nothing after the
//! state moved on. One migrator at a time holds the lease (`ring_lease`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chat_core::{StoreError, now_ms};
use shard_router::Key;
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};

use crate::HeldKey;
use crate::mysql::{Epochs, MySqlConfig, ShardedStore, highest_epochs, read_state, record};
use crate::routing::{Migration, RingState, Routes};
use crate::sharded::READ_LEASE;
use crate::sql::exec::check_version;
use crate::sql::unavailable;

/// How long a lease lasts without renewal: a migrator killed mid-way is
/// replaced this long after its last renewal.
const LEASE: Duration = Duration::from_secs(10);
/// Allowance for the clocks of the databases (the migrator compares times
/// read from several shards).
const CLOCK_MARGIN_MS: i64 = 1000;
/// The database's time in ms (as `ring_followers.seen_at` is written).
const DB_NOW_MS: &str = "SELECT CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED)";
/// Keys per copy or delete transaction (users, names, chats to delete).
const KEYS_PER_TX: usize = 100;
/// Messages or changes per copy transaction.
const ROWS_PER_TX: i64 = 1000;
/// Rows per delete statement of old copies.
const ROWS_PER_DELETE: u64 = 2000;

/// Test-only: `CHAT_FAILPOINT_RESHARD=copy:STEP` stops the migrator (until it
/// is killed) after the first key (a chat, users or names) of step STEP's bulk
/// copy (at its end when it moves nothing), `frozen:STEP` right after step STEP
/// was frozen, `flipped:STEP` right after it flipped (still frozen),
/// `authority:frozen:STEP` when the freeze is recorded on the authority only —
/// so that a test kills it mid-copy, mid-flip and mid-publish.
#[cfg(feature = "failpoints")]
async fn failpoint(at: &str) {
    if std::env::var("CHAT_FAILPOINT_RESHARD").is_ok_and(|v| v == at) {
        tracing::warn!(at, "failpoint: the migrator stops here");
        eprintln!("failpoint {at}: the migrator stops here");
        std::future::pending::<()>().await;
    }
}

#[cfg(not(feature = "failpoints"))]
async fn failpoint(_at: &str) {}

/// One change of the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingChange {
    /// A new shard, its weight and URL.
    Add {
        /// Name on the ring.
        name: String,
        /// Relative share of keys.
        weight: u32,
        /// `mysql://…`, as every process can reach it.
        url: String,
    },
    /// A shard to empty and drop.
    Remove(String),
    /// A shard's new weight.
    Weight(String, u32),
}

impl RingChange {
    /// The ring after the change, `(name, weight)` in order (a removed
    /// first shard hands the authority to the next one).
    pub fn apply(&self, now: &[(String, u32)]) -> Result<Vec<(String, u32)>, String> {
        let mut next = now.to_vec();
        let at = |name: &str| now.iter().position(|(n, _)| n == name);
        match self {
            RingChange::Add { name, weight, .. } => {
                if at(name).is_some() {
                    return Err(format!("shard {name} is already on the ring"));
                }
                if *weight == 0 {
                    return Err("a weight is a whole number from 1".into());
                }
                next.push((name.clone(), *weight));
            }
            RingChange::Remove(name) => {
                let i = at(name).ok_or_else(|| format!("no shard {name} on the ring"))?;
                if now.len() == 1 {
                    return Err(format!(
                        "{name} is the only shard: nothing could hold its keys"
                    ));
                }
                next.remove(i);
            }
            RingChange::Weight(name, w) => {
                let i = at(name).ok_or_else(|| format!("no shard {name} on the ring"))?;
                if *w == 0 {
                    return Err("a weight is a whole number from 1".into());
                }
                if now[i].1 == *w {
                    return Err(format!("{name} already has weight {w}"));
                }
                next[i].1 = *w;
            }
        }
        Ok(next)
    }
}

/// What the migrator is doing, for a progress display.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// A short description of the phase (`copying step 3/12`, …).
    pub phase: String,
    /// Keys copied (or deleted) so far, of `keys_total`.
    pub keys_done: u64,
    /// Keys the migration moves (known once the migration is planned).
    pub keys_total: u64,
    /// Rows written to new shards so far.
    pub rows_copied: u64,
    /// Rows deleted from old shards so far.
    pub rows_deleted: u64,
    /// Since the migrator started.
    pub elapsed: Duration,
}

/// What a finished run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Keys moved (chats, users, names).
    pub keys: u64,
    /// Rows written to their new shards.
    pub rows_copied: u64,
    /// Rows deleted from their old shards.
    pub rows_deleted: u64,
    /// Steps flipped by this run.
    pub steps: u32,
    /// The longest time a step was frozen (its keys' writes held).
    pub longest_pause: Duration,
    /// The whole run.
    pub elapsed: Duration,
    /// The ring state at the end.
    pub state: String,
}

/// The migration lease, renewed in the background while the migrator runs.
struct Lease {
    /// The authority's pool (where the lease row is).
    pool: std::sync::Mutex<MySqlPool>,
    holder: String,
    /// Set when a renewal found the lease taken or expired.
    lost: std::sync::atomic::AtomicBool,
}

impl Lease {
    async fn renew(&self) -> Result<bool, StoreError> {
        let pool = self.pool.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let r = sqlx::query(
            "UPDATE ring_lease SET expires_at = ? WHERE id = 1 AND holder = ? AND expires_at > ?",
        )
        .bind(now_ms() + LEASE.as_millis() as i64)
        .bind(&self.holder)
        .bind(now_ms())
        .execute(&pool)
        .await
        .map_err(unavailable("ring_lease"))?;
        Ok(r.rows_affected() > 0)
    }
}

/// A migrator: the lease holder and the connections to every shard the
/// state names.
pub struct Migrator {
    cfg: MySqlConfig,
    holder: String,
    lease: Option<std::sync::Arc<Lease>>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    pools: BTreeMap<String, MySqlPool>,
    state: RingState,
    progress: Progress,
    started: Instant,
    report: Box<dyn FnMut(&Progress) + Send>,
    summary: Summary,
}

impl Migrator {
    /// Connects to the shards the recorded state names (`cfg`'s shards seed
    /// the search, as for any process) and takes the lease, waiting for a
    /// lease that expires within [`LEASE`] (a migrator that died).
    pub async fn connect(
        cfg: &MySqlConfig,
        holder: &str,
        report: Box<dyn FnMut(&Progress) + Send>,
    ) -> Result<Migrator, StoreError> {
        let mut inspect = cfg.clone();
        inspect.follow = false;
        let store = ShardedStore::connect(&inspect).await?;
        let state = store.state();
        // Shards no process has used yet (an import into a new deployment):
        // record the configured ring, as the first role would.
        let (_, first) = store.shard_stores().remove(0);
        if read_state(&first.pool).await?.is_none() {
            crate::mysql::record_if_absent(&first.pool, &state).await?;
            for (_, s) in store.shard_stores() {
                record(&s.pool, &state, &Vec::new()).await?;
            }
        }
        let mut pools = BTreeMap::new();
        for (name, s) in store.shard_stores() {
            pools.insert(name, s.pool.clone());
        }
        let mut m = Migrator {
            cfg: cfg.clone(),
            holder: holder.to_string(),
            lease: None,
            renewer: None,
            pools,
            state,
            progress: Progress::default(),
            started: Instant::now(),
            report,
            summary: Summary::default(),
        };
        m.reach_all().await?;
        m.reload().await?;
        // The lease on the authority; the state may have moved on (and the
        // authority with it) while it was waited for.
        loop {
            m.take_lease().await?;
            let authority = m.state.authority().to_string();
            m.reload().await?;
            if m.state.authority() == authority {
                break;
            }
        }
        m.republish().await?;
        Ok(m)
    }

    /// The recorded state.
    pub fn state(&self) -> &RingState {
        &self.state
    }

    /// Opens a pool for every shard the state names (current, target and
    /// shards still to clean), by the state's URLs or the settings'.
    async fn reach_all(&mut self) -> Result<(), StoreError> {
        let mut names = self.state.names();
        names.extend(self.state.cleanup.iter().cloned());
        for name in names {
            if self.pools.contains_key(&name) {
                continue;
            }
            let url = self.url_of(&name)?;
            let pool = crate::mysql::open_pool(&self.cfg, &name, &url).await?;
            self.pools.insert(name, pool);
        }
        Ok(())
    }

    fn url_of(&self, name: &str) -> Result<String, StoreError> {
        crate::mysql::shard_url(&self.state, &self.cfg, name)
    }

    fn pool(&self, name: &str) -> Result<&MySqlPool, StoreError> {
        self.pools
            .get(name)
            .ok_or_else(|| StoreError::Unavailable(format!("shard {name} is not reached")))
    }

    fn authority(&self) -> Result<&MySqlPool, StoreError> {
        self.pool(self.state.authority())
    }

    /// Reads the state from the authority (following a change of authority).
    async fn reload(&mut self) -> Result<(), StoreError> {
        for _ in 0..4 {
            let Some(state) = read_state(self.authority()?).await? else {
                return Err(StoreError::Unavailable(
                    "the authority records no ring state".into(),
                ));
            };
            if state.version < self.state.version {
                // A publish that handed the authority over died half-way:
                // the newer state stands (see `republish`).
                break;
            }
            let moved = state.authority() != self.state.authority();
            self.state = state;
            self.reach_all().await?;
            if !moved {
                break;
            }
        }
        Ok(())
    }

    /// Takes (or renews) the lease on the authority.
    async fn take_lease(&mut self) -> Result<(), StoreError> {
        let waited = Instant::now();
        loop {
            let pool = self.authority()?;
            let now = now_ms();
            // `holder` before `expires_at`: MySQL assigns left to right.
            sqlx::query(
                "INSERT INTO ring_lease (id, holder, expires_at) VALUES (1, ?, ?) \
                 ON DUPLICATE KEY UPDATE \
                 holder = IF(expires_at < ? OR holder = VALUES(holder), VALUES(holder), holder), \
                 expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)",
            )
            .bind(&self.holder)
            .bind(now + LEASE.as_millis() as i64)
            .bind(now)
            .execute(pool)
            .await
            .map_err(unavailable("ring_lease"))?;
            let (holder, until): (String, i64) =
                sqlx::query_as("SELECT holder, expires_at FROM ring_lease WHERE id = 1")
                    .fetch_one(pool)
                    .await
                    .map_err(unavailable("ring_lease"))?;
            if holder == self.holder {
                let pool = pool.clone();
                self.keep_lease(pool);
                return Ok(());
            }
            let left = Duration::from_millis((until - now).max(0) as u64);
            if waited.elapsed() > LEASE * 3 {
                return Err(StoreError::Conflict(format!(
                    "another migrator ({holder}) holds the migration lease and keeps renewing it; \
                     only one migration runs at a time"
                )));
            }
            tracing::info!(%holder, left_ms = left.as_millis() as u64, "waiting for the migration lease");
            tokio::time::sleep(left.min(Duration::from_secs(1)) + Duration::from_millis(100)).await;
        }
    }

    /// Renews the lease (on `pool`, the authority's) every quarter of it
    /// in the background.
    fn keep_lease(&mut self, pool: MySqlPool) {
        if let Some(lease) = &self.lease {
            *lease.pool.lock().unwrap_or_else(|e| e.into_inner()) = pool;
            return;
        }
        let lease = std::sync::Arc::new(Lease {
            pool: std::sync::Mutex::new(pool),
            holder: self.holder.clone(),
            lost: Default::default(),
        });
        let l = lease.clone();
        self.renewer = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 4).await;
                match l.renew().await {
                    Ok(true) => {}
                    Ok(false) => {
                        l.lost.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "renewing the migration lease failed"),
                }
            }
        }));
        self.lease = Some(lease);
    }

    /// Fails once the lease is lost (this migrator stalled longer than it).
    fn check_lease(&self) -> Result<(), StoreError> {
        if self
            .lease
            .as_ref()
            .is_some_and(|l| l.lost.load(std::sync::atomic::Ordering::SeqCst))
        {
            return Err(StoreError::Conflict(
                "the migration lease was lost (this migrator stalled longer than the lease); \
                 another migrator may have taken over"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Gives the lease back.
    pub async fn release(&mut self) {
        if let Some(t) = self.renewer.take() {
            t.abort();
        }
        if let Ok(pool) = self.authority() {
            let _ = sqlx::query("DELETE FROM ring_lease WHERE id = 1 AND holder = ?")
                .bind(&self.holder)
                .execute(pool)
                .await;
        }
    }

    /// Records `next` (version: the current one plus one): on the
    /// authority, checked against the lease and the version it had, then on
    /// every other shard with the authority's fencing epochs.
    async fn publish(&mut self, mut next: RingState) -> Result<(), StoreError> {
        next.version = self.state.version + 1;
        let epochs = self.publish_on_authority(&next).await?;
        if let Some(m) = &next.migration
            && m.frozen == Some(m.flipped)
        {
            failpoint(&format!("authority:frozen:{}", m.flipped)).await;
        }
        let old_authority = self.state.authority().to_string();
        self.state = next;
        self.reach_all().await?;
        // The new authority first (it hands out epochs from now on).
        let mut names = vec![self.state.authority().to_string()];
        for n in self
            .state
            .names()
            .into_iter()
            .chain(self.state.cleanup.clone())
        {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        for name in names.iter().filter(|n| **n != old_authority) {
            self.record_on(name, &epochs).await?;
        }
        if self.state.authority() != old_authority {
            // The lease moves with the authority.
            self.take_lease().await?;
        }
        tracing::info!(state = %self.state, "ring state published");
        Ok(())
    }

    /// Records `next` on the authority, retrying for a while when it fails
    /// for a passing reason (a deadlock, a lock wait, a dropped connection):
    /// a migrator that gave up with a step frozen would hold its writes
    /// until resumed. A try whose commit went through but whose answer was
    /// lost is found recorded; the fencing epochs are then read again (later
    /// ones only raise the others higher).
    async fn publish_on_authority(&self, next: &RingState) -> Result<Epochs, StoreError> {
        let mut wait = Duration::from_millis(100);
        for attempt in 1.. {
            let pool = self.authority()?;
            match crate::mysql::publish_on_authority(
                pool,
                self.state.version,
                Some(&self.holder),
                next,
            )
            .await
            {
                Err(StoreError::Unavailable(e)) if attempt < 8 => {
                    tracing::warn!(error = %e, "recording the ring state on the authority failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                    if read_state(pool).await.ok().flatten().as_ref() == Some(next) {
                        return highest_epochs(&[pool]).await;
                    }
                }
                r => return r,
            }
        }
        unreachable!()
    }

    /// Records the state on shard `name`, retrying for a while: a state
    /// recorded on the authority but not on every shard lets processes that
    /// read another shard route by the older one.
    async fn record_on(&self, name: &str, epochs: &Epochs) -> Result<(), StoreError> {
        let mut wait = Duration::from_millis(100);
        for attempt in 1.. {
            match record(self.pool(name)?, &self.state, epochs).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 8 => {
                    tracing::warn!(shard = %name, error = %e, "recording the ring state failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!()
    }

    /// Records the authority's state again on every shard it names (and the
    /// shards to clean), with every shard's highest fencing epochs: a
    /// migrator that died while publishing left some on an older state.
    async fn republish(&mut self) -> Result<(), StoreError> {
        let pools: Vec<&MySqlPool> = self.pools.values().collect();
        let epochs = highest_epochs(&pools).await?;
        let mut names = self.state.names();
        names.extend(self.state.cleanup.iter().cloned());
        for name in &names {
            self.record_on(name, &epochs).await?;
        }
        Ok(())
    }

    fn report(&mut self, phase: impl Into<String>) {
        self.progress.phase = phase.into();
        self.progress.elapsed = self.started.elapsed();
        (self.report)(&self.progress);
    }

    /// Starts `change` (or resumes the recorded migration when `change` is
    /// `None` or the same), runs it to the end and deletes the old copies.
    /// `step_keys`: about how many keys one step moves (its write pause
    /// grows with it).
    pub async fn migrate(
        &mut self,
        change: Option<&RingChange>,
        step_keys: u32,
    ) -> Result<Summary, StoreError> {
        if !self.state.cleanup.is_empty() && self.state.migration.is_none() {
            // A previous migration's old copies first.
            self.cleanup().await?;
        }
        match (&self.state.migration, change) {
            (None, None) => {}
            (None, Some(change)) => self.start(change, step_keys).await?,
            (Some(m), Some(change)) => {
                let wanted = change
                    .apply(&self.state.shards)
                    .map_err(StoreError::Conflict)?;
                if wanted != m.target {
                    return Err(StoreError::Conflict(format!(
                        "another migration is in progress ({}): resume it with `chat shards \
                         migrate`, or `chat shards abort` it",
                        self.state
                    )));
                }
            }
            (Some(_), None) => {}
        }
        if self.state.migration.is_some() {
            self.run_steps().await?;
            self.finish().await?;
        }
        self.summary.elapsed = self.started.elapsed();
        self.summary.state = self.state.to_string();
        self.summary.rows_copied = self.progress.rows_copied;
        self.summary.rows_deleted = self.progress.rows_deleted;
        self.summary.keys = self.progress.keys_done;
        Ok(self.summary.clone())
    }

    /// Records a new migration to `change`'s ring.
    async fn start(&mut self, change: &RingChange, step_keys: u32) -> Result<(), StoreError> {
        let target = change
            .apply(&self.state.shards)
            .map_err(StoreError::Conflict)?;
        let mut next = self.state.clone();
        if let RingChange::Add { name, url, .. } = change {
            // Reached (and migrated) before anyone routes to it.
            let pool = crate::mysql::open_pool(&self.cfg, name, url).await?;
            self.pools.insert(name.clone(), pool);
            next.urls.insert(name.clone(), url.clone());
        }
        for (name, _) in &self.state.shards {
            if !next.urls.contains_key(name) {
                next.urls.insert(name.clone(), self.url_of(name)?);
            }
        }
        // Steps of about `step_keys` keys.
        next.migration = Some(Migration {
            target: target.clone(),
            steps: 1,
            flipped: 0,
            frozen: None,
            started_at: now_ms(),
            reversed: false,
        });
        let probe = Routes::new(next.clone()).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let moving = self.moving_keys(&probe, None).await?;
        let n: usize = moving.values().map(Keys::len).sum();
        let steps = n.div_ceil(step_keys.max(1) as usize).max(1) as u32;
        if let Some(m) = next.migration.as_mut() {
            m.steps = steps;
        }
        self.report(format!("planned: {n} keys in {steps} steps"));
        self.publish(next).await
    }

    /// Copies, freezes, flips and unfreezes every step not done yet,
    /// resuming a step where the record says it stopped.
    async fn run_steps(&mut self) -> Result<(), StoreError> {
        let m = self.state.migration.clone().expect("a migration");
        let routes =
            Routes::new(self.state.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.progress.keys_total = self
            .moving_keys(&routes, None)
            .await?
            .values()
            .map(Keys::len)
            .sum::<usize>() as u64;
        // Every process sees the migration (and looks at the state often)
        // before a step is frozen.
        self.wait_followers().await?;
        // A step flipped but still frozen (the migrator died waiting for
        // the processes): wait for them and unfreeze it.
        if m.frozen.is_some_and(|f| f < m.flipped) {
            self.unfreeze(Instant::now()).await?;
        }
        for step in m.flipped..m.steps {
            self.check_lease()?;
            let frozen = self.state.migration.as_ref().and_then(|m| m.frozen);
            if frozen != Some(step) {
                // Bulk copy under traffic, then hold the step's writes.
                self.report(format!("copying step {}/{}", step + 1, m.steps));
                self.copy_step(step).await?;
                self.edit(|m| m.frozen = Some(step)).await?;
                failpoint(&format!("frozen:{step}")).await;
            }
            let paused = Instant::now();
            self.report(format!("flipping step {}/{}", step + 1, m.steps));
            // What changed since the bulk copy, and keys created meanwhile.
            self.copy_step(step).await?;
            self.edit(|m| m.flipped = step + 1).await?;
            failpoint(&format!("flipped:{step}")).await;
            self.unfreeze(paused).await?;
        }
        Ok(())
    }

    /// Records a change of the migration's state.
    async fn edit(&mut self, change: impl FnOnce(&mut Migration)) -> Result<(), StoreError> {
        let mut next = self.state.clone();
        if let Some(m) = next.migration.as_mut() {
            change(m);
        }
        self.publish(next).await
    }

    /// Waits until every process reads the flipped step from its new shard
    /// (see [`Migrator::wait_followers`]), then lets its writes go on.
    async fn unfreeze(&mut self, paused: Instant) -> Result<(), StoreError> {
        self.wait_followers().await?;
        self.edit(|m| m.frozen = None).await?;
        let pause = paused.elapsed();
        self.summary.longest_pause = self.summary.longest_pause.max(pause);
        self.summary.steps += 1;
        let m = self.state.migration.as_ref().expect("a migration");
        tracing::info!(
            step = m.flipped,
            steps = m.steps,
            pause_ms = pause.as_millis() as u64,
            "step flipped"
        );
        Ok(())
    }

    /// Makes the target ring the current one, waits for every live process
    /// to follow, and deletes the old copies.
    async fn finish(&mut self) -> Result<(), StoreError> {
        let m = self.state.migration.clone().expect("a migration");
        let mut next = self.state.clone();
        let sources: Vec<String> = next.shards.iter().map(|(n, _)| n.clone()).collect();
        next.shards = m.target.clone();
        next.migration = None;
        for s in sources {
            if !next.cleanup.contains(&s) {
                next.cleanup.push(s);
            }
        }
        self.publish(next).await?;
        self.cleanup().await
    }

    /// Waits for every live process to route by the current version, then
    /// deletes, on every shard to clean, the keys it does not own.
    async fn cleanup(&mut self) -> Result<(), StoreError> {
        self.wait_followers().await?;
        let routes =
            Routes::new(self.state.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for name in self.state.cleanup.clone() {
            self.check_lease()?;
            self.report(format!("deleting old copies on {name}"));
            let pool = self.pool(&name)?.clone();
            let held = list_keys(&pool).await?;
            let stale = held.filter(|k| routes.owners(k.key()).0 != name);
            self.delete(&pool, &stale).await?;
        }
        let mut next = self.state.clone();
        next.cleanup.clear();
        let keep: Vec<String> = next.names();
        next.urls.retain(|n, _| keep.contains(n));
        self.publish(next).await?;
        self.report("done");
        Ok(())
    }

    /// Waits until no process can read by an older ring state than the
    /// current one. A process reads only within [`READ_LEASE`] of a
    /// confirmation of the state it routes by, and each confirmation is
    /// reported (`ring_followers`, on the authority or any shard it
    /// reaches, at the database's time): so every process that reported
    /// within the lease before now must report the current version, or its
    /// lease must run out.
    async fn wait_followers(&mut self) -> Result<(), StoreError> {
        self.report("waiting for every process to follow");
        let lease = READ_LEASE.as_millis() as i64;
        let start: i64 = sqlx::query_scalar(DB_NOW_MS)
            .fetch_one(self.authority()?)
            .await
            .map_err(unavailable("ring_followers"))?;
        // Processes gone for a day are forgotten (housekeeping: a lock
        // conflict with the reports must not stop a migration).
        for pool in self.pools.values() {
            if let Err(e) = sqlx::query("DELETE FROM ring_followers WHERE seen_at < ?")
                .bind(start - 86_400_000)
                .execute(pool)
                .await
            {
                tracing::debug!(error = %e, "forgetting old followers failed");
            }
        }
        loop {
            let mut behind: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            let mut now = start;
            for pool in self.pools.values() {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT process, version, seen_at FROM ring_followers WHERE seen_at > ?",
                )
                .bind(start - lease - CLOCK_MARGIN_MS)
                .fetch_all(pool)
                .await
                .map_err(unavailable("ring_followers"))?;
                for (process, version, seen) in rows {
                    let e = behind.entry(process).or_insert((version, seen));
                    if seen > e.1 {
                        *e = (version, seen);
                    }
                }
                if let Ok(t) = sqlx::query_scalar::<_, i64>(DB_NOW_MS)
                    .fetch_one(pool)
                    .await
                {
                    now = now.max(t);
                }
            }
            behind.retain(|_, (v, _)| (*v as u64) < self.state.version);
            if behind.is_empty() || now > start + lease + CLOCK_MARGIN_MS {
                if !behind.is_empty() {
                    tracing::info!(processes = ?behind.keys().collect::<Vec<_>>(), "processes that did not report the new ring state: their read leases ran out");
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The keys of step `step` (every step when `None`) on each source
    /// shard that the current ring places there.
    async fn moving_keys(
        &self,
        routes: &Routes,
        step: Option<u32>,
    ) -> Result<BTreeMap<String, Keys>, StoreError> {
        let mut out = BTreeMap::new();
        for (name, _) in &self.state.shards {
            let held = list_keys(self.pool(name)?).await?;
            let moving = held.filter(|k| {
                let key = k.key();
                routes.owners(key).0 == name
                    && match step {
                        Some(s) => routes.step_of(key) == Some(s),
                        None => routes.step_of(key).is_some(),
                    }
            });
            out.insert(name.clone(), moving);
        }
        Ok(out)
    }

    /// Copies step `step`'s keys to their new shards (again: what changed
    /// since the last copy).
    async fn copy_step(&mut self, step: u32) -> Result<(), StoreError> {
        let routes =
            Routes::new(self.state.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let version = self.state.version;
        let frozen = self
            .state
            .migration
            .as_ref()
            .is_some_and(|m| m.frozen == Some(step));
        let moving = self.moving_keys(&routes, Some(step)).await?;
        if frozen {
            // A login name given back on its source (an account creation
            // that failed) after the bulk copy: its copy goes too.
            let held: Vec<&String> = moving.values().flat_map(|k| &k.names).collect();
            let targets: Vec<String> = routes
                .target()
                .map(|t| t.shards().iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default();
            for to in targets {
                let dst = self.pool(&to)?.clone();
                let gone: Vec<String> = list_keys(&dst)
                    .await?
                    .names
                    .into_iter()
                    .filter(|n| {
                        let k = Key::Name(n);
                        routes.step_of(k) == Some(step)
                            && routes.owners(k).0 != to
                            && !held.contains(&n)
                    })
                    .collect();
                for names in gone.chunks(KEYS_PER_TX) {
                    self.progress.rows_deleted += delete_names(&dst, version, names).await?;
                }
            }
        }
        for (from, keys) in moving {
            let src = self.pool(&from)?.clone();
            // By destination.
            let mut by_dest: BTreeMap<String, Keys> = BTreeMap::new();
            for k in keys.iter() {
                let to = routes.owners(k.key()).1.unwrap_or(&from).to_string();
                by_dest.entry(to).or_default().push(k);
            }
            for (to, keys) in by_dest {
                let dst = self.pool(&to)?.clone();
                for chat in &keys.chats {
                    self.check_lease()?;
                    let rows = copy_chat(Source::MySql(&src), &dst, *chat, version).await?;
                    self.progress.rows_copied += rows;
                    if !frozen {
                        self.progress.keys_done += 1;
                        failpoint(&format!("copy:{step}")).await;
                    }
                    self.report_sometimes();
                }
                for ids in keys.users.chunks(KEYS_PER_TX) {
                    self.check_lease()?;
                    self.progress.rows_copied +=
                        copy_users(Source::MySql(&src), &dst, ids, version).await?;
                    if !frozen {
                        self.progress.keys_done += ids.len() as u64;
                        // A step may move no chat: stop after any key.
                        failpoint(&format!("copy:{step}")).await;
                    }
                    self.report_sometimes();
                }
                for names in keys.names.chunks(KEYS_PER_TX) {
                    self.check_lease()?;
                    self.progress.rows_copied +=
                        copy_names(Source::MySql(&src), &dst, names, version).await?;
                    if !frozen {
                        self.progress.keys_done += names.len() as u64;
                        failpoint(&format!("copy:{step}")).await;
                    }
                }
            }
        }
        if !frozen {
            // A step whose bulk copy moved nothing stops at its end.
            failpoint(&format!("copy:{step}")).await;
        }
        Ok(())
    }

    fn report_sometimes(&mut self) {
        let phase = self.progress.phase.clone();
        self.report(phase);
    }

    /// Deletes `keys`' rows from `pool`.
    async fn delete(&mut self, pool: &MySqlPool, keys: &Keys) -> Result<(), StoreError> {
        // Every statement checks the shard still routes by the version this
        // migrator published: one that stalled past its lease deletes
        // nothing another migrator may have copied back since.
        let version = self.state.version;
        let chats: Vec<i64> = keys.chats.iter().map(|c| crate::to_sql(*c)).collect();
        for ids in chats.chunks(KEYS_PER_TX) {
            self.check_lease()?;
            // A few thousand rows per statement, so that no lock is held
            // long next to live traffic; the chat rows last, so that a
            // crash leaves them to be found (and their rows deleted) again.
            for table in [
                "reactions",
                "messages",
                "chat_changes",
                "members",
                "chat_bans",
                "member_joins",
                "chat_settings",
                "chat_hidden",
            ] {
                loop {
                    let n =
                        delete_checked(pool, version, table, "chat_id", ids, Some(ROWS_PER_DELETE))
                            .await?;
                    self.progress.rows_deleted += n;
                    self.report_sometimes();
                    if n < ROWS_PER_DELETE {
                        break;
                    }
                }
            }
            self.progress.rows_deleted +=
                delete_checked(pool, version, "chats", "id", ids, None).await?;
        }
        let users: Vec<i64> = keys.users.iter().map(|u| crate::to_sql(*u)).collect();
        for ids in users.chunks(KEYS_PER_TX) {
            self.check_lease()?;
            loop {
                let n = delete_checked(
                    pool,
                    version,
                    "memberships",
                    "user_id",
                    ids,
                    Some(ROWS_PER_DELETE),
                )
                .await?;
                self.progress.rows_deleted += n;
                if n < ROWS_PER_DELETE {
                    break;
                }
            }
            self.progress.rows_deleted +=
                delete_checked(pool, version, "user_blocks", "user_id", ids, None).await?;
            self.progress.rows_deleted +=
                delete_checked(pool, version, "mentions", "user_id", ids, None).await?;
            self.progress.rows_deleted +=
                delete_checked(pool, version, "sessions", "user_id", ids, None).await?;
            self.progress.rows_deleted +=
                delete_checked(pool, version, "user_profiles", "user_id", ids, None).await?;
            self.progress.rows_deleted +=
                delete_checked(pool, version, "users", "id", ids, None).await?;
        }
        for names in keys.names.chunks(KEYS_PER_TX) {
            self.progress.rows_deleted += delete_names(pool, version, names).await?;
        }
        Ok(())
    }

    /// Cancels the migration in progress, at any point: the rings swap
    /// places and the steps already flipped move back the same way (copy,
    /// freeze, flip, unfreeze), then the copies on the shards the aborted
    /// migration moved to are deleted. Resumable like any migration.
    pub async fn abort(&mut self) -> Result<Summary, StoreError> {
        let Some(m) = self.state.migration.clone() else {
            return Err(StoreError::Conflict(format!(
                "no migration in progress ({})",
                self.state
            )));
        };
        if m.reversed {
            return Err(StoreError::Conflict(
                "this migration is already an abort, moving back: resume it with `chat shards \
                 migrate`"
                    .into(),
            ));
        }
        let mut next = self.state.clone();
        next.shards = m.target.clone();
        next.migration = Some(Migration {
            target: self.state.shards.clone(),
            steps: m.steps,
            flipped: m.steps - m.flipped,
            frozen: m.frozen.map(|f| m.steps - 1 - f),
            started_at: now_ms(),
            reversed: !m.reversed,
        });
        self.publish(next).await?;
        self.run_steps().await?;
        self.finish().await?;
        self.summary.elapsed = self.started.elapsed();
        self.summary.state = self.state.to_string();
        self.summary.rows_copied = self.progress.rows_copied;
        self.summary.rows_deleted = self.progress.rows_deleted;
        self.summary.keys = self.progress.keys_done;
        Ok(self.summary.clone())
    }
}

impl Migrator {
    /// Copies a standalone deployment's SQLite file (its server stopped)
    /// into the shards, every chat, user and login name to the shard the
    /// current ring names — the way from standalone to distributed. Safe to
    /// run again after a crash (copies are upserts); refuses a login name
    /// the shards already give to another user.
    pub async fn import_sqlite(&mut self, path: &std::path::Path) -> Result<Summary, StoreError> {
        if self.state.migration.is_some() {
            return Err(StoreError::Conflict(format!(
                "a migration is in progress ({}): finish it first",
                self.state
            )));
        }
        if !path.is_file() {
            return Err(StoreError::Unavailable(format!(
                "no SQLite file at {}",
                path.display()
            )));
        }
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false);
        let src = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(unavailable("import"))?;
        let r = self.import_from(&src).await;
        src.close().await;
        r
    }

    async fn import_from(&mut self, src: &sqlx::SqlitePool) -> Result<Summary, StoreError> {
        let ids = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_all(src)
                .await
                .map_err(unavailable("import"))
        };
        let keys = Keys {
            chats: ids("SELECT id FROM chats")
                .await?
                .into_iter()
                .map(crate::from_sql)
                .collect(),
            users: ids("SELECT id FROM users")
                .await?
                .into_iter()
                .map(crate::from_sql)
                .collect(),
            names: sqlx::query_scalar("SELECT name_key FROM users")
                .fetch_all(src)
                .await
                .map_err(unavailable("import"))?,
        };
        let routes =
            Routes::new(self.state.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let version = self.state.version;
        self.progress.keys_total = keys.len() as u64;
        let mut by_shard: BTreeMap<String, Keys> = BTreeMap::new();
        for k in keys.iter() {
            let at = routes.names()[routes.route(k.key()).shard].clone();
            by_shard.entry(at).or_default().push(k);
        }
        let from = Source::Sqlite(src);
        for (to, keys) in by_shard {
            let dst = self.pool(&to)?.clone();
            self.report(format!("importing into {to}"));
            for names in keys.names.chunks(KEYS_PER_TX) {
                self.check_lease()?;
                let theirs = Source::MySql(&dst).names(names).await?;
                let ours = from.names(names).await?;
                if let Some((name, _)) = theirs.iter().find(|t| !ours.contains(t)) {
                    return Err(StoreError::Conflict(format!(
                        "the login name {name:?} belongs to another user on shard {to}: \
                         importing would take it away"
                    )));
                }
                self.progress.rows_copied += copy_names(from, &dst, names, version).await?;
                self.progress.keys_done += names.len() as u64;
            }
            for ids in keys.users.chunks(KEYS_PER_TX) {
                self.check_lease()?;
                self.progress.rows_copied += copy_users(from, &dst, ids, version).await?;
                self.progress.keys_done += ids.len() as u64;
                self.report_sometimes();
            }
            for chat in &keys.chats {
                self.check_lease()?;
                self.progress.rows_copied += copy_chat(from, &dst, *chat, version).await?;
                self.progress.keys_done += 1;
                self.report_sometimes();
            }
        }
        self.report("done");
        self.summary.elapsed = self.started.elapsed();
        self.summary.state = self.state.to_string();
        self.summary.rows_copied = self.progress.rows_copied;
        self.summary.keys = self.progress.keys_done;
        Ok(self.summary.clone())
    }
}

/// Keys a shard holds.
#[derive(Clone, Debug, Default)]
struct Keys {
    chats: Vec<u64>,
    users: Vec<u64>,
    names: Vec<String>,
}

impl Keys {
    fn len(&self) -> usize {
        self.chats.len() + self.users.len() + self.names.len()
    }

    fn iter(&self) -> impl Iterator<Item = HeldKey<'_>> {
        self.chats
            .iter()
            .map(|c| HeldKey::Chat(*c))
            .chain(self.users.iter().map(|u| HeldKey::User(*u)))
            .chain(self.names.iter().map(|n| HeldKey::Name(n)))
    }

    fn filter(&self, keep: impl Fn(&HeldKey<'_>) -> bool) -> Keys {
        let mut out = Keys::default();
        for k in self.iter() {
            if keep(&k) {
                out.push(k);
            }
        }
        out
    }

    fn push(&mut self, k: HeldKey<'_>) {
        match k {
            HeldKey::Chat(c) => self.chats.push(c),
            HeldKey::User(u) => self.users.push(u),
            HeldKey::Name(n) => self.names.push(n.to_string()),
        }
    }
}

/// Every key a shard holds rows of.
async fn list_keys(pool: &MySqlPool) -> Result<Keys, StoreError> {
    let ids = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_all(pool)
            .await
            .map_err(unavailable("reshard"))
            .map(|v| v.into_iter().map(crate::from_sql).collect::<Vec<u64>>())
    };
    Ok(Keys {
        chats: ids("SELECT id FROM chats").await?,
        users: ids("SELECT id FROM users").await?,
        names: sqlx::query_scalar("SELECT name_key FROM user_names")
            .fetch_all(pool)
            .await
            .map_err(unavailable("reshard"))?,
    })
}

/// A copy transaction on a destination, refused unless it routes by
/// `version` (the state this migrator published last).
async fn begin_checked(
    dst: &MySqlPool,
    version: u64,
) -> Result<sqlx::Transaction<'static, MySql>, StoreError> {
    let mut tx = dst.begin().await.map_err(unavailable("reshard"))?;
    if let Err(moved) = check_version::<MySql>(&mut tx, Some(version)).await? {
        return Err(StoreError::Conflict(format!(
            "a destination routes by ring state v{}, not v{version}: another migrator moved on",
            moved.shard_version
        )));
    }
    Ok(tx)
}

type ChatRow = (
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
);
/// A `memberships` row: user, chat, role, read_seq, muted_until.
type MembershipRow = (i64, i64, String, i64, Option<i64>);
type MessageRow = (
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    i64,
    i64,
    Option<String>,
);

/// A `user_profiles` row: user, display name, about, avatar tag and type,
/// change time, image, presence visibility.
type ProfileRow = (
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<Vec<u8>>,
    Option<String>,
);

/// Profiles per statement when copying: each may hold an image (up to a few
/// tens of KiB), and a statement must stay under `max_allowed_packet`.
const PROFILES_PER_INSERT: usize = 50;

/// A `sessions` row, in the order of `SESSION_COLUMNS`.
type SessionRow = (i64, i64, i64, String, String, i64, i64, i64, i64);

/// Where keys are copied from: a MySQL shard, or a standalone deployment's
/// SQLite file (the same tables, login names kept in `users`).
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    MySql(&'a MySqlPool),
    Sqlite(&'a sqlx::SqlitePool),
}

/// The same query on either kind of source.
macro_rules! on {
    ($src:expr, $q:expr, $fetch:ident) => {
        match $src {
            Source::MySql(p) => $q.$fetch(p).await,
            Source::Sqlite(p) => $q.$fetch(p).await,
        }
        .map_err(unavailable("reshard"))
    };
}

/// `SELECT … IN (keys)` on either kind of source (`head` ends with `IN (`);
/// no rows for no keys.
macro_rules! in_list {
    ($src:expr, $row:ty, $head:expr, $keys:expr) => {{
        if $keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{}{})", $head, vec!["?"; $keys.len()].join(", "));
        match $src {
            Source::MySql(p) => {
                let mut q = sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql));
                for k in $keys {
                    q = q.bind(k.clone());
                }
                q.fetch_all(p).await
            }
            Source::Sqlite(p) => {
                let mut q = sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql));
                for k in $keys {
                    q = q.bind(k.clone());
                }
                q.fetch_all(p).await
            }
        }
        .map_err(unavailable("reshard"))
    }};
}

impl Source<'_> {
    async fn chat(&self, id: i64) -> Result<Option<ChatRow>, StoreError> {
        on!(
            *self,
            sqlx::query_as(
                "SELECT id, kind, title, created_by, created_at, last_seq, last_pts, \
                 member_count, last_message, pins FROM chats WHERE id = ?",
            )
            .bind(id),
            fetch_optional
        )
    }

    async fn messages_after(&self, id: i64, after: i64) -> Result<Vec<MessageRow>, StoreError> {
        on!(
            *self,
            sqlx::query_as(
                "SELECT chat_id, seq, id, sender_id, client_msg_id, text, reply_to_seq, \
                 fwd_chat_id, fwd_seq, fwd_sender_id, created_at, edited_at, deleted, pts, \
                 mentions FROM messages WHERE chat_id = ? AND pts > ? ORDER BY pts LIMIT ?",
            )
            .bind(id)
            .bind(after)
            .bind(ROWS_PER_TX),
            fetch_all
        )
    }

    /// The reactions to messages `seqs` of chat `id`.
    async fn reactions_of(&self, id: i64, seqs: &[i64]) -> Result<Vec<ReactionRow>, StoreError> {
        in_list!(
            *self,
            ReactionRow,
            format!(
                "SELECT chat_id, seq, user_id, emoji, pts FROM reactions \
                 WHERE chat_id = {id} AND seq IN ("
            ),
            seqs
        )
    }

    async fn changes_after(&self, id: i64, after: i64) -> Result<Vec<ChangeRow>, StoreError> {
        on!(
            *self,
            sqlx::query_as(
                "SELECT chat_id, pts, event, user_id FROM chat_changes \
                 WHERE chat_id = ? AND pts > ? ORDER BY pts LIMIT ?",
            )
            .bind(id)
            .bind(after)
            .bind(ROWS_PER_TX),
            fetch_all
        )
    }

    async fn members(&self, id: i64) -> Result<Vec<(i64, i64, String)>, StoreError> {
        on!(
            *self,
            sqlx::query_as("SELECT chat_id, user_id, role FROM members WHERE chat_id = ?").bind(id),
            fetch_all
        )
    }

    async fn bans(&self, id: i64) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
        on!(
            *self,
            sqlx::query_as(
                "SELECT chat_id, user_id, banned_by, banned_at FROM chat_bans WHERE chat_id = ?"
            )
            .bind(id),
            fetch_all
        )
    }

    async fn joins(&self, id: i64) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        on!(
            *self,
            sqlx::query_as(
                "SELECT chat_id, user_id, joined_seq FROM member_joins WHERE chat_id = ?"
            )
            .bind(id),
            fetch_all
        )
    }

    async fn hidden(&self, id: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        on!(
            *self,
            sqlx::query_as("SELECT chat_id, user_id FROM chat_hidden WHERE chat_id = ?").bind(id),
            fetch_all
        )
    }

    async fn settings(&self, id: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        on!(
            *self,
            sqlx::query_as(
                "SELECT chat_id, history_from_join FROM chat_settings WHERE chat_id = ?"
            )
            .bind(id),
            fetch_all
        )
    }

    async fn users(&self, ids: &[i64]) -> Result<Vec<(i64, String, String, i64)>, StoreError> {
        in_list!(
            *self,
            (i64, String, String, i64),
            "SELECT id, name, password_hash, created_at FROM users WHERE id IN (",
            ids
        )
    }

    async fn memberships(&self, ids: &[i64]) -> Result<Vec<MembershipRow>, StoreError> {
        in_list!(
            *self,
            MembershipRow,
            "SELECT user_id, chat_id, role, read_seq, muted_until FROM memberships \
             WHERE user_id IN (",
            ids
        )
    }

    async fn profiles(&self, ids: &[i64]) -> Result<Vec<ProfileRow>, StoreError> {
        in_list!(
            *self,
            ProfileRow,
            concat!(
                "SELECT user_id, display_name, about, avatar_tag, avatar_type, updated_at, avatar, ",
                "presence ",
                "FROM user_profiles WHERE user_id IN ("
            ),
            ids
        )
    }

    async fn mentions(&self, ids: &[i64]) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        in_list!(
            *self,
            (i64, i64, i64),
            "SELECT user_id, chat_id, seq FROM mentions WHERE user_id IN (",
            ids
        )
    }

    async fn blocks(&self, ids: &[i64]) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        in_list!(
            *self,
            (i64, i64, i64),
            "SELECT user_id, blocked_id, created_at FROM user_blocks WHERE user_id IN (",
            ids
        )
    }

    async fn sessions(&self, ids: &[i64]) -> Result<Vec<SessionRow>, StoreError> {
        in_list!(
            *self,
            SessionRow,
            concat!(
                "SELECT ",
                crate::sql::session_columns!(),
                " FROM sessions WHERE user_id IN ("
            ),
            ids
        )
    }

    async fn names(&self, keys: &[String]) -> Result<Vec<(String, i64)>, StoreError> {
        match self {
            Source::MySql(_) => in_list!(
                *self,
                (String, i64),
                "SELECT name_key, user_id FROM user_names WHERE name_key IN (",
                keys
            ),
            Source::Sqlite(_) => in_list!(
                *self,
                (String, i64),
                "SELECT name_key, id FROM users WHERE name_key IN (",
                keys
            ),
        }
    }
}

type ChangeRow = (i64, i64, String, Option<i64>);

/// A `reactions` row: chat, seq, user, emoji, pts.
type ReactionRow = (i64, i64, i64, String, i64);

/// Brings chat `chat` on `dst` up to `src`: its messages and changes after
/// the `pts` `dst` has (all of them the first time), its members, and the
/// chat row last (so that `dst`'s `last_pts` never claims rows it lacks).
/// Returns the rows written.
async fn copy_chat(
    src: Source<'_>,
    dst: &MySqlPool,
    chat: u64,
    version: u64,
) -> Result<u64, StoreError> {
    let id = crate::to_sql(chat);
    let copied: Option<i64> = sqlx::query_scalar("SELECT last_pts FROM chats WHERE id = ?")
        .bind(id)
        .fetch_optional(dst)
        .await
        .map_err(unavailable("reshard"))?;
    // Read before the rows: every change up to its last_pts is in them.
    let row = src.chat(id).await?;
    let Some(row) = row else {
        return Ok(0);
    };
    if copied == Some(row.6) {
        // Nothing changed since the last copy but members (which change
        // with a pts too): done.
        return Ok(0);
    }
    let mut rows = 0u64;
    let mut after = copied.unwrap_or(-1);
    loop {
        let msgs = src.messages_after(id, after).await?;
        if msgs.is_empty() {
            break;
        }
        after = msgs.last().map_or(after, |m| m.13);
        let mut tx = begin_checked(dst, version).await?;
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO messages (chat_id, seq, id, sender_id, client_msg_id, text, \
             reply_to_seq, fwd_chat_id, fwd_seq, fwd_sender_id, created_at, edited_at, deleted, \
             pts, mentions) ",
        );
        q.push_values(&msgs, |mut b, m| {
            b.push_bind(m.0)
                .push_bind(m.1)
                .push_bind(m.2)
                .push_bind(m.3)
                .push_bind(m.4.clone())
                .push_bind(m.5.clone())
                .push_bind(m.6)
                .push_bind(m.7)
                .push_bind(m.8)
                .push_bind(m.9)
                .push_bind(m.10)
                .push_bind(m.11)
                .push_bind(m.12)
                .push_bind(m.13)
                .push_bind(m.14.clone());
        });
        q.push(
            " ON DUPLICATE KEY UPDATE text = VALUES(text), edited_at = VALUES(edited_at), \
             deleted = VALUES(deleted), pts = VALUES(pts)",
        );
        q.build()
            .execute(&mut *tx)
            .await
            .map_err(unavailable("reshard"))?;
        // A reaction moves its message's pts: the reactions of the messages
        // copied are replaced with them.
        let seqs: Vec<i64> = msgs.iter().map(|m| m.1).collect();
        let reactions = src.reactions_of(id, &seqs).await?;
        let mut del = QueryBuilder::<MySql>::new("DELETE FROM reactions WHERE chat_id = ");
        del.push_bind(id).push(" AND seq IN (");
        let mut list = del.separated(", ");
        for seq in &seqs {
            list.push_bind(*seq);
        }
        del.push(")");
        del.build()
            .execute(&mut *tx)
            .await
            .map_err(unavailable("reshard"))?;
        for chunk in reactions.chunks(1000) {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO reactions (chat_id, seq, user_id, emoji, pts) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.0)
                    .push_bind(r.1)
                    .push_bind(r.2)
                    .push_bind(r.3.clone())
                    .push_bind(r.4);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .map_err(unavailable("reshard"))?;
        }
        rows += reactions.len() as u64;
        tx.commit().await.map_err(unavailable("reshard"))?;
        rows += msgs.len() as u64;
    }
    let mut after = copied.unwrap_or(-1);
    loop {
        let changes = src.changes_after(id, after).await?;
        if changes.is_empty() {
            break;
        }
        after = changes.last().map_or(after, |c| c.1);
        let mut tx = begin_checked(dst, version).await?;
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT IGNORE INTO chat_changes (chat_id, pts, event, user_id) ",
        );
        q.push_values(&changes, |mut b, c| {
            b.push_bind(c.0)
                .push_bind(c.1)
                .push_bind(c.2.clone())
                .push_bind(c.3);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .map_err(unavailable("reshard"))?;
        tx.commit().await.map_err(unavailable("reshard"))?;
        rows += changes.len() as u64;
    }
    let members = src.members(id).await?;
    let bans = src.bans(id).await?;
    let joins = src.joins(id).await?;
    let settings = src.settings(id).await?;
    let hidden = src.hidden(id).await?;
    let mut tx = begin_checked(dst, version).await?;
    replace_rows(
        &mut tx,
        "members",
        "chat_id",
        &[id],
        "INSERT INTO members (chat_id, user_id, role) ",
        &members,
        |mut b, m| {
            b.push_bind(m.0).push_bind(m.1).push_bind(m.2.clone());
        },
    )
    .await?;
    // Bans, joins, settings and who left a direct chat change with a pts too
    // (a ban, an add, a setting, a leave), so a chat whose rows of them
    // changed is never skipped as unchanged above.
    replace_rows(
        &mut tx,
        "chat_bans",
        "chat_id",
        &[id],
        "INSERT INTO chat_bans (chat_id, user_id, banned_by, banned_at) ",
        &bans,
        |mut b, x| {
            b.push_bind(x.0)
                .push_bind(x.1)
                .push_bind(x.2)
                .push_bind(x.3);
        },
    )
    .await?;
    replace_rows(
        &mut tx,
        "member_joins",
        "chat_id",
        &[id],
        "INSERT INTO member_joins (chat_id, user_id, joined_seq) ",
        &joins,
        |mut b, x| {
            b.push_bind(x.0).push_bind(x.1).push_bind(x.2);
        },
    )
    .await?;
    replace_rows(
        &mut tx,
        "chat_settings",
        "chat_id",
        &[id],
        "INSERT INTO chat_settings (chat_id, history_from_join) ",
        &settings,
        |mut b, x| {
            b.push_bind(x.0).push_bind(x.1);
        },
    )
    .await?;
    replace_rows(
        &mut tx,
        "chat_hidden",
        "chat_id",
        &[id],
        "INSERT INTO chat_hidden (chat_id, user_id) ",
        &hidden,
        |mut b, x| {
            b.push_bind(x.0).push_bind(x.1);
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO chats (id, kind, title, created_by, created_at, last_seq, last_pts, \
         member_count, last_message, pins) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE kind = VALUES(kind), title = VALUES(title), \
         created_by = VALUES(created_by), created_at = VALUES(created_at), \
         last_seq = VALUES(last_seq), last_pts = VALUES(last_pts), \
         member_count = VALUES(member_count), last_message = VALUES(last_message), \
         pins = VALUES(pins)",
    )
    .bind(row.0)
    .bind(row.1)
    .bind(row.2)
    .bind(row.3)
    .bind(row.4)
    .bind(row.5)
    .bind(row.6)
    .bind(row.7)
    .bind(row.8)
    .bind(row.9)
    .execute(&mut *tx)
    .await
    .map_err(unavailable("reshard"))?;
    tx.commit().await.map_err(unavailable("reshard"))?;
    Ok(
        rows + (members.len() + bans.len() + joins.len() + settings.len() + hidden.len()) as u64
            + 1,
    )
}

/// Replaces users `ids`' accounts and memberships on `dst` with `src`'s.
async fn copy_users(
    src: Source<'_>,
    dst: &MySqlPool,
    ids: &[u64],
    version: u64,
) -> Result<u64, StoreError> {
    let ids: Vec<i64> = ids.iter().map(|u| crate::to_sql(*u)).collect();
    let users = src.users(&ids).await?;
    let memberships = src.memberships(&ids).await?;
    let blocks = src.blocks(&ids).await?;
    let mentions = src.mentions(&ids).await?;
    let sessions = src.sessions(&ids).await?;
    let profiles = src.profiles(&ids).await?;
    let mut tx = begin_checked(dst, version).await?;
    if !users.is_empty() {
        let mut q =
            QueryBuilder::<MySql>::new("INSERT INTO users (id, name, password_hash, created_at) ");
        q.push_values(&users, |mut b, u| {
            b.push_bind(u.0)
                .push_bind(u.1.clone())
                .push_bind(u.2.clone())
                .push_bind(u.3);
        });
        q.push(
            " ON DUPLICATE KEY UPDATE name = VALUES(name), password_hash = VALUES(password_hash), \
             created_at = VALUES(created_at)",
        );
        q.build()
            .execute(&mut *tx)
            .await
            .map_err(unavailable("reshard"))?;
    }
    replace_rows(
        &mut tx,
        "memberships",
        "user_id",
        &ids,
        "INSERT INTO memberships (user_id, chat_id, role, read_seq, muted_until) ",
        &memberships,
        |mut b, m| {
            b.push_bind(m.0)
                .push_bind(m.1)
                .push_bind(m.2.clone())
                .push_bind(m.3)
                .push_bind(m.4);
        },
    )
    .await?;
    replace_rows(
        &mut tx,
        "user_blocks",
        "user_id",
        &ids,
        "INSERT INTO user_blocks (user_id, blocked_id, created_at) ",
        &blocks,
        |mut b, x| {
            b.push_bind(x.0).push_bind(x.1).push_bind(x.2);
        },
    )
    .await?;
    replace_rows(
        &mut tx,
        "mentions",
        "user_id",
        &ids,
        "INSERT INTO mentions (user_id, chat_id, seq) ",
        &mentions,
        |mut b, x| {
            b.push_bind(x.0).push_bind(x.1).push_bind(x.2);
        },
    )
    .await?;
    replace_rows(
        &mut tx,
        "sessions",
        "user_id",
        &ids,
        concat!(
            "INSERT INTO sessions (",
            crate::sql::session_columns!(),
            ") "
        ),
        &sessions,
        |mut b, x| {
            b.push_bind(x.0)
                .push_bind(x.1)
                .push_bind(x.2)
                .push_bind(x.3.clone())
                .push_bind(x.4.clone())
                .push_bind(x.5)
                .push_bind(x.6)
                .push_bind(x.7)
                .push_bind(x.8);
        },
    )
    .await?;
    delete_in(&mut tx, "user_profiles", "user_id", &ids, None).await?;
    for chunk in profiles.chunks(PROFILES_PER_INSERT) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO user_profiles \
             (user_id, display_name, about, avatar_tag, avatar_type, updated_at, avatar, \
             presence) ",
        );
        q.push_values(chunk, |mut b, p| {
            b.push_bind(p.0)
                .push_bind(p.1.clone())
                .push_bind(p.2.clone())
                .push_bind(p.3.clone())
                .push_bind(p.4.clone())
                .push_bind(p.5)
                .push_bind(p.6.clone())
                .push_bind(p.7.clone());
        });
        q.build()
            .execute(&mut *tx)
            .await
            .map_err(unavailable("reshard"))?;
    }
    tx.commit().await.map_err(unavailable("reshard"))?;
    Ok((users.len()
        + memberships.len()
        + blocks.len()
        + mentions.len()
        + sessions.len()
        + profiles.len()) as u64)
}

/// Copies login names to `dst` (a name never changes owner once taken).
async fn copy_names(
    src: Source<'_>,
    dst: &MySqlPool,
    names: &[String],
    version: u64,
) -> Result<u64, StoreError> {
    let rows = src.names(names).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut tx = begin_checked(dst, version).await?;
    let mut q = QueryBuilder::<MySql>::new("INSERT INTO user_names (name_key, user_id) ");
    q.push_values(&rows, |mut b, r| {
        b.push_bind(r.0.clone()).push_bind(r.1);
    });
    q.push(" ON DUPLICATE KEY UPDATE user_id = VALUES(user_id)");
    q.build()
        .execute(&mut *tx)
        .await
        .map_err(unavailable("reshard"))?;
    tx.commit().await.map_err(unavailable("reshard"))?;
    Ok(rows.len() as u64)
}

/// [`delete_in`] in its own transaction, refused unless the shard routes by
/// `version`.
async fn delete_checked(
    pool: &MySqlPool,
    version: u64,
    table: &'static str,
    column: &'static str,
    ids: &[i64],
    limit: Option<u64>,
) -> Result<u64, StoreError> {
    let mut tx = begin_checked(pool, version).await?;
    let n = delete_in(&mut tx, table, column, ids, limit).await?;
    tx.commit().await.map_err(unavailable("reshard"))?;
    Ok(n)
}

/// Deletes login names from a shard that routes by `version`.
async fn delete_names(pool: &MySqlPool, version: u64, names: &[String]) -> Result<u64, StoreError> {
    if names.is_empty() {
        return Ok(0);
    }
    let mut tx = begin_checked(pool, version).await?;
    let mut q = QueryBuilder::<MySql>::new("DELETE FROM user_names WHERE name_key IN (");
    let mut list = q.separated(", ");
    for n in names {
        list.push_bind(n.clone());
    }
    q.push(")");
    let r = q
        .build()
        .execute(&mut *tx)
        .await
        .map_err(unavailable("reshard"))?;
    tx.commit().await.map_err(unavailable("reshard"))?;
    Ok(r.rows_affected())
}

/// `DELETE FROM table WHERE column IN (ids)` (at most `limit` rows): the
/// rows deleted.
/// Replaces the rows of `table` whose `column` is one of `keys` with `rows`,
/// inserted as `head` and their values, a thousand per statement.
async fn replace_rows<T>(
    conn: &mut MySqlConnection,
    table: &'static str,
    column: &'static str,
    keys: &[i64],
    head: &'static str,
    rows: &[T],
    mut bind: impl FnMut(sqlx::query_builder::Separated<'_, MySql, &'static str>, &T),
) -> Result<(), StoreError> {
    delete_in(conn, table, column, keys, None).await?;
    for chunk in rows.chunks(1000) {
        let mut q = QueryBuilder::<MySql>::new(head);
        q.push_values(chunk, &mut bind);
        q.build()
            .execute(&mut *conn)
            .await
            .map_err(unavailable("reshard"))?;
    }
    Ok(())
}

async fn delete_in(
    conn: &mut MySqlConnection,
    table: &'static str,
    column: &'static str,
    ids: &[i64],
    limit: Option<u64>,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut q = QueryBuilder::<MySql>::new(format!("DELETE FROM {table} WHERE {column} IN ("));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(")");
    if let Some(n) = limit {
        q.push(format!(" LIMIT {n}"));
    }
    let r = q
        .build()
        .execute(&mut *conn)
        .await
        .map_err(unavailable("reshard"))?;
    Ok(r.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(s: &[(&str, u32)]) -> Vec<(String, u32)> {
        s.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    #[test]
    fn changes_make_the_ring_they_say_and_refuse_the_impossible() {
        let now = ring(&[("a", 1), ("b", 1)]);
        let add = RingChange::Add {
            name: "c".into(),
            weight: 2,
            url: "mysql://x/c".into(),
        };
        assert_eq!(
            add.apply(&now).unwrap(),
            ring(&[("a", 1), ("b", 1), ("c", 2)])
        );
        assert_eq!(
            RingChange::Remove("a".into()).apply(&now).unwrap(),
            ring(&[("b", 1)])
        );
        assert_eq!(
            RingChange::Weight("b".into(), 3).apply(&now).unwrap(),
            ring(&[("a", 1), ("b", 3)])
        );
        let dup = RingChange::Add {
            name: "a".into(),
            weight: 1,
            url: String::new(),
        };
        assert!(dup.apply(&now).unwrap_err().contains("already"));
        assert!(RingChange::Remove("z".into()).apply(&now).is_err());
        assert!(
            RingChange::Remove("a".into())
                .apply(&ring(&[("a", 1)]))
                .is_err()
        );
        assert!(RingChange::Weight("a".into(), 0).apply(&now).is_err());
        assert!(RingChange::Weight("a".into(), 1).apply(&now).is_err());
    }
}

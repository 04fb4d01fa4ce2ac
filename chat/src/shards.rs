//! `chat shards`: what the MySQL shards hold, and what a change of the ring
//! (adding, removing or re-weighting a shard) would move — read-only; the
//! first step of online resharding.
//!
//! Every key the shards hold is placed under the current ring and under the
//! proposed one: a chat, a user or a login name moves when its owner changes.
//! Keys are read from the shards themselves (`chat_store::Inventory`), so the
//! figures are exact, not estimated from the ring's arcs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chat_store::reshard::{Migrator, Progress, RingChange};
use chat_store::{HeldKey, Inventory, MySqlConfig};
use shard_router::{Ring, ShardSpec};

use crate::config::MysqlSettings;

/// `chat shards`: what the MySQL shards hold, and what a change of the ring
/// would move (read-only).
#[derive(clap::Args, Debug, Clone)]
pub struct ShardsArgs {
    #[command(flatten)]
    pub mysql: MysqlSettings,
    #[command(subcommand)]
    pub action: ShardsAction,
}

/// What `chat shards` does.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ShardsAction {
    /// Shards, weights, ring shares, keys and rows per shard, and keys found
    /// on a shard the ring does not name.
    Status,
    /// What one change of the ring would move, key by key; changes nothing.
    ///
    /// Examples:
    ///   chat shards plan --add 'shard2=mysql://chat:chat@10.0.0.3:3306/chat'
    ///   chat shards plan --remove shard0
    ///   chat shards plan --weight shard1=2
    Plan(ShardsPlan),
    /// Executes one change of the ring under traffic — or resumes the
    /// recorded migration when no change is given — then deletes the old
    /// copies. Every role follows without a restart. Progress on stderr (a
    /// bar on a terminal, a line every few seconds otherwise), a summary on
    /// stdout.
    ///
    /// Examples:
    ///   chat shards migrate --add 'shard2=mysql://chat:chat@10.0.0.3:3306/chat'
    ///   chat shards migrate --remove shard0
    ///   chat shards migrate            # resume after a crash
    Migrate(ShardsMigrate),
    /// Cancels the migration in progress, at any step: what it already
    /// moved moves back (under traffic, the same way), then its copies are
    /// deleted. Resumable with `chat shards migrate` like any migration.
    Abort,
    /// Copies a standalone deployment's data into the shards (stop the
    /// standalone server first; run it again after a crash), each key to
    /// the shard the ring names: the way from standalone to distributed.
    ///
    /// Example:
    ///   chat shards import --sqlite /var/lib/chat/chat.db
    Import(ShardsImport),
}

/// `chat shards import`.
#[derive(clap::Args, Debug, Clone)]
pub struct ShardsImport {
    /// The standalone server's SQLite file (`chat.db` in its data directory).
    #[arg(long)]
    pub sqlite: std::path::PathBuf,
}

/// `chat shards migrate`.
#[derive(clap::Args, Debug, Clone)]
pub struct ShardsMigrate {
    #[command(flatten)]
    pub change: ShardsPlan,
    /// About how many keys (chats, users, names) one step moves: each step
    /// holds its keys' writes while its last changes are copied.
    #[arg(long, default_value_t = 64)]
    pub step_keys: u32,
}

/// One change of the ring.
#[derive(clap::Args, Debug, Clone)]
pub struct ShardsPlan {
    /// A shard to add, `NAME[:WEIGHT]=mysql://…` (as in `CHAT_MYSQL_SHARDS`).
    #[arg(long)]
    pub add: Option<String>,
    /// A shard to remove: everything on it moves to the others.
    #[arg(long)]
    pub remove: Option<String>,
    /// A shard's new weight, `NAME=WEIGHT`.
    #[arg(long)]
    pub weight: Option<String>,
}

/// Runs `chat shards …` and prints its report on stdout.
pub async fn run(a: ShardsArgs) -> anyhow::Result<()> {
    // The proposed ring is checked before any connection is made.
    let change = match &a.action {
        ShardsAction::Status => None,
        ShardsAction::Plan(p) => Some(Change::parse(p)?),
        ShardsAction::Migrate(m) => return migrate(&a.mysql, Some(m)).await,
        ShardsAction::Abort => return migrate(&a.mysql, None).await,
        ShardsAction::Import(i) => return import(&a.mysql, i).await,
    };
    // Not checked against the recorded ring: a mismatch is what `status`
    // must show, not fail on.
    let store = crate::distributed::shards(&a.mysql, None).await?;
    let held = store.inventories().await.context("reading the shards")?;
    let recorded = store.recorded_rings().await;
    let ring = store.ring();
    store.close().await;
    let report = match change {
        None => status(&ring, &held, &recorded),
        Some(c) => plan(&ring, &held, &c.ring(&ring)?, &c.describe())?,
    };
    print!("{report}");
    Ok(())
}

/// `chat shards migrate` (`m`) or `abort` (`None`).
async fn migrate(mysql: &MysqlSettings, m: Option<&ShardsMigrate>) -> anyhow::Result<()> {
    let change = match m {
        Some(m)
            if m.change.add.is_some() || m.change.remove.is_some() || m.change.weight.is_some() =>
        {
            Some(Change::parse(&m.change)?.reshard())
        }
        _ => None,
    };
    if m.is_some_and(|m| m.step_keys == 0) {
        bail!("--step-keys must be at least 1");
    }
    let cfg = crate::distributed::mysql_config(mysql, Some("migrator"))?;
    let mut migrator = Migrator::connect(&cfg, &cfg.process, reporter())
        .await
        .context("connecting to the shards")?;
    let r = match m {
        Some(m) => migrator.migrate(change.as_ref(), m.step_keys).await,
        None => migrator.abort().await,
    };
    migrator.release().await;
    let s = r.map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{}: {} keys, {} rows copied ({:.0} rows/s), {} rows deleted, {} steps flipped, \
         longest write pause {} ms, {:.1} s in all",
        if m.is_some() { "migrated" } else { "aborted" },
        s.keys,
        s.rows_copied,
        s.rows_copied as f64 / secs.max(0.001),
        s.rows_deleted,
        s.steps,
        s.longest_pause.as_millis(),
        secs
    );
    println!("ring state: {}", s.state);
    Ok(())
}

/// `chat shards import`.
async fn import(mysql: &MysqlSettings, i: &ShardsImport) -> anyhow::Result<()> {
    import_into_shards(mysql, &i.sqlite).await
}

/// Copies a standalone SQLite file into the shards (`chat shards import`,
/// and `chat import` of an export); the summary on stdout.
pub(crate) async fn import_into_shards(
    mysql: &MysqlSettings,
    sqlite: &std::path::Path,
) -> anyhow::Result<()> {
    let cfg = crate::distributed::mysql_config(mysql, Some("importer"))?;
    let mut migrator = Migrator::connect(&cfg, &cfg.process, reporter())
        .await
        .context("connecting to the shards")?;
    let r = migrator.import_sqlite(sqlite).await;
    migrator.release().await;
    let s = r.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "imported: {} keys, {} rows ({:.0} rows/s), {:.1} s",
        s.keys,
        s.rows_copied,
        s.rows_copied as f64 / s.elapsed.as_secs_f64().max(0.001),
        s.elapsed.as_secs_f64()
    );
    println!("ring state: {}", s.state);
    Ok(())
}

/// Progress on stderr: a bar redrawn in place on a terminal, a plain line
/// per phase and every 5 s otherwise (logs).
fn reporter() -> Box<dyn FnMut(&Progress) + Send> {
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now() - Duration::from_secs(60);
    let mut last_phase = String::new();
    Box::new(move |p: &Progress| {
        let new_phase = p.phase != last_phase;
        let due = last.elapsed()
            >= if tty {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(5)
            };
        if !new_phase && !due {
            return;
        }
        let done = p.keys_done.min(p.keys_total);
        let frac = if p.keys_total == 0 {
            0.0
        } else {
            done as f64 / p.keys_total as f64
        };
        let secs = p.elapsed.as_secs_f64().max(0.001);
        let eta = if done == 0 || done >= p.keys_total {
            "-".to_string()
        } else {
            format!("{:.0} s", secs / done as f64 * (p.keys_total - done) as f64)
        };
        let line = format!(
            "{:<26} {:>5.1}% {}/{} keys, {} rows copied ({:.0} rows/s), {} deleted, ETA {eta}",
            p.phase,
            frac * 100.0,
            done,
            p.keys_total,
            p.rows_copied,
            p.rows_copied as f64 / secs,
            p.rows_deleted
        );
        let mut err = std::io::stderr();
        if tty {
            let bar: String = (0..24)
                .map(|i| if (i as f64) < frac * 24.0 { '#' } else { '.' })
                .collect();
            let _ = write!(err, "\r\x1b[2K[{bar}] {line}");
            if p.phase == "done" {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        last = Instant::now();
        last_phase = p.phase.clone();
    })
}

/// A proposed change of the ring.
enum Change {
    Add(ShardSpec, String),
    Remove(String),
    Weight(String, u32),
}

impl Change {
    /// The change as the migrator takes it.
    fn reshard(self) -> RingChange {
        match self {
            Change::Add(s, url) => RingChange::Add {
                name: s.name,
                weight: s.weight,
                url,
            },
            Change::Remove(n) => RingChange::Remove(n),
            Change::Weight(n, w) => RingChange::Weight(n, w),
        }
    }

    fn parse(p: &ShardsPlan) -> anyhow::Result<Change> {
        match (&p.add, &p.remove, &p.weight) {
            (Some(add), None, None) => {
                let mut specs = MySqlConfig::parse_shards(add).map_err(anyhow::Error::msg)?;
                if specs.len() != 1 {
                    bail!("--add takes one shard, NAME[:WEIGHT]=mysql://…");
                }
                let s = specs.remove(0);
                if s.weight == 0 {
                    bail!("a weight is a whole number from 1");
                }
                Ok(Change::Add(
                    ShardSpec {
                        name: s.name,
                        weight: s.weight,
                    },
                    s.url,
                ))
            }
            (None, Some(name), None) => Ok(Change::Remove(name.clone())),
            (None, None, Some(w)) => {
                let (name, weight) = w.split_once('=').context("--weight takes NAME=WEIGHT")?;
                let weight = weight
                    .parse()
                    .ok()
                    .filter(|w| *w > 0)
                    .context("a weight is a whole number from 1")?;
                Ok(Change::Weight(name.to_string(), weight))
            }
            _ => bail!("say one change: --add, --remove or --weight"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Change::Add(s, _) => format!("add {} (weight {})", s.name, s.weight),
            Change::Remove(n) => format!("remove {n}"),
            Change::Weight(n, w) => format!("re-weight {n} to {w}"),
        }
    }

    /// The ring after the change (its version the next one).
    fn ring(&self, now: &Ring) -> anyhow::Result<Ring> {
        let mut specs = now.shards().to_vec();
        let known = |name: &str| specs.iter().position(|s| s.name == name);
        match self {
            Change::Add(s, _) => {
                if known(&s.name).is_some() {
                    bail!("shard {} is already on the ring", s.name);
                }
                specs.push(s.clone());
            }
            Change::Remove(name) => {
                let i = known(name).with_context(|| format!("no shard {name} on the ring"))?;
                specs.remove(i);
            }
            Change::Weight(name, w) => {
                let i = known(name).with_context(|| format!("no shard {name} on the ring"))?;
                specs[i].weight = *w;
            }
        }
        Ring::new(now.version() + 1, specs, now.vnodes_per_weight()).context("the new ring")
    }
}

/// Each shard's share of the hash space (sampled evenly; exact to ~0.01 %).
fn shares(ring: &Ring) -> BTreeMap<String, f64> {
    const SAMPLES: u64 = 1 << 16;
    let mut out: BTreeMap<String, f64> = ring
        .shards()
        .iter()
        .map(|s| (s.name.clone(), 0.0))
        .collect();
    for k in 0..SAMPLES {
        let i = ring.shard_index_for_hash(k * (u64::MAX / SAMPLES));
        *out.get_mut(&ring.shards()[i].name)
            .expect("a shard of the ring") += 1.0;
    }
    for v in out.values_mut() {
        *v /= SAMPLES as f64;
    }
    out
}

/// Each shard reached, by name, with what it holds.
type Held = [(String, Inventory)];
/// Each shard's recorded ring state.
type Recorded = [(String, Result<Option<String>, chat_core::StoreError>)];

fn status(ring: &Ring, held: &Held, recorded: &Recorded) -> String {
    let share = shares(ring);
    let mut out = format!(
        "ring version {}, {} virtual nodes per unit of weight\n",
        ring.version(),
        ring.vnodes_per_weight()
    );
    let _ = writeln!(
        out,
        "{:<16} {:>6} {:>7} {:>9} {:>9} {:>9} {:>11}",
        "shard", "weight", "ring", "chats", "users", "names", "rows"
    );
    for (name, inv) in held {
        let rows: u64 = inv.chats.iter().chain(&inv.users).map(|(_, n)| n).sum();
        let weight = ring
            .shards()
            .iter()
            .find(|s| &s.name == name)
            .map_or("-".to_string(), |s| s.weight.to_string());
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>6.1}% {:>9} {:>9} {:>9} {:>11}",
            name,
            weight,
            share.get(name).copied().unwrap_or(0.0) * 100.0,
            inv.chats.len(),
            inv.users.len(),
            inv.names.len(),
            rows
        );
    }
    let stray = misplaced(ring, held);
    let _ = writeln!(out, "keys on a shard the ring does not name: {stray}");
    for (name, r) in recorded {
        let r = match r {
            Ok(Some(r)) => r.clone(),
            Ok(None) => "none yet (the first role to start records its own)".into(),
            Err(e) => format!("unknown ({e})"),
        };
        let _ = writeln!(out, "ring recorded on {name}: {r}");
    }
    out
}

/// Keys held by a shard the ring does not place them on (0 outside a
/// migration).
fn misplaced(ring: &Ring, held: &Held) -> usize {
    held.iter()
        .map(|(name, inv)| {
            inv.keys()
                .filter(|(k, _)| ring.shard_for(k.key()) != name)
                .count()
        })
        .sum()
}

/// Moves between two shards.
#[derive(Default)]
struct Moves {
    chats: u64,
    users: u64,
    names: u64,
    rows: u64,
}

impl Moves {
    fn add(&mut self, k: &HeldKey<'_>, rows: u64) {
        match k {
            HeldKey::Chat(_) => self.chats += 1,
            HeldKey::User(_) => self.users += 1,
            HeldKey::Name(_) => self.names += 1,
        }
        self.rows += rows;
    }
}

fn plan(now: &Ring, held: &Held, next: &Ring, what: &str) -> anyhow::Result<String> {
    let (before, after) = (shares(now), shares(next));
    let mut out = format!(
        "ring version {} → {}: {what}\n",
        now.version(),
        next.version()
    );
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    for n in names {
        let weight = next
            .shards()
            .iter()
            .find(|s| &s.name == n)
            .map_or("removed".to_string(), |s| format!("weight {}", s.weight));
        let _ = writeln!(
            out,
            "  {n:<16} {:>6.1}% → {:>5.1}% of the ring ({weight})",
            before.get(n).copied().unwrap_or(0.0) * 100.0,
            after.get(n).copied().unwrap_or(0.0) * 100.0,
        );
    }
    let mut total = Moves::default();
    let mut all = Moves::default();
    let mut by_route: BTreeMap<(String, String), Moves> = BTreeMap::new();
    for (name, inv) in held {
        for (k, rows) in inv.keys() {
            all.add(&k, rows);
            let to = next.shard_for(k.key());
            if to != name {
                total.add(&k, rows);
                by_route
                    .entry((name.clone(), to.to_string()))
                    .or_default()
                    .add(&k, rows);
            }
        }
    }
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let _ = writeln!(
        out,
        "moving: {} of {} chats ({:.1}%), {} of {} users ({:.1}%), {} of {} names, {} of {} rows",
        total.chats,
        all.chats,
        pct(total.chats, all.chats),
        total.users,
        all.users,
        pct(total.users, all.users),
        total.names,
        all.names,
        total.rows,
        all.rows
    );
    for ((from, to), m) in &by_route {
        let _ = writeln!(
            out,
            "  {from} → {to}: {} chats, {} users, {} names, {} rows",
            m.chats, m.users, m.names, m.rows
        );
    }
    let ranges = now.diff(next);
    let moved: f64 = ranges.iter().map(|r| r.fraction_of_ring()).sum();
    let _ = writeln!(
        out,
        "hash ranges changing owner: {} ({:.1}% of the ring)",
        ranges.len(),
        moved * 100.0
    );
    Ok(out)
}

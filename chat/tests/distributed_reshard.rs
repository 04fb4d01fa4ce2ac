//! Online resharding under traffic (issue 13): while senders, an editor and
//! a membership churner keep writing and a socket follows every chat, a
//! third shard is added — the migrator killed (-9) once mid-copy and once
//! mid-flip, then resumed — and then one of the original shards (the first,
//! which holds the authoritative ring state and hands out fencing epochs) is
//! removed. Afterwards every acknowledged message is in history exactly
//! once with dense seqs, the socket saw every chat's `1..n` once, edits and
//! memberships are what their last acknowledged change made them, every key
//! is on the shard the final ring names and nowhere else, and the running
//! roles route by the final ring without a restart. Also: an attempt killed
//! after its first flip and aborted moves back and leaves the ring as it was
//! and no copies; a writer killed mid-migration; the migrator killed after a
//! flip; a re-weighting.
//!
//! `CHAT_RESHARD_CHATS` chats (60 in the test command; the figures in
//! docs/operations.md come from `loadtest/reshard.sh`). And the way from
//! standalone to distributed: `chat shards import` of a standalone server's
//! SQLite file.

#![cfg(feature = "distributed")]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::traffic::*;
use common::*;

/// `chat shards ARGS` running against the cluster's shards, its stderr in
/// `log` (progress lines), `failpoint` set when given.
fn migrator(cl: &Cluster, args: &[&str], log: &std::path::Path, failpoint: Option<&str>) -> Child {
    let err = std::fs::File::create(log).expect("migrator log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.arg("shards")
        .args(args)
        .env("CHAT_MYSQL_SHARDS", &cl.mysql_shards)
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(err);
    if let Some(f) = failpoint {
        cmd.env("CHAT_FAILPOINT_RESHARD", f);
    }
    cmd.spawn().expect("run chat shards")
}

/// Waits until the migrator's log says `what`.
async fn wait_log(log: &std::path::Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the migrator never said {what:?}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `chat shards ARGS` with `failpoint` (a point where it stops) and
/// kills it (-9) there; its log in `log`.
async fn kill_at(cl: &Cluster, args: &[&str], log: &std::path::Path, failpoint: &str) {
    let mut m = migrator(cl, args, log, Some(failpoint));
    wait_log(log, &format!("failpoint {failpoint}")).await;
    m.kill().unwrap();
    m.wait().unwrap();
}

/// Runs a migrator to its end: its summary (stdout).
async fn finish(child: Child, log: &std::path::Path) -> String {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("migrator output");
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the migrator failed: {summary}\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    summary
}

/// `chat shards status` against the cluster's shards.
fn status(cl: &Cluster) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chat"))
        .args(["shards", "status"])
        .env("CHAT_MYSQL_SHARDS", &cl.mysql_shards)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run chat shards status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Edits and membership changes, each retried until acknowledged, with what
/// their last acknowledged change made each chat.
#[derive(Default)]
struct Churn {
    /// `(chat, seq)` → the text of the last acknowledged edit.
    edits: Mutex<HashMap<(String, u64), String>>,
    /// Chat → whether dave is a member after the last acknowledged change.
    dave: Mutex<HashMap<String, bool>>,
    changes: std::sync::atomic::AtomicUsize,
}

/// Retries `op` through either gateway until it is acknowledged.
async fn until_ok<F, Fut>(gws: &Gateways, what: &str, op: F)
where
    F: Fn(Api) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0.. {
        if op(Api::new(gateway(gws, i)).with_timeout(Duration::from_secs(30))).await {
            return;
        }
        assert!(Instant::now() < deadline, "{what} never went through");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Alice edits a message of her own and adds or removes dave, chat after
/// chat, until `stop`.
fn churner(
    alice: Client,
    dave_id: String,
    chats: Vec<String>,
    gws: Gateways,
    churn: Arc<Churn>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut k = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let chat = chats[k % chats.len()].clone();
            let key = format!("churn-{k}");
            let seq = Arc::new(Mutex::new(0u64));
            until_ok(&gws, "a churn send", |api| {
                let (a, chat, key, seq) = (alice.via(&api), chat.clone(), key.clone(), seq.clone());
                async move {
                    match a.try_send(&chat, &key, "to be edited").await {
                        Ok(r) if r.is_success() => {
                            *seq.lock().unwrap() = r.success().1.message.seq;
                            true
                        }
                        _ => false,
                    }
                }
            })
            .await;
            let seq = *seq.lock().unwrap();
            let text = format!("edited {k}");
            until_ok(&gws, "an edit", |api| {
                let (a, chat, text) = (alice.via(&api), chat.clone(), text.clone());
                async move { a.edit(&chat, seq, &text).await.is_success() }
            })
            .await;
            churn
                .edits
                .lock()
                .unwrap()
                .insert((chat.clone(), seq), text);
            let member = churn
                .dave
                .lock()
                .unwrap()
                .get(&chat)
                .copied()
                .unwrap_or(false);
            until_ok(&gws, "a membership change", |api| {
                let (a, chat, dave) = (alice.via(&api), chat.clone(), dave_id.clone());
                async move {
                    if member {
                        a.remove_member(&chat, &dave).await.is_success()
                    } else {
                        a.add_member(&chat, &dave, None).await.is_success()
                    }
                }
            })
            .await;
            churn.dave.lock().unwrap().insert(chat, !member);
            churn.changes.fetch_add(1, Ordering::Relaxed);
            k += 1;
        }
    })
}

/// Senders (alice and carol over every chat) and the churner, until stopped.
struct Load {
    acks: Arc<Acks>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(
        who: &[(&Client, &str)],
        chats: &[String],
        gws: &Gateways,
        churn: Option<(&Client, &str, Arc<Churn>)>,
    ) -> Load {
        let acks = Arc::new(Acks::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks: Vec<_> = who
            .iter()
            .map(|(c, p)| {
                sender(
                    (*c).clone(),
                    chats.to_vec(),
                    gws.clone(),
                    acks.clone(),
                    stop.clone(),
                    p.to_string(),
                )
            })
            .collect();
        if let Some((alice, dave, churn)) = churn {
            tasks.push(churner(
                alice.clone(),
                dave.to_string(),
                chats.to_vec(),
                gws.clone(),
                churn,
                stop.clone(),
            ));
        }
        Load { acks, stop, tasks }
    }

    async fn stop(self) -> Arc<Acks> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.acks
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_then_removing_a_shard_under_traffic_moves_every_key_and_loses_nothing() {
    let n_chats: usize = std::env::var("CHAT_RESHARD_CHATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut cl = Cluster::new();
    let gws: Gateways = Arc::new(Mutex::new(cl.start(2, 1, 2)));
    let api = Api::new(gateway(&gws, 0));
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let dave = api.register("dave").await;
    // More users, so that some users and names move too.
    let mut names = vec!["alice", "bob", "carol", "dave"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    for i in 0..16 {
        let name = format!("user{i}");
        api.register(&name).await;
        names.push(name);
    }
    let mut chats = Vec::new();
    for i in 0..n_chats {
        chats.push(alice.group(&format!("g{i}"), &[&bob, &carol]).await);
    }
    let watched: Received = Arc::default();
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watch = watcher(
        bob.clone(),
        chats.clone(),
        gws.clone(),
        watched.clone(),
        stop_watching.clone(),
    );
    let churn = Arc::new(Churn::default());
    let dir = cl.dir.path().to_path_buf();
    let (base, _) = cl
        .mysql_shards
        .split(',')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .rsplit_once('/')
        .unwrap();
    let shard2_url = format!("{base}/it_{}_s2", cl.run);
    let shard0_url = cl.shard_urls()[0].1.clone();

    // Add shard2 under load; the migrator is killed mid-copy and mid-flip.
    let load = Load::start(
        &[(&alice, "a1"), (&carol, "c1")],
        &chats,
        &gws,
        Some((&alice, &dave.id, churn.clone())),
    );
    recovered(&load.acks, &chats, Instant::now(), "the start").await;
    let add = format!("shard2={shard2_url}");
    let adding = ["migrate", "--add", &add, "--step-keys", "4"];

    // A first attempt, killed with one step flipped and the next frozen,
    // then aborted: what moved moves back, the ring stays, the copies are
    // deleted.
    kill_at(&cl, &adding, &dir.join("migrate-0.log"), "frozen:1").await;
    let log = dir.join("abort.log");
    let aborted = finish(migrator(&cl, &["abort"], &log, None), &log).await;
    assert!(aborted.starts_with("aborted: "), "{aborted}");
    let st = status(&cl);
    assert!(
        !st.contains("migrating") && !st.lines().any(|l| l.starts_with("shard2 ")),
        "{st}"
    );
    let pool = sqlx::MySqlPool::connect(&shard2_url).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chats")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "abort deletes the copies");
    pool.close().await;

    kill_at(&cl, &adding, &dir.join("migrate-1.log"), "copy:1").await;
    assert!(
        status(&cl).contains("migrating to shard0:1, shard1:1, shard2:1 (step 1/"),
        "{}",
        status(&cl)
    );
    // A role dies mid-migration too.
    cl.kill("writer-0");
    cl.spawn("writer", "writer-0");

    // Killed with the freeze recorded on the authority only: the roles
    // (a write refused by a shard on the older state records the newer
    // one there) and the resumed migrator record it everywhere.
    kill_at(
        &cl,
        &["migrate"],
        &dir.join("migrate-2.log"),
        "authority:frozen:2",
    )
    .await;
    let st = status(&cl);
    let recorded = |shard: &str| {
        st.lines()
            .find(|l| l.starts_with(&format!("ring recorded on {shard}:")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        recorded("shard0").contains("(step 2/") && recorded("shard0").contains(", step 3 frozen)"),
        "the authority records the freeze: {st}"
    );

    kill_at(&cl, &["migrate"], &dir.join("migrate-3.log"), "flipped:3").await;
    let st = status(&cl);
    assert!(
        st.contains("(step 4/") && st.contains(", step 4 frozen)"),
        "killed mid-flip, after the flip: {st}"
    );

    let log = dir.join("migrate-4.log");
    let summary_add = finish(migrator(&cl, &["migrate"], &log, None), &log).await;
    assert!(
        summary_add.contains("ring state: v")
            && summary_add.contains("shard0:1, shard1:1, shard2:1"),
        "{summary_add}"
    );
    let acks_add = load.stop().await;

    // Remove shard0 (the authority) under load, with nothing killed: no
    // send may fail.
    let load = Load::start(&[(&alice, "a2"), (&carol, "c2")], &chats, &gws, None);
    recovered(
        &load.acks,
        &chats,
        Instant::now(),
        "the restart of the senders",
    )
    .await;
    // Started twice by mistake: one migrator wins, the other stops with a
    // clear error (the lease is taken, or shard0 is already gone).
    let log = dir.join("migrate-5.log");
    let args = ["migrate", "--remove", "shard0", "--step-keys", "8"];
    let first = migrator(&cl, &args, &log, None);
    let log_twin = dir.join("migrate-5-twin.log");
    wait_log(&log, "copying step 1/").await;
    let twin = migrator(&cl, &args, &log_twin, None);
    let summary_remove = finish(first, &log).await;
    let twin = tokio::task::spawn_blocking(move || twin.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let twin_err = std::fs::read_to_string(&log_twin).unwrap_or_default();
    assert!(
        !twin.status.success()
            && (twin_err.contains("another migrator") || twin_err.contains("no shard shard0")),
        "the second migrator stops: {twin_err}"
    );
    assert!(
        summary_remove.contains("shard1:1, shard2:1"),
        "{summary_remove}"
    );
    // And a re-weighting, under the same load.
    let log = dir.join("migrate-6.log");
    let summary_weight = finish(
        migrator(&cl, &["migrate", "--weight", "shard2=2"], &log, None),
        &log,
    )
    .await;
    assert!(
        summary_weight.contains("shard1:1, shard2:2"),
        "{summary_weight}"
    );
    let acks_remove = load.stop().await;
    eprintln!(
        "reshard: add under kills: {} | remove: {} | re-weight: {} | sends: add phase {} acked, {} failed, slowest {:?}; remove and re-weight phase {} acked, {} failed, slowest {:?}; churn {} changes",
        summary_add.lines().next().unwrap_or(""),
        summary_remove.lines().next().unwrap_or(""),
        summary_weight.lines().next().unwrap_or(""),
        acks_add.count.load(Ordering::Relaxed),
        acks_add.failed.load(Ordering::Relaxed),
        *acks_add.slowest.lock().unwrap(),
        acks_remove.count.load(Ordering::Relaxed),
        acks_remove.failed.load(Ordering::Relaxed),
        *acks_remove.slowest.lock().unwrap(),
        churn.changes.load(Ordering::Relaxed),
    );
    assert_eq!(
        acks_remove.failed.load(Ordering::Relaxed),
        0,
        "a clean migration refuses no send"
    );
    assert_eq!(acks_add.internal.load(Ordering::Relaxed), 0);

    // History: every acknowledged send once, densely; the socket saw it all.
    let now = now_via(&alice, &gws);
    settle(&now, &chats).await;
    let mut acked = acks_add.keys.lock().unwrap().clone();
    acked.extend(acks_remove.keys.lock().unwrap().iter().cloned());
    let st = stored(&now, &chats, &acked).await;
    assert_eq!(
        (st.lost, st.duplicates, st.gaps),
        (0, 0, 0),
        "lost, duplicates, gaps in history"
    );
    assert_eq!(
        delivery_gaps(&watched, &chats, &st).await,
        0,
        "the socket saw every chat's 1..n once"
    );
    stop_watching.store(true, Ordering::Relaxed);
    watch.await.unwrap();

    // Edits and memberships are what their last acknowledged change made them.
    let edits = churn.edits.lock().unwrap().clone();
    assert!(!edits.is_empty());
    for ((chat, seq), text) in &edits {
        let page = now
            .messages(chat, &format!("after={}&limit=1", seq - 1))
            .await
            .ok();
        assert_eq!(&page.messages[0].text, text, "chat {chat} seq {seq}");
    }
    let dave_in: HashSet<String> = churn
        .dave
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| **m)
        .map(|(c, _)| c.clone())
        .collect();
    let churned: Vec<String> = churn.dave.lock().unwrap().keys().cloned().collect();
    for c in &churned {
        let members = now.members(c).await.ok();
        let has = members.members.iter().any(|m| m.user_id == dave.id);
        assert_eq!(has, dave_in.contains(c), "dave in chat {c}");
    }
    // Users and names moved: everyone logs in, and chat lists are whole.
    let api = Api::new(gateway(&gws, 1));
    for n in &names {
        api.login(n).await;
    }
    let listed = |who: &Client| {
        let who = now_via(who, &gws);
        async move {
            let list = who.chats().await.ok();
            list.chats
                .iter()
                .map(|c| c.chat.id.clone())
                .collect::<HashSet<String>>()
        }
    };
    let bobs = listed(&bob).await;
    assert!(
        chats.iter().all(|c| bobs.contains(c)),
        "bob's list holds every chat"
    );
    assert_eq!(
        listed(&dave).await,
        dave_in,
        "dave's list is the chats he is in"
    );

    // Every key on the shard the final ring names, and nowhere else.
    let st = status(&cl);
    assert!(
        st.contains("keys on a shard the ring does not name: 0"),
        "{st}"
    );
    assert!(!st.lines().any(|l| l.starts_with("shard0 ")), "{st}");
    let pool = sqlx::MySqlPool::connect(&shard0_url).await.unwrap();
    for table in [
        "chats",
        "messages",
        "members",
        "chat_changes",
        "users",
        "memberships",
        "user_names",
        "sessions",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(n, 0, "the removed shard keeps no {table}");
    }
    pool.close().await;
    // Login sessions moved with their users: each refresh token still works.
    for u in [&alice, &bob, &carol, &dave] {
        let api = Api::new(gateway(&gws, 0)).with_timeout(Duration::from_secs(30));
        u.via(&api).refresh().await.ok();
    }
    // The running roles route by the final ring, without a restart.
    let bases = gws.lock().unwrap().clone();
    for base in bases {
        let ready = reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(ready.contains(": shard1:1, shard2:2"), "{base}: {ready}");
    }

    cl.cleanup().await;
    use sqlx::migrate::MigrateDatabase;
    let _ = sqlx::MySql::drop_database(&shard2_url).await;
}

/// The way from standalone to distributed: a standalone server's data,
/// imported into empty shards with `chat shards import`, is what the
/// distributed roles then serve — accounts, chats, histories with edits and
/// deletions, read cursors — and chats go on from their last seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_deployment_moves_into_the_shards_with_import() {
    let dir = tempfile::tempdir().unwrap();
    let standalone = spawn_standalone(dir.path(), "standalone.log");
    let api = Api::new(standalone.base_url());
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let mut chats = Vec::new();
    for i in 0..8 {
        let c = alice.group(&format!("g{i}"), &[&bob, &carol]).await;
        for k in 0..5 {
            alice
                .send(&c, &format!("s{i}-{k}"), &format!("hello {k}"))
                .await
                .created();
        }
        alice.edit(&c, 2, "edited").await.ok();
        alice.delete(&c, 3).await.ok();
        bob.read(&c, 4).await.ok();
        chats.push(c);
    }
    // A ban moves with its chat, and so do the history setting and joins.
    let dave = api.register("dave").await;
    let banned_from = alice.group("with a ban", &[&dave]).await;
    let later = api.register("later").await;
    let from_join = serde_json::json!({"history": "from_join"});
    let path = format!("/api/v1/chats/{}", chats[0]);
    assert_eq!(alice.call("PATCH", &path, Some(from_join)).await.0, 200);
    alice.add_member(&chats[0], &later.id, None).await.ok();
    let ban = format!("/api/v1/chats/{banned_from}/members/{}?ban=true", dave.id);
    assert_eq!(alice.call("DELETE", &ban, None).await.0, 200);
    // And a block with its user.
    let block = format!("/api/v1/me/blocks/{}", dave.id);
    assert_eq!(carol.call("PUT", &block, None).await.0, 204);
    let direct = bob.create_direct(&carol).await.created().id;
    bob.send(&direct, "d1", "psst").await.created();
    // Login sessions move with their users; an ended one stays ended.
    let ended = api.login("carol").await;
    ended.logout().await.status(204);
    chats.push(direct.clone());
    let before_list = bob.chats().await.ok();
    let mut before = HashMap::new();
    for c in &chats {
        before.insert(c.clone(), history(&bob, c).await);
    }
    standalone.terminate();

    let mut cl = Cluster::new();
    let out = Command::new(env!("CARGO_BIN_EXE_chat"))
        .args(["shards", "import", "--sqlite"])
        .arg(dir.path().join("data/chat.db"))
        .env("CHAT_MYSQL_SHARDS", &cl.mysql_shards)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run chat shards import");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.starts_with("imported: "), "{said}");
    // Into both shards, each key where the ring says.
    let st = status(&cl);
    assert!(
        st.contains("keys on a shard the ring does not name: 0"),
        "{st}"
    );

    let gws = cl.start(1, 1, 1);
    let api = Api::new(&gws[0]);
    let refreshed = api.client(carol.via(&api).refresh().await.ok());
    refreshed.me().await.ok();
    assert_eq!(
        ended.via(&api).refresh().await.refused(),
        (401, "session_revoked")
    );
    let bob = api.login("bob").await;
    api.login("carol").await;
    let after_list = bob.chats().await.ok();
    let ids = |l: &ChatList| {
        let mut v: Vec<(String, u64, u64)> = l
            .chats
            .iter()
            .map(|e| (e.chat.id.clone(), e.read_seq, e.unread))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(&after_list),
        ids(&before_list),
        "bob's list, cursors and unread"
    );
    for c in &chats {
        assert_eq!(history(&bob, c).await, before[c], "history of {c}");
    }
    let alice = api.login("alice").await;
    assert_eq!(
        alice
            .add_member(&banned_from, &dave.id, None)
            .await
            .refused(),
        (403, "banned")
    );
    // Joined after the 5 messages: sees none of them, still after the move.
    let later = api.login("later").await;
    assert!(later.history_forward(&chats[0], 10).await.is_empty());
    let dave = api.login("dave").await;
    let to_carol = serde_json::json!({"kind": "direct", "members": [carol.id]});
    let (status, body) = dave.call("POST", "/api/v1/chats", Some(to_carol)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("blocked"))
    );
    // Chats go on from their last seq.
    let next = bob
        .send(&chats[0], "after-import", "still here")
        .await
        .created();
    assert_eq!(next.message.seq, 6);
    cl.cleanup().await;
}

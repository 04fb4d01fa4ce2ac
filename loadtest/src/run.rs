//! `loadtest run`: sets up users and chats, connects, sends on the open-loop
//! schedule, drains, reads every chat's final `last_seq` back and checks that
//! each connection got every message it was owed, once and in order.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Result, bail};
use chat_core::ChatId;
use futures_util::{StreamExt, stream};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::checker::Tally;
use crate::cli::RunArgs;
use crate::conn::{self, Phase, Plan, Report, Shared};
use crate::schedule::{Schedule, Slots};
use crate::setup::{self, Api, Kind, Params, Population};
use crate::stats::{self, Errors, Hists, Latency, Live};
use crate::ws::Endpoint;

/// The result of a run, as printed and as written by `--json`.
#[derive(Debug, Serialize)]
pub struct RunResult {
    /// Run id.
    pub run: String,
    /// The flags.
    pub args: RunArgs,
    /// Population.
    pub users: usize,
    pub chats: usize,
    pub direct_chats: usize,
    pub group_chats: usize,
    /// Mean members per chat.
    pub mean_members: f64,
    /// Connections asked for, and set up.
    pub connections: usize,
    pub connected: usize,
    /// Connections that send.
    pub senders: usize,
    /// Subscriptions (connection × chat streams) checked.
    pub streams: usize,
    /// Messages scheduled, written, acknowledged; left unsent at the end (the
    /// connection was at its in-flight limit); without any answer.
    pub offered: u64,
    pub sent: u64,
    pub acked: u64,
    pub unsent: u64,
    pub unanswered: u64,
    /// Message frames received.
    pub deliveries: u64,
    /// The measured window (after the ramp, until sending ends), in seconds.
    pub window_secs: f64,
    /// Offered rate after the ramp.
    pub offered_per_sec: f64,
    /// Acks and deliveries received per second in the window.
    pub accepted_per_sec: f64,
    pub deliveries_per_sec: f64,
    /// Latency from the time a message was due (not sent) to its ack, and to
    /// each delivery, for messages due in the window.
    pub ack_latency: Latency,
    pub delivery_latency: Latency,
    /// Failures by code (error and rejected frames, close codes, transport).
    pub errors: Errors,
    /// Reconnections after a drop.
    pub reconnects: u64,
    /// Delivery checks.
    pub correctness: Tally,
    /// Acks for seqs above the chat's final `last_seq`: acknowledged but not in history.
    pub acked_not_stored: u64,
    /// Chats whose final `last_seq` could not be read.
    pub unverified_chats: usize,
    /// The machine's load averages (1, 5, 15 min) at the end of sending.
    pub load_average: Option<[f64; 3]>,
    /// Every correctness counter is zero.
    pub passed: bool,
}

/// Runs the load; `Ok(false)` when a correctness counter is non-zero.
pub async fn run(args: RunArgs) -> Result<bool> {
    if args.gateways.is_empty() {
        bail!("give at least one --gateway");
    }
    if args.users == 0 || args.duration <= 0.0 || args.rate < 0.0 || args.max_inflight == 0 {
        bail!("--users, --duration and --max-inflight must be positive, --rate non-negative");
    }
    let run = crate::run_id();
    let api = Api::new(&args.gateways)?;
    let mut endpoints = Vec::new();
    for g in &args.gateways {
        endpoints.push(Endpoint::resolve(g).await?);
    }
    let endpoints = Arc::new(endpoints);
    let params = Params {
        users: args.users,
        chats: args.chats,
        direct_ratio: args.direct_ratio,
        group_sizes: args.group_sizes.clone(),
        seed: args.seed,
    };
    let prefix = args
        .name_prefix
        .clone()
        .unwrap_or_else(|| format!("lt{run}-"));
    let pop = setup::population(
        &api,
        &params,
        &prefix,
        args.setup_concurrency,
        args.setup_file.as_deref(),
    )
    .await?;

    // Connections: i belongs to user i mod U, on gateway i mod G.
    let k = args.connections.unwrap_or(args.users);
    let by_user = pop.chats_by_user();
    let senders = (0..k)
        .filter(|i| !by_user[i % args.users].is_empty())
        .count();
    let schedule = Schedule::new(
        args.rate,
        Duration::from_secs_f64(args.ramp_up.max(0.0)),
        Duration::from_secs_f64(args.duration),
    );
    let sh = Arc::new(Shared {
        run: run.clone(),
        schedule,
        text_bytes: args.text_bytes,
        typing_every: (args.typing_every > 0.0).then(|| Duration::from_secs_f64(args.typing_every)),
        max_inflight: args.max_inflight,
        live: Live::default(),
        hists: Mutex::new(Hists::default()),
        connect_limit: Semaphore::new(args.connect_concurrency.max(1)),
        incomplete: Mutex::new((0, 0)),
        seed: args.seed,
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let (ready_tx, mut ready_rx) = mpsc::channel(1024);
    let mut tasks = Vec::with_capacity(k);
    let mut sender_index = 0u64;
    let mut streams = 0;
    for i in 0..k {
        let u = i % args.users;
        let chats = by_user[u].clone();
        streams += chats.len();
        let slots = (!chats.is_empty()).then(|| {
            sender_index += 1;
            Slots::new(sender_index - 1, senders as u64)
        });
        let plan = Plan {
            index: i,
            token: pop.users[u].token.clone(),
            endpoints: endpoints.clone(),
            chats,
            slots,
        };
        tasks.push(tokio::spawn(conn::run(
            plan,
            sh.clone(),
            phase_rx.clone(),
            ready_tx.clone(),
        )));
    }
    drop(ready_tx);
    let t = std::time::Instant::now();
    let (mut connected, mut failed) = (0usize, Errors::new());
    let mut last_note = std::time::Instant::now();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(()) => connected += 1,
            Err(code) => stats::count(&mut failed, &code),
        }
        if last_note.elapsed() > Duration::from_secs(1) {
            eprintln!("setup: {connected}/{k} connections subscribed");
            last_note = std::time::Instant::now();
        }
    }
    eprintln!(
        "setup: {connected}/{k} connections subscribed to {streams} chat streams in {:.1?}{}",
        t.elapsed(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(", failures: {failed:?}")
        }
    );
    if connected == 0 && k > 0 {
        bail!("no connection could be set up: {failed:?}");
    }

    // Send.
    let start = Instant::now() + Duration::from_millis(100);
    let _ = phase_tx.send(Phase::Send { start });
    eprintln!(
        "run {run}: {} msgs/s for {:.0} s (ramp {:.0} s) over {connected} connections, {} chats",
        args.rate,
        args.duration,
        args.ramp_up,
        pop.chats.len()
    );
    let reporter = tokio::spawn(progress(sh.clone(), start));
    tokio::time::sleep_until(start + schedule.end()).await;
    let _ = phase_tx.send(Phase::Drain { start });
    let load_average = stats::load_average();

    // Drain: wait for the answers, then read the truth back and wait for the
    // deliveries it implies.
    let deadline = Instant::now() + Duration::from_secs_f64(args.drain_timeout.max(0.0));
    while sh.live.inflight.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The store is read after the last answer, but a command can still be on
    // its way (one answered `timeout` five times, say): read again until two
    // reads agree, so that the truth the check uses is final.
    let (mut last_seq, mut unverified) = final_last_seqs(&api, args.gateways.len(), &pop).await;
    for round in 1..=5 {
        *sh.incomplete.lock().unwrap_or_else(|p| p.into_inner()) = (round, connected);
        let _ = phase_tx.send(Phase::Verify {
            start,
            last_seq: Arc::new(last_seq.clone()),
            round,
        });
        let incomplete = || sh.incomplete.lock().map_or(0, |g| g.1);
        while incomplete() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let again = final_last_seqs(&api, args.gateways.len(), &pop).await;
        if again.0 == last_seq || Instant::now() >= deadline {
            break;
        }
        eprintln!("verify: chats grew after the first read; checking again");
        (last_seq, unverified) = again;
    }
    let _ = phase_tx.send(Phase::Stop);
    reporter.abort();

    let mut reports = Vec::with_capacity(k);
    for t in tasks {
        match t.await {
            Ok(r) => reports.push(r),
            Err(e) => bail!("a connection task failed: {e}"),
        }
    }
    let mut res = summarise(
        &args, &run, &pop, &sh, &reports, &last_seq, unverified, streams, senders,
    );
    res.load_average = load_average;
    print_summary(&res);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&res)?)?;
    }
    Ok(res.passed)
}

/// Reads each chat's newest seq (from its history, through a member's token),
/// trying the other gateways when one does not answer.
async fn final_last_seqs(
    api: &Api,
    gateways: usize,
    pop: &Population,
) -> (HashMap<ChatId, u64>, usize) {
    let results: Vec<(ChatId, Option<u64>)> = stream::iter(pop.chats.iter().enumerate())
        .map(|(i, c)| async move {
            let token = &pop.users[c.spec.members[0]].token;
            let mut last_err = None;
            for attempt in 0..3 * gateways.max(1) {
                match api.last_seq(i + attempt, token, c.id).await {
                    Ok(s) => return (c.id, Some(s)),
                    Err(e) => last_err = Some(e),
                }
                if attempt + 1 >= gateways {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            if let Some(e) = last_err {
                eprintln!("reading chat {} back: {e:#}", c.id);
            }
            (c.id, None)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let unverified = results.iter().filter(|(_, r)| r.is_none()).count();
    let map = results
        .into_iter()
        .filter_map(|(c, r)| r.map(|s| (c, s)))
        .collect();
    (map, unverified)
}

/// Prints a progress line every second until aborted.
async fn progress(sh: Arc<Shared>, start: Instant) {
    tokio::time::sleep_until(start).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut prev = sh.live.snapshot();
    let mut prev_t = Instant::now();
    loop {
        tick.tick().await;
        let now = sh.live.snapshot();
        let dt = prev_t.elapsed().as_secs_f64().max(1e-3);
        prev_t = Instant::now();
        let (ack, del) = {
            let mut h = sh.hists.lock().unwrap_or_else(|p| p.into_inner());
            let r = (Latency::of(&h.win_ack), Latency::of(&h.win_delivery));
            h.win_ack.reset();
            h.win_delivery.reset();
            r
        };
        let rate = |a: u64, b: u64| (a - b) as f64 / dt;
        eprintln!(
            "[{:>5.0}s] sent {:>7.0}/s  acked {:>7.0}/s  delivered {:>8.0}/s  in flight {:>5}  p99 ack {:>7.1} ms  p99 delivery {:>7.1} ms  errors {}  reconnects {}",
            start.elapsed().as_secs_f64(),
            rate(now.sent, prev.sent),
            rate(now.acked, prev.acked),
            rate(now.delivered, prev.delivered),
            now.inflight,
            ack.p99_ms,
            del.p99_ms,
            now.errors,
            now.reconnects
        );
        prev = now;
    }
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    args: &RunArgs,
    run: &str,
    pop: &Population,
    sh: &Shared,
    reports: &[Report],
    last_seq: &HashMap<ChatId, u64>,
    unverified: usize,
    streams: usize,
    senders: usize,
) -> RunResult {
    let mut correctness = Tally::default();
    let mut errors = Errors::new();
    let (mut unsent, mut unanswered, mut acked_w, mut delivered_w) = (0, 0, 0, 0);
    let mut max_acked: HashMap<ChatId, u64> = HashMap::new();
    for r in reports {
        correctness += r.tally;
        stats::merge(&mut errors, &r.errors);
        unsent += r.unsent;
        unanswered += r.unanswered;
        acked_w += r.acked_in_window;
        delivered_w += r.delivered_in_window;
        for (c, s) in &r.max_acked {
            let m = max_acked.entry(*c).or_default();
            *m = (*m).max(*s);
        }
    }
    let acked_not_stored = max_acked
        .iter()
        .filter_map(|(c, s)| last_seq.get(c).map(|l| s.saturating_sub(*l)))
        .sum();
    let sched = sh.schedule;
    let mut window = (sched.end() - sched.steady_from()).as_secs_f64();
    if window < 1.0 {
        // No steady part worth the name: the window is the whole run.
        window = sched.end().as_secs_f64();
    }
    let live = sh.live.snapshot();
    let (ack_latency, delivery_latency) = {
        let h = sh.hists.lock().unwrap_or_else(|p| p.into_inner());
        (Latency::of(&h.ack), Latency::of(&h.delivery))
    };
    let members: usize = pop.chats.iter().map(|c| c.spec.members.len()).sum();
    let direct = pop
        .chats
        .iter()
        .filter(|c| c.spec.kind == Kind::Direct)
        .count();
    let passed = correctness.is_clean() && acked_not_stored == 0 && unverified == 0;
    RunResult {
        run: run.to_string(),
        args: args.clone(),
        users: pop.users.len(),
        chats: pop.chats.len(),
        direct_chats: direct,
        group_chats: pop.chats.len() - direct,
        mean_members: members as f64 / pop.chats.len().max(1) as f64,
        connections: reports.len(),
        connected: reports.iter().filter(|r| r.connected).count(),
        senders,
        streams,
        offered: sched.total(),
        sent: live.sent,
        acked: live.acked,
        unsent,
        unanswered,
        deliveries: live.delivered,
        window_secs: window,
        offered_per_sec: args.rate,
        accepted_per_sec: acked_w as f64 / window,
        deliveries_per_sec: delivered_w as f64 / window,
        ack_latency,
        delivery_latency,
        errors,
        reconnects: live.reconnects,
        correctness,
        acked_not_stored,
        unverified_chats: unverified,
        load_average: None,
        passed,
    }
}

fn print_summary(r: &RunResult) {
    let c = &r.correctness;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "\n== loadtest run {} ==\n\
         population   {} users, {} chats ({} direct, {} groups, {:.1} members on average), {}/{} connections ({} sending), {} streams\n\
         messages     offered {}  sent {}  acked {}  unsent {}  unanswered {}\n\
         throughput   offered {:.0} msgs/s  accepted {:.0} msgs/s  deliveries {:.0}/s  (window {:.1} s)\n\
         send→ack     {}\n\
         send→deliver {}\n\
         errors       {}  reconnects {}\n\
         machine load {}\n\
         correctness  expected {}  received {}  missing {}  duplicated {}  out of order {}  beyond last {}  unexpected {}  acked-not-stored {}  unverified chats {}\n\
         result       {}",
        r.run,
        r.users,
        r.chats,
        r.direct_chats,
        r.group_chats,
        r.mean_members,
        r.connected,
        r.connections,
        r.senders,
        r.streams,
        r.offered,
        r.sent,
        r.acked,
        r.unsent,
        r.unanswered,
        r.offered_per_sec,
        r.accepted_per_sec,
        r.deliveries_per_sec,
        r.window_secs,
        r.ack_latency.line(),
        r.delivery_latency.line(),
        if r.errors.is_empty() {
            "none".to_string()
        } else {
            format!("{:?}", r.errors)
        },
        r.reconnects,
        r.load_average.map_or("unknown".to_string(), |l| format!(
            "{:.2} {:.2} {:.2} (1, 5, 15 min)",
            l[0], l[1], l[2]
        )),
        c.expected,
        c.received,
        c.missing,
        c.duplicated,
        c.out_of_order,
        c.beyond_last,
        c.unexpected,
        r.acked_not_stored,
        r.unverified_chats,
        if r.passed {
            "PASS (every message reached every subscribed connection once, in order)"
        } else {
            "FAIL"
        }
    );
}

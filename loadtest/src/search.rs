//! `loadtest search`: the search benchmark. Logs in as the user of a
//! `search-data` set, sends a fixed mix of queries (each kind over all the
//! user's chats and within one chat picked at random) at a fixed concurrency
//! or an open-loop rate, follows `next_cursor` to a second page in some
//! rounds, and records latency per kind. Every answer is checked: 200, hits
//! newest first (ids falling), only the user's chats (only the asked chat
//! within one), not `partial`, each with a highlight, and as many hits as the
//! data set holds (`search-data` counted every query's messages per chat).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chat_core::ChatId;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cli::SearchArgs;
use crate::rng::Rng;
use crate::searchdata::{Meta, MetaQuery};
use crate::stats::{self, Errors, Latency};

/// Where a query looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Every chat of the user's.
    Global,
    /// One chat (`chat_id=`), picked at random per request.
    Chat,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Chat => "chat",
        }
    }
}

/// One entry of the mix.
struct Entry {
    query: MetaQuery,
    scope: Scope,
}

/// Failed checks, by kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Violations {
    /// Hits not newest first (ids not strictly falling, within a page and
    /// from the first page to the second).
    pub order: u64,
    /// Hits in a chat the user is not a member of (global), or in another
    /// chat than the one asked.
    pub foreign_chat: u64,
    /// Answers flagged `partial`.
    pub partial: u64,
    /// A page with another number of hits than the data set holds.
    pub count: u64,
    /// `next_cursor` missing though more hits exist, or given on a page that
    /// holds the last of fewer than a page.
    pub cursor: u64,
    /// Hits without a highlighted range.
    pub highlight: u64,
}

impl Violations {
    fn total(&self) -> u64 {
        self.order + self.foreign_chat + self.partial + self.count + self.cursor + self.highlight
    }
}

/// Latency and hits of one kind of request.
#[derive(Debug, Serialize)]
pub struct KindResult {
    /// `common`, `rare`, ….
    pub kind: String,
    /// `global` or `chat`.
    pub scope: String,
    /// 1 or 2.
    pub page: u8,
    /// The query text.
    pub q: String,
    /// Messages of the data set that match, over all chats.
    pub matching_messages: u64,
    /// Mean hits per answer.
    pub mean_hits: f64,
    pub latency: Latency,
}

/// The result of a search run, as printed and as written by `--json`.
#[derive(Debug, Serialize)]
pub struct SearchResult {
    /// The flags.
    pub args: SearchArgs,
    /// Messages and chats of the data set.
    pub messages: u64,
    pub chats: usize,
    /// Requests answered in the measured window, and per second.
    pub requests: u64,
    pub requests_per_sec: f64,
    /// Seconds measured.
    pub window_secs: f64,
    /// Every request of the window.
    pub overall: Latency,
    /// First pages over all chats, and within one.
    pub global: Latency,
    pub in_chat: Latency,
    /// Second pages.
    pub second_pages: Latency,
    /// Each kind, scope and page.
    pub kinds: Vec<KindResult>,
    /// Each query once, one at a time, before the load (cold caches on a
    /// freshly started server), in ms.
    pub single: BTreeMap<String, f64>,
    /// Failures by HTTP status or transport error, over the whole run.
    pub errors: Errors,
    /// Failed checks, over the whole run (warm-up included).
    pub violations: Violations,
    /// Requests checked (warm-up included).
    pub checked: u64,
    /// Open loop: first pages not sent by the end (the server did not keep up).
    pub unsent: u64,
    /// The machine's load averages (1, 5, 15 min) at the end.
    pub load_average: Option<[f64; 3]>,
    /// No error and no failed check.
    pub passed: bool,
}

/// Latency and hits returned, per (entry of the mix, page 1 or 2).
type PerKind = HashMap<(usize, u8), (Histogram<u64>, u64)>;

/// What is recorded, shared by the workers.
struct Shared {
    entries: Vec<Entry>,
    chats: Vec<ChatId>,
    member_of: HashSet<ChatId>,
    http: reqwest::Client,
    bases: Vec<String>,
    token: String,
    limit: u32,
    second_page_every: u64,
    seed: u64,
    /// Per (entry, page): latency and hits.
    hists: Mutex<PerKind>,
    violations: Mutex<Violations>,
    errors: Mutex<Errors>,
    checked: AtomicU64,
    /// Requests answered in the window so far (progress line).
    done: AtomicU64,
    win: Mutex<Histogram<u64>>,
}

/// One answered page.
struct Page {
    hits: Vec<(ChatId, u64)>,
    next: Option<String>,
}

impl Shared {
    fn base(&self, n: u64) -> &str {
        &self.bases[n as usize % self.bases.len()]
    }

    /// Request `n`: the entry, and for an in-chat one the chat's index.
    fn request(&self, n: u64) -> (usize, Option<usize>) {
        let e = (n % self.entries.len() as u64) as usize;
        let chat = (self.entries[e].scope == Scope::Chat)
            .then(|| Rng::new(self.seed ^ n.wrapping_mul(0x9E37_79B9)).below(self.chats.len()));
        (e, chat)
    }

    /// Sends one page's request; its answer, checked, or `None` on a failure
    /// (counted). `started` is when its latency starts.
    async fn page(
        &self,
        n: u64,
        e: usize,
        chat: Option<usize>,
        before: Option<&str>,
        started: Instant,
        measured: bool,
    ) -> Option<Page> {
        let entry = &self.entries[e];
        let mut query: Vec<(&str, String)> = vec![
            ("q", entry.query.q.clone()),
            ("limit", self.limit.to_string()),
        ];
        if let Some(c) = chat {
            query.push(("chat_id", self.chats[c].to_string()));
        }
        if let Some(b) = before {
            query.push(("before", b.to_string()));
        }
        let url = format!("{}/search", self.base(n));
        let resp = self
            .http
            .get(url)
            .query(&query)
            .bearer_auth(&self.token)
            .send()
            .await;
        let body = match resp {
            Ok(r) => {
                let status = r.status();
                match r.bytes().await {
                    Ok(b) if status.is_success() => Ok(b),
                    Ok(b) => {
                        let code = serde_json::from_slice::<Value>(&b)
                            .ok()
                            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
                            .unwrap_or_default();
                        Err(format!("http_{}_{code}", status.as_u16()))
                    }
                    Err(_) => Err("body".to_string()),
                }
            }
            Err(e) if e.is_timeout() => Err("timeout".into()),
            Err(_) => Err("transport".into()),
        };
        let us = started.elapsed().as_micros() as u64;
        let body = match body {
            Ok(b) => b,
            Err(code) => {
                stats::count(
                    &mut self.errors.lock().unwrap_or_else(|p| p.into_inner()),
                    &code,
                );
                return None;
            }
        };
        let page = match self.check(&body, e, chat, before.is_some()) {
            Ok(p) => p,
            Err(code) => {
                stats::count(
                    &mut self.errors.lock().unwrap_or_else(|p| p.into_inner()),
                    code,
                );
                return None;
            }
        };
        if measured {
            let page_no = if before.is_some() { 2 } else { 1 };
            let us = us.clamp(1, 3_600_000_000);
            let mut h = self.hists.lock().unwrap_or_else(|p| p.into_inner());
            let slot = h
                .entry((e, page_no))
                .or_insert_with(|| (stats::histogram(), 0));
            slot.0.saturating_record(us);
            slot.1 += page.hits.len() as u64;
            drop(h);
            self.win
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .saturating_record(us);
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        Some(page)
    }

    /// Checks an answer; its hits and cursor, or an error code when it is
    /// not a search answer at all.
    fn check(
        &self,
        body: &[u8],
        e: usize,
        chat: Option<usize>,
        second: bool,
    ) -> Result<Page, &'static str> {
        let v: Value = serde_json::from_slice(body).map_err(|_| "not_json")?;
        let hits = v["hits"].as_array().ok_or("no_hits_array")?;
        let mut page = Page {
            hits: Vec::with_capacity(hits.len()),
            next: v["next_cursor"].as_str().map(str::to_string),
        };
        let mut bad = Violations::default();
        for h in hits {
            let id: u64 = h["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            let c = ChatId(
                h["chat_id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            );
            if page.hits.last().is_some_and(|&(_, last)| id >= last) {
                bad.order += 1;
            }
            let ok_chat = match chat {
                Some(i) => c == self.chats[i],
                None => self.member_of.contains(&c),
            };
            bad.foreign_chat += u64::from(!ok_chat);
            if h["highlights"].as_array().is_none_or(|a| a.is_empty()) {
                bad.highlight += 1;
            }
            page.hits.push((c, id));
        }
        bad.partial += u64::from(v["partial"] != Value::Bool(false));
        // What the data set holds: all of it on the first page when it fits.
        let q = &self.entries[e].query;
        let total = match chat {
            Some(i) => u64::from(q.chat_hits[i]),
            None => q.hits,
        };
        let limit = u64::from(self.limit);
        let before = if second { limit } else { 0 };
        let want = total.saturating_sub(before).min(limit);
        bad.count += u64::from(page.hits.len() as u64 != want);
        // A cursor when more remain; none when this page holds the last of
        // fewer than a page (with exactly a page left either is right).
        let remaining = total.saturating_sub(before);
        if (remaining > limit && page.next.is_none()) || (remaining < limit && page.next.is_some())
        {
            bad.cursor += 1;
        }
        self.checked.fetch_add(1, Ordering::Relaxed);
        if bad.total() > 0 {
            let mut v = self.violations.lock().unwrap_or_else(|p| p.into_inner());
            v.order += bad.order;
            v.foreign_chat += bad.foreign_chat;
            v.partial += bad.partial;
            v.count += bad.count;
            v.cursor += bad.cursor;
            v.highlight += bad.highlight;
        }
        Ok(page)
    }

    /// Request `n`'s first page and, in the rounds that do, its second;
    /// the first page's latency counts from `started`.
    async fn one(&self, n: u64, started: Instant, measured: bool) {
        let (e, chat) = self.request(n);
        let Some(first) = self.page(n, e, chat, None, started, measured).await else {
            return;
        };
        let round = n / self.entries.len() as u64;
        let follow = self.second_page_every > 0 && round.is_multiple_of(self.second_page_every);
        if let (true, Some(cursor)) = (follow, first.next.as_deref())
            && let Some(second) = self
                .page(n, e, chat, Some(cursor), Instant::now(), measured)
                .await
            // Older than everything on the first page.
            && let (Some(&(_, last)), Some(&(_, top))) = (first.hits.last(), second.hits.first())
            && top >= last
        {
            self.violations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .order += 1;
        }
    }
}

/// Logs in as the data set's user; its access token.
async fn login(http: &reqwest::Client, base: &str, meta: &Meta) -> Result<String> {
    let resp = http
        .post(format!("{base}/auth/login"))
        .json(&json!({ "name": meta.user.name, "password": meta.user.password }))
        .send()
        .await
        .with_context(|| format!("logging in at {base}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.context("login answer")?;
    if !status.is_success() {
        bail!(
            "logging in as {}: {status} {}",
            meta.user.name,
            body["error"]
        );
    }
    Ok(body["token"].as_str().context("no token")?.to_string())
}

/// Runs the benchmark; whether every answer passed its checks.
pub async fn run(args: SearchArgs) -> Result<bool> {
    if args.gateways.is_empty() || args.concurrency == 0 {
        bail!("give at least one --gateway and a --concurrency of 1 or more");
    }
    if !(1..=50).contains(&args.limit) {
        bail!("--limit is 1 to 50");
    }
    let meta: Meta = serde_json::from_slice(
        &std::fs::read(&args.meta).with_context(|| format!("reading {}", args.meta.display()))?,
    )
    .with_context(|| format!("parsing {}", args.meta.display()))?;
    let queries: Vec<MetaQuery> = meta
        .queries
        .iter()
        .filter(|q| args.kinds.is_empty() || args.kinds.contains(&q.kind))
        .cloned()
        .collect();
    if queries.is_empty() {
        bail!("no query of the kinds {:?} in the meta file", args.kinds);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(args.concurrency + 4)
        .build()?;
    let bases: Vec<String> = args
        .gateways
        .iter()
        .map(|g| format!("{}/api/v1", g.trim_end_matches('/')))
        .collect();
    let token = match &args.token {
        Some(t) => t.clone(),
        None => login(&http, &bases[0], &meta).await?,
    };
    let mut entries = Vec::new();
    for q in &queries {
        for scope in [Scope::Global, Scope::Chat] {
            entries.push(Entry {
                query: q.clone(),
                scope,
            });
        }
    }
    let shared = Arc::new(Shared {
        entries,
        member_of: meta.chats.iter().copied().collect(),
        chats: meta.chats.clone(),
        http,
        bases,
        token,
        limit: args.limit,
        second_page_every: args.second_page_every,
        seed: args.seed,
        hists: Mutex::new(HashMap::new()),
        violations: Mutex::new(Violations::default()),
        errors: Mutex::new(Errors::new()),
        checked: AtomicU64::new(0),
        done: AtomicU64::new(0),
        win: Mutex::new(stats::histogram()),
    });

    // Each query once, alone, before any load: the cold latency.
    let mut single = BTreeMap::new();
    for (e, entry) in shared.entries.iter().enumerate() {
        let chat = (entry.scope == Scope::Chat).then_some(0);
        let t = Instant::now();
        if shared.page(0, e, chat, None, t, false).await.is_some() {
            single.insert(
                format!("{}/{}", entry.query.kind, entry.scope.name()),
                t.elapsed().as_secs_f64() * 1000.0,
            );
        }
    }

    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(args.warmup <= 0.0));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup.max(0.0));
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let unsent = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    match args.rate {
        None => {
            for _ in 0..args.concurrency {
                let (shared, next, stop, measuring) = (
                    shared.clone(),
                    next.clone(),
                    stop.clone(),
                    measuring.clone(),
                );
                workers.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let m = measuring.load(Ordering::Relaxed);
                        shared.one(n, Instant::now(), m).await;
                    }
                }));
            }
        }
        Some(rate) if rate > 0.0 => {
            // Open loop: request n is due at start + n / rate, whatever the
            // server does; at most --concurrency in flight, the rest wait
            // (their wait counts in their latency).
            let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
            let (shared, stop, unsent, permits) = (
                shared.clone(),
                stop.clone(),
                unsent.clone(),
                permits.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut tasks = Vec::new();
                loop {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    if due >= end {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let shared = shared.clone();
                    let measured = due >= measure_from;
                    tasks.push(tokio::spawn(async move {
                        shared.one(n, due, measured).await;
                        drop(permit);
                    }));
                    n += 1;
                }
                let total = ((end - start).as_secs_f64() * rate) as u64;
                unsent.fetch_add(total.saturating_sub(n), Ordering::Relaxed);
                for t in tasks {
                    let _ = t.await;
                }
            }));
        }
        Some(_) => bail!("--rate must be positive"),
    }

    // Progress, and the switch from warm-up to measuring.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last_done = 0;
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= measure_from && !measuring.swap(true, Ordering::Relaxed) {
            shared.done.store(0, Ordering::Relaxed);
            last_done = 0;
        }
        let done = shared.done.load(Ordering::Relaxed);
        let win = {
            let mut w = shared.win.lock().unwrap_or_else(|p| p.into_inner());
            let l = Latency::of(&w);
            w.reset();
            l
        };
        let errors: u64 = shared
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum();
        let bad = shared
            .violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .total();
        eprintln!(
            "[{:>5.0}s]{} {:>6} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  errors {errors}  failed checks {bad}",
            start.elapsed().as_secs_f64(),
            if now < measure_from { " warm-up" } else { "" },
            done - last_done,
            win.p50_ms,
            win.p99_ms,
        );
        last_done = done;
        if now >= end {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let window_end = Instant::now();
    for w in workers {
        let _ = w.await;
    }
    let window_secs = (window_end - measure_from).as_secs_f64().max(0.001);

    let hists = std::mem::take(&mut *shared.hists.lock().unwrap_or_else(|p| p.into_inner()));
    let (mut overall, mut global, mut in_chat, mut second) = (
        stats::histogram(),
        stats::histogram(),
        stats::histogram(),
        stats::histogram(),
    );
    let mut kinds = Vec::new();
    let mut keys: Vec<&(usize, u8)> = hists.keys().collect();
    keys.sort();
    for key in keys {
        let (e, page) = *key;
        let (h, hits) = &hists[key];
        let entry = &shared.entries[e];
        overall.add(h).ok();
        match (page, entry.scope) {
            (2, _) => second.add(h).ok(),
            (_, Scope::Global) => global.add(h).ok(),
            (_, Scope::Chat) => in_chat.add(h).ok(),
        };
        kinds.push(KindResult {
            kind: entry.query.kind.clone(),
            scope: entry.scope.name().to_string(),
            page,
            q: entry.query.q.clone(),
            matching_messages: entry.query.hits,
            mean_hits: *hits as f64 / h.len().max(1) as f64,
            latency: Latency::of(h),
        });
    }
    let errors = std::mem::take(&mut *shared.errors.lock().unwrap_or_else(|p| p.into_inner()));
    let violations = shared
        .violations
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let passed = errors.is_empty() && violations.total() == 0;
    let result = SearchResult {
        messages: meta.messages,
        chats: meta.chats.len(),
        requests: overall.len(),
        requests_per_sec: overall.len() as f64 / window_secs,
        window_secs,
        overall: Latency::of(&overall),
        global: Latency::of(&global),
        in_chat: Latency::of(&in_chat),
        second_pages: Latency::of(&second),
        kinds,
        single,
        errors,
        violations,
        checked: shared.checked.load(Ordering::Relaxed),
        unsent: unsent.load(Ordering::Relaxed),
        load_average: stats::load_average(),
        passed,
        args: args.clone(),
    };
    print_summary(&result);
    if let Some(path) = &args.json {
        let mut f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(&mut f, &result)?;
        writeln!(f)?;
    }
    Ok(passed)
}

fn print_summary(r: &SearchResult) {
    let mut out = String::new();
    let label = if r.args.label.is_empty() {
        String::new()
    } else {
        format!(" [{}]", r.args.label)
    };
    let load = match r.args.rate {
        Some(rate) => format!("open loop {rate}/s, ≤{} in flight", r.args.concurrency),
        None => format!("concurrency {}", r.args.concurrency),
    };
    out.push_str(&format!(
        "search{label}: {} messages in {} chats; {load}; {} requests in {:.1} s ({:.1}/s)\n",
        r.messages, r.chats, r.requests, r.window_secs, r.requests_per_sec
    ));
    out.push_str(&format!(
        "{:<9} {:<7} {:>4} {:>9} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9}  {}\n",
        "kind",
        "scope",
        "page",
        "matching",
        "hits",
        "n",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "query"
    ));
    for k in &r.kinds {
        out.push_str(&format!(
            "{:<9} {:<7} {:>4} {:>9} {:>6.1} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}\n",
            k.kind,
            k.scope,
            k.page,
            k.matching_messages,
            k.mean_hits,
            k.latency.count,
            k.latency.p50_ms,
            k.latency.p90_ms,
            k.latency.p99_ms,
            k.latency.max_ms,
            k.q
        ));
    }
    for (name, l) in [
        ("global (first pages)", &r.global),
        ("one chat (first pages)", &r.in_chat),
        ("second pages", &r.second_pages),
        ("overall", &r.overall),
    ] {
        out.push_str(&format!("{name:<24} {}\n", l.line()));
    }
    out.push_str(&format!(
        "checked {} answers: errors {:?}, failed checks {:?}{}\n",
        r.checked,
        r.errors,
        r.violations,
        if r.unsent > 0 {
            format!(", unsent {}", r.unsent)
        } else {
            String::new()
        }
    ));
    out.push_str(&format!(
        "load average {:?}; {}\n",
        r.load_average,
        if r.passed { "PASSED" } else { "FAILED" }
    ));
    let _ = std::io::stdout().write_all(out.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_add_up() {
        let v = Violations {
            order: 1,
            count: 2,
            ..Default::default()
        };
        assert_eq!(v.total(), 3);
    }
}

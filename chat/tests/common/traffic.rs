//! Traffic through the distributed stack for the fault and resharding
//! suites: senders that count what was acknowledged, sockets that follow
//! chats across gateway restarts, and the checks of what was stored and
//! delivered.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// The gateways' base URLs (a restarted gateway listens on a new port).
pub type Gateways = Arc<Mutex<Vec<String>>>;

pub fn gateway(gws: &Gateways, i: usize) -> String {
    let g = gws.lock().unwrap();
    g[i % g.len()].clone()
}

/// `who` through the first gateway as it is now.
pub fn now_via(who: &Client, gws: &Gateways) -> Client {
    who.via(&Api::new(gateway(gws, 0)))
}

/// Acknowledged sends, shared by the senders.
#[derive(Default)]
pub struct Acks {
    pub keys: Mutex<Vec<(String, String)>>,
    /// When each chat last had a send acknowledged.
    pub last: Mutex<HashMap<String, Instant>>,
    pub count: AtomicUsize,
    pub failed: AtomicUsize,
    /// Sends answered `internal` (a healthy command given up on).
    pub internal: AtomicUsize,
    pub sent: AtomicUsize,
    /// The longest time a send took to be acknowledged or to fail.
    pub slowest: Mutex<Duration>,
}

/// One user sending to `chats` in turn until `stop`, through whichever
/// gateway answers; each send is acknowledged, or fails with a clear error
/// (then the next goes to the other gateway). Keys are never reused: a
/// send that failed may or may not be stored, never twice.
pub fn sender(
    who: Client,
    chats: Vec<String>,
    gws: Gateways,
    acks: Arc<Acks>,
    stop: Arc<AtomicBool>,
    prefix: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut k, mut gw) = (0usize, 0usize);
        while !stop.load(Ordering::Relaxed) {
            let chat = &chats[k % chats.len()];
            let key = format!("{prefix}-{k}");
            let client =
                who.via(&Api::new(gateway(&gws, gw)).with_timeout(Duration::from_secs(30)));
            acks.sent.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let answer = client.try_send(chat, &key, "chaos").await;
            {
                let mut slowest = acks.slowest.lock().unwrap();
                *slowest = (*slowest).max(started.elapsed());
            }
            match answer {
                Ok(r) if r.is_success() => {
                    r.success();
                    acks.last
                        .lock()
                        .unwrap()
                        .insert(chat.clone(), Instant::now());
                    acks.keys.lock().unwrap().push((chat.clone(), key));
                    acks.count.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => {
                    let e = r.refused();
                    if e == (500, "internal") {
                        // The writer gave up on a healthy command: counted
                        // as a broken promise.
                        acks.internal.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert!(
                            matches!(e.code.as_str(), "unavailable" | "timeout")
                                && (e.status == 503 || e.status == 504),
                            "a failed send names its cause: {e:?}"
                        );
                    }
                    acks.failed.fetch_add(1, Ordering::Relaxed);
                    gw += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // The gateway is down or did not answer in time.
                Err(_) => {
                    acks.failed.fetch_add(1, Ordering::Relaxed);
                    gw += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            k += 1;
        }
    })
}

/// Messages a socket received, per chat, in arrival order.
pub type Received = Arc<Mutex<HashMap<String, Vec<u64>>>>;

/// A user's socket following `chats` through whichever gateway answers,
/// reconnecting and resuming from the last seq it holds, until `stop`.
pub fn watcher(
    who: Client,
    chats: Vec<String>,
    gws: Gateways,
    got: Received,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut gw = 0usize;
        'connect: while !stop.load(Ordering::Relaxed) {
            let url = Api::new(gateway(&gws, gw)).ws_url();
            gw += 1;
            let Some(mut ws) = Ws::try_connect_raw(&url, Duration::from_secs(5)).await else {
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            };
            ws.auth(&who.token).await;
            for c in &chats {
                let since = got
                    .lock()
                    .unwrap()
                    .get(c)
                    .and_then(|v| v.last().copied())
                    .unwrap_or(0);
                ws.send_subscribe(c, Some(since), None).await;
            }
            while !stop.load(Ordering::Relaxed) {
                match ws.next_within(Duration::from_millis(300)).await {
                    Next::Frame(f) => {
                        if let Frame::Message(m) = *f {
                            got.lock()
                                .unwrap()
                                .entry(m.message.chat_id)
                                .or_default()
                                .push(m.message.seq);
                        }
                    }
                    Next::Timeout => {}
                    Next::Closed(_) => continue 'connect,
                }
            }
        }
    })
}

/// Waits until every chat of `chats` has had a send acknowledged after
/// `since` (and 20 sends in all); returns the time from `since` to the last
/// chat's first acknowledgement: how long until the whole system served
/// again (a chat whose partition, shard or gateway was hit comes last).
pub async fn recovered(acks: &Acks, chats: &[String], since: Instant, what: &str) -> Duration {
    let base = acks.count.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut served: HashMap<&str, Duration> = HashMap::new();
    loop {
        {
            let last = acks.last.lock().unwrap();
            for c in chats {
                if !served.contains_key(c.as_str()) && last.get(c).is_some_and(|t| *t > since) {
                    served.insert(c, since.elapsed());
                }
            }
        }
        if served.len() == chats.len() && acks.count.load(Ordering::Relaxed) >= base + 20 {
            return served.into_values().max().unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "traffic did not resume after {what} (chats served again: {}/{})",
            served.len(),
            chats.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Messages of `chat` stored, in seq order (every page).
pub async fn history(c: &Client, chat: &str) -> Vec<Message> {
    c.history_forward(chat, 200).await
}

/// What was stored of the acknowledged sends to `targets`.
pub struct Stored {
    /// Acknowledged sends not in history.
    pub lost: usize,
    /// One `client_msg_id` stored twice.
    pub duplicates: usize,
    /// Chats whose history is not exactly `1..n`.
    pub gaps: usize,
    /// Per chat: its last seq and the keys stored.
    pub chats: HashMap<String, (u64, HashSet<String>)>,
}

/// Waits until the histories of `targets` stand still (a send that timed
/// out may still sit in the log and be applied after the senders stopped).
pub async fn settle(now: &Client, targets: &[String]) {
    let lengths = || async {
        let mut n = Vec::new();
        for c in targets {
            n.push(history(now, c).await.len());
        }
        n
    };
    let mut before = lengths().await;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = lengths().await;
        if after == before {
            return;
        }
        before = after;
    }
}

/// Checks history: every acknowledged send of `acked` `(chat, key)` once,
/// every chat of `targets` dense.
pub async fn stored(now: &Client, targets: &[String], acked: &[(String, String)]) -> Stored {
    let mut out = Stored {
        lost: 0,
        duplicates: 0,
        gaps: 0,
        chats: HashMap::new(),
    };
    for c in targets {
        let h = history(now, c).await;
        let n = h.len() as u64;
        if seqs(&h) != (1..=n).collect::<Vec<_>>() {
            out.gaps += 1;
        }
        let keys: HashSet<String> = h.iter().map(|m| m.client_msg_id.clone()).collect();
        out.duplicates += h.len() - keys.len();
        out.chats.insert(c.clone(), (n, keys));
    }
    out.lost = acked
        .iter()
        .filter(|(c, k)| !out.chats[c].1.contains(k))
        .count();
    out
}

/// Chats of `chats` whose watcher did not end up with exactly `1..n` (`n`
/// from `stored`), after waiting up to 2 minutes for it to catch up.
pub async fn delivery_gaps(watched: &Received, chats: &[String], stored: &Stored) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let caught_up = {
            let got = watched.lock().unwrap();
            chats.iter().all(|c| {
                got.get(c).and_then(|v| v.last()).copied().unwrap_or(0) >= stored.chats[c].0
            })
        };
        if caught_up || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = watched.lock().unwrap();
    chats
        .iter()
        .filter(|c| {
            let want: Vec<u64> = (1..=stored.chats[*c].0).collect();
            got.get(*c).cloned().unwrap_or_default() != want
        })
        .count()
}

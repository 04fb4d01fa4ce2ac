//! `loadtest idle`: opens N authenticated WebSocket connections that only
//! wait, and reports how much the server's resident memory grew per connection.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::IdleArgs;
use crate::setup::Api;
use crate::stats::{self, Errors};
use crate::ws::{self, Endpoint};

/// The result of an idle run.
#[derive(Debug, Serialize)]
pub struct IdleResult {
    /// The flags.
    pub args: IdleArgs,
    /// Connections open (authenticated, `ready` received) at the measurement.
    pub open: usize,
    /// Connections that failed, by code.
    pub errors: Errors,
    /// Server RSS before connecting and with every connection open (bytes).
    pub server_rss_before: u64,
    pub server_rss_after: u64,
    /// Highest server RSS seen while holding.
    pub server_rss_peak: u64,
    /// (after − before) / open.
    pub server_bytes_per_connection: f64,
    /// The generator's own RSS with every connection open, and per connection.
    pub client_rss: u64,
    pub client_bytes_per_connection: f64,
    /// Seconds to open every connection.
    pub connect_secs: f64,
    /// The machine's load averages (1, 5, 15 min) at the measurement.
    pub load_average: Option<[f64; 3]>,
}

fn server_rss(pids: &[u32]) -> Result<u64> {
    let mut total = 0;
    for &p in pids {
        total +=
            stats::rss_bytes(p).map_err(|e| anyhow::anyhow!("reading /proc/{p}/status: {e}"))?;
    }
    Ok(total)
}

/// Holds the connections and reports.
pub async fn run(args: IdleArgs) -> Result<()> {
    if args.gateways.is_empty() || args.users == 0 {
        bail!("give at least one --gateway and one user");
    }
    if args.server_pids.is_empty() {
        eprintln!("idle: no --server-pid given: server memory is not measured");
    }
    let run = crate::run_id();
    let api = Api::new(&args.gateways)?;
    let mut endpoints = Vec::new();
    for g in &args.gateways {
        endpoints.push(Arc::new(Endpoint::resolve(g).await?));
    }
    let prefix = args
        .name_prefix
        .clone()
        .unwrap_or_else(|| format!("li{run}-"));
    let api_ref = &api;
    let prefix_ref = &prefix;
    let tokens: Vec<String> = stream::iter(0..args.users)
        .map(|i| async move {
            api_ref
                .account(i, &format!("{prefix_ref}{i}"))
                .await
                .map(|a| a.token)
        })
        .buffered(8)
        .try_collect()
        .await?;
    // Let the server settle after the registrations before the first reading.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server_rss(&args.server_pids)?;

    let limit = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(1024);
    let t = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let ep = endpoints[i % endpoints.len()].clone();
        let token = tokens[i % tokens.len()].clone();
        let limit = limit.clone();
        let ready = ready_tx.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let opened = {
                let _p = limit.acquire().await;
                open(&ep, &token, i).await
            };
            let mut ws = match opened {
                Ok(ws) => {
                    let _ = ready.send(Ok(())).await;
                    ws
                }
                Err(code) => {
                    let _ = ready.send(Err(code)).await;
                    return;
                }
            };
            drop(ready);
            // Idle: read (answering pings) until told to stop.
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    m = ws.next() => match m {
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
        }));
    }
    drop(ready_tx);
    let (mut open_n, mut errors) = (0usize, Errors::new());
    let mut last_note = std::time::Instant::now();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(()) => open_n += 1,
            Err(code) => stats::count(&mut errors, &code),
        }
        if last_note.elapsed() > Duration::from_secs(1) {
            eprintln!(
                "idle: {open_n}/{} open, {} failed",
                args.connections,
                errors.values().sum::<u64>()
            );
            last_note = std::time::Instant::now();
        }
    }
    let connect_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server_rss(&args.server_pids)?;
    let load_average = stats::load_average();
    let mut peak = after;
    let hold_until = std::time::Instant::now() + Duration::from_secs_f64(args.hold.max(0.0));
    while std::time::Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(server_rss(&args.server_pids)?);
    }
    let client_rss = stats::rss_bytes(std::process::id()).unwrap_or(0);
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let per = |bytes: u64| bytes as f64 / open_n.max(1) as f64;
    let res = IdleResult {
        open: open_n,
        errors,
        server_rss_before: before,
        server_rss_after: after,
        server_rss_peak: peak,
        server_bytes_per_connection: per(after.saturating_sub(before)),
        client_rss,
        client_bytes_per_connection: per(client_rss),
        connect_secs,
        load_average,
        args,
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let _ = writeln!(
        std::io::stdout().lock(),
        "\n== loadtest idle ==\n\
         connections  {} open of {} in {:.1} s; failures {:?}\n\
         server RSS   before {:.1} MiB  after {:.1} MiB  peak {:.1} MiB\n\
         per conn     {:.2} KiB of server memory  ({:.2} KiB in the generator)",
        res.open,
        res.args.connections,
        res.connect_secs,
        res.errors,
        mib(res.server_rss_before),
        mib(res.server_rss_after),
        mib(res.server_rss_peak),
        res.server_bytes_per_connection / 1024.0,
        res.client_bytes_per_connection / 1024.0,
    );
    if let Some(path) = &res.args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&res)?)?;
    }
    if res.open == 0 && res.args.connections > 0 {
        bail!("no connection could be opened: {:?}", res.errors);
    }
    Ok(())
}

/// Connects and waits for `ready`.
async fn open(ep: &Endpoint, token: &str, index: usize) -> Result<ws::Ws, String> {
    let mut ws = ws::connect(ep, token, index).await.map_err(|e| e.code)?;
    let wait = async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Text(t)) if t.as_str().contains("\"ready\"") => return Ok(()),
                Ok(Message::Close(c)) => {
                    return Err(
                        c.map_or("closed".into(), |c| format!("close_{}", u16::from(c.code)))
                    );
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Err("socket_closed".to_string())
    };
    match tokio::time::timeout(Duration::from_secs(30), wait).await {
        Ok(Ok(())) => Ok(ws),
        Ok(Err(e)) => {
            let _ = ws.send(Message::Close(None)).await;
            Err(e)
        }
        Err(_) => Err("ready_timeout".into()),
    }
}

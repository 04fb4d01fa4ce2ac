//! `loadtest`: an open-loop, correctness-checking load generator for the chat
//! platform, an idle-connection memory probe, and the search benchmark with
//! its data generator. See `loadtest/README.md`.

mod checker;
mod cli;
mod conn;
mod corpus;
mod frames;
mod idle;
mod rng;
mod run;
mod schedule;
mod search;
mod searchdata;
mod setup;
mod stats;
mod ws;

use std::process::ExitCode;

use clap::Parser;

/// Exit code when a delivery check failed.
const EXIT_INCORRECT: u8 = 1;
/// Exit code when the run could not be made (bad flags, server unreachable).
const EXIT_FAILED: u8 = 2;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = rt.block_on(async {
        match cli.mode {
            cli::Mode::Run(a) => run::run(a).await,
            cli::Mode::Idle(a) => idle::run(a).await.map(|()| true),
            cli::Mode::SearchData(a) => {
                tokio::task::spawn_blocking(move || searchdata::run(a).map(|()| true))
                    .await
                    .unwrap_or_else(|e| Err(anyhow::anyhow!("the generator failed: {e}")))
            }
            cli::Mode::Search(a) => search::run(a).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_INCORRECT),
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// A short id for this run, from the clock and the process id: keeps user
/// names and `client_msg_id`s of different runs apart.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut x = rng::Rng::new(nanos ^ u64::from(std::process::id()) << 32).next_u64();
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..7)
        .map(|_| {
            let c = alphabet[(x % 36) as usize] as char;
            x /= 36;
            c
        })
        .collect()
}

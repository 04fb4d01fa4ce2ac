//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

/// Correctness-checking load generator for the chat platform.
#[derive(Parser, Debug)]
#[command(name = "loadtest", version)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Mode,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Mode {
    /// Open-loop message load with latency measurement and delivery checks.
    Run(RunArgs),
    /// Hold idle WebSocket connections and report the server's memory per connection.
    Idle(IdleArgs),
}

/// Flags of `loadtest run`.
#[derive(Args, Debug, Clone, Serialize)]
pub struct RunArgs {
    /// Gateway base URL; repeat to spread users and connections over several.
    #[arg(long = "gateway", default_value = "http://127.0.0.1:8080")]
    pub gateways: Vec<String>,
    /// Users to register (argon2 makes each cost ~50 ms of server CPU).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// WebSocket connections; connection i belongs to user i mod users (more
    /// connections than users are several devices of one user; fewer leave
    /// users offline). Default: one per user.
    #[arg(long)]
    pub connections: Option<usize>,
    /// Chats to create.
    #[arg(long, default_value_t = 100)]
    pub chats: usize,
    /// Share of the chats that are direct (two members); the rest are groups.
    #[arg(long, default_value_t = 0.5)]
    pub direct_ratio: f64,
    /// Group sizes (members, creator included), used in turn: `10` or `5,10,50`.
    #[arg(long = "group-size", value_delimiter = ',', default_value = "10")]
    pub group_sizes: Vec<usize>,
    /// Offered messages per second (open loop: sent on schedule, whatever the server does).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of sending, ramp-up included.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds over which the rate rises linearly from 0; latency and
    /// throughput are measured after it.
    #[arg(long, default_value_t = 2.0)]
    pub ramp_up: f64,
    /// Seconds to wait after sending for answers and deliveries (an overloaded
    /// server works off its backlog meanwhile).
    #[arg(long, default_value_t = 60.0)]
    pub drain_timeout: f64,
    /// Bytes of message text.
    #[arg(long, default_value_t = 64)]
    pub text_bytes: usize,
    /// Unanswered sends per connection before it waits (the server allows 256).
    #[arg(long, default_value_t = 256)]
    pub max_inflight: usize,
    /// Concurrent registrations and chat creations.
    #[arg(long, default_value_t = 8)]
    pub setup_concurrency: usize,
    /// Concurrent connection attempts.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Seed of the chat layout and of the choice of chat per message.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Reuse users and chats from this file if it exists (made with the same
    /// --users, --chats, --direct-ratio, --group-size, --seed), else write them there.
    #[arg(long)]
    pub setup_file: Option<PathBuf>,
    /// Prefix of generated user names (default: `lt` and the run id).
    #[arg(long)]
    pub name_prefix: Option<String>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Flags of `loadtest idle`. Measure a freshly started server: memory that
/// earlier work freed is reused by new connections and hides their cost.
#[derive(Args, Debug, Clone, Serialize)]
pub struct IdleArgs {
    /// Gateway base URL; repeat to spread connections over several.
    #[arg(long = "gateway", default_value = "http://127.0.0.1:8080")]
    pub gateways: Vec<String>,
    /// Idle connections to open.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Users the connections belong to (connection i is user i mod users).
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Server process(es) whose RSS to read from /proc/<pid>/status (summed).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Seconds to hold the connections open once all are up.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Concurrent connection attempts.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Prefix of generated user names (default: `li` and a run id).
    #[arg(long)]
    pub name_prefix: Option<String>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

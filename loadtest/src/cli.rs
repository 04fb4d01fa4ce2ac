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
    /// Write a `chat import` file for the search benchmark: users, one user in
    /// many group chats, and many messages of Zipf-distributed words.
    SearchData(SearchDataArgs),
    /// Search benchmark: a fixed mix of queries as one user, with latency per
    /// kind of query and checks of every answer.
    Search(SearchArgs),
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
    /// While sending, each connection also sends a `typing` notice to one of
    /// its chats this often (seconds; 0: never), as a user typing would: the
    /// ephemeral load next to the messages.
    #[arg(long, default_value_t = 0.0)]
    pub typing_every: f64,
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

/// Flags of `loadtest search-data`.
#[derive(Args, Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct SearchDataArgs {
    /// The export file to write (JSON Lines, as `chat export` writes it).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Where to write what `loadtest search` needs (the user, the chats, the
    /// queries and their expected hits) [default: OUTPUT.meta.json].
    #[arg(long)]
    pub meta: Option<PathBuf>,
    /// Users, the benchmark user included.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Group chats, every one with the benchmark user as a member.
    #[arg(long, default_value_t = 1000)]
    pub chats: usize,
    /// Members per group, the benchmark user included.
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
    /// Messages, spread over the chats (some chats busier than others).
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Seed of the vocabulary, the layout and the texts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Login name of the benchmark user.
    #[arg(long, default_value = "searcher")]
    pub user_name: String,
    /// Prefix of the other users' names (followed by their number).
    #[arg(long, default_value = "sd")]
    pub name_prefix: String,
    /// Password of every user (what `--password-hash` hashes).
    #[arg(long, default_value = crate::searchdata::PASSWORD)]
    pub password: String,
    /// The argon2id PHC string stored for every user (the default hashes the
    /// default password, made by the server's own parameters).
    #[arg(long, default_value = crate::searchdata::PASSWORD_HASH)]
    pub password_hash: String,
    /// Unix ms of the first message (the default is 2026-01-01T00:00:00Z; a
    /// fixed time keeps the file reproducible).
    #[arg(long, default_value_t = 1_767_225_600_000)]
    pub start_ms: i64,
    /// Days over which the messages are spread (evenly in time).
    #[arg(long, default_value_t = 180)]
    pub days: u64,
}

/// Flags of `loadtest search`.
#[derive(Args, Debug, Clone, Serialize)]
pub struct SearchArgs {
    /// Gateway base URL; repeat to alternate requests between several.
    #[arg(long = "gateway", default_value = "http://127.0.0.1:8080")]
    pub gateways: Vec<String>,
    /// The meta file `loadtest search-data` wrote beside the export.
    #[arg(long)]
    pub meta: PathBuf,
    /// An access token of the benchmark user (default: log in with the name
    /// and password of the meta file).
    #[arg(long)]
    pub token: Option<String>,
    /// Requests in flight: closed loop, each worker sends its next request
    /// when the last one is answered. With --rate, the most in flight.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Open loop: first pages due at this many per second (latency counted
    /// from the due time), at most --concurrency in flight.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Seconds of the same load before, not measured (caches warm up).
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Hits per page (1 to 50; the API's default is 20).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Follow `next_cursor` to a second page in every Nth round of the query
    /// mix (0: never).
    #[arg(long, default_value_t = 2)]
    pub second_page_every: u64,
    /// Only these query kinds (common, rare, prefix, phrase, russian, none).
    #[arg(long = "kind", value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Seed of the chats picked for in-chat searches.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A label for the result (e.g. the mode: standalone, distributed).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

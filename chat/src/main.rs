//! `chat`: parses configuration, sets up logging and signals, runs a mode.

use std::io::Write;

use chat::config::{Cli, Command, Layered};
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// glibc raises its mmap threshold each time a large block is freed, after which
/// blocks of that size come from the heap and stay in the process: argon2's 19 MiB
/// work area then costs ~20 MiB per concurrent login, for good. A fixed threshold
/// keeps large blocks mmap'd, so they return to the system when freed.
#[allow(unsafe_code)]
fn fix_malloc_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator tunable; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn main() -> anyhow::Result<()> {
    fix_malloc_mmap_threshold();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // An admin command prints its report; only warnings beside it.
    let admin = matches!(
        cli.command,
        Command::Migrate(_)
            | Command::User(_)
            | Command::Chat(_)
            | Command::Export(_)
            | Command::Import(_)
    );
    #[cfg(feature = "distributed")]
    let quiet = admin || matches!(cli.command, Command::Shards(_));
    #[cfg(not(feature = "distributed"))]
    let quiet = admin;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(if quiet { "warn" } else { "info" }));
    if cli.log_format == "json" {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    // One token stops whatever runs: cancelled on SIGTERM or Ctrl-C.
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        token.cancel();
    });
    match cli.command {
        Command::Standalone(args) => {
            let cfg = args.layered()?;
            cfg.validate()?;
            let listener = tokio::net::TcpListener::bind(cfg.gateway.listen()).await?;
            let data = cfg.data_dir().display().to_string();
            let running = chat::start_standalone(cfg, listener).await?;
            // Stdout may be a closed pipe: printing must not bring the server down.
            let mut out = std::io::stdout();
            let addr = running.addr;
            let _ = writeln!(
                out,
                "chat standalone listening on http://{addr} (data in {data})"
            );
            let _ = if running.web.is_served() {
                writeln!(
                    out,
                    "open http://{addr}/ in a browser (web client {})",
                    running.web.describe()
                )
            } else {
                writeln!(
                    out,
                    "no web client ({}): API at http://{addr}/api/v1, WebSocket at ws://{addr}/ws",
                    chat::web::ORIGIN
                )
            };
            let stop = running.shutdown_token();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                stop.cancel();
            });
            running.wait().await
        }
        #[cfg(feature = "distributed")]
        Command::Gateway(a) => chat::distributed::gateway(a.layered()?, shutdown).await,
        #[cfg(feature = "distributed")]
        Command::Writer(a) => chat::distributed::writer(a.layered()?, shutdown).await,
        #[cfg(feature = "distributed")]
        Command::Fanout(a) => chat::distributed::fanout(a.layered()?, shutdown).await,
        #[cfg(feature = "distributed")]
        Command::Shards(a) => chat::shards::run(a).await,
        Command::Migrate(t) => chat::admin::migrate(t).await,
        Command::User(a) => chat::admin::user(a).await,
        Command::Chat(a) => chat::admin::chat(a).await,
        Command::Export(a) => chat::admin::export(a).await,
        Command::Import(a) => chat::admin::import(a).await,
        #[cfg(not(feature = "distributed"))]
        Command::Gateway(_) | Command::Writer(_) | Command::Fanout(_) => anyhow::bail!(
            "this binary was built without the distributed roles; rebuild with `cargo build --release --features distributed`"
        ),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! Smoke run of the load generator against a real standalone server: a few
//! seconds at a small rate, over direct chats and groups, with more connections
//! than users (several devices per user). It must report 0 missing, 0
//! duplicated and 0 out-of-order deliveries.
//!
//! The server is the `chat` binary of this workspace, which another package
//! builds: it is found through `CHAT_BIN`, else at `<target-dir>/debug/chat`
//! next to this test's own executable. Build it first (`cargo build -p chat`;
//! `cargo test --workspace` and `scripts/test.sh` build it anyway).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The chat tests' process helper (spawn, banner, log, kill on drop), shared
/// by path: it uses only `std`.
#[allow(dead_code)]
#[path = "../../chat/tests/common/proc.rs"]
mod proc;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `chat standalone` on port 0 and returns it with its base URL.
fn start_server(dir: &std::path::Path) -> (proc::ChatProc, String) {
    let bin = proc::sibling_chat_bin();
    assert!(
        bin.is_file(),
        "the chat server binary is missing at {}: build it first with `cargo build -p chat` \
         (the same profile and target directory as this test), or point CHAT_BIN at it",
        bin.display()
    );
    let server = proc::Spawn::new(bin, dir.join("server.log"))
        .args(["standalone", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .start();
    let url = server.base_url();
    (server, url)
}

#[test]
fn smoke_run_delivers_every_message_once_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, url) = start_server(dir.path());
    let json = dir.path().join("result.json");
    let started = Instant::now();
    let mut generator = Killed(
        Command::new(env!("CARGO_BIN_EXE_loadtest"))
            .args(["run", "--gateway", &url])
            .args(["--users", "6", "--connections", "9", "--chats", "6"])
            .args(["--direct-ratio", "0.5", "--group-size", "4"])
            .args(["--rate", "60", "--duration", "5", "--ramp-up", "1"])
            // Typing notices and presence frames arrive between the
            // messages: the check must not mind them.
            .args(["--typing-every", "0.5"])
            .args(["--drain-timeout", "20", "--json"])
            .arg(&json)
            .spawn()
            .expect("starting loadtest"),
    );
    let status = loop {
        if let Some(s) = generator.0.try_wait().expect("waiting for loadtest") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "loadtest did not finish within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let result: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json).unwrap_or_else(|e| panic!("no JSON result ({e}); exit {status}")),
    )
    .expect("JSON result");
    let c = &result["correctness"];
    assert_eq!(c["missing"], 0, "{result:#}");
    assert_eq!(c["duplicated"], 0, "{result:#}");
    assert_eq!(c["out_of_order"], 0, "{result:#}");
    assert_eq!(c["unexpected"], 0, "{result:#}");
    assert_eq!(result["acked_not_stored"], 0, "{result:#}");
    assert_eq!(result["passed"], true, "{result:#}");
    assert!(status.success(), "loadtest exited with {status}");
    // The run did real work: every connection up, every message answered and
    // delivered to several recipients.
    assert_eq!(result["connected"], 9, "{result:#}");
    assert_eq!(result["unanswered"], 0, "{result:#}");
    let acked = result["acked"].as_u64().unwrap_or(0);
    assert!(
        acked >= 200,
        "only {acked} messages acknowledged: {result:#}"
    );
    assert_eq!(result["acked"], result["offered"], "{result:#}");
    let expected = c["expected"].as_u64().unwrap_or(0);
    assert!(
        expected > acked,
        "deliveries to several members: {result:#}"
    );
    assert_eq!(c["received"], expected, "{result:#}");
    assert!(
        result["errors"].as_object().is_some_and(|e| e.is_empty()),
        "{result:#}"
    );
}

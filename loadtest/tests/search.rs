//! The search benchmark end to end at a small size: `loadtest search-data`
//! writes a set, `chat import` loads it into a standalone data directory
//! (so the file is one the server's import takes), the server starts on it,
//! and `loadtest search` runs a few seconds as the set's user: every answer
//! 200 and every check (order, chats, counts, cursors) passing.
//!
//! The server is the `chat` binary of this workspace, found as in
//! `smoke.rs` (`CHAT_BIN`, else `<target-dir>/debug/chat`).

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "../../chat/tests/common/proc.rs"]
mod proc;

fn run(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn generate(dir: &Path) -> PathBuf {
    let file = dir.join("set.jsonl");
    run(
        Command::new(env!("CARGO_BIN_EXE_loadtest"))
            .args(["search-data", "--output"])
            .arg(&file)
            .args(["--users", "40", "--chats", "15", "--group-size", "6"])
            .args(["--messages", "4000", "--days", "5"]),
        "loadtest search-data",
    );
    file
}

#[test]
fn a_generated_set_imports_and_searches_with_every_check_passing() {
    let bin = proc::sibling_chat_bin();
    assert!(
        bin.is_file(),
        "the chat server binary is missing at {}: build it first with `cargo build -p chat`, \
         or point CHAT_BIN at it",
        bin.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = generate(dir.path());
    let data = dir.path().join("data");
    let out = run(
        Command::new(&bin)
            // Into the data directory: the shards would win over it.
            .env_remove("CHAT_MYSQL_SHARDS")
            .arg("import")
            .arg(&file)
            .arg("--data-dir")
            .arg(&data),
        "chat import",
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("messages 4000"), "{said}");

    let server = proc::Spawn::new(bin, dir.path().join("server.log"))
        .args([
            "standalone",
            "--listen",
            "127.0.0.1:0",
            "--rate-limits",
            "off",
        ])
        .arg("--data-dir")
        .arg(&data)
        .start();
    let json = dir.path().join("result.json");
    let status = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["search", "--gateway", &server.base_url(), "--meta"])
        .arg(dir.path().join("set.jsonl.meta.json"))
        .args(["--concurrency", "2", "--duration", "3", "--warmup", "1"])
        .args(["--limit", "5", "--second-page-every", "1", "--json"])
        .arg(&json)
        .status()
        .expect("starting loadtest search");
    let result: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json).unwrap_or_else(|e| panic!("no JSON result ({e}); exit {status}")),
    )
    .expect("JSON result");
    assert_eq!(result["passed"], true, "{result:#}");
    assert!(status.success(), "loadtest search exited with {status}");
    assert!(
        result["errors"].as_object().is_some_and(|e| e.is_empty()),
        "{result:#}"
    );
    assert!(result["requests"].as_u64().unwrap_or(0) > 20, "{result:#}");
    // Every kind over all chats and within one, and second pages were asked.
    let kinds = result["kinds"].as_array().expect("kinds");
    for kind in [
        "top", "common", "rare", "prefix", "phrase", "russian", "none",
    ] {
        for scope in ["global", "chat"] {
            assert!(
                kinds
                    .iter()
                    .any(|k| k["kind"] == kind && k["scope"] == scope && k["page"] == 1),
                "{kind} {scope}: {result:#}"
            );
        }
    }
    assert!(
        result["second_pages"]["count"].as_u64().unwrap_or(0) > 0,
        "{result:#}"
    );
}

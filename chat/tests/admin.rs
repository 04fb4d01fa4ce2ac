//! The admin commands of the binary against a running standalone server's
//! data directory: `chat migrate`, `chat user create|disable|enable|
//! reset-password`, `chat chat inspect`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// `chat ARGS --data-dir DATA` with `stdin`: success, stdout, stderr.
fn admin(args: &[&str], data: &Path, stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_BACKTRACE", "0")
        // The shards, when the test command's environment names them, would
        // win over --data-dir.
        .env_remove("CHAT_MYSQL_SHARDS")
        .env_remove("CHAT_REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chat");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `admin` on a blocking thread (the server runs in this process).
async fn run(args: &[&str], data: &Path, stdin: Option<&str>) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let data = data.to_path_buf();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        admin(&args, &data, stdin.as_deref())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn migrate_applies_the_schema_to_a_new_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, out, err) = run(&["migrate"], &data, None).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("up to date") && out.contains("migrations applied"),
        "{out}"
    );
    assert!(data.join("chat.db").is_file());
    // Again: nothing to do, the same answer.
    let (ok, again, err) = run(&["migrate"], &data, None).await;
    assert!(ok, "{err}");
    assert_eq!(again, out);
}

#[tokio::test]
async fn accounts_are_created_disabled_enabled_and_reset_by_the_admin_commands() {
    let server = TestServer::start_with(|c| c.gateway.session_check_secs = Some(1)).await;
    let data = server.dir.path().join("data");
    let api = server.api();

    // Created from the command line, the password from stdin.
    let (ok, out, err) = run(&["user", "create", "carol"], &data, Some("carol-pass-1\n")).await;
    assert!(ok, "{err}");
    assert!(out.contains("created user carol"), "{out}");
    let carol = api.try_login("carol", "carol-pass-1").await.ok();
    let (ok, _, err) = run(&["user", "create", "carol"], &data, Some("other-pass-1\n")).await;
    assert!(!ok && err.contains("taken"), "{err}");
    let (ok, _, err) = run(&["user", "create", "x"], &data, Some("other-pass-1\n")).await;
    assert!(!ok && err.contains("name must be"), "{err}");
    let (ok, _, err) = run(&["user", "create", "dave"], &data, Some("short\n")).await;
    assert!(!ok && err.contains("password must be"), "{err}");
    let (ok, _, err) = run(&["user", "create", "dave"], &data, None).await;
    assert!(!ok && err.contains("no password"), "{err}");
    api.try_login("dave", "short").await.refused();

    // Disabled: the session ends on the running server, the owner is told
    // at login, anyone else sees the usual refusal.
    let client = api.client(carol);
    client.me().await.ok();
    let (ok, out, err) = run(&["user", "disable", "carol"], &data, None).await;
    assert!(ok, "{err}");
    assert!(out.contains("disabled user carol"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = client.me().await;
        if !r.is_success() {
            assert_eq!(r.refused(), (401, "session_revoked"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session outlived the disable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(client.refresh().await.refused(), (401, "session_revoked"));
    assert_eq!(
        api.try_login("carol", "carol-pass-1").await.refused(),
        (403, "account_disabled")
    );
    assert_eq!(
        api.try_login("carol", "wrong-pass-1").await.refused(),
        (401, "invalid_credentials")
    );
    let (ok, out, _) = run(&["user", "disable", "carol"], &data, None).await;
    assert!(ok && out.contains("already disabled"), "{out}");

    // Enabled: the same password works again.
    let (ok, out, err) = run(&["user", "enable", "carol"], &data, None).await;
    assert!(ok && out.contains("enabled user carol"), "{out}{err}");
    let carol = api.client(api.try_login("carol", "carol-pass-1").await.ok());

    // A reset: the old password and every session end.
    let (ok, out, err) = run(
        &["user", "reset-password", "carol"],
        &data,
        Some("carol-pass-2\n"),
    )
    .await;
    assert!(ok && out.contains("new password for carol"), "{out}{err}");
    assert_eq!(carol.refresh().await.refused(), (401, "session_revoked"));
    assert_eq!(
        api.try_login("carol", "carol-pass-1").await.refused(),
        (401, "invalid_credentials")
    );
    api.try_login("carol", "carol-pass-2").await.ok();

    let (ok, _, err) = run(&["user", "disable", "nobody"], &data, None).await;
    assert!(!ok && err.contains("no user named"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn chat_inspect_shows_a_chat_as_stored() {
    let server = TestServer::start().await;
    let data = server.dir.path().join("data");
    let api = server.api();
    let ann = api.register("ann").await;
    let ben = api.register("ben").await;
    let chat = ann.group("admins", &[&ben]).await;
    ann.send(&chat, "k1", "hello").await.created();

    let (ok, out, err) = run(&["chat", "inspect", &chat], &data, None).await;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["id"], chat.as_str());
    assert_eq!(v["kind"], "group");
    assert_eq!(v["title"], "admins");
    assert_eq!(v["last_seq"], 1);
    assert_eq!(v["member_count"], 2);
    assert_eq!(v["shard"], "sqlite");
    assert_eq!(v["last_message"]["preview"], "hello");
    let members = v["members"].as_array().unwrap();
    let role = |name: &str| {
        members
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["role"].clone())
    };
    assert_eq!(role("ann"), Some("admin".into()));
    assert_eq!(role("ben"), Some("member".into()));

    let (ok, _, err) = run(&["chat", "inspect", "12345"], &data, None).await;
    assert!(!ok && err.contains("no chat 12345"), "{err}");
    let (ok, _, err) = run(&["chat", "inspect", "not-a-number"], &data, None).await;
    assert!(!ok && err.contains("invalid value"), "{err}");
    let (ok, _, err) = run(
        &["chat", "inspect", "1"],
        &server.dir.path().join("elsewhere"),
        None,
    )
    .await;
    assert!(!ok && err.contains("no database at"), "{err}");
    server.stop().await;
}

/// The export's rows (without its header, which names the source and time).
fn rows_of(export: &str) -> Vec<String> {
    export.lines().skip(1).map(str::to_string).collect()
}

#[tokio::test]
async fn an_export_imports_into_a_new_data_directory_whole() {
    let server = TestServer::start().await;
    let data = server.dir.path().join("data");
    let api = server.api();
    let ann = api.register("ann").await;
    let ben = api.register("ben").await;
    let cid = api.register("cid").await;
    let chat = ann.group("export", &[&ben]).await;
    for i in 0..1100 {
        ann.send(&chat, &format!("k{i}"), &format!("message {i}"))
            .await
            .created();
    }
    ann.edit(&chat, 2, "edited").await.ok();
    ann.delete(&chat, 3).await.ok();
    ann.react(&chat, 1100, "👍").await.ok();
    ben.react(&chat, 1100, "👍").await.ok();
    ben.react(&chat, 1099, "🎉").await.ok();
    ann.pin(&chat, 1099).await.ok();
    let m = ann.send(&chat, "hey", "@ben look").await.created().message;
    assert_eq!(m.mentions, vec![ben.id.clone()]);
    ben.mute(&chat, None).await.ok();
    let direct = ben.create_direct(&cid).await.created().id;
    ben.send(&direct, "d1", "hi cid").await.created();
    let before_list = ben.call("GET", "/api/v1/chats", None).await;
    let before_history = ben
        .call(
            "GET",
            &format!("/api/v1/chats/{chat}/messages?limit=50"),
            None,
        )
        .await;
    // Stopped, its directory kept.
    let mut server = server;
    server.running.take().unwrap().stop().await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("chat.jsonl");
    let (ok, _, err) = run(&["export", "-o", file.to_str().unwrap()], &data, None).await;
    assert!(ok, "{err}");
    assert!(err.contains("exported"), "{err}");
    let export = std::fs::read_to_string(&file).unwrap();
    assert!(export.lines().count() > 1100, "{}", export.lines().count());
    assert!(export.lines().last().unwrap().contains("\"end\""));

    // Into a new data directory: the same accounts, chats and messages.
    let copy = out.path().join("copy");
    let (ok, report, err) = run(&["import", file.to_str().unwrap()], &copy, None).await;
    assert!(ok, "{err}");
    assert!(report.contains("imported"), "{report}");
    let (ok, again, err) = run(&["export"], &copy, None).await;
    assert!(ok, "{err}");
    assert_eq!(
        rows_of(&again),
        rows_of(&export),
        "an export of the import is the same"
    );

    let copied = TestServer::start_with(|c| c.embedded.data_dir = Some(copy.clone())).await;
    let api = copied.api();
    let ben = api.login("ben").await;
    assert_eq!(ben.call("GET", "/api/v1/chats", None).await, before_list);
    assert_eq!(
        ben.call(
            "GET",
            &format!("/api/v1/chats/{chat}/messages?limit=50"),
            None
        )
        .await,
        before_history
    );
    // Importing into a directory that holds data is refused.
    let (ok, _, err) = run(&["import", file.to_str().unwrap()], &copy, None).await;
    assert!(!ok && err.contains("holds users or chats"), "{err}");
    copied.stop().await;

    // A file cut short, or with a bad line, changes nothing.
    let cut: String = export.lines().take(100).map(|l| format!("{l}\n")).collect();
    let cut_file = out.path().join("cut.jsonl");
    std::fs::write(&cut_file, cut).unwrap();
    let fresh = out.path().join("fresh");
    let (ok, _, err) = run(&["import", cut_file.to_str().unwrap()], &fresh, None).await;
    assert!(!ok && err.contains("cut short"), "{err}");
    assert!(!fresh.join("chat.db").exists());
    let mut lines: Vec<&str> = export.lines().collect();
    lines[5] = r#"{"table":"messages","chat_id":"not a number"}"#;
    let bad_file = out.path().join("bad.jsonl");
    std::fs::write(&bad_file, lines.join("\n")).unwrap();
    let (ok, _, err) = run(&["import", bad_file.to_str().unwrap()], &fresh, None).await;
    assert!(!ok && err.contains("line 6"), "{err}");
    assert!(!fresh.join("chat.db").exists());
    std::fs::write(&bad_file, "{\"format\":\"other\"}\n").unwrap();
    let (ok, _, err) = run(&["import", bad_file.to_str().unwrap()], &fresh, None).await;
    assert!(!ok && err.contains("header"), "{err}");
}

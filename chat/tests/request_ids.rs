//! Request ids for log pipelines: each API request gets an id (the client's
//! `X-Request-Id` when sane), returned in the `x-request-id` header and in
//! error bodies; `--log-format json` lines of the request carry it with the
//! user, the chat and the caller's role.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The JSON log lines (`--log-format json`) whose span has `request_id`.
fn lines_of(log: &str, id: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["request_id"] == id)
        .collect()
}

#[tokio::test]
async fn every_api_request_has_an_id_in_its_answer_and_its_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = standalone_process(dir.path(), "server.log")
        .args(["--log-format", "json"])
        .env("RUST_LOG", "warn,chat_gateway::reqid=debug")
        .start();
    let base = server.base_url();
    let api = Api::new(&base);
    let ann = api.register("ann").await;
    let chat = ann.group("ids", &[]).await;
    let http = reqwest::Client::new();

    // The client's id is kept.
    let res = http
        .get(format!("{base}/api/v1/chats/{chat}"))
        .bearer_auth(&ann.token)
        .header("x-request-id", "client-42.a")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "client-42.a");

    // A refusal: the id is made up, in the header and in the body.
    let res = http
        .get(format!("{base}/api/v1/chats/123456/messages"))
        .bearer_auth(&ann.token)
        .header("x-request-id", "<not an id>")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "chat_not_found");
    assert_eq!(body["error"]["request_id"], id.as_str());

    // Unauthenticated and unknown: still an id.
    let res = http
        .get(format!("{base}/api/v1/nowhere"))
        .send()
        .await
        .unwrap();
    let id404 = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], id404.as_str());
    // Not on probes.
    let res = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(res.headers().get("x-request-id").is_none());

    // The log lines: each request's with its route, user, chat and role.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (kept, refused) = loop {
        let log = server.log_text();
        let (kept, refused) = (lines_of(&log, "client-42.a"), lines_of(&log, &id));
        if !kept.is_empty() && !refused.is_empty() {
            break (kept, refused);
        }
        assert!(
            Instant::now() < deadline,
            "no log line of the requests:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let span = &kept[0]["span"];
    assert_eq!(span["route"], "/api/v1/chats/{id}");
    assert_eq!(span["method"], "GET");
    assert_eq!(span["user_id"].to_string(), ann.id, "{span}");
    assert_eq!(span["chat_id"].to_string(), chat, "{span}");
    assert_eq!(span["role"], "admin", "{span}");
    assert_eq!(kept[0]["fields"]["status"], 200);
    let span = &refused[0]["span"];
    assert_eq!(span["route"], "/api/v1/chats/{id}/messages");
    assert_eq!(span["chat_id"], 123456);
    assert!(span.get("role").is_none(), "not a member: {span}");
    assert_eq!(refused[0]["fields"]["status"], 404);
}

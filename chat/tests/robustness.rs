//! Bad input, slow clients and crashes: clear errors, nothing changed, nothing
//! lost, no panic reachable from the network.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chat_gateway::auth::Tokens;
use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMsg;

/// The error body of a refused raw request: its code, which must come with a
/// message.
fn code(v: &Value) -> &str {
    let e: ErrorBody = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("not an error body ({e}): {v}"));
    assert!(!e.error.message.is_empty(), "an error says why: {v}");
    v["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_input_gets_clear_errors_and_changes_nothing() {
    let s = TestServer::start_with(|c| {
        c.limits.max_text_chars = Some(100);
        c.gateway.max_frame_bytes = Some(4096);
    })
    .await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let chat = a.group("target", &[&b]).await;
    let msgs = format!("/api/v1/chats/{chat}/messages");
    a.send(&chat, "ok", "fine").await.created();
    let tok = Some(a.token.as_str());

    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (
            400,
            "bad_json",
            api.raw("POST", &msgs, tok, "{not json").await,
        ),
        (
            400,
            "bad_json",
            api.raw(
                "POST",
                &msgs,
                tok,
                r#"{"client_msg_id":"x","text":"t","extra":1}"#,
            )
            .await,
        ),
        (
            400,
            "bad_json",
            api.raw("POST", &msgs, tok, r#"{"text":"no id"}"#).await,
        ),
        (
            400,
            "empty_text",
            api.call(
                "POST",
                &msgs,
                tok,
                Some(json!({"client_msg_id": "e", "text": "   "})),
            )
            .await,
        ),
        (
            400,
            "text_too_long",
            api.call(
                "POST",
                &msgs,
                tok,
                Some(json!({"client_msg_id": "l", "text": "x".repeat(101)})),
            )
            .await,
        ),
        (
            400,
            "invalid_client_msg_id",
            api.call(
                "POST",
                &msgs,
                tok,
                Some(json!({"client_msg_id": "", "text": "t"})),
            )
            .await,
        ),
        (
            413,
            "too_large",
            api.call(
                "POST",
                &msgs,
                tok,
                Some(json!({"client_msg_id": "big", "text": "x".repeat(5000)})),
            )
            .await,
        ),
        (
            401,
            "auth_required",
            api.call("GET", &msgs, None, None).await,
        ),
        (
            401,
            "invalid_token",
            api.call("GET", &msgs, Some("not.a.jwt"), None).await,
        ),
        (
            404,
            "chat_not_found",
            api.call("GET", "/api/v1/chats/12345/messages", tok, None)
                .await,
        ),
        (
            400,
            "invalid_id",
            api.call("GET", "/api/v1/chats/abc/messages", tok, None)
                .await,
        ),
        (
            400,
            "invalid_id",
            api.call("GET", "/api/v1/chats/-5", tok, None).await,
        ),
        (
            400,
            "invalid_id",
            api.call(
                "PATCH",
                &format!("{msgs}/0"),
                tok,
                Some(json!({"text": "t"})),
            )
            .await,
        ),
        (
            404,
            "message_not_found",
            api.call(
                "PATCH",
                &format!("{msgs}/99"),
                tok,
                Some(json!({"text": "t"})),
            )
            .await,
        ),
        (
            400,
            "invalid_limit",
            api.call("GET", &format!("{msgs}?limit=0"), tok, None).await,
        ),
        (
            400,
            "invalid_limit",
            api.call("GET", &format!("{msgs}?limit=100000"), tok, None)
                .await,
        ),
        (
            400,
            "invalid_limit",
            api.call("GET", &format!("{msgs}?limit=ten"), tok, None)
                .await,
        ),
        (
            400,
            "invalid_limit",
            api.call("GET", &format!("{msgs}?before=5&after=1"), tok, None)
                .await,
        ),
        (
            404,
            "not_found",
            api.call("GET", "/api/v1/nothing-here", tok, None).await,
        ),
        (
            400,
            "invalid_name",
            api.call(
                "POST",
                "/api/v1/auth/register",
                None,
                Some(json!({"name": "x", "password": "password-123"})),
            )
            .await,
        ),
        (
            400,
            "invalid_password",
            api.call(
                "POST",
                "/api/v1/auth/register",
                None,
                Some(json!({"name": "xavier", "password": "short"})),
            )
            .await,
        ),
        (
            409,
            "name_taken",
            api.call(
                "POST",
                "/api/v1/auth/register",
                None,
                Some(json!({"name": "ALICE", "password": "password-123"})),
            )
            .await,
        ),
        (
            401,
            "invalid_credentials",
            api.call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"name": "alice", "password": "wrong-password"})),
            )
            .await,
        ),
        (
            401,
            "invalid_credentials",
            api.call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"name": "nobody", "password": "wrong-password"})),
            )
            .await,
        ),
        (
            400,
            "invalid_members",
            api.call(
                "POST",
                "/api/v1/chats",
                tok,
                Some(json!({"kind": "direct", "members": []})),
            )
            .await,
        ),
        (
            400,
            "invalid_title",
            api.call(
                "POST",
                "/api/v1/chats",
                tok,
                Some(json!({"kind": "group", "title": ""})),
            )
            .await,
        ),
        (
            404,
            "user_not_found",
            api.call(
                "POST",
                "/api/v1/chats",
                tok,
                Some(json!({"kind": "group", "title": "t", "members": ["42"]})),
            )
            .await,
        ),
        (
            400,
            "bad_json",
            api.call(
                "POST",
                "/api/v1/chats",
                tok,
                Some(json!({"kind": "channel", "title": "t"})),
            )
            .await,
        ),
        (
            400,
            "bad_json",
            api.call(
                "POST",
                &format!("/api/v1/chats/{chat}/members"),
                tok,
                Some(json!({"user_id": "not-a-number"})),
            )
            .await,
        ),
        (
            404,
            "message_not_found",
            api.call(
                "POST",
                &msgs,
                tok,
                Some(json!({"client_msg_id": "r", "text": "t", "reply_to_seq": 77})),
            )
            .await,
        ),
        // Found by the fuzz test: a path segment or query that is not UTF-8
        // once decoded was answered in axum's plain text, and the API's
        // root with a trailing slash by the web client's fallback.
        (
            400,
            "invalid_id",
            api.call(
                "DELETE",
                &format!("/api/v1/chats/{chat}/members/%FF%FE"),
                tok,
                None,
            )
            .await,
        ),
        (
            400,
            "invalid_id",
            api.call("GET", "/api/v1/users?ids=%FF", tok, None).await,
        ),
        (
            404,
            "not_found",
            api.call("GET", "/api/v1/", tok, None).await,
        ),
        (
            405,
            "method_not_allowed",
            api.call("GET", &format!("/api/v1/chats/{chat}/members/1"), tok, None)
                .await,
        ),
        (
            400,
            "invalid_limit",
            api.call(
                "GET",
                &format!("/api/v1/chats/{chat}/messages?limit=%FF"),
                tok,
                None,
            )
            .await,
        ),
    ];
    for (i, (status, want, (got_status, body))) in cases.iter().enumerate() {
        let e: ErrorBody = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("case {i}: not an error body ({e}): {body}"));
        assert_eq!(
            (*got_status, e.error.code.as_str()),
            (*status, *want),
            "case {i}: {body}"
        );
        assert!(!e.error.message.is_empty(), "case {i} has a message");
    }

    // Expired and forged tokens.
    let tokens = Tokens::new(SECRET.as_bytes(), Duration::from_secs(60)).unwrap();
    let id: u64 = a.id.parse().unwrap();
    let expired = tokens
        .issue_with(chat_core::UserId(id), "alice", 1, 1_000, 2_000)
        .unwrap();
    let (st, v) = api.call("GET", &msgs, Some(&expired), None).await;
    assert_eq!((st, code(&v)), (401, "token_expired"));
    let forger = Tokens::new(
        b"some-other-secret-some-other-secret!",
        Duration::from_secs(60),
    )
    .unwrap();
    let (forged, _) = forger.issue(chat_core::UserId(id), "alice", 1).unwrap();
    let (st, v) = api.call("GET", &msgs, Some(&forged), None).await;
    assert_eq!((st, code(&v)), (401, "invalid_token"));
    // Signed with the server's key, for a session that was never opened.
    let (sessionless, _) = tokens
        .issue(chat_core::UserId(id), "alice", 12_345)
        .unwrap();
    let (st, v) = api.call("GET", &msgs, Some(&sessionless), None).await;
    assert_eq!((st, code(&v)), (401, "session_revoked"));

    // Nothing changed: one message, two members.
    let h = a.history_forward(&chat, 50).await;
    assert_eq!(seqs(&h), vec![1]);
    assert_eq!(a.members(&chat).await.ok().members.len(), 2);
    assert_eq!(a.chats().await.ok().chats.len(), 1);
    // The server is still healthy.
    let (st, _) = api.call("GET", "/healthz", None, None).await;
    assert_eq!(st, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_websocket_input_gets_error_frames_and_changes_nothing() {
    let s = TestServer::start_with(|c| {
        c.limits.max_text_chars = Some(100);
        c.gateway.max_frame_bytes = Some(4096);
    })
    .await;
    let api = s.api();
    let a = api.register("alice").await;
    let chat = a.group("ws", &[]).await;

    // Authentication failures close with 4001 after an error frame.
    for (first, want) in [
        (json!({"type": "ping"}), "auth_required"),
        (json!({"type": "auth", "token": "forged"}), "invalid_token"),
    ] {
        let mut ws = Ws::connect_raw(&s.ws_url).await;
        ws.send(first).await;
        assert_eq!(ws.next_error().await.code, want);
        match ws.next_within(FRAME_WAIT).await {
            Next::Closed(Some(code)) => assert_eq!(code, 4001),
            other => panic!("expected close 4001, got {other:?}"),
        }
    }

    let mut ws = a.ws().await;
    let probes: Vec<(String, &str)> = vec![
        ("{oops".into(), "bad_json"),
        (json!({"type": "teleport"}).to_string(), "unknown_type"),
        (json!({"no_type": 1}).to_string(), "bad_json"),
        (json!({"type": "subscribe", "chat_id": "abc"}).to_string(), "invalid_id"),
        (json!({"type": "subscribe", "chat_id": "999"}).to_string(), "chat_not_found"),
        (json!({"type": "send", "chat_id": chat, "client_msg_id": "e", "text": ""}).to_string(), "empty_text"),
        (json!({"type": "send", "chat_id": chat, "client_msg_id": "l", "text": "y".repeat(101)}).to_string(), "text_too_long"),
        (json!({"type": "send", "chat_id": chat, "client_msg_id": "l", "text": "y".repeat(5000)}).to_string(), "too_large"),
        (json!({"type": "edit", "chat_id": chat, "seq": 5, "text": "t", "ref": "r1"}).to_string(), "message_not_found"),
        (json!({"type": "auth", "token": a.token}).to_string(), "bad_json"),
    ];
    for (i, (frame, want)) in probes.iter().enumerate() {
        ws.send_text(frame.clone()).await;
        let (code, message) = ws
            .next_where(|f| match f {
                Frame::Error(e) => Some((e.code, e.message)),
                Frame::Rejected(r) => Some((r.code, r.message)),
                _ => None,
            })
            .await;
        assert_eq!(code, *want, "probe {i}: {message}");
        assert!(!message.is_empty(), "probe {i} has a message");
    }
    ws.tx
        .send(WsMsg::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(ws.next_error().await.code, "bad_json");
    // Still connected and working.
    ws.ping().await;
    ws.next_pong().await;
    // Beyond twice the frame limit the transport closes with 1009.
    ws.send_text(
        json!({"type": "send", "chat_id": chat, "client_msg_id": "h", "text": "z".repeat(10_000)})
            .to_string(),
    )
    .await;
    let mut closed = false;
    for _ in 0..10 {
        match ws.next_within(FRAME_WAIT).await {
            Next::Closed(Some(code)) => {
                assert_eq!(code, 1009);
                closed = true;
                break;
            }
            // The stream ended without a close frame: closed all the same.
            Next::Closed(None) => {
                closed = true;
                break;
            }
            Next::Frame(_) => continue,
            Next::Timeout => break,
        }
    }
    assert!(closed, "an oversized frame ends the connection");
    assert!(
        a.history_forward(&chat, 50).await.is_empty(),
        "nothing was posted"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_dropped_without_delaying_others() {
    let s = TestServer::start_with(|c| c.gateway.conn_queue = Some(256)).await;
    let api = s.api();
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    let slow = api.register("slowpoke").await;
    let chat = a.group("firehose", &[&b, &slow]).await;

    let mut ws_slow = slow.ws().await;
    ws_slow.subscribe(&chat, None).await;
    let mut wb = b.ws().await;
    wb.subscribe(&chat, None).await;
    let mut wa = a.ws().await;

    // ~16 MB of messages: more than the kernel buffers of a client that stopped reading.
    let n = 4000;
    let text = "w".repeat(4000);
    let reader = tokio::spawn(async move {
        let mut seq = 0;
        while seq < n {
            if let Frame::Message(m) = wb.next().await {
                seq += 1;
                assert_eq!(
                    m.message.seq, seq,
                    "the fast client gets every message in order"
                );
            }
        }
        seq
    });
    // The slow client starts reading again as soon as the server counts it as
    // dropped: it must then find the data it had, and a close frame with 4008.
    let slow_metric = |api: Api| async move {
        let (_, m) = api.call("GET", "/metrics", None, None).await;
        m.as_str()
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("gateway_slow_clients_dropped_total"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = slow_metric(api.clone()).await;
    let slow_reader = {
        let api = api.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while slow_metric(api.clone()).await <= before {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slow client was never dropped"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut got = 0;
            loop {
                match ws_slow.next_within(Duration::from_secs(20)).await {
                    Next::Frame(_) => got += 1,
                    Next::Closed(code) => return (got, code),
                    Next::Timeout => panic!("the slow connection must be closed by the server"),
                }
            }
        })
    };
    let mut acked = 0;
    let mut sent = 0;
    while acked < n {
        while sent < n && sent - acked < 64 {
            wa.send_message(&chat, &format!("f{sent}"), &text).await;
            sent += 1;
        }
        if let Frame::Ack(_) = wa.next().await {
            acked += 1;
        }
    }
    assert_eq!(
        reader.await.unwrap(),
        n,
        "the fast client was not held back"
    );
    let (got, close_code) = slow_reader.await.unwrap();
    assert!(
        got < n as usize,
        "the slow client was cut off (got {got} frames)"
    );
    assert_eq!(close_code, Some(4008), "the close frame names the reason");
    // It can come back and resume by seq.
    let mut again = slow.ws().await;
    let (_, replay) = again.subscribe(&chat, Some(n - 5)).await;
    assert_eq!(seqs(&replay), ((n - 4)..=n).collect::<Vec<_>>());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_acks_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_standalone(dir.path(), "first.log");
    let api = Api::new(server.base_url());
    let a = api.register("alice").await;
    let chat = a.group("durable", &[]).await;
    let mut ws = a.ws().await;

    // Keep up to 150 sends in flight; kill as soon as 300 are acked.
    let mut acked = HashSet::new();
    let mut sent = 0;
    while acked.len() < 300 {
        while sent < 400 && sent - acked.len() < 150 {
            ws.send_message(&chat, &format!("k{sent}"), &format!("durable {sent}"))
                .await;
            sent += 1;
        }
        match ws.next().await {
            Frame::Ack(k) => {
                acked.insert(k.client_msg_id.expect("the ack of a send names its key"));
            }
            f @ (Frame::Error(_) | Frame::Rejected(_)) => panic!("{f:?}"),
            _ => {}
        }
    }
    server.kill();
    drop(ws);

    let server = spawn_standalone(dir.path(), "second.log");
    let api = Api::new(server.base_url());
    let a = api.login("alice").await;
    let h = a.history_forward(&chat, 200).await;
    let n = h.len() as u64;
    assert_eq!(
        seqs(&h),
        (1..=n).collect::<Vec<_>>(),
        "dense seq after the crash"
    );
    let ids: Vec<&str> = h.iter().map(|m| m.client_msg_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "each message once");
    for k in &acked {
        assert!(unique.contains(k.as_str()), "acked message {k} survived");
    }
    assert!(n >= 300);
}

//! Abuse controls (docs/security.md): rate limits, connection caps and
//! timeouts. Each answers with a clear error and changes nothing else.
//!
//! Clients of different addresses are told apart by their source address:
//! every 127.0.0.0/8 address is this machine, so an "attacker" binds
//! 127.0.0.2 while the victim stays on 127.0.0.1.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::api::PASSWORD;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMsg;

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// An HTTP client whose connections come from `from`.
fn client_from(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A TCP connection to `addr` from `from`.
async fn tcp_from(from: IpAddr, addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind((from, 0).into())?;
    sock.connect(addr).await
}

fn server_addr(s: &TestServer) -> std::net::SocketAddr {
    s.base
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// The next `error` frame, skipping others.
async fn next_error(ws: &mut Ws) -> ErrorFrame {
    ws.next_where(|f| match f {
        Frame::Error(e) => Some(e),
        _ => None,
    })
    .await
}

/// The status of `/healthz` asked from `from`.
async fn healthz_from(from: IpAddr, s: &TestServer) -> u16 {
    client_from(from)
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .expect("healthz")
        .status()
        .as_u16()
}

/// The error code of a JSON error body.
fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_brute_force_is_throttled_while_the_owner_logs_in_from_home() {
    // The default limits (the harness turns them off).
    let s = TestServer::start_with(|c| c.gateway.rate_limits = None).await;
    let api = s.api();
    api.register("victim").await;

    let attacker = client_from(ATTACKER);
    let url = format!("{}/api/v1/auth/login", s.base);
    let attempts = futures_util::stream::iter(0..1000)
        .map(|i| {
            let (attacker, url) = (attacker.clone(), url.clone());
            async move {
                let resp = attacker
                    .post(&url)
                    // Logins ignore case: so does the limit.
                    .json(&json!({"name": if i % 2 == 0 { "victim" } else { "VICTIM" }, "password": format!("guess-{i}")}))
                    .send()
                    .await
                    .expect("login attempt");
                let status = resp.status().as_u16();
                let retry_after = resp.headers().get("retry-after").cloned();
                let body: Value = resp.json().await.expect("json body");
                (status, retry_after, body)
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let mut tried = 0;
    let mut throttled = 0;
    for (status, retry_after, body) in &attempts {
        match (status, code_of(body)) {
            (401, "invalid_credentials") => tried += 1,
            (429, "too_many_requests") => {
                throttled += 1;
                assert!(retry_after.is_some(), "a 429 says when to retry: {body}");
                assert!(
                    body["error"]["retry_after_ms"]
                        .as_u64()
                        .is_some_and(|ms| ms > 0)
                );
            }
            other => panic!("unexpected answer to a login attempt: {other:?} {body}"),
        }
    }
    // login_name_ip allows a burst of 10 per name and address.
    assert!(tried <= 12, "{tried} of 1000 guesses were checked");
    assert_eq!(tried + throttled, 1000);
    // Throttled before the password is looked at: the right one is refused too.
    let (status, body) = {
        let r = attacker
            .post(&url)
            .json(&json!({"name": "victim", "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        (r.status().as_u16(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!((status, code_of(&body)), (429, "too_many_requests"));

    // The owner, from their own address, is not locked out.
    let me = api.try_login("victim", PASSWORD).await.ok();
    assert_eq!(me.user.name, "victim");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_sends_and_subscriptions_are_rate_limited() {
    let s = TestServer::start_with(|c| {
        c.gateway.rate_limits = Some("register_ip=3/h,send=5/min,subscribe=2/min".into());
    })
    .await;
    let api = s.api();
    let a = api.register("rl-a").await;
    let b = api.register("rl-b").await;
    api.register("rl-c").await;
    // The fourth registration from this address is refused; another address
    // still registers.
    assert_eq!(
        api.try_register("rl-d", PASSWORD).await.refused(),
        (429, "too_many_requests")
    );
    let (status, _) = {
        let r = client_from(ATTACKER)
            .post(format!("{}/api/v1/auth/register", s.base))
            .json(&json!({"name": "rl-e", "password": PASSWORD}))
            .send()
            .await
            .expect("register");
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 201);
    assert_eq!(
        api.try_login("rl-d", PASSWORD).await.refused(),
        (401, "invalid_credentials"),
        "a refused registration creates nothing"
    );

    // Sends: 5 a minute per user, HTTP and WebSocket together.
    let chat = a.group("limited", &[&b]).await;
    for i in 0..3 {
        a.send(&chat, &format!("h{i}"), "hi").await.created();
    }
    let mut ws = a.ws().await;
    ws.send_message(&chat, "w1", "one").await;
    ws.send_message(&chat, "w2", "two").await;
    ws.send_message(&chat, "w3", "three").await;
    let (mut acked, mut err) = (0, None);
    while acked < 2 || err.is_none() {
        match ws.next().await {
            Frame::Ack(_) => acked += 1,
            Frame::Error(e) => err = Some(e),
            _ => {}
        }
    }
    let err = err.expect("an error frame");
    assert_eq!(acked, 2);
    assert_eq!(err.code, "too_many_requests");
    assert_eq!(err.reference.as_deref(), Some("w3"));
    assert!(err.retry_after_ms.is_some_and(|ms| ms > 0));
    assert_eq!(
        a.send(&chat, "h9", "over").await.refused(),
        (429, "too_many_requests")
    );
    let history = a.history_forward(&chat, 100).await;
    assert_eq!(history.len(), 5, "refused sends store nothing");
    // Another user is not limited by a's sends.
    b.send(&chat, "b1", "mine").await.created();

    // Subscriptions: 2 a minute per connection.
    let mut ws = b.ws().await;
    ws.subscribe(&chat, None).await;
    ws.subscribe(&chat, None).await;
    ws.send_subscribe(&chat, None, None).await;
    let e = next_error(&mut ws).await;
    assert_eq!(
        (e.code.as_str(), e.chat_id.as_deref()),
        ("too_many_requests", Some(chat.as_str()))
    );
    // A new connection has its own allowance.
    let mut ws2 = b.ws().await;
    ws2.subscribe(&chat, None).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_does_not_stop_normal_clients() {
    let s = TestServer::start_with(|c| {
        c.gateway.header_timeout_secs = Some(2);
    })
    .await;
    let addr = server_addr(&s);
    // 5,000 connections from one address, each sending half a request head
    // and then nothing.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..5000 {
        match tcp_from(ATTACKER, addr).await {
            Ok(mut c) => {
                if c.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")
                    .await
                    .is_ok()
                {
                    held.push(c);
                } else {
                    refused += 1;
                }
            }
            Err(_) => refused += 1,
        }
    }
    // Meanwhile normal clients register, chat and follow over WebSocket.
    let api = s.api().with_timeout(Duration::from_secs(10));
    let a = api.register("normal-a").await;
    let b = api.register("normal-b").await;
    let chat = a.group("still works", &[&b]).await;
    let mut ws = b.ws().await;
    ws.subscribe(&chat, None).await;
    a.send(&chat, "k", "hello").await.created();
    let m = ws
        .next_where(|f| match f {
            Frame::Message(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(m.message.text, "hello");

    // The cap per address turned most away at once (a 503 or a reset), and the
    // header timeout closes the rest.
    let mut answered_503 = 0;
    // Closed without an answer: by the header timeout already, when the
    // normal clients above took longer than it (a debug build hashing
    // passwords next to other tests).
    let mut closed = 0;
    let mut open = Vec::new();
    for mut c in held {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), c.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 && buf.starts_with(b"HTTP/1.1 503") => answered_503 += 1,
            Ok(Ok(0)) => {
                refused += 1;
                closed += 1;
            }
            Ok(_) => refused += 1,
            Err(_) => open.push(c),
        }
    }
    assert!(
        open.len() <= 1000,
        "{} half-open connections held",
        open.len()
    );
    assert!(
        answered_503 + refused >= 4000,
        "{answered_503} answered 503, {refused} refused"
    );
    for mut c in open {
        let mut buf = [0u8; 512];
        // Closed by the server within its header timeout (2 s): the read ends.
        match tokio::time::timeout(Duration::from_secs(30), c.read(&mut buf)).await {
            Ok(_) => closed += 1,
            Err(_) => panic!("a half-open connection was held past the header timeout"),
        }
    }
    assert!(closed > 0, "the header timeout closed none");
    // And the gateway serves again from that address.
    assert_eq!(healthz_from(ATTACKER, &s).await, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_sent_too_slowly_times_out() {
    // Long enough for the registration before it (a password hash takes
    // up to a second in a debug build while other tests log in).
    let s = TestServer::start_with(|c| c.gateway.request_timeout_secs = Some(4)).await;
    let api = s.api();
    let a = api.register("slow-body").await;
    let mut c = TcpStream::connect(server_addr(&s)).await.expect("connect");
    let head = format!(
        "POST /api/v1/chats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{",
        a.token
    );
    c.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 1024];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(9).any(|w| w == b"\"timeout\"") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(text.contains("\"timeout\""), "{text}");
    assert!(a.chats().await.ok().chats.is_empty(), "nothing created");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_closed_and_a_live_one_kept() {
    let s = TestServer::start_with(|c| c.gateway.ws_ping_secs = Some(1)).await;
    let a = s.api().register("pinged").await;
    // A live client reads (its WebSocket stack answers each ping).
    let mut live = a.ws().await;
    // A silent one never reads after `ready`, so it never answers a ping.
    let mut silent = a.ws().await;
    // (`next_within` skips pings, and one comes every second: read with a
    // deadline instead.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut pings = 0;
    while let Ok(m) = tokio::time::timeout_at(deadline, live.rx.next()).await {
        match m {
            Some(Ok(WsMsg::Ping(_))) => pings += 1,
            other => panic!("the live connection got {other:?}"),
        }
    }
    assert!(pings >= 2, "{pings} pings in 4 s");
    match silent.next_within(Duration::from_secs(10)).await {
        Next::Closed(Some(4009)) => {}
        other => panic!("expected close 4009, got {other:?}"),
    }
    live.ping().await;
    assert!(matches!(live.next().await, Frame::Pong(_)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_frame_before_authentication_is_refused() {
    let s = TestServer::start().await;
    let a = s.api().register("preauth").await;
    let mut ws = Ws::connect_raw(&s.ws_url).await;
    // An auth frame padded past the pre-authentication limit (4 KiB).
    let frame = json!({"type": "auth", "token": a.token, "pad": "x".repeat(8 * 1024)});
    ws.send(frame).await;
    match ws.next().await {
        Frame::Error(e) => assert_eq!(e.code, "too_large"),
        other => panic!("expected too_large, got {other:?}"),
    }
    assert!(matches!(
        ws.next_within(FRAME_WAIT).await,
        Next::Closed(Some(4001))
    ));
    // A normal auth frame still works.
    let _ = Ws::connect(&s.ws_url, &a.token).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_too_far_behind_is_told_to_page_history() {
    let s = TestServer::start_with(|c| c.gateway.max_replay = Some(5)).await;
    let api = s.api();
    let a = api.register("replay-a").await;
    let chat = a.group("long", &[]).await;
    for i in 0..10 {
        a.send(&chat, &format!("k{i}"), &format!("m{i}"))
            .await
            .created();
    }
    let mut ws = a.ws().await;
    ws.send_subscribe(&chat, Some(2), None).await;
    let e = next_error(&mut ws).await;
    assert_eq!(
        (e.code.as_str(), e.chat_id.as_deref()),
        ("replay_too_long", Some(chat.as_str()))
    );
    // Not subscribed: a new message does not arrive.
    a.send(&chat, "k10", "m10").await.created();
    assert!(matches!(
        ws.next_within(Duration::from_millis(500)).await,
        Next::Timeout
    ));
    // Within the cap, the replay comes.
    ws.send_subscribe(&chat, Some(8), None).await;
    let mut seqs = Vec::new();
    loop {
        match ws.next().await {
            Frame::Message(m) => seqs.push(m.message.seq),
            Frame::Synced(_) => break,
            _ => {}
        }
    }
    assert_eq!(seqs, vec![9, 10, 11]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_upgrade_honours_the_connection_caps() {
    let s = TestServer::start_with(|c| c.gateway.max_connections_per_ip = Some(3)).await;
    // Registered from the other address: the HTTP client's pooled connection
    // would hold one of 127.0.0.1's places.
    let session: Value = client_from(ATTACKER)
        .post(format!("{}/api/v1/auth/register", s.base))
        .json(&json!({"name": "capped", "password": PASSWORD}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("session");
    let token = session["token"].as_str().expect("token").to_string();
    let a = s.api();
    let ws = |token: String, url: String| async move { Ws::connect(&url, &token).await };
    // Three WebSockets from 127.0.0.1 hold its three places.
    let w1 = ws(token.clone(), s.ws_url.clone()).await;
    let _w2 = ws(token.clone(), s.ws_url.clone()).await;
    let _w3 = ws(token.clone(), s.ws_url.clone()).await;
    assert!(
        Ws::try_connect_raw(&s.ws_url, Duration::from_secs(5))
            .await
            .is_none(),
        "a fourth connection from the address is refused"
    );
    // Another address is unaffected.
    assert_eq!(healthz_from(ATTACKER, &s).await, 200);
    drop(w1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _w4 = ws(token.clone(), a.ws_url()).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_on_groups_members_and_chats_answer_quota_exceeded() {
    let s = TestServer::start_with(|c| {
        c.gateway.rate_limits = Some("groups_per_day=2/d".into());
        c.limits.max_group_members = Some(3);
        c.limits.max_chats_per_user = Some(3);
    })
    .await;
    let api = s.api();
    let a = api.register("quota-a").await;
    let b = api.register("quota-b").await;
    let c = api.register("quota-c").await;
    let d = api.register("quota-d").await;
    // Two groups a day.
    let g1 = a.group("one", &[&b, &c]).await;
    a.group("two", &[]).await;
    let third = a.create_group("three", &[]).await;
    let (status, body) = (third.status, third.body.clone());
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("quota_exceeded"))
    );
    assert!(
        body["error"]["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
    // A direct chat is not a group: still allowed (a is in 3 chats now).
    // Three members at most: the group is full.
    assert_eq!(
        a.add_member(&g1, &d.id, None).await.refused(),
        (403, "quota_exceeded")
    );
    // Three chats per user: d joins two, a third is refused, and so is
    // creating one.
    d.group("d1", &[]).await;
    d.create_direct(&b).await.created();
    d.group("d3", &[]).await;
    assert_eq!(d.create_direct(&c).await.refused(), (403, "quota_exceeded"));
    assert_eq!(
        c.create_direct(&d).await.refused(),
        (403, "quota_exceeded"),
        "d is in three chats already"
    );
    assert_eq!(a.chats().await.ok().chats.len(), 2, "nothing was created");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_directory_cannot_be_walked() {
    let s = TestServer::start_with(|c| {
        c.gateway.rate_limits = Some("lookup=5/min,lookup_name=2/min".into());
    })
    .await;
    let api = s.api();
    let a = api.register("walker").await;
    let b = api.register("walked").await;
    // Each id looked up counts.
    assert_eq!(a.users(&[&b.id, &b.id, &b.id, &b.id]).await.ok().len(), 1);
    a.user(&b.id).await.ok();
    assert_eq!(a.user(&b.id).await.refused(), (429, "too_many_requests"));
    assert_eq!(
        a.users(&[&b.id]).await.refused(),
        (429, "too_many_requests")
    );
    // By name: two a minute.
    a.user_by_name("walked").await.ok();
    assert_eq!(
        a.user_by_name("nobody").await.refused(),
        (404, "user_not_found")
    );
    assert_eq!(
        a.user_by_name("walked").await.refused(),
        (429, "too_many_requests")
    );
    // Another user has an allowance of their own.
    b.user(&a.id).await.ok();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_closed_when_its_token_expires() {
    let s = TestServer::start().await;
    let a = s.api().register("expiring").await;
    let tokens = chat_gateway::auth::Tokens::new(SECRET.as_bytes(), Duration::from_secs(60))
        .expect("tokens");
    let now = chat_core::now_ms() / 1000;
    let short = tokens
        .issue_with(
            a.id.parse().map(chat_core::UserId).unwrap(),
            "expiring",
            a.session_id.parse().unwrap(),
            now,
            now + 2,
        )
        .expect("token");
    let mut ws = Ws::connect(&s.ws_url, &short).await;
    let mut saw_error = false;
    let closed = loop {
        match ws.next_within(Duration::from_secs(15)).await {
            Next::Frame(f) => {
                if let Frame::Error(e) = *f {
                    assert_eq!(e.code, "token_expired");
                    saw_error = true;
                }
            }
            Next::Closed(code) => break code,
            Next::Timeout => panic!("the connection outlived its token"),
        }
    };
    assert!(saw_error, "told why");
    assert_eq!(closed, Some(4001));
    // A connection with a valid token stays.
    let mut fine = a.ws().await;
    fine.ping().await;
    assert!(matches!(fine.next().await, Frame::Pong(_)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_keeps_tokens_valid_until_the_old_key_is_dropped() {
    const NEW: &str = "a-brand-new-signing-secret-0123456789";
    let s = TestServer::start().await;
    let old = s.api().register("rotated").await;
    let mut s = s;
    s.cfg.gateway.jwt_secret = Some(NEW.into());
    s.cfg.gateway.jwt_previous_secrets = Some(SECRET.into());
    let s = s.restart().await;
    let api = s.api();
    // Signed with the previous key: still valid.
    assert_eq!(old.via(&api).me().await.ok().name, "rotated");
    // New tokens are signed with the new key (their kid differs).
    let new = api.login("rotated").await;
    let kid = base64_head::decode_header_kid;
    assert_ne!(kid(&old.token), kid(&new.token));
    // The old key dropped: its tokens are refused, the new ones are not.
    let mut s = s;
    s.cfg.gateway.jwt_previous_secrets = None;
    let s = s.restart().await;
    let api = s.api();
    assert_eq!(old.via(&api).me().await.refused(), (401, "invalid_token"));
    new.via(&api).me().await.ok();
    s.stop().await;
}

/// A token's `kid` header, read without a JWT library.
mod base64_head {
    pub fn decode_header_kid(token: &str) -> Option<String> {
        let head = token.split('.').next()?;
        let json = decode(head)?;
        let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
        v["kid"].as_str().map(str::to_string)
    }

    /// base64url without padding.
    fn decode(s: &str) -> Option<Vec<u8>> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        };
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes() {
            acc = (acc << 6) | u32::from(val(c)?);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        Some(out)
    }
}

//! Property tests on stable Rust (issue 14, item 8): the decoders of every
//! input the network or the log hands us — WebSocket frames, HTTP bodies,
//! Kafka records, pub/sub envelopes — fed arbitrary bytes and structured
//! mutations of the seeds in `tests/fuzz_corpus/`. Nothing may panic; a
//! refusal is a clear error (a code), and the server keeps serving.
//!
//! A short run is part of the test command; `CHAT_FUZZ_ITERS` (per target)
//! runs longer and `CHAT_FUZZ_SEED` replays a run (the seed of a failing run
//! is in its panic message).

mod common;

use std::time::Duration;

use bytes::Bytes;
use chat_core::wire::{ClientFrame, CommandRecord, EffectRecord, Envelope, Reply};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{Value, json};

const WS_SEEDS: &str = include_str!("fuzz_corpus/ws_frames.jsonl");
const HTTP_SEEDS: &str = include_str!("fuzz_corpus/http_requests.jsonl");
const RECORD_SEEDS: &str = include_str!("fuzz_corpus/records.jsonl");

fn iterations(default: usize) -> usize {
    std::env::var("CHAT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The run's generator and its seed (printed on failure).
fn rng() -> (StdRng, u64) {
    let seed = std::env::var("CHAT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_c4a7);
    (StdRng::seed_from_u64(seed), seed)
}

fn seeds(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Values that break careless code: extremes, wrong types, deep nesting,
/// control characters, long text.
fn nasty(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => json!(u64::MAX),
        1 => json!(-1),
        2 => json!(1e308),
        3 => serde_json::from_str("18446744073709551616").unwrap_or(Value::Null),
        4 => json!(""),
        5 => json!("a".repeat(rng.random_range(1..20_000))),
        6 => json!("\u{0}\u{1}\u{7f}"),
        7 => json!("💥".repeat(rng.random_range(1..500))),
        8 => Value::Null,
        9 => json!(true),
        10 => json!([]),
        11 => json!({}),
        12 => {
            let mut v = json!(0);
            for _ in 0..rng.random_range(1..200) {
                v = json!([v]);
            }
            v
        }
        13 => json!("0"),
        14 => json!("-1"),
        _ => json!(rng.next_u64().to_string()),
    }
}

/// A structured mutation of a JSON value: one node replaced, a key removed
/// or added, or the frame type changed.
fn mutate_value(v: &mut Value, rng: &mut StdRng) {
    match v {
        Value::Object(map) if !map.is_empty() && rng.random_bool(0.7) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = keys[rng.random_range(0..keys.len())].clone();
            match rng.random_range(0..5) {
                0 => {
                    map.remove(&k);
                }
                1 => {
                    map.insert(format!("extra{}", rng.random_range(0..3)), nasty(rng));
                }
                2 if k == "type" || k == "op" => {
                    // Every frame type, and two that are none.
                    let mut tags: Vec<&str> = ClientFrame::TYPES.to_vec();
                    tags.extend(["nope", ""]);
                    map.insert(k, json!(tags[rng.random_range(0..tags.len())]));
                }
                _ => {
                    if let Some(child) = map.get_mut(&k) {
                        if rng.random_bool(0.5) {
                            mutate_value(child, rng);
                        } else {
                            *child = nasty(rng);
                        }
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && rng.random_bool(0.7) => {
            let i = rng.random_range(0..items.len());
            mutate_value(&mut items[i], rng);
        }
        other => *other = nasty(rng),
    }
}

/// A byte-level mutation: flips, special bytes, insertions, deletions,
/// duplications, truncation.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut StdRng) {
    const SPECIAL: &[u8] = b"\"\\{}[]:,0\x00\xff\xc3-e.";
    for _ in 0..rng.random_range(1..4) {
        if b.is_empty() {
            b.push(SPECIAL[rng.random_range(0..SPECIAL.len())]);
            continue;
        }
        let i = rng.random_range(0..b.len());
        match rng.random_range(0..6) {
            0 => b[i] ^= 1 << rng.random_range(0..8),
            1 => b[i] = SPECIAL[rng.random_range(0..SPECIAL.len())],
            2 => b.insert(i, rng.random()),
            3 => {
                let end = (i + rng.random_range(1..8)).min(b.len());
                b.drain(i..end);
            }
            4 => {
                let end = (i + rng.random_range(1..16)).min(b.len());
                let piece = b[i..end].to_vec();
                b.splice(i..i, piece);
            }
            _ => b.truncate(i),
        }
    }
}

/// One input derived from a seed: structured, byte-level, or random bytes.
fn derive(seed: &str, rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..10) {
        0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
        1..=5 => match serde_json::from_str::<Value>(seed) {
            Ok(mut v) => {
                for _ in 0..rng.random_range(1..3) {
                    mutate_value(&mut v, rng);
                }
                v.to_string().into_bytes()
            }
            Err(_) => seed.as_bytes().to_vec(),
        },
        _ => {
            let mut b = seed.as_bytes().to_vec();
            mutate_bytes(&mut b, rng);
            b
        }
    }
}

#[test]
fn the_corpus_is_valid_input() {
    let fill = |s: &str| s.replace("{chat}", "7").replace("{user}", "9");
    for s in seeds(WS_SEEDS) {
        ClientFrame::parse(&fill(&s)).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    for s in seeds(RECORD_SEEDS) {
        let b = s.as_bytes();
        let ok = serde_json::from_slice::<CommandRecord>(b).is_ok()
            || serde_json::from_slice::<EffectRecord>(b).is_ok()
            || serde_json::from_slice::<Reply>(b).is_ok();
        assert!(ok, "a record seed no decoder takes: {s}");
    }
    for s in seeds(HTTP_SEEDS) {
        let v: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(v["method"].is_string() && v["path"].is_string(), "{s}");
    }
}

#[test]
fn frame_and_record_decoders_never_panic() {
    let (mut rng, seed) = rng();
    let ws = seeds(WS_SEEDS);
    let records = seeds(RECORD_SEEDS);
    let n = iterations(20_000);
    for i in 0..n {
        let s = &ws[i % ws.len()];
        let input = derive(s, &mut rng);
        let text = String::from_utf8_lossy(&input);
        // A refusal always names its code.
        if let Err(e) = ClientFrame::parse(&text) {
            assert!(!e.code().as_str().is_empty(), "seed {seed}: {text}");
            assert!(!e.to_string().is_empty(), "seed {seed}: {text}");
        }
        let r = derive(&records[i % records.len()], &mut rng);
        let _ = serde_json::from_slice::<CommandRecord>(&r);
        let _ = serde_json::from_slice::<EffectRecord>(&r);
        let _ = serde_json::from_slice::<Reply>(&r);
        let _ = Envelope::decode(Bytes::from(r));
        let mut env = Envelope::encode(
            chat_core::wire::PubKind::Message,
            chat_core::ChatId(7),
            i as u64,
            0,
            s.as_bytes(),
        )
        .to_vec();
        mutate_bytes(&mut env, &mut rng);
        let _ = Envelope::decode(Bytes::from(env));
    }
}

/// Every JSON endpoint, fed mutated bodies and paths through the real
/// server: no 5xx, every refusal an error body with a code, and the server
/// answers normally afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bodies_get_clear_errors_and_never_a_5xx() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("fuzzer").await;
    let b = api.register("fuzzed").await;
    // Refreshes spend this user's refresh token (and end the session when
    // one comes back): not the caller's.
    let c = api.register("refresher").await;
    let chat = a.group("fuzz", &[&b]).await;
    a.send(&chat, "seed", "a message").await.created();
    let (mut rng, seed) = rng();
    let requests = seeds(HTTP_SEEDS);
    let n = iterations(1_500);
    let http = reqwest::Client::new();
    for i in 0..n {
        let template: Value = serde_json::from_str(&requests[i % requests.len()]).expect("seed");
        let fill = |s: &str| {
            s.replace("{chat}", &chat)
                .replace("{user}", &b.id)
                .replace("{refresh}", &c.refresh_token)
        };
        let method = template["method"].as_str().expect("method");
        let mut path = fill(template["path"].as_str().expect("path"));
        if rng.random_bool(0.1) {
            let mut p = path.into_bytes();
            mutate_bytes(&mut p, &mut rng);
            path = String::from_utf8_lossy(&p)
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .collect();
            if !path.starts_with('/') {
                path.insert(0, '/');
            }
        }
        let body = if template["body"].is_null() {
            Vec::new()
        } else {
            derive(&fill(&template["body"].to_string()), &mut rng)
        };
        let url = format!("{}{path}", s.base);
        let Ok(url) = reqwest::Url::parse(&url) else {
            continue;
        };
        let resp = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                url.clone(),
            )
            .bearer_auth(&a.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {seed}, input {i}: {method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status < 500 || status == 503 || status == 504,
            "seed {seed}, input {i}: {method} {url} {:?} → {status} {text}",
            String::from_utf8_lossy(&body)
        );
        if status >= 400 && !text.is_empty() && url.path().starts_with("/api/v1/") {
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                panic!("seed {seed}: {method} {url}: not JSON: {status} {text}")
            });
            assert!(
                v["error"]["code"].is_string() && v["error"]["message"].is_string(),
                "seed {seed}: {status} {text}"
            );
        }
    }
    // Still serving, still consistent.
    a.send(&chat, "after", "still here").await.created();
    assert!(a.chats().await.ok().chats.iter().any(|c| c.chat.id == chat));
    s.stop().await;
}

/// Mutated frames on one authenticated connection: every answer is a frame
/// of the protocol, the connection stays open (frames over the transport
/// limit aside, closed with 1009 by design), and a ping is answered at the
/// end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_frames_get_error_frames_and_keep_the_connection() {
    let s = TestServer::start().await;
    let a = s.api().register("wsfuzzer").await;
    let chat = a.group("wsfuzz", &[]).await;
    a.send(&chat, "seed", "a message").await.created();
    let (mut rng, seed) = rng();
    let frames = seeds(WS_SEEDS);
    let n = iterations(1_500);
    let mut ws = a.ws().await;
    for i in 0..n {
        let f = frames[i % frames.len()].replace("{chat}", &chat);
        let input = derive(&f, &mut rng);
        let text = String::from_utf8_lossy(&input).into_owned();
        if text.len() > 60_000 {
            continue;
        }
        ws.send_text(text.clone()).await;
        // Drain what is ready; every frame must parse (the test kit panics
        // on a frame of unknown shape).
        loop {
            match ws.next_within(Duration::from_millis(2)).await {
                Next::Frame(_) => continue,
                Next::Timeout => break,
                Next::Closed(code) => {
                    panic!("seed {seed}, input {i}: closed {code:?} after {text:?}")
                }
            }
        }
    }
    ws.ping().await;
    loop {
        match ws.next_within(FRAME_WAIT).await {
            Next::Frame(f) if matches!(*f, Frame::Pong(_)) => break,
            Next::Frame(_) => continue,
            other => panic!("seed {seed}: no pong at the end: {other:?}"),
        }
    }
    s.stop().await;
}

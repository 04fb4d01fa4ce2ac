//! Test harness: boots the standalone server in-process on port 0 with its data
//! in a temporary directory, and speaks HTTP and WebSocket to it.

#![allow(dead_code)]

#[cfg(feature = "distributed")]
pub mod cluster;

use std::time::Duration;

use chat::{Running, StandaloneConfig};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMsg;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The JWT secret tests configure, so they can forge and expire tokens.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub ws_url: String,
    pub dir: tempfile::TempDir,
    pub cfg: StandaloneConfig,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut StandaloneConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = StandaloneConfig::new(dir.path().join("data"));
        cfg.gateway.jwt_secret = Some(SECRET.into());
        cfg.embedded.sqlite_fsync = Some(false);
        cfg.gateway.drain_secs = Some(2);
        f(&mut cfg);
        Self::boot(dir, cfg).await
    }

    async fn boot(dir: tempfile::TempDir, cfg: StandaloneConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let running = chat::start_standalone(cfg.clone(), listener)
            .await
            .expect("start standalone");
        let addr = running.addr;
        TestServer {
            running: Some(running),
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/ws"),
            dir,
            cfg,
        }
    }

    pub fn api(&self) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: self.base.clone(),
        }
    }

    pub async fn ws(&self, token: &str) -> Ws {
        Ws::connect(&self.ws_url, token).await
    }

    /// Stops gracefully and starts again on the same data directory.
    pub async fn restart(mut self) -> TestServer {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
        let TestServer { dir, cfg, .. } = self;
        Self::boot(dir, cfg).await
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub name: String,
    pub token: String,
}

#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    /// Any request; returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.client.request(m, format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    /// A raw body with a content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .client
            .request(m, format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn register(&self, name: &str) -> User {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/auth/register",
                None,
                Some(json!({"name": name, "password": "password-123"})),
            )
            .await;
        assert_eq!(s, 201, "register {name}: {v}");
        User {
            id: v["user"]["id"].as_str().expect("id").to_string(),
            name: name.to_string(),
            token: v["token"].as_str().expect("token").to_string(),
        }
    }

    pub async fn login(&self, name: &str) -> User {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"name": name, "password": "password-123"})),
            )
            .await;
        assert_eq!(s, 200, "login {name}: {v}");
        User {
            id: v["user"]["id"].as_str().expect("id").to_string(),
            name: name.to_string(),
            token: v["token"].as_str().expect("token").to_string(),
        }
    }

    pub async fn group(&self, owner: &User, title: &str, members: &[&User]) -> String {
        let ids: Vec<&str> = members.iter().map(|u| u.id.as_str()).collect();
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/chats",
                Some(&owner.token),
                Some(json!({"kind": "group", "title": title, "members": ids})),
            )
            .await;
        assert_eq!(s, 201, "create group: {v}");
        v["id"].as_str().expect("chat id").to_string()
    }

    /// The whole history of a chat, paging backwards with `before`.
    pub async fn history_back(&self, user: &User, chat: &str, page: u32) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut path = format!("/api/v1/chats/{chat}/messages?limit={page}");
        loop {
            let (s, v) = self.call("GET", &path, Some(&user.token), None).await;
            assert_eq!(s, 200, "history: {v}");
            let msgs = v["messages"].as_array().expect("messages").clone();
            if msgs.is_empty() {
                break;
            }
            let first = msgs[0]["seq"].as_u64().expect("seq");
            let mut msgs = msgs;
            msgs.extend(out);
            out = msgs;
            path = format!("/api/v1/chats/{chat}/messages?limit={page}&before={first}");
        }
        out
    }

    /// The whole history of a chat, paging forwards with `after`.
    pub async fn history_forward(&self, user: &User, chat: &str, page: u32) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut after = 0;
        loop {
            let path = format!("/api/v1/chats/{chat}/messages?limit={page}&after={after}");
            let (s, v) = self.call("GET", &path, Some(&user.token), None).await;
            assert_eq!(s, 200, "history: {v}");
            let msgs = v["messages"].as_array().expect("messages").clone();
            if msgs.is_empty() {
                break;
            }
            after = msgs.last().expect("last")["seq"].as_u64().expect("seq");
            out.extend(msgs);
        }
        out
    }

    pub async fn chat_entry(&self, user: &User, chat: &str) -> Value {
        let (s, v) = self
            .call("GET", "/api/v1/chats", Some(&user.token), None)
            .await;
        assert_eq!(s, 200, "chat list: {v}");
        v["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .find(|e| e["chat"]["id"] == chat)
            .cloned()
            .unwrap_or_else(|| panic!("chat {chat} not in list {v}"))
    }
}

pub type WsSink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, WsMsg>;
pub type WsStream = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

pub struct Ws {
    pub tx: WsSink,
    pub rx: WsStream,
}

/// How long a test waits for one frame before failing.
pub const FRAME_WAIT: Duration = Duration::from_secs(15);

impl Ws {
    pub async fn connect(url: &str, token: &str) -> Ws {
        let mut ws = Self::connect_raw(url).await;
        ws.send(json!({"type": "auth", "token": token})).await;
        let ready = ws.next().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        ws
    }

    pub async fn connect_raw(url: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        let (tx, rx) = stream.split();
        Ws { tx, rx }
    }

    pub async fn send(&mut self, v: Value) {
        self.tx
            .send(WsMsg::Text(v.to_string().into()))
            .await
            .expect("ws send");
    }

    pub async fn send_text(&mut self, s: String) {
        self.tx.send(WsMsg::Text(s.into())).await.expect("ws send");
    }

    /// The next JSON frame; panics on close or timeout.
    pub async fn next(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(FRAME_WAIT, self.rx.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection ended")
                .expect("ws error");
            match m {
                WsMsg::Text(t) => return serde_json::from_str(t.as_str()).expect("json frame"),
                WsMsg::Close(c) => panic!("connection closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame of type `ty`, skipping others.
    pub async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// The next raw message or `None` at the end of the stream.
    pub async fn next_raw(&mut self, wait: Duration) -> Option<Result<WsMsg, String>> {
        match tokio::time::timeout(wait, self.rx.next()).await {
            Err(_) => Some(Err("timeout".into())),
            Ok(None) => None,
            Ok(Some(Ok(m))) => Some(Ok(m)),
            Ok(Some(Err(e))) => Some(Err(e.to_string())),
        }
    }

    /// Subscribes and waits for `subscribed` (and `synced` when resuming),
    /// returning the messages replayed in between.
    pub async fn subscribe(&mut self, chat: &str, since: Option<u64>) -> (Value, Vec<Value>) {
        let mut f = json!({"type": "subscribe", "chat_id": chat});
        if let Some(s) = since {
            f["since_seq"] = json!(s);
        }
        self.send(f).await;
        let sub = self.next_of("subscribed").await;
        let mut replayed = Vec::new();
        if since.is_some() {
            loop {
                let v = self.next().await;
                match v["type"].as_str() {
                    Some("synced") => break,
                    Some("message") if v["message"]["chat_id"] == chat => {
                        replayed.push(v["message"].clone())
                    }
                    _ => {}
                }
            }
        }
        (sub, replayed)
    }
}

pub fn seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

//! The HTTP API as tests use it: [`Api`] for anonymous calls and raw requests,
//! [`Client`] for a logged-in user's typed calls, [`Resp`] for an answer that
//! the test then expects to be a success of a given status (parsed into its
//! typed body) or a refusal with a code.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::types::*;
use super::ws::Ws;

/// The password every test user has.
pub const PASSWORD: &str = "password-123";

/// One request and its answer, kept when recording (the OpenAPI test checks
/// each against the document).
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub status: u16,
    /// The JSON body (`Null` when empty, a string when not JSON).
    pub body: Value,
}

/// A server's HTTP API, without credentials.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `http://HOST:PORT`.
    pub base: String,
    /// Every exchange, when recording.
    recorded: Option<Arc<Mutex<Vec<Exchange>>>>,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.into(),
            recorded: None,
        }
    }

    /// The same API with a timeout on every request.
    pub fn with_timeout(mut self, timeout: Duration) -> Api {
        self.http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("http client");
        self
    }

    /// The same API, keeping every exchange (also those of the clients made
    /// from it) for [`Api::exchanges`].
    pub fn recording(mut self) -> Api {
        self.recorded = Some(Arc::default());
        self
    }

    /// What was recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        let r = self.recorded.as_ref().expect("a recording Api");
        r.lock().unwrap().clone()
    }

    /// `ws://HOST:PORT/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replace("http://", "ws://"))
    }

    /// Any request; the status and the JSON body (`Null` when empty, a string
    /// when not JSON). Panics when the server cannot be reached.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.try_call(method, path, token, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`Api::call`], with transport errors (refused, timed out) returned.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(m, format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.finish(method, path, rb).await
    }

    /// An upload: `body` as is, with `content_type`; the answer as [`Api::call`].
    pub async fn upload(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(m, format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.finish(method, path, rb)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A `GET` whose answer is bytes (an image): status, headers, body.
    pub async fn get_bytes(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut rb = self.http.get(format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp.bytes().await.expect("body").to_vec();
        if let Some(r) = &self.recorded {
            r.lock().unwrap().push(Exchange {
                method: "GET".into(),
                path: path.split('?').next().unwrap_or(path).to_string(),
                status,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
        }
        (status, h, body)
    }

    /// A raw body sent as `application/json`.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(m, format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.finish(method, path, rb)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    async fn finish(
        &self,
        method: &str,
        path: &str,
        rb: reqwest::RequestBuilder,
    ) -> Result<(u16, Value), reqwest::Error> {
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if let Some(r) = &self.recorded {
            r.lock().unwrap().push(Exchange {
                method: method.to_string(),
                path: path.split('?').next().unwrap_or(path).to_string(),
                status,
                body: body.clone(),
            });
        }
        Ok((status, body))
    }

    async fn typed<T>(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp<T> {
        let (status, body) = self.call(method, path, token, body).await;
        Resp::new(method, path, status, body)
    }

    /// `POST /auth/register`.
    pub async fn try_register(&self, name: &str, password: &str) -> Resp<Session> {
        let body = json!({"name": name, "password": password});
        self.typed("POST", "/api/v1/auth/register", None, Some(body))
            .await
    }

    /// `POST /auth/login`.
    pub async fn try_login(&self, name: &str, password: &str) -> Resp<Session> {
        let body = json!({"name": name, "password": password});
        self.typed("POST", "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// `POST /auth/refresh`.
    pub async fn try_refresh(&self, refresh_token: &str) -> Resp<Session> {
        let body = json!({ "refresh_token": refresh_token });
        self.typed("POST", "/api/v1/auth/refresh", None, Some(body))
            .await
    }

    /// Registers `name` (201) and returns a client logged in as them.
    pub async fn register(&self, name: &str) -> Client {
        let s = self.try_register(name, PASSWORD).await.created();
        assert_eq!(s.user.name, name);
        self.client(s)
    }

    /// Logs `name` in (200).
    pub async fn login(&self, name: &str) -> Client {
        let s = self.try_login(name, PASSWORD).await.ok();
        assert_eq!(s.user.name, name);
        self.client(s)
    }

    /// A client of the session `s` answered.
    pub fn client(&self, s: Session) -> Client {
        Client {
            api: self.clone(),
            id: s.user.id,
            name: s.user.name,
            token: s.token,
            refresh_token: s.refresh_token,
            session_id: s.session_id,
        }
    }
}

/// A logged-in user speaking to one server (see [`Client::via`] for another).
#[derive(Clone)]
pub struct Client {
    pub api: Api,
    pub id: Id,
    pub name: String,
    pub token: String,
    pub refresh_token: String,
    pub session_id: Id,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) at {}", self.name, self.id, self.api.base)
    }
}

impl Client {
    /// The same user through another server (gateway).
    pub fn via(&self, api: &Api) -> Client {
        Client {
            api: api.clone(),
            ..self.clone()
        }
    }

    /// A request with this user's token.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api.call(method, path, Some(&self.token), body).await
    }

    async fn typed<T>(&self, method: &str, path: &str, body: Option<Value>) -> Resp<T> {
        self.api.typed(method, path, Some(&self.token), body).await
    }

    /// A WebSocket to the same server, authenticated as this user.
    pub async fn ws(&self) -> Ws {
        Ws::connect(&self.api.ws_url(), &self.token).await
    }

    pub async fn me(&self) -> Resp<User> {
        self.typed("GET", "/api/v1/me", None).await
    }

    /// `PATCH /me`.
    pub async fn update_me(&self, body: Value) -> Resp<User> {
        self.typed("PATCH", "/api/v1/me", Some(body)).await
    }

    /// `PUT /me/avatar` with `image` as the body.
    pub async fn put_avatar(&self, image: Vec<u8>) -> Resp<User> {
        let (status, body) = self
            .api
            .upload(
                "PUT",
                "/api/v1/me/avatar",
                Some(&self.token),
                "application/octet-stream",
                image,
            )
            .await;
        Resp::new("PUT", "/api/v1/me/avatar", status, body)
    }

    /// `DELETE /me/avatar`.
    pub async fn delete_avatar(&self) -> Resp<User> {
        self.typed("DELETE", "/api/v1/me/avatar", None).await
    }

    /// `GET /users/{id}/avatar` with this user's token.
    pub async fn avatar(&self, id: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        self.api
            .get_bytes(
                &format!("/api/v1/users/{id}/avatar"),
                Some(&self.token),
                &[],
            )
            .await
    }

    /// `POST /auth/refresh` with this client's refresh token: on success, the
    /// client with the new pair.
    pub async fn refresh(&self) -> Resp<Session> {
        self.api.try_refresh(&self.refresh_token).await
    }

    /// `POST /auth/logout`.
    pub async fn logout(&self) -> Resp<Value> {
        self.typed("POST", "/api/v1/auth/logout", None).await
    }

    /// `GET /me/sessions`.
    pub async fn sessions(&self) -> Resp<SessionList> {
        self.typed("GET", "/api/v1/me/sessions", None).await
    }

    /// `DELETE /me/sessions`: log out everywhere.
    pub async fn logout_everywhere(&self) -> Resp<Value> {
        self.typed("DELETE", "/api/v1/me/sessions", None).await
    }

    /// `DELETE /me/sessions/{id}`.
    pub async fn end_session(&self, id: &str) -> Resp<Value> {
        self.typed("DELETE", &format!("/api/v1/me/sessions/{id}"), None)
            .await
    }

    pub async fn user(&self, id: &str) -> Resp<User> {
        self.typed("GET", &format!("/api/v1/users/{id}"), None)
            .await
    }

    pub async fn user_by_name(&self, name: &str) -> Resp<User> {
        self.typed("GET", &format!("/api/v1/users/by-name/{name}"), None)
            .await
    }

    pub async fn users(&self, ids: &[&str]) -> Resp<Vec<User>> {
        let path = format!("/api/v1/users?ids={}", ids.join(","));
        self.typed("GET", &path, None).await
    }

    /// `GET /chats`.
    pub async fn chats(&self) -> Resp<ChatList> {
        self.typed("GET", "/api/v1/chats", None).await
    }

    /// `POST /chats` for a group with `members` besides the caller.
    pub async fn create_group(&self, title: &str, members: &[&Client]) -> Resp<Chat> {
        let ids: Vec<&str> = members.iter().map(|u| u.id.as_str()).collect();
        let body = json!({"kind": "group", "title": title, "members": ids});
        self.typed("POST", "/api/v1/chats", Some(body)).await
    }

    /// A new group (201); its id.
    pub async fn group(&self, title: &str, members: &[&Client]) -> Id {
        let chat = self.create_group(title, members).await.created();
        assert_eq!(chat.title, title);
        chat.id
    }

    /// `POST /chats` for the direct chat with `other`.
    pub async fn create_direct(&self, other: &Client) -> Resp<Chat> {
        let body = json!({"kind": "direct", "members": [other.id]});
        self.typed("POST", "/api/v1/chats", Some(body)).await
    }

    /// `GET /chats/{id}`.
    pub async fn chat(&self, chat: &str) -> Resp<ChatEntry> {
        self.typed("GET", &format!("/api/v1/chats/{chat}"), None)
            .await
    }

    pub async fn members(&self, chat: &str) -> Resp<Members> {
        self.typed("GET", &format!("/api/v1/chats/{chat}/members"), None)
            .await
    }

    /// `POST /chats/{id}/members`; the server's default role when `None`.
    pub async fn add_member(&self, chat: &str, user: &str, role: Option<Role>) -> Resp<Chat> {
        let mut body = json!({"user_id": user});
        if let Some(r) = role {
            body["role"] = json!(r);
        }
        self.typed("POST", &format!("/api/v1/chats/{chat}/members"), Some(body))
            .await
    }

    pub async fn set_role(&self, chat: &str, user: &str, role: Role) -> Resp<Chat> {
        let path = format!("/api/v1/chats/{chat}/members/{user}");
        self.typed("PATCH", &path, Some(json!({"role": role})))
            .await
    }

    pub async fn remove_member(&self, chat: &str, user: &str) -> Resp<Chat> {
        let path = format!("/api/v1/chats/{chat}/members/{user}");
        self.typed("DELETE", &path, None).await
    }

    /// `POST /chats/{id}/messages`.
    pub async fn send(&self, chat: &str, key: &str, text: &str) -> Resp<MessageResult> {
        self.send_body(chat, json!({"client_msg_id": key, "text": text}))
            .await
    }

    /// A send answering message `to` of the same chat.
    pub async fn reply(&self, chat: &str, key: &str, text: &str, to: u64) -> Resp<MessageResult> {
        let body = json!({"client_msg_id": key, "text": text, "reply_to_seq": to});
        self.send_body(chat, body).await
    }

    async fn send_body(&self, chat: &str, body: Value) -> Resp<MessageResult> {
        let path = format!("/api/v1/chats/{chat}/messages");
        self.typed("POST", &path, Some(body)).await
    }

    /// A send whose transport may fail (a gateway down, a timeout).
    pub async fn try_send(
        &self,
        chat: &str,
        key: &str,
        text: &str,
    ) -> Result<Resp<MessageResult>, reqwest::Error> {
        let path = format!("/api/v1/chats/{chat}/messages");
        let body = json!({"client_msg_id": key, "text": text});
        let (status, body) = self
            .api
            .try_call("POST", &path, Some(&self.token), Some(body))
            .await?;
        Ok(Resp::new("POST", &path, status, body))
    }

    /// `PATCH /chats/{id}/messages/{seq}`.
    pub async fn edit(&self, chat: &str, seq: u64, text: &str) -> Resp<MessageResult> {
        let path = format!("/api/v1/chats/{chat}/messages/{seq}");
        self.typed("PATCH", &path, Some(json!({"text": text})))
            .await
    }

    /// `PUT /chats/{id}/messages/{seq}/reactions/{emoji}`.
    pub async fn react(&self, chat: &str, seq: u64, emoji: &str) -> Resp<MessageResult> {
        let path = format!("/api/v1/chats/{chat}/messages/{seq}/reactions/{emoji}");
        self.typed("PUT", &path, None).await
    }

    /// `DELETE /chats/{id}/messages/{seq}/reactions/{emoji}`.
    pub async fn unreact(&self, chat: &str, seq: u64, emoji: &str) -> Resp<MessageResult> {
        let path = format!("/api/v1/chats/{chat}/messages/{seq}/reactions/{emoji}");
        self.typed("DELETE", &path, None).await
    }

    /// `PUT /chats/{id}/mute` (`until` Unix ms, or for good).
    pub async fn mute(&self, chat: &str, until: Option<i64>) -> Resp<ChatEntry> {
        let body = match until {
            Some(u) => json!({ "until": u }),
            None => json!({}),
        };
        self.typed("PUT", &format!("/api/v1/chats/{chat}/mute"), Some(body))
            .await
    }

    /// `DELETE /chats/{id}/mute`.
    pub async fn unmute(&self, chat: &str) -> Resp<ChatEntry> {
        self.typed("DELETE", &format!("/api/v1/chats/{chat}/mute"), None)
            .await
    }

    /// `PUT /chats/{id}/pins/{seq}`.
    pub async fn pin(&self, chat: &str, seq: u64) -> Resp<Chat> {
        self.typed("PUT", &format!("/api/v1/chats/{chat}/pins/{seq}"), None)
            .await
    }

    /// `DELETE /chats/{id}/pins/{seq}`.
    pub async fn unpin(&self, chat: &str, seq: u64) -> Resp<Chat> {
        self.typed("DELETE", &format!("/api/v1/chats/{chat}/pins/{seq}"), None)
            .await
    }

    /// `DELETE /chats/{id}/messages/{seq}`.
    pub async fn delete(&self, chat: &str, seq: u64) -> Resp<MessageResult> {
        let path = format!("/api/v1/chats/{chat}/messages/{seq}");
        self.typed("DELETE", &path, None).await
    }

    /// `POST /chats/{id}/messages/{seq}/forward`.
    pub async fn forward(&self, chat: &str, seq: u64, to: &str, key: &str) -> Resp<MessageResult> {
        let path = format!("/api/v1/chats/{chat}/messages/{seq}/forward");
        let body = json!({"to_chat_id": to, "client_msg_id": key});
        self.typed("POST", &path, Some(body)).await
    }

    /// `PUT /chats/{id}/read`.
    pub async fn read(&self, chat: &str, seq: u64) -> Resp<ReadCursor> {
        let path = format!("/api/v1/chats/{chat}/read");
        self.typed("PUT", &path, Some(json!({"seq": seq}))).await
    }

    /// `GET /chats/{id}/messages?{query}` (query may be empty).
    pub async fn messages(&self, chat: &str, query: &str) -> Resp<MessagesPage> {
        let path = format!("/api/v1/chats/{chat}/messages?{query}");
        self.typed("GET", &path, None).await
    }

    /// The whole history of a chat, paging backwards with `before`.
    pub async fn history_back(&self, chat: &str, page: u32) -> Vec<Message> {
        let mut out: Vec<Message> = Vec::new();
        let mut query = format!("limit={page}");
        loop {
            let mut msgs = self.messages(chat, &query).await.ok().messages;
            let Some(first) = msgs.first().map(|m| m.seq) else {
                break;
            };
            msgs.extend(out);
            out = msgs;
            query = format!("limit={page}&before={first}");
        }
        out
    }

    /// The whole history of a chat, paging forwards with `after`.
    pub async fn history_forward(&self, chat: &str, page: u32) -> Vec<Message> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let query = format!("limit={page}&after={after}");
            let msgs = self.messages(chat, &query).await.ok().messages;
            let Some(last) = msgs.last().map(|m| m.seq) else {
                break;
            };
            after = last;
            out.extend(msgs);
        }
        out
    }

    /// This user's entry for `chat` once `done` holds for it (the list is a
    /// cache the fanout refreshes after an ack in distributed mode), or the
    /// last one read after five seconds.
    pub async fn chat_entry_until(
        &self,
        chat: &str,
        done: impl Fn(&ChatEntry) -> bool,
    ) -> ChatEntry {
        let mut entry = self.chat_entry(chat).await;
        for _ in 0..100 {
            if done(&entry) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            entry = self.chat_entry(chat).await;
        }
        entry
    }

    /// This user's entry for `chat` in their chat list.
    pub async fn chat_entry(&self, chat: &str) -> ChatEntry {
        let list = self.chats().await.ok();
        list.chats
            .iter()
            .find(|e| e.chat.id == chat)
            .cloned()
            .unwrap_or_else(|| panic!("chat {chat} not in the list {list:?}"))
    }
}

/// An answer of a typed call, to be taken as a success of a given status
/// (`ok`, `created`, `status`) or as a refusal (`refused`). Either way the
/// body must have the expected shape.
#[must_use = "check the answer with ok(), created(), status() or refused()"]
pub struct Resp<T> {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: Value,
    _body: PhantomData<T>,
}

impl<T> fmt::Debug for Resp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} → {} {}",
            self.method, self.path, self.status, self.body
        )
    }
}

impl<T> Resp<T> {
    fn new(method: &str, path: &str, status: u16, body: Value) -> Resp<T> {
        Resp {
            method: method.to_string(),
            path: path.to_string(),
            status,
            body,
            _body: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Resp<T> {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body, which must be a success with status `want`.
    pub fn status(self, want: u16) -> T {
        assert_eq!(self.status, want, "{self:?}");
        parse(&self)
    }

    /// 200 and the body.
    pub fn ok(self) -> T {
        self.status(200)
    }

    /// 201 and the body.
    pub fn created(self) -> T {
        self.status(201)
    }

    /// Any 2xx: the status and the body.
    pub fn success(self) -> (u16, T) {
        assert!(self.is_success(), "{self:?}");
        (self.status, parse(&self))
    }

    /// The refusal, which must be an error body with a message.
    pub fn refused(self) -> Refusal {
        assert!(!self.is_success(), "expected a refusal: {self:?}");
        let e: ErrorBody = parse(&self);
        assert!(!e.error.message.is_empty(), "an error says why: {self:?}");
        Refusal {
            status: self.status,
            code: e.error.code,
            message: e.error.message,
        }
    }
}

fn parse<T: DeserializeOwned, U>(r: &Resp<U>) -> T {
    serde_json::from_value(r.body.clone()).unwrap_or_else(|e| {
        panic!(
            "the answer does not have the shape of {}: {e}\n{r:?}",
            std::any::type_name::<T>()
        )
    })
}

/// A refused call: its status and machine-readable code.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl PartialEq<(u16, &str)> for Refusal {
    fn eq(&self, (status, code): &(u16, &str)) -> bool {
        self.status == *status && self.code == *code
    }
}

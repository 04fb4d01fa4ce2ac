//! Request ids: every HTTP request runs in a `request` span carrying its id
//! (the client's `X-Request-Id` when it sent a sane one, else a new one), its
//! method and route, and — once known — the user, the chat and the caller's
//! role in it. The id comes back in the `x-request-id` response header and in
//! every error body (`error.request_id`), so that a user's report finds the
//! log lines (`--log-format json` prints the span's fields on each line).
//! Requests that fail with a server error are logged (warn), others at debug.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument, field};

/// `x-request-id`.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-chosen id kept (longer ones are replaced).
const MAX_LEN: usize = 64;

tokio::task_local! {
    /// The id of the request the current task serves.
    static CURRENT: String;
}

/// The id of the request being served, if any (error bodies carry it).
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Records `user` on the current request's span.
pub fn record_user(user: chat_core::UserId) {
    tracing::Span::current().record("user_id", user.0);
}

/// Records `chat` on the current request's span.
pub fn record_chat(chat: chat_core::ChatId) {
    tracing::Span::current().record("chat_id", chat.0);
}

/// Records the caller's role in the chat on the current request's span.
pub fn record_role(role: chat_core::model::Role) {
    tracing::Span::current().record("role", role.as_str());
}

/// The client's id when it is 1–64 characters of `[A-Za-z0-9._:-]`.
fn accepted(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| s.to_string())
}

/// A new id: 16 hex digits.
fn fresh() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The middleware: the span, the header, the completion log line.
pub async fn layer(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(accepted)
        .unwrap_or_else(fresh);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = %route,
        user_id = field::Empty,
        chat_id = field::Empty,
        role = field::Empty,
    );
    let started = Instant::now();
    let header = HeaderValue::from_str(&id).ok();
    let mut res = CURRENT
        .scope(id, next.run(req).instrument(span.clone()))
        .await;
    let status = res.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), ms, "request");
        }
    });
    if let Some(h) = header {
        res.headers_mut().insert(HEADER.clone(), h);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_others_replaced() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            accepted(&v("abc-123_x.y:z")).as_deref(),
            Some("abc-123_x.y:z")
        );
        assert_eq!(accepted(&v("")), None);
        assert_eq!(accepted(&v("has space")), None);
        assert_eq!(accepted(&v("<script>")), None);
        assert_eq!(accepted(&v(&"a".repeat(65))), None);
        assert_eq!(accepted(&v(&"a".repeat(64))).map(|s| s.len()), Some(64));
        let f = fresh();
        assert_eq!(f.len(), 16);
        assert!(accepted(&HeaderValue::from_str(&f).unwrap()).is_some());
    }
}

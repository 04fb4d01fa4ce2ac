//! Extractors that turn bad input into our error format.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chat_core::{ChatId, Code, UserId};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of an HTTP request (`Authorization: Bearer <jwt>`).
#[derive(Clone, Copy, Debug)]
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        AuthSession::from_request_parts(parts, state)
            .await
            .map(|s| AuthUser(s.0.user))
    }
}

/// The authenticated caller and the login session of its token.
#[derive(Clone, Copy, Debug)]
pub struct AuthSession(pub crate::auth::Verified);

impl FromRequestParts<AppState> for AuthSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = crate::auth::bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(Code::AuthRequired, "send Authorization: Bearer <token>")
        })?;
        let v = state.service.authenticate(token).await?;
        crate::reqid::record_user(v.user);
        Ok(AuthSession(v))
    }
}

/// The client's `User-Agent` (empty when it sent none).
#[derive(Clone, Debug)]
pub struct UserAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(
            parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        ))
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one (unspecified when
/// the request did not come through [`crate::serve`], as in unit tests).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<crate::listen::Peer>()
            .map(|p| p.0.ip());
        Ok(ClientIp(crate::listen::client_ip(
            peer,
            &parts.headers,
            &state.cfg.trusted_proxies,
        )))
    }
}

/// `Json<T>` whose rejections are `bad_json` (400) or `too_large` (413).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                Code::BadJson,
                "expected a JSON body with Content-Type: application/json",
            )),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(Code::TooLarge, "request body too large"))
            }
            Err(r) => Err(ApiError::new(Code::BadJson, r.body_text())),
        }
    }
}

/// A raw body (an upload) whose rejections are `too_large` (413) or
/// `bad_json` (400, a body that could not be read).
pub struct ApiBytes(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match bytes::Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBytes(b)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(Code::TooLarge, "request body too large"))
            }
            Err(r) => Err(ApiError::new(Code::BadJson, r.body_text())),
        }
    }
}

/// `Path<T>` whose rejection (a segment that is not UTF-8 once decoded, a
/// missing or malformed one) is `invalid_id` (400) in our error format.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|r| ApiError::new(Code::InvalidId, r.body_text()))
    }
}

/// `Query<T>` whose rejection is `invalid_limit` (400) in our error format.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|r| ApiError::new(Code::InvalidLimit, r.body_text()))
    }
}

/// Parses an id from a path segment.
pub fn parse_id(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .map_err(|_| ApiError::new(Code::InvalidId, format!("{s:?} is not a valid id")))
}

/// A chat id from a path segment (recorded on the request's span).
pub fn chat_id(s: &str) -> Result<ChatId, ApiError> {
    let chat = parse_id(s).map(ChatId)?;
    crate::reqid::record_chat(chat);
    Ok(chat)
}

/// A user id from a path segment.
pub fn user_id(s: &str) -> Result<UserId, ApiError> {
    parse_id(s).map(UserId)
}

/// A message seq from a path segment (1 or more).
pub fn seq(s: &str) -> Result<u64, ApiError> {
    match s.parse::<u64>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(ApiError::new(
            Code::InvalidId,
            format!("{s:?} is not a valid seq"),
        )),
    }
}

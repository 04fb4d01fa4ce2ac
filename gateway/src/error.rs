//! The gateway's error type and its mapping to HTTP statuses; the machine-readable
//! codes are `chat_core::Code`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chat_core::{CacheError, Code, LogError, Rejection, StoreError};
use serde::Serialize;

/// An error answered to a client: a code and a message safe to show.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// Machine-readable code.
    pub code: Code,
    /// Human-readable message.
    pub message: String,
    /// With `too_many_requests`: how long until the request would be allowed
    /// (`Retry-After`, `retry_after_ms`).
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `too_many_requests`: allowed again after `wait`.
    pub fn throttled(what: &str, wait: std::time::Duration) -> Self {
        ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                Code::TooManyRequests,
                format!(
                    "too many {what}; retry in {:.1} s",
                    wait.as_secs_f64().max(0.1)
                ),
            )
        }
    }

    /// Milliseconds until a throttled request would be allowed (at least 1).
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
    }

    /// A failure on our side: logged in full, answered without details.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %err, "internal error");
        ApiError::new(Code::Internal, "internal error; see the server log")
    }
}

/// The HTTP status of each code.
pub fn status_of(code: Code) -> StatusCode {
    use Code::*;
    match code {
        BadJson | UnknownType | InvalidId | InvalidLimit | EmptyText | TextTooLong
        | InvalidClientMsgId | InvalidClientChatId | InvalidTitle | InvalidName
        | InvalidPassword | InvalidQuery | InvalidMembers | DirectChat | SlowConsumer
        | ReplayTooLong | InvalidDisplayName | InvalidAbout | InvalidImage | InvalidEmoji
        | InvalidMute => StatusCode::BAD_REQUEST,
        TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        AuthRequired | InvalidToken | TokenExpired | SessionRevoked | InvalidCredentials => {
            StatusCode::UNAUTHORIZED
        }
        NotMember | Silenced | Forbidden | Banned | QuotaExceeded | Blocked | AccountDisabled => {
            StatusCode::FORBIDDEN
        }
        ChatNotFound | MessageNotFound | UserNotFound | AvatarNotFound | SessionNotFound
        | NotFound => StatusCode::NOT_FOUND,
        NameTaken | AlreadyMember | LastAdmin | MessageDeleted => StatusCode::CONFLICT,
        TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Timeout => StatusCode::GATEWAY_TIMEOUT,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// JSON body of every error response.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: Code,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
    /// The request's id (also in `x-request-id`), for finding its log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::metrics::ERRORS
            .with_label_values(&[self.code.as_str()])
            .inc();
        let body = ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: &self.message,
                retry_after_ms: self.retry_after_ms(),
                request_id: crate::reqid::current(),
            },
        };
        let mut resp = (status_of(self.code), Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up.
            let secs = wait.as_millis().div_ceil(1000).max(1);
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::new(r.code, r.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::new(Code::Unavailable, "storage is unavailable; retry later")
            }
            other => ApiError::internal("store", other),
        }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        tracing::warn!(error = %e, "log unavailable");
        ApiError::new(
            Code::Unavailable,
            "the message log is unavailable; retry later",
        )
    }
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> Self {
        tracing::warn!(error = %e, "cache unavailable");
        ApiError::new(Code::Unavailable, "the cache is unavailable; retry later")
    }
}

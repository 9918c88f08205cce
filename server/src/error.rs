//! One error type for every handler, one JSON shape for every failure:
//! `{"error": {"code", "message"}}`. Causes are logged; clients get a message they can act on.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use runledger::sync::{ErrorBody, ErrorDetail};

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body is not valid JSON of the expected shape (the message says where).
    #[error("{0}")]
    MalformedBody(String),
    /// A query parameter or path segment is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong API key.
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// A known key without the scope the route needs.
    #[error("this key lacks the `{}` scope this call needs", .0.as_str())]
    Forbidden(crate::auth::Scope),
    /// The request contradicts what is stored (a batch id reused for other records).
    #[error("{0}")]
    Conflict(String),
    /// The key is over its rate limit; retry after this many seconds.
    #[error("this key is over its rate limit; retry after {retry_after} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The body is over the configured limit.
    #[error("the body is larger than the limit of {limit} bytes; send smaller batches")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A well-formed record the validation refuses (the message says which field and why).
    #[error("{0}")]
    Invalid(String),
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// The body did not arrive in time (`--body-timeout`).
    #[error("the request body did not arrive within {} ms (--body-timeout)", .0.as_millis())]
    BodyTimeout(std::time::Duration),
    /// The database cannot be reached or failed; retrying later may work.
    #[error("the database is unavailable; retry later")]
    Database(#[from] sqlx::Error),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed_body"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            AppError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_record"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            AppError::Database(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let AppError::Database(cause) = &self {
            tracing::error!(error = %cause, "database failure");
        } else {
            tracing::info!(code, message = %self, "request refused");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let AppError::RateLimited { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

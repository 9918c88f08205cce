//! The web surface: what a browser page on another site can make the server do, and the one
//! error shape for answers the handlers never see.
//!
//! - Ingest takes `Content-Type: application/json` only (gzip is said by `Content-Encoding`).
//!   A page on any site can send a `no-cors` `text/plain` POST without asking the server
//!   first; `application/json` needs a CORS preflight, which only `--cors-origin` origins pass.
//! - On a server without keys, a write that carries an `Origin` not listed by `--cors-origin`
//!   is refused (`403`), whatever its content type: nothing else stands between a web page
//!   and the data there.
//! - Unknown paths (`404`), wrong methods (`405`), undecodable paths and query strings: the
//!   router answers those before any handler, in plain text; [`json_errors`] puts them in the
//!   `{"error": {"code", "message"}}` shape every other answer has.

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use runledger::sync::{ErrorBody, ErrorDetail};

use crate::state::{open_server, AppState};

fn error(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message,
        },
    };
    (status, Json(body)).into_response()
}

/// True for `application/json`, in any case, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// The guard in front of every write (ingest): the content type, and on a server without
/// keys, the origin.
pub async fn guard_write(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let settings = &state.settings;
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let listed = settings
            .cors_origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes());
        if open_server(settings) && !listed {
            let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
            tracing::warn!(%origin, "refused a write from an origin not listed by --cors-origin on a server without keys");
            return error(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                format!("writes from the web page origin `{origin}` are refused: this server has no API key, so only origins listed by --cors-origin may write"),
            );
        }
    }
    if !is_json(request.headers()) {
        let given = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map_or("none".into(), |v| {
                format!("`{}`", String::from_utf8_lossy(v.as_bytes()))
            });
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the batch as `Content-Type: application/json` (gzip with `Content-Encoding: gzip`); got {given}"),
        );
    }
    next.run(request).await
}

/// The code of an error status in the error shape.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Puts an error answered outside the handlers (plain text or empty) in the error shape.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Router rejections are one short line; anything longer is cut.
    let text = to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = match (status, text.is_empty()) {
        (StatusCode::NOT_FOUND, true) => format!("no such route: {what}"),
        (StatusCode::METHOD_NOT_ALLOWED, true) => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("another method");
            format!("{what}: this route answers {allow}")
        }
        (_, true) => format!("{what}: {status}"),
        (_, false) => format!("{what}: {text}"),
    };
    let rewritten = error(status, code_of(status), message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, rewritten.into_body())
}

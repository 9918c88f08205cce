//! One request must never take the server down: a panic in a handler is caught here, logged,
//! and answered `500` in the error shape, and the server goes on serving.
//!
//! This needs a build that unwinds: `cargo build --profile server` (the workspace's release
//! profile aborts on panic, for the wasm). A binary built with `panic = "abort"` says so
//! loudly at start ([`warn_if_aborting`]).

use std::any::Any;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use runledger::sync::{ErrorBody, ErrorDetail};
use tower_http::catch_panic::CatchPanicLayer;

/// The layer that turns a panic into a `500`.
pub fn layer() -> CatchPanicLayer<fn(Box<dyn Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(respond as fn(Box<dyn Any + Send + 'static>) -> Response)
}

fn respond(payload: Box<dyn Any + Send + 'static>) -> Response {
    let what = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(
        panic = what,
        "a request panicked; answered 500 and serving on"
    );
    let body = ErrorBody {
        error: ErrorDetail {
            code: "internal".into(),
            message: "the server failed on this request (it is logged); nothing of it was stored"
                .into(),
        },
    };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// Warns when this binary aborts on panic, where one bad request would end the process.
pub fn warn_if_aborting() {
    if cfg!(panic = "abort") {
        tracing::warn!("this binary was built with panic = \"abort\": a panic in one request ends the process; build it with `cargo build --profile server -p runledger-server`");
    }
}

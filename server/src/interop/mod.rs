//! Interop with the standards: OpenTelemetry traces (OTLP/HTTP) and OpenLineage events, in
//! and out.
//!
//! - [`otlp_in`]: `POST /v1/traces` takes spans from any OpenTelemetry SDK and stores them as
//!   executions through the ingest path (same validation, limits, redaction and tenants).
//! - [`openlineage`]: executions as OpenLineage run events, and
//!   `GET /api/v1/execution/{id}/openlineage`.
//! - [`forwarder`]: `--otlp-endpoint` and `--openlineage-endpoint` forward every committed
//!   batch from a durable outbox ([`outbox`]), so a consumer's outage loses nothing.

pub mod client;
pub mod forwarder;
pub mod forwarding;
pub mod openlineage;
pub mod otlp_decode;
pub mod otlp_in;
pub mod otlp_proto;
pub mod outbox;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use runledger::Execution;
use serde_json::Value;

use crate::db;
use crate::error::AppError;
use crate::state::{authorize_read, AppState};

pub use forwarding::Forwarding;

/// The interop routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            runledger::sync::otlp::OTLP_TRACES_PATH,
            post(otlp_in::receive),
        )
        .route("/api/v1/execution/{id}/openlineage", get(execution_events))
}

/// `GET /api/v1/execution/{id}/openlineage`: the execution's events, as a JSON array.
pub async fn execution_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let caller = authorize_read(&state, &headers)?;
    // A read like the others: from `--read-db` when there is one.
    let Some(text) = db::execution(&state.read_pool, &caller.tenant, &id).await? else {
        return Err(AppError::NotFound(format!("no execution {id}")));
    };
    let record: Execution =
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let body = Value::Array(openlineage::events(&record)).to_string();
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

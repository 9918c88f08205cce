//! Receivers for clients that do not speak the batch protocol: generated code, scripts,
//! curl. Each takes one execution in the shape its old tracker used (DOMAIN.md C and E),
//! maps it onto the stored model and hands it to [`crate::ingest::ingest`] as a batch of one,
//! let in by the same [`admit`] as `/v1/ingest`, so that validation, limits, keys,
//! redaction, rate limits and idempotency are the same.
//!
//! - `POST /api/executions`: one workflow execution (DOMAIN.md E), see [`workflow`].
//! - `POST /api/v1/executions`: one query execution (DOMAIN.md C), see [`query`].
//!
//! These records carry no version: the server orders them by their lifecycle
//! (`versions::judge`). The batch id is the hash of the mapped record, so a repeated post is
//! answered from the batch log and a changed one is a new batch.

mod decode;
mod query;
mod workflow;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use runledger::sync::{ClientInfo, IngestRequest, IngestResponse};
use runledger::Execution;
use serde_json::json;

use crate::error::AppError;
use crate::ingest_http::{admit, Admission};
use crate::state::AppState;

/// The path of the workflow receiver (DOMAIN.md E).
pub const WORKFLOW_PATH: &str = "/api/executions";
/// The path of the query receiver (DOMAIN.md C).
pub const QUERY_PATH: &str = "/api/v1/executions";

/// The receivers' routes, behind the same write guard as ingest.
pub fn routes(state: AppState) -> Router<AppState> {
    let guard = || axum::middleware::from_fn_with_state(state.clone(), crate::web::guard_write);
    Router::new()
        .route(
            WORKFLOW_PATH,
            post(|s: State<AppState>, h: HeaderMap, b: Body| async move {
                receive(s, h, b, "workflow", workflow::decode).await
            })
            .route_layer(guard()),
        )
        .route(
            QUERY_PATH,
            post(|s: State<AppState>, h: HeaderMap, b: Body| async move {
                receive(s, h, b, "query", query::decode).await
            })
            .route_layer(guard()),
        )
}

/// One execution in a receiver's shape: checked, mapped, then stored through ingest.
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    shape: &'static str,
    decode: fn(&[u8]) -> Result<Execution, AppError>,
) -> Result<Response, AppError> {
    // The key first (a stranger learns nothing about the body), its rate limit, the body.
    let admitted = match admit(&state, &headers, body).await? {
        Admission::Admitted(admitted) => admitted,
        Admission::Injected(answer) => return Ok(answer),
    };
    let record = decode(&admitted.bytes)?;
    let id = record.id.clone();
    let canonical = serde_json::to_vec(&record).expect("an execution always serializes");
    let batch = IngestRequest {
        batch_id: format!("{shape}-{}", crate::auth::hash_bytes(&canonical)),
        client: ClientInfo {
            id: format!("{shape}-receiver"),
            sdk: user_agent(&headers),
        },
        records: vec![record],
    };
    let done = crate::ingest::ingest(&state, &admitted.caller.tenant, batch).await?;
    // Only a refusal needs the answer read: a fresh batch counts it, a replay has it stored.
    if done.rejected > 0 || done.replayed {
        let answer: IngestResponse = serde_json::from_str(&done.response)
            .map_err(|e| AppError::BadRequest(format!("the stored answer cannot be read: {e}")))?;
        if let Some(refused) = answer.rejected.first() {
            return Err(AppError::Invalid(format!(
                "execution `{}` was refused: {}",
                refused.id, refused.reason
            )));
        }
    }
    Ok(Json(json!({ "id": id, "accepted": true })).into_response())
}

/// The caller's `User-Agent`, cut to a label, as the batch's client sdk.
fn user_agent(headers: &HeaderMap) -> String {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    agent.chars().take(120).collect()
}

//! `POST /v1/ingest` over HTTP: the body read within its limit (gzip inflated), decoded, and
//! handed to [`crate::ingest`]. The receivers and OTLP-in are let in by the same [`admit`]
//! and hand their decoded batches to [`crate::ingest::ingest`] directly.

use std::io::Read;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::decode::parse_batch;
use crate::error::AppError;
use crate::faults::InFlight;
use crate::state::{authorize, AppState, Settings};

/// Reads the body within the limit, inflating gzip.
pub(crate) async fn read_body(
    settings: &Settings,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, AppError> {
    let limit = settings.max_body_bytes;
    let raw = tokio::time::timeout(settings.body_timeout, to_bytes(body, limit))
        .await
        .map_err(|_| AppError::BodyTimeout(settings.body_timeout))?
        .map_err(|_| AppError::TooLarge { limit })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding {
        "identity" => Ok(raw),
        "gzip" => {
            let mut inflated = Vec::new();
            // Read one byte past the limit to tell "exactly the limit" from "over it".
            flate2::read::GzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| {
                    AppError::MalformedBody(format!("the gzip body cannot be inflated: {e}"))
                })?;
            if inflated.len() > limit {
                return Err(AppError::TooLarge { limit });
            }
            Ok(inflated.into())
        }
        other => Err(AppError::BadRequest(format!(
            "Content-Encoding `{other}` is not supported; send identity or gzip"
        ))),
    }
}

/// A write request let in: its caller (the rate limit counted), its body read within the
/// limit and charged to the key, and its place among the requests in flight (test faults).
pub(crate) struct Admitted<'s> {
    pub caller: Caller,
    pub bytes: Bytes,
    _in_flight: Option<InFlight<'s>>,
}

/// The outcome of [`admit`]: the request, or the answer a programmed test fault gives it.
pub(crate) enum Admission<'s> {
    Admitted(Admitted<'s>),
    Injected(Response),
}

/// What a write path does before decoding its body: `/v1/ingest`, the receivers and OTLP-in
/// all go through here once, then hand their batch to [`crate::ingest::ingest`].
pub(crate) async fn admit<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Admission<'s>, AppError> {
    let caller = authorize(state, headers)?;
    let (in_flight, injected) = match &state.faults {
        Some(faults) => {
            let (guard, injected) = faults.enter();
            (Some(guard), injected)
        }
        None => (None, None),
    };
    if let Some(response) = injected {
        return Ok(Admission::Injected(response));
    }
    let read = read_body(&state.settings, headers, body).await;
    // A body over the limit was read (and inflated) up to the limit: it costs that much.
    let cost = match &read {
        Ok(bytes) => bytes.len(),
        Err(AppError::TooLarge { limit }) => *limit,
        Err(_) => 0,
    };
    state
        .limiter
        .charge_bytes(&caller.key_id, cost, std::time::Instant::now());
    Ok(Admission::Admitted(Admitted {
        caller,
        bytes: read?,
        _in_flight: in_flight,
    }))
}

/// `POST /v1/ingest`: one batch, one SQL transaction.
pub(crate) async fn ingest_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let admitted = match admit(&state, &headers, body).await? {
        Admission::Admitted(admitted) => admitted,
        Admission::Injected(answer) => return Ok(answer),
    };
    let (caller, tenant) = (&admitted.caller, admitted.caller.tenant.as_str());
    let batch = parse_batch(&admitted.bytes)?;
    let (batch_id, client_id) = (batch.batch_id.clone(), batch.client.id.clone());
    let done = crate::ingest::ingest(&state, tenant, batch).await?;
    if !done.replayed {
        tracing::info!(
            tenant,
            key = %caller.key_id,
            batch = %batch_id,
            client = %client_id,
            accepted = done.accepted,
            rejected = done.rejected,
            "batch stored"
        );
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], done.response).into_response())
}

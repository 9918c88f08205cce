//! `GET /api/v1/events`: the push stream's endpoint (the hub itself is [`crate::live`]).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::{authorize_read, AppState};

#[derive(serde::Deserialize)]
pub(crate) struct EventsParams {
    key: Option<String>,
}

/// `GET /api/v1/events`: the push stream.
pub(crate) async fn events(
    State(state): State<AppState>,
    mut headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<Response, AppError> {
    if let Some(key) = params.key {
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {key}")) {
            headers.insert(header::AUTHORIZATION, value);
        }
    }
    let caller = authorize_read(&state, &headers)?;
    let stream = state.live.subscribe(caller.tenant);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

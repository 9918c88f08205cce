//! The router and its handlers.

use std::io::Read;
use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use runledger::intake::{validate_execution, DEFAULT_MAX_NODE_RUNS};
use runledger::sync::{IngestRequest, IngestResponse, Rejected, INGEST_PATH};
use serde_json::json;
use sqlx::AnyPool;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::db;
use crate::error::AppError;
use crate::faults::{Faults, Plan};
use crate::live::{self, Live};

/// Settings the handlers need.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Keys that may write and read; with `read_keys` both empty the server is open.
    pub api_keys: Vec<String>,
    /// Keys that may only read.
    pub read_keys: Vec<String>,
    /// Largest request body, after decompression.
    pub max_body_bytes: usize,
    /// Browser origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Serve the fault-injection endpoints (end-to-end tests only).
    pub test_faults: bool,
}

/// Shared state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) pool: AnyPool,
    pub(crate) engine: &'static str,
    pub(crate) settings: Arc<Settings>,
    pub(crate) live: Live,
    faults: Option<Arc<Faults>>,
}

/// The whole application; `engine` is `sqlite` or `postgres`; `live` carries the push stream.
pub fn app(pool: AnyPool, engine: &'static str, settings: Settings, live: Live) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(
            settings
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        ))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ])
        // Browsers hide non-safelisted headers from scripts unless exposed.
        .expose_headers([header::RETRY_AFTER]);
    let state = AppState {
        pool,
        engine,
        live,
        faults: settings.test_faults.then(Arc::default),
        settings: Arc::new(settings),
    };
    let mut router = Router::new()
        .route("/health", get(health))
        .route(INGEST_PATH, post(ingest_create))
        .route("/api/v1/execution/{id}", get(execution_get))
        .route("/api/v1/events", get(live::events))
        .merge(crate::api::routes());
    if state.faults.is_some() {
        router = router
            .route("/v1/__test/faults", post(faults_program))
            .route("/v1/__test/stats", get(faults_stats));
    }
    router
        .layer(DefaultBodyLimit::disable())
        .layer(cors)
        .with_state(state)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn open_server(settings: &Settings) -> bool {
    settings.api_keys.is_empty() && settings.read_keys.is_empty()
}

/// Writing needs a read-write key when keys are configured.
fn authorize(settings: &Settings, headers: &HeaderMap) -> Result<(), AppError> {
    if open_server(settings) {
        return Ok(());
    }
    match presented_key(headers) {
        Some(key) if settings.api_keys.iter().any(|k| k == key) => Ok(()),
        _ => Err(AppError::Unauthorized),
    }
}

/// Reading needs a read-write or a read-only key when keys are configured.
pub(crate) fn authorize_read(settings: &Settings, headers: &HeaderMap) -> Result<(), AppError> {
    if open_server(settings) {
        return Ok(());
    }
    match presented_key(headers) {
        Some(key)
            if settings
                .api_keys
                .iter()
                .chain(&settings.read_keys)
                .any(|k| k == key) =>
        {
            Ok(())
        }
        _ => Err(AppError::Unauthorized),
    }
}

/// Reads the body within the limit, inflating gzip.
async fn read_body(
    settings: &Settings,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, AppError> {
    let limit = settings.max_body_bytes;
    let raw = to_bytes(body, limit)
        .await
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

fn parse_batch(bytes: &[u8]) -> Result<IngestRequest, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path == "?" {
            AppError::MalformedBody(format!("the body is not a valid ingest batch: {inner}"))
        } else {
            AppError::MalformedBody(format!("`{path}` is invalid: {inner}"))
        }
    })
}

/// `POST /v1/ingest`: one batch, one SQL transaction.
async fn ingest_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    authorize(&state.settings, &headers)?;
    let (_in_flight, injected) = match &state.faults {
        Some(faults) => {
            let (guard, injected) = faults.enter();
            (Some(guard), injected)
        }
        None => (None, None),
    };
    if let Some(response) = injected {
        return Ok(response);
    }
    let bytes = read_body(&state.settings, &headers, body).await?;
    let mut batch = parse_batch(&bytes)?;
    batch
        .records
        .iter_mut()
        .for_each(runledger::intake::redact_with_defaults);
    if batch.batch_id.trim().is_empty() {
        return Err(AppError::MalformedBody("`batch_id` is required".into()));
    }
    let now = now();
    let mut tx = state.pool.begin().await?;
    db::serialize_writers(&mut tx, state.engine).await?;
    if let Some(previous) = db::batch_response(&mut tx, &batch.batch_id).await? {
        tx.commit().await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], previous).into_response());
    }
    let mut answer = IngestResponse::default();
    let mut deltas = Vec::new();
    for record in &batch.records {
        match validate_execution(record, DEFAULT_MAX_NODE_RUNS) {
            Ok(()) => {
                deltas.extend(db::upsert(&mut tx, record, now).await?);
                answer.accepted.push(record.id.clone());
            }
            Err(reason) => answer.rejected.push(Rejected {
                id: record.id.clone(),
                reason: reason.to_string(),
            }),
        }
    }
    db::apply_cells(&mut tx, deltas).await?;
    let text = serde_json::to_string(&answer).expect("a response always serializes");
    db::remember_batch(&mut tx, &batch.batch_id, &text, now).await?;
    if let Some(faults) = &state.faults {
        tokio::time::sleep(faults.delay()).await;
    }
    tx.commit().await?;
    state.live.ingested(&answer.accepted, now);
    tracing::info!(
        batch = %batch.batch_id,
        client = %batch.client.id,
        accepted = answer.accepted.len(),
        rejected = answer.rejected.len(),
        "batch stored"
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// `GET /api/v1/execution/{id}`: one execution with its node runs.
async fn execution_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    authorize_read(&state.settings, &headers)?;
    match db::execution(&state.pool, &id).await? {
        Some(record) => Ok(([(header::CONTENT_TYPE, "application/json")], record).into_response()),
        None => Err(AppError::NotFound(format!("no execution {id}"))),
    }
}

/// `POST /v1/__test/faults` (with `--test-faults`): programs failures and delays.
async fn faults_program(State(state): State<AppState>, body: Bytes) -> Result<Response, AppError> {
    let plan: Plan = serde_json::from_slice(&body)
        .map_err(|e| AppError::MalformedBody(format!("not a fault plan: {e}")))?;
    if let Some(faults) = &state.faults {
        faults.program(plan);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/__test/stats` (with `--test-faults`): request counters and the row count
/// (`?rows=false` leaves the database alone, so it answers while a batch holds a write lock).
async fn faults_stats(
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, AppError> {
    let rows = if query.as_deref() == Some("rows=false") {
        -1
    } else {
        db::count(&state.pool).await?
    };
    Ok(state
        .faults
        .as_ref()
        .map_or_else(|| StatusCode::NOT_FOUND.into_response(), |f| f.stats(rows)))
}

/// `GET /health`: the database's reachability and the version.
async fn health(State(state): State<AppState>) -> Response {
    let reachable = db::reachable(&state.pool).await;
    let status = if reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if reachable { "ok" } else { "degraded" },
        "database": if reachable { "reachable" } else { "unreachable" },
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, Json(body)).into_response()
}

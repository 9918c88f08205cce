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

use crate::auth::{Caller, Denied, KeyRing, Scope};
use crate::db;
use crate::decode::parse_batch;
use crate::error::AppError;
use crate::faults::{Faults, Plan};
use crate::live::{self, Live};
use crate::rate_limit::{Limits, RateLimiter};

/// Settings the handlers need.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The keys, their tenants and scopes; without any the server is open.
    pub keys: KeyRing,
    /// Requests and bytes per second, per key.
    pub limits: Limits,
    /// Largest request body, after decompression.
    pub max_body_bytes: usize,
    /// Time for a whole request body to arrive.
    pub body_timeout: std::time::Duration,
    /// Browser origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Serve the fault-injection endpoints (end-to-end tests only).
    pub test_faults: bool,
    /// Where committed batches are forwarded (OTLP, OpenLineage).
    pub forwarding: crate::interop::Forwarding,
}

/// Shared state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) pool: AnyPool,
    pub(crate) engine: &'static str,
    pub(crate) settings: Arc<Settings>,
    pub(crate) live: Live,
    pub(crate) limiter: Arc<RateLimiter>,
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
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
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
        limiter: Arc::new(RateLimiter::new(settings.limits)),
        faults: settings.test_faults.then(Arc::default),
        settings: Arc::new(settings),
    };
    let mut router = Router::new()
        .route("/health", get(health))
        .route(
            INGEST_PATH,
            post(ingest_create).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::web::guard_write,
            )),
        )
        .route("/api/v1/execution/{id}", get(execution_get))
        .route("/api/v1/events", get(live::events))
        .merge(crate::api::routes())
        .merge(crate::admin::routes())
        .merge(crate::interop::routes());
    if state.faults.is_some() {
        router = router
            .route("/v1/__test/faults", post(faults_program))
            .route("/v1/__test/stats", get(faults_stats));
    }
    router
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(crate::web::json_errors))
        .layer(cors)
        .layer(crate::panic::layer())
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

/// True when no key is configured: anyone may read and write the default tenant.
pub(crate) fn open_server(settings: &Settings) -> bool {
    settings.keys.is_open()
}

/// The caller of a request needing `scope`, within its key's rate limit.
pub(crate) fn authorize_scope(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Caller, AppError> {
    let caller = state
        .settings
        .keys
        .authorize(presented_key(headers), scope)
        .map_err(|denied| match denied {
            Denied::Unknown => AppError::Unauthorized,
            Denied::Scope(scope) => AppError::Forbidden(scope),
        })?;
    // Limits are per key: a keyless (single-team) server has none to count against.
    if open_server(&state.settings) {
        return Ok(caller);
    }
    state
        .limiter
        .admit(&caller.key_id, std::time::Instant::now())
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    Ok(caller)
}

/// Writing needs a key with the `write` scope when keys are configured.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Caller, AppError> {
    authorize_scope(state, headers, Scope::Write)
}

/// Reading needs a key with the `read` scope when keys are configured.
pub(crate) fn authorize_read(state: &AppState, headers: &HeaderMap) -> Result<Caller, AppError> {
    authorize_scope(state, headers, Scope::Read)
}

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

/// The SHA-256 of a batch's records in their canonical form: what ties a batch id to its
/// content (formatting and gzip do not matter; any change to a record does).
fn records_hash(batch: &IngestRequest) -> String {
    let canonical = serde_json::to_vec(&batch.records).expect("records always serialize");
    crate::auth::hash_bytes(&canonical)
}

/// `POST /v1/ingest`: one batch, one SQL transaction.
pub(crate) async fn ingest_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let caller = authorize(&state, &headers)?;
    let tenant = caller.tenant.as_str();
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
    let read = read_body(&state.settings, &headers, body).await;
    // A body over the limit was read (and inflated) up to the limit: it costs that much.
    let cost = match &read {
        Ok(bytes) => bytes.len(),
        Err(AppError::TooLarge { limit }) => *limit,
        Err(_) => 0,
    };
    state
        .limiter
        .charge_bytes(&caller.key_id, cost, std::time::Instant::now());
    let bytes = read?;
    let mut batch = parse_batch(&bytes)?;
    // Secrets are masked before anything is stored or hashed, whatever the client did.
    batch
        .records
        .iter_mut()
        .for_each(runledger::intake::redact_with_defaults);
    if batch.batch_id.trim().is_empty() {
        return Err(AppError::MalformedBody("`batch_id` is required".into()));
    }
    let body_hash = records_hash(&batch);
    let now = now();
    let mut tx = state.pool.begin().await?;
    db::serialize_writers(&mut tx, state.engine).await?;
    if let Some(seen) = db::batch_response(&mut tx, tenant, &batch.batch_id).await? {
        tx.commit().await?;
        if seen.body_hash.is_some_and(|h| h != body_hash) {
            return Err(AppError::Conflict(format!(
                "batch `{}` was already received with different records; a new batch needs a new batch_id",
                batch.batch_id
            )));
        }
        return Ok(([(header::CONTENT_TYPE, "application/json")], seen.response).into_response());
    }
    let mut answer = IngestResponse::default();
    let mut deltas = Vec::new();
    for record in &batch.records {
        let verdict = match validate_execution(record, DEFAULT_MAX_NODE_RUNS) {
            Ok(()) => db::upsert(&mut tx, tenant, record, now).await?,
            Err(reason) => db::Upserted::Refused(reason.to_string()),
        };
        match verdict {
            db::Upserted::Written(changes) => {
                deltas.extend(changes);
                answer.accepted.push(record.id.clone());
            }
            db::Upserted::Kept => answer.accepted.push(record.id.clone()),
            db::Upserted::Refused(reason) => answer.rejected.push(Rejected {
                id: record.id.clone(),
                reason,
            }),
        }
    }
    db::apply_cells(&mut tx, tenant, deltas).await?;
    let text = serde_json::to_string(&answer).expect("a response always serializes");
    db::remember_batch(&mut tx, tenant, &batch.batch_id, &body_hash, &text, now).await?;
    let forwarding = &state.settings.forwarding;
    forwarding
        .enqueue(&mut tx, tenant, &batch.records, &answer.accepted, now)
        .await?;
    if let Some(faults) = &state.faults {
        tokio::time::sleep(faults.delay()).await;
        faults.panic_if_programmed();
    }
    tx.commit().await?;
    forwarding.committed();
    state.live.ingested(tenant, &answer.accepted, now);
    tracing::info!(
        tenant,
        key = %caller.key_id,
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
    let caller = authorize_read(&state, &headers)?;
    match db::execution(&state.pool, &caller.tenant, &id).await? {
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

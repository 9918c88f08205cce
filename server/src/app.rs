//! The router and its handlers.

use std::io::Read;
use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use runledger::sync::INGEST_PATH;
use serde_json::json;
use sqlx::AnyPool;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::db;
use crate::decode::parse_batch;
use crate::error::AppError;
use crate::faults::Plan;
use crate::live::Live;
use crate::rate_limit::RateLimiter;
use crate::state::{authorize, authorize_read, AppState, Settings};

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
        .route("/api/v1/events", get(crate::events::events))
        .merge(crate::receivers::routes(state.clone()))
        .merge(crate::api::routes())
        .merge(crate::team::routes())
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
    let batch = parse_batch(&bytes)?;
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

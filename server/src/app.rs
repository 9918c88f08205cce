//! The router and its handlers.

use std::sync::Arc;

use axum::body::Bytes;
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
use crate::error::AppError;
use crate::faults::Plan;
use crate::ingest_http::ingest_create;
use crate::live::Live;
use crate::rate_limit::RateLimiter;
use crate::state::{authorize_read, AppState, Settings};

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
        read_pool: settings.read_pool.clone().unwrap_or_else(|| pool.clone()),
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

/// `GET /api/v1/execution/{id}`: one execution with its node runs.
async fn execution_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let caller = authorize_read(&state, &headers)?;
    match db::execution(&state.read_pool, &caller.tenant, &id).await? {
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

//! The state every handler shares, and who may call what (keys, scopes, rate limits).

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use sqlx::AnyPool;

use crate::auth::{Caller, Denied, KeyRing, Scope};
use crate::error::AppError;
use crate::faults::Faults;
use crate::live::Live;
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
    pub forwarding: crate::interop::forwarding::Forwarding,
    /// `--read-db`: the database (a replica) the read API queries; `None`: the main one.
    pub read_pool: Option<AnyPool>,
}

/// Shared state.
#[derive(Clone)]
pub struct AppState {
    pub(crate) pool: AnyPool,
    /// What the read API (history, stats, one execution) queries: a replica given with
    /// `--read-db`, else `pool`. Writes, and reads inside a write, always use `pool`.
    pub(crate) read_pool: AnyPool,
    pub(crate) engine: &'static str,
    pub(crate) settings: Arc<Settings>,
    pub(crate) live: Live,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) faults: Option<Arc<Faults>>,
}

/// The key a request presents (`Authorization: Bearer KEY`), if any.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
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
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Caller, AppError> {
    authorize_scope(state, headers, Scope::Write)
}

/// Reading needs a key with the `read` scope when keys are configured.
pub(crate) fn authorize_read(state: &AppState, headers: &HeaderMap) -> Result<Caller, AppError> {
    authorize_scope(state, headers, Scope::Read)
}

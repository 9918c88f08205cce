//! Routes that need the `admin` scope: changes to a tenant's data beyond ingest.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::delete;
use axum::Router;

use crate::auth::Scope;
use crate::db;
use crate::error::AppError;
use crate::state::{authorize_scope, AppState};

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/execution/{id}", delete(execution_delete))
}

/// `DELETE /api/v1/execution/{id}`: removes one of the tenant's executions with its lineage
/// and its part of the stats (a record sent by mistake). A client that still holds it may
/// send it again; deleting is for records no client will resend.
async fn execution_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let caller = authorize_scope(&state, &headers, Scope::Admin)?;
    if !db::delete_execution(&state.pool, state.engine, &caller.tenant, &id).await? {
        return Err(AppError::NotFound(format!("no execution {id}")));
    }
    tracing::info!(tenant = %caller.tenant, key = %caller.key_id, id, "execution deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! What the viewer's Team view reads besides DOMAIN.md C's routes: the values that exist (to
//! fill its filters) and stats grouped over time (its trend charts). Both come from the rollup
//! cells, and the stats answer is the client's `tracker.stats()` shape, computed by the same
//! code, so the two views show the same numbers.
//!
//! - `GET /api/v1/facets?days=N` → `{ workflows, users, database_types, kinds }`, each the
//!   sorted distinct values seen in the last N days (default 30).
//! - `GET /api/v1/stats?days=N&group_by=day,workflow&time_zone=+02:00&workflow_id=&user_id=
//!   &database_type=&kind=` → `{ groups: [{ key, total, byStatus, successRate, durationMs,
//!   totalRows }], relativeError }`.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use runledger::stats::{aggregate, GroupBy, StatsFilter, StatsQuery, SLOT_MS};
use serde_json::json;

use crate::error::AppError;
use crate::params::{days, now, only_known, Params, MAX_DAYS};
use crate::rollups::{self, Every, Scope};
use crate::state::{authorize_read, AppState};

/// The Team view's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/facets", get(facets))
        .route("/api/v1/stats", get(stats))
}

fn from_slot(days: i64) -> i64 {
    (now() - days * 86_400_000).div_euclid(SLOT_MS)
}

/// `GET /api/v1/facets?days=N`
async fn facets(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    only_known(&params, &["days"])?;
    let days = days(&params, 30, MAX_DAYS)?;
    let from = Some(from_slot(days));
    // Tenant-wide cells keep database types and kinds; workflows and users are in their own
    // scopes.
    let cells = rollups::cells(&state.read_pool, &tenant, &Scope::Global, from).await?;
    let every_workflow =
        rollups::cells_of_every(&state.read_pool, &tenant, Every::Workflow, from).await?;
    let every_user = rollups::cells_of_every(&state.read_pool, &tenant, Every::User, from).await?;
    let mut workflows = BTreeSet::new();
    let mut users = BTreeSet::new();
    let mut database_types = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for c in every_workflow.iter().filter(|c| c.count > 0) {
        workflows.extend(c.key.workflow_id.clone());
    }
    for c in every_user.iter().filter(|c| c.count > 0) {
        users.extend(c.key.user_id.clone());
    }
    for c in cells.iter().filter(|c| c.count > 0) {
        database_types.extend(c.key.database_type.clone());
        kinds.insert(c.key.kind.clone());
    }
    Ok(Json(json!({
        "period_days": days,
        "workflows": workflows,
        "users": users,
        "database_types": database_types,
        "kinds": kinds,
    }))
    .into_response())
}

fn group_by(text: &str) -> Result<Vec<GroupBy>, AppError> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| match s.trim() {
            "day" => Ok(GroupBy::Day),
            "workflow" => Ok(GroupBy::Workflow),
            "user" => Ok(GroupBy::User),
            "database_type" => Ok(GroupBy::DatabaseType),
            "status" => Ok(GroupBy::Status),
            other => Err(AppError::BadRequest(format!(
                "`group_by` takes day, workflow, user, database_type and status; got `{other}`"
            ))),
        })
        .collect()
}

/// `GET /api/v1/stats?days=N&group_by=…&time_zone=…&workflow_id=…`
async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    only_known(
        &params,
        &[
            "days",
            "group_by",
            "time_zone",
            "workflow_id",
            "user_id",
            "database_type",
            "kind",
        ],
    )?;
    let days = days(&params, 7, MAX_DAYS)?;
    let query = StatsQuery {
        since: Some(now() - days * 86_400_000),
        until: None,
        group_by: group_by(params.get("group_by").map_or("", String::as_str))?,
        filter: StatsFilter {
            workflow_id: params.get("workflow_id").cloned(),
            user_id: params.get("user_id").cloned(),
            database_type: params.get("database_type").cloned(),
            status: None,
            kind: params.get("kind").cloned(),
        },
        time_zone: params.get("time_zone").cloned(),
    };
    let offset = query
        .validate()
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let cells = stats_cells(&state, &tenant, &query).await?;
    // Rounded here, at the edge, exactly as the client's tracker.stats() rounds.
    Ok(Json(aggregate(&cells, &query, offset).rounded()).into_response())
}

/// The stored cells a stats query reads: the narrowest scope that holds its filter, or every
/// workflow's (user's) cells for a breakdown by workflow (user). The server keeps no cells by
/// user and workflow together, so asking for both is refused with what to ask instead.
async fn stats_cells(
    state: &AppState,
    tenant: &str,
    query: &StatsQuery,
) -> Result<Vec<runledger::stats::Cell>, AppError> {
    let by_workflow = query.group_by.contains(&GroupBy::Workflow);
    let by_user = query.group_by.contains(&GroupBy::User);
    let filter = &query.filter;
    if (by_workflow || filter.workflow_id.is_some()) && (by_user || filter.user_id.is_some()) {
        return Err(AppError::BadRequest(
            "the server keeps stats per user and per workflow, not per user and workflow together: \
             filter or group by one of them"
                .into(),
        ));
    }
    let from = query.slots().0;
    let cells = match (&filter.user_id, &filter.workflow_id) {
        (Some(user), _) => {
            rollups::cells(&state.read_pool, tenant, &Scope::User(user.clone()), from).await?
        }
        (None, Some(workflow)) => {
            rollups::cells(
                &state.read_pool,
                tenant,
                &Scope::Workflow(workflow.clone()),
                from,
            )
            .await?
        }
        (None, None) if by_workflow => {
            rollups::cells_of_every(&state.read_pool, tenant, Every::Workflow, from).await?
        }
        (None, None) if by_user => {
            rollups::cells_of_every(&state.read_pool, tenant, Every::User, from).await?
        }
        (None, None) => rollups::cells(&state.read_pool, tenant, &Scope::Global, from).await?,
    };
    Ok(cells)
}

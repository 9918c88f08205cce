//! The read API: history and stats for editors and dashboards (DOMAIN.md C's paths and shapes,
//! plus cursor pagination, workflow stats with percentiles, and lineage).
//!
//! Which index or table answers what (each call stays fast at a million executions):
//!
//! | call | answered from |
//! | --- | --- |
//! | `GET /api/v1/executions/{user_id}` | `executions_by_user (user_id, started_at)` |
//! | `GET /api/v1/executions?workflow_id=…&cursor=…` | `executions_by_workflow_time_id`, or `executions_by_time_id` |
//! | every `…/stats`, `…/database-stats` | `rollups` (day cells, and the slot cells of a partial first day, of one scope), never `executions` |
//! | `GET /api/v1/lineage/{output_name}` | `execution_outputs_by_name (name, started_at, execution_id)` |

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use runledger::history::Cursor;
use runledger::stats::{aggregate, GroupBy, StatsFilter, StatsGroup, StatsQuery, RELATIVE_ERROR};
use runledger::Execution;
use serde_json::{json, Value};
use sqlx::any::AnyArguments;
use sqlx::{AnyPool, Arguments, Row};

use crate::error::AppError;
use crate::params::{days, limit, millis, now, param, status, Params, MAX_DAYS_ALL};
use crate::rollups::{self, Scope};
use crate::search;
use crate::state::{authorize_read, AppState};

/// The read routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/executions", get(list))
        .route("/api/v1/executions/stats/global", get(global_stats))
        .route(
            "/api/v1/executions/database-stats/global",
            get(global_database_stats),
        )
        .route("/api/v1/executions/{user_id}", get(user_executions))
        .route("/api/v1/executions/{user_id}/stats", get(user_stats))
        .route(
            "/api/v1/executions/{user_id}/database-stats",
            get(user_database_stats),
        )
        .route("/api/v1/workflows/{workflow_id}/stats", get(workflow_stats))
        .route("/api/v1/lineage/{output_name}", get(lineage))
}

fn summary_json(record: &str) -> Result<Value, AppError> {
    let e: Execution = serde_json::from_str(record)
        .map_err(|e| AppError::Database(sqlx::Error::Decode(Box::new(e))))?;
    Ok(serde_json::to_value(e.summary()).expect("an execution always serializes"))
}

/// A SELECT with optional `AND column = value` filters, bound in order.
struct Select {
    sql: String,
    args: AnyArguments<'static>,
    n: usize,
}

impl Select {
    fn new(base: &str) -> Select {
        Select {
            sql: base.to_owned(),
            args: AnyArguments::default(),
            n: 0,
        }
    }

    fn and<T>(&mut self, clause: &str, value: T) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.n += 1;
        self.sql
            .push_str(&clause.replace("?", &format!("${}", self.n)));
        self.args.add(value).expect("a plain value always binds");
        self
    }

    async fn records(self, pool: &AnyPool) -> Result<Vec<(String, i64, String)>, AppError> {
        let rows = sqlx::query_with(&self.sql, self.args)
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(AppError::from)
    }
}

/// The deepest offset served: an offset makes the database walk past every skipped row, so
/// deeper pages take the cursor of `GET /api/v1/executions` instead.
pub const MAX_OFFSET: i64 = 5_000;

const RECORDS: &str = "SELECT id, started_at, record FROM executions WHERE 1 = 1";

/// `GET /api/v1/executions/{user_id}?limit=&offset=&status=&database_type=`
async fn user_executions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let limit = limit(&params, 100)?;
    let offset = param::<i64>(&params, "offset", "an integer of at least 0")?.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(AppError::BadRequest(format!(
            "`offset` must be from 0 to {MAX_OFFSET}; got {offset}. Deeper pages: GET /api/v1/executions?user_id={user_id}&cursor=<next_cursor> (cursor pagination stays fast at any depth)"
        )));
    }
    let mut q = Select::new(RECORDS);
    q.and(" AND tenant = ?", tenant);
    q.and(" AND user_id = ?", user_id.clone());
    if let Some(s) = status(&params)? {
        q.and(" AND status = ?", s.as_str().to_owned());
    }
    if let Some(d) = params.get("database_type") {
        q.and(" AND database_type = ?", d.clone());
    }
    q.sql.push_str(" ORDER BY started_at DESC, id DESC");
    q.and(" LIMIT ?", limit).and(" OFFSET ?", offset);
    let executions = q
        .records(&state.read_pool)
        .await?
        .iter()
        .map(|(_, _, record)| summary_json(record))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "user_id": user_id,
        "executions": executions,
        "count": executions.len(),
        "limit": limit,
        "offset": offset,
    }))
    .into_response())
}

/// `GET /api/v1/executions?workflow_id=&user_id=&database_type=&status=&since=&until=&q=&cursor=&limit=`:
/// newest first, cursor pagination that stays stable while new executions arrive. With `q`,
/// the matches among at most [`search::SCAN_WINDOW`] executions read (see [`crate::search`]).
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let limit = limit(&params, 50)?;
    let words = search::words(params.get("q"))?;
    let mut q = if words.is_empty() {
        Select::new(RECORDS)
    } else {
        // Only the records the database finds the words in come back whole.
        let mut q = Select::new("SELECT id, started_at, CASE WHEN 1 = 1");
        for pattern in search::like_patterns(&words) {
            q.and(" AND lower(record) LIKE ? ESCAPE '!'", pattern);
        }
        q.sql
            .push_str(" THEN record ELSE '' END FROM executions WHERE 1 = 1");
        q
    };
    q.and(" AND tenant = ?", tenant);
    if let Some(d) = params.get("database_type") {
        q.and(" AND database_type = ?", d.clone());
    }
    if let Some(w) = params.get("workflow_id") {
        q.and(" AND workflow_id = ?", w.clone());
    }
    if let Some(u) = params.get("user_id") {
        q.and(" AND user_id = ?", u.clone());
    }
    if let Some(s) = status(&params)? {
        q.and(" AND status = ?", s.as_str().to_owned());
    }
    if let Some(since) = millis(&params, "since")? {
        q.and(" AND started_at >= ?", since);
    }
    if let Some(until) = millis(&params, "until")? {
        q.and(" AND started_at <= ?", until);
    }
    if let Some(cursor) = params.get("cursor") {
        let c = Cursor::decode(cursor).map_err(|_| {
            AppError::BadRequest(format!(
                "`cursor` `{cursor}` is not a next_cursor of this API"
            ))
        })?;
        // A row-value comparison: both engines walk the (…, started_at, id) index from
        // the cursor, however deep it is.
        q.and(" AND (started_at, id) < (?", c.started_at)
            .and(", ?)", c.id);
    }
    q.sql.push_str(" ORDER BY started_at DESC, id DESC");
    if !words.is_empty() {
        q.and(" LIMIT ?", search::SCAN_WINDOW);
        let window = q.records(&state.pool).await?;
        return searched(window, &words, limit);
    }
    q.and(" LIMIT ?", limit + 1);
    let mut rows = q.records(&state.read_pool).await?;
    let next_cursor = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        let (id, started_at, _) = rows.last().expect("limit is at least 1");
        Cursor {
            started_at: *started_at,
            id: id.clone(),
        }
        .encode()
    });
    let items = rows
        .iter()
        .map(|(_, _, record)| summary_json(record))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor })).into_response())
}

/// The first `limit` matches of a search window (rows whose record is blank did not pass the
/// database's pre-filter), and where to go on: after the last match returned when there may be
/// more, after the window when it was read to its end and was full.
fn searched(
    window: Vec<(String, i64, String)>,
    words: &[String],
    limit: i64,
) -> Result<Response, AppError> {
    let full = window.len() as i64 == search::SCAN_WINDOW;
    let mut items = Vec::new();
    // The index of the last row read, when rows may follow it.
    let mut resume = window.len().checked_sub(1).filter(|_| full);
    for (i, (_, _, record)) in window.iter().enumerate() {
        if record.is_empty() {
            continue;
        }
        let e: Execution = serde_json::from_str(record)
            .map_err(|e| AppError::Database(sqlx::Error::Decode(Box::new(e))))?;
        if !search::matches(&e, words) {
            continue;
        }
        items.push(serde_json::to_value(e.summary()).expect("an execution always serializes"));
        if items.len() as i64 == limit {
            resume = (i + 1 < window.len() || full).then_some(i);
            break;
        }
    }
    let next_cursor = resume.map(|i| {
        let (id, started_at, _) = &window[i];
        Cursor {
            started_at: *started_at,
            id: id.clone(),
        }
        .encode()
    });
    let scanned = resume.map_or(window.len(), |i| i + 1);
    Ok(
        Json(json!({ "items": items, "next_cursor": next_cursor, "scanned": scanned }))
            .into_response(),
    )
}

/// The one group of a stats query over `cells`, if anything matched.
fn one_group(cells: &[runledger::stats::Cell], query: &StatsQuery) -> Option<StatsGroup> {
    // Rounded here, at the edge: the rollups and the aggregation keep full precision.
    aggregate(cells, query, 0)
        .rounded()
        .groups
        .into_iter()
        .next()
}

/// Milliseconds as the seconds DOMAIN.md C's shape uses, rounded like every edge figure.
fn seconds(ms: f64) -> f64 {
    runledger::stats::round_to(ms / 1000.0, runledger::stats::DURATION_DECIMALS + 3)
}

fn count(g: Option<&StatsGroup>, status: &str) -> u64 {
    g.and_then(|g| g.by_status.get(status).copied())
        .unwrap_or(0)
}

/// DOMAIN.md C's stats shape; execution times in seconds.
fn c_stats(g: Option<&StatsGroup>, days: i64) -> Value {
    let d = g.and_then(|g| g.duration_ms.as_ref());
    json!({
        "period_days": days,
        "total_executions": g.map_or(0, |g| g.total),
        "success_count": count(g, "success"),
        "failed_count": count(g, "failed"),
        "error_count": count(g, "error"),
        "timeout_count": count(g, "timeout"),
        "running_count": count(g, "running"),
        "success_rate": g.map_or(0.0, |g| g.success_rate),
        "avg_execution_time": d.map_or(0.0, |d| seconds(d.avg)),
        "max_execution_time": d.map_or(0.0, |d| seconds(d.max)),
        "total_rows_processed": g.map_or(0, |g| g.total_rows),
    })
}

fn since_days(days: i64) -> StatsQuery {
    StatsQuery {
        since: Some(now() - days * 86_400_000),
        ..StatsQuery::default()
    }
}

/// `GET /api/v1/executions/{user_id}/stats?days=N`
async fn user_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let days = days(&params, 7, MAX_DAYS_ALL)?;
    let query = since_days(days);
    let scope = Scope::User(user_id.clone());
    let cells = rollups::cells(&state.read_pool, &tenant, &scope, query.slots().0).await?;
    let mut body = c_stats(one_group(&cells, &query).as_ref(), days);
    body["user_id"] = json!(user_id);
    Ok(Json(body).into_response())
}

/// `GET /api/v1/executions/stats/global?days=N`
async fn global_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let days = days(&params, 7, MAX_DAYS_ALL)?;
    let query = since_days(days);
    let cells = rollups::cells(&state.read_pool, &tenant, &Scope::Global, query.slots().0).await?;
    Ok(Json(c_stats(one_group(&cells, &query).as_ref(), days)).into_response())
}

fn database_stats(cells: &[runledger::stats::Cell]) -> Vec<Value> {
    let query = StatsQuery {
        group_by: vec![GroupBy::DatabaseType],
        ..StatsQuery::default()
    };
    aggregate(cells, &query, 0)
        .rounded()
        .groups
        .iter()
        .filter_map(|g| {
            // Every status is counted, so the counts add up to execution_count.
            Some(json!({
                "database_type": g.key.database_type.as_ref()?,
                "execution_count": g.total,
                "success_count": count(Some(g), "success"),
                "failed_count": count(Some(g), "failed"),
                "error_count": count(Some(g), "error"),
                "timeout_count": count(Some(g), "timeout"),
                "running_count": count(Some(g), "running"),
                "cancelled_count": count(Some(g), "cancelled"),
                "interrupted_count": count(Some(g), "interrupted"),
                "success_rate": g.success_rate,
                "avg_execution_time": g.duration_ms.as_ref().map_or(0.0, |d| seconds(d.avg)),
            }))
        })
        .collect()
}

/// `GET /api/v1/executions/{user_id}/database-stats`
async fn user_database_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let scope = Scope::User(user_id.clone());
    let cells = rollups::cells(&state.read_pool, &tenant, &scope, None).await?;
    Ok(
        Json(json!({ "user_id": user_id, "database_stats": database_stats(&cells) }))
            .into_response(),
    )
}

/// `GET /api/v1/executions/database-stats/global`
async fn global_database_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let cells = rollups::cells(&state.read_pool, &tenant, &Scope::Global, None).await?;
    Ok(Json(json!({ "database_stats": database_stats(&cells) })).into_response())
}

/// `GET /api/v1/workflows/{workflow_id}/stats?days=N`: with duration percentiles.
async fn workflow_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(workflow_id): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let days = days(&params, 7, MAX_DAYS_ALL)?;
    let query = StatsQuery {
        filter: StatsFilter {
            workflow_id: Some(workflow_id.clone()),
            ..StatsFilter::default()
        },
        ..since_days(days)
    };
    let scope = Scope::Workflow(workflow_id.clone());
    let cells = rollups::cells(&state.read_pool, &tenant, &scope, query.slots().0).await?;
    let g = one_group(&cells, &query);
    Ok(Json(json!({
        "workflow_id": workflow_id,
        "period_days": days,
        "total": g.as_ref().map_or(0, |g| g.total),
        "by_status": g.as_ref().map(|g| g.by_status.clone()).unwrap_or_default(),
        "success_rate": g.as_ref().map_or(0.0, |g| g.success_rate),
        "duration_ms": g.as_ref().and_then(|g| g.duration_ms.clone()),
        "total_rows": g.as_ref().map_or(0, |g| g.total_rows),
        "relative_error": RELATIVE_ERROR,
    }))
    .into_response())
}

/// `GET /api/v1/lineage/{output_name}?limit=`: the executions that produced it, newest
/// first, with their external ids.
async fn lineage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(output_name): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = authorize_read(&state, &headers)?.tenant;
    let limit = limit(&params, 50)?;
    let rows = sqlx::query(
        "SELECT e.record FROM execution_outputs o
         JOIN executions e ON e.tenant = o.tenant AND e.id = o.execution_id
         WHERE o.tenant = $1 AND o.name = $2 ORDER BY o.started_at DESC, o.execution_id DESC LIMIT $3",
    )
    .bind(tenant.as_str())
    .bind(output_name.as_str())
    .bind(limit)
    .fetch_all(&state.read_pool)
    .await?;
    let executions = rows
        .iter()
        .map(|r| {
            let e: Execution = serde_json::from_str(&r.try_get::<String, _>(0)?)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(json!({
                "id": e.id,
                "workflow_id": e.workflow_id,
                "workflow_name": e.workflow_name,
                "status": e.status.as_str(),
                "started_at": e.started_at,
                "completed_at": e.completed_at,
                "external_ids": e.external_ids,
                "outputs": e.outputs.iter().filter(|o| o.name == output_name).collect::<Vec<_>>(),
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(json!({ "output_name": output_name, "executions": executions })).into_response())
}

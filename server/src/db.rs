//! The database: SQLite or PostgreSQL through sqlx's `Any` driver, with one set of portable
//! statements (`$n` placeholders, `INSERT … ON CONFLICT … DO UPDATE … WHERE`).

use runledger::Execution;
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{AnyPool, Row};

/// Statements creating the schema; each is idempotent.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS executions (
        id TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        kind TEXT NOT NULL,
        workflow_id TEXT,
        user_id TEXT,
        status TEXT NOT NULL,
        database_type TEXT,
        started_at BIGINT NOT NULL,
        completed_at BIGINT,
        duration_ms DOUBLE PRECISION,
        record TEXT NOT NULL,
        received_at BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS executions_by_user ON executions (user_id, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_workflow ON executions (workflow_id, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_database ON executions (database_type, started_at)",
    "CREATE TABLE IF NOT EXISTS ingest_batches (
        batch_id TEXT PRIMARY KEY,
        response TEXT NOT NULL,
        received_at BIGINT NOT NULL
    )",
];

/// The upsert: a row changes only when the incoming version is newer, so replays, duplicates
/// and late older versions change nothing.
const UPSERT: &str = "INSERT INTO executions
    (id, version, kind, workflow_id, user_id, status, database_type, started_at, completed_at, duration_ms, record, received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, kind = excluded.kind, workflow_id = excluded.workflow_id,
        user_id = excluded.user_id, status = excluded.status, database_type = excluded.database_type,
        started_at = excluded.started_at, completed_at = excluded.completed_at,
        duration_ms = excluded.duration_ms, record = excluded.record, received_at = excluded.received_at
    WHERE executions.version < excluded.version";

/// Which engine a URL names.
pub fn engine_of(url: &str) -> &'static str {
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        "postgres"
    } else {
        "sqlite"
    }
}

/// Connects and creates the schema. A SQLite file is created when missing.
pub async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    install_default_drivers();
    let url = if engine_of(url) == "sqlite" && !url.contains('?') && !url.contains(":memory:") {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    // SQLite allows one writer at a time: one connection keeps batches from contending.
    let max = if engine_of(&url) == "sqlite" { 1 } else { 8 };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .connect(&url)
        .await?;
    for statement in SCHEMA {
        sqlx::query(statement).execute(&pool).await?;
    }
    Ok(pool)
}

/// The stored answer to a batch id, if it was seen before.
pub async fn batch_response(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    batch_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT response FROM ingest_batches WHERE batch_id = $1")
        .bind(batch_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| r.try_get::<String, _>(0)).transpose()
}

/// Remembers the answer to a batch id.
pub async fn remember_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    batch_id: &str,
    response: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ingest_batches (batch_id, response, received_at) VALUES ($1, $2, $3) ON CONFLICT (batch_id) DO NOTHING")
        .bind(batch_id)
        .bind(response)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Upserts one execution (kept only if its version is newer than the stored one).
pub async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    e: &Execution,
    now: i64,
) -> Result<(), sqlx::Error> {
    let record = serde_json::to_string(e).expect("an execution always serializes");
    sqlx::query(UPSERT)
        .bind(e.id.as_str())
        .bind(e.version as i64)
        .bind(e.kind.as_str())
        .bind(e.workflow_id.as_deref())
        .bind(e.user_id.as_deref())
        .bind(e.status.as_str())
        .bind(e.database_type())
        .bind(e.started_at)
        .bind(e.completed_at)
        .bind(e.duration_ms)
        .bind(record)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One stored execution, as JSON text.
pub async fn execution(pool: &AnyPool, id: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT record FROM executions WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| r.try_get::<String, _>(0)).transpose()
}

/// True when a trivial query answers.
pub async fn reachable(pool: &AnyPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}

/// How many executions are stored.
pub async fn count(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) FROM executions")
        .fetch_one(pool)
        .await?;
    row.try_get::<i64, _>(0)
}

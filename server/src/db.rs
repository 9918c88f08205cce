//! The database: SQLite or PostgreSQL through sqlx's `Any` driver, with one set of portable
//! statements (`$n` placeholders, `INSERT … ON CONFLICT … DO UPDATE … WHERE`).

use runledger::stats::{changes, Cell, CellKey, Contribution, Rollups};
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
    // Tie-broken orders for cursor pagination.
    "CREATE INDEX IF NOT EXISTS executions_by_time_id ON executions (started_at, id)",
    "CREATE INDEX IF NOT EXISTS executions_by_workflow_time_id ON executions (workflow_id, started_at, id)",
    // Stats: rollup cells (see runledger::stats), kept in step with `executions` in the same
    // transaction; every stats endpoint reads cells, never executions.
    "CREATE TABLE IF NOT EXISTS rollup_cells (
        id TEXT PRIMARY KEY,
        slot BIGINT NOT NULL,
        workflow_id TEXT,
        user_id TEXT,
        database_type TEXT,
        cell TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS rollup_cells_by_slot ON rollup_cells (slot)",
    "CREATE INDEX IF NOT EXISTS rollup_cells_by_user ON rollup_cells (user_id, slot)",
    "CREATE INDEX IF NOT EXISTS rollup_cells_by_workflow ON rollup_cells (workflow_id, slot)",
    // Lineage: which executions produced an output of a name.
    "CREATE TABLE IF NOT EXISTS execution_outputs (
        execution_id TEXT NOT NULL,
        name TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        PRIMARY KEY (execution_id, name)
    )",
    "CREATE INDEX IF NOT EXISTS execution_outputs_by_name ON execution_outputs (name, started_at, execution_id)",
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
    let rebuilt = rebuild_cells_if_missing(&pool).await?;
    if rebuilt > 0 {
        tracing::info!(
            cells = rebuilt,
            "built stats rollups for executions stored before them"
        );
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

/// Makes concurrent ingest transactions take turns on PostgreSQL (SQLite has one writer
/// anyway), so that each one reads the versions it replaces before it changes the rollups.
pub async fn serialize_writers(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    engine: &str,
) -> Result<(), sqlx::Error> {
    if engine == "postgres" {
        sqlx::query("SELECT pg_advisory_xact_lock(7301)")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn parse_record(text: &str) -> Result<Execution, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Upserts one execution if its version is newer than the stored one; returns the rollup
/// changes it makes (none when it changed nothing). Outputs for lineage follow.
pub async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    e: &Execution,
    now: i64,
) -> Result<Vec<(Contribution, i8)>, sqlx::Error> {
    let stored = sqlx::query("SELECT version, record FROM executions WHERE id = $1")
        .bind(e.id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    let old = match stored {
        Some(row) if row.try_get::<i64, _>(0)? >= e.version as i64 => return Ok(Vec::new()),
        Some(row) => Some(parse_record(&row.try_get::<String, _>(1)?)?),
        None => None,
    };
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
    sqlx::query("DELETE FROM execution_outputs WHERE execution_id = $1")
        .bind(e.id.as_str())
        .execute(&mut **tx)
        .await?;
    let names: std::collections::BTreeSet<&str> =
        e.outputs.iter().map(|o| o.name.as_str()).collect();
    for name in names {
        sqlx::query(
            "INSERT INTO execution_outputs (execution_id, name, started_at) VALUES ($1, $2, $3)",
        )
        .bind(e.id.as_str())
        .bind(name)
        .bind(e.started_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(changes(old.as_ref(), Some(e)))
}

/// Applies rollup changes to the stored cells (read, change, write back or drop).
pub async fn apply_cells(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    all: Vec<(Contribution, i8)>,
) -> Result<(), sqlx::Error> {
    let mut by_cell: std::collections::BTreeMap<CellKey, Vec<(Contribution, i8)>> =
        Default::default();
    for (c, sign) in all {
        by_cell.entry(c.key.clone()).or_default().push((c, sign));
    }
    for (key, deltas) in by_cell {
        let id = key.id();
        let stored = sqlx::query("SELECT cell FROM rollup_cells WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let mut cell = match stored {
            Some(row) => serde_json::from_str::<Cell>(&row.try_get::<String, _>(0)?)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            None => Cell::new(key),
        };
        for (c, sign) in &deltas {
            cell.apply(c, *sign);
        }
        write_cell(tx, &cell).await?;
    }
    Ok(())
}

async fn write_cell(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cell: &Cell,
) -> Result<(), sqlx::Error> {
    let id = cell.key.id();
    if cell.is_empty() {
        sqlx::query("DELETE FROM rollup_cells WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rollup_cells (id, slot, workflow_id, user_id, database_type, cell)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET cell = excluded.cell",
    )
    .bind(id.as_str())
    .bind(cell.key.slot)
    .bind(cell.key.workflow_id.as_deref())
    .bind(cell.key.user_id.as_deref())
    .bind(cell.key.database_type.as_deref())
    .bind(serde_json::to_string(cell).expect("a cell always serializes"))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Cells from `from_slot` on, optionally of one user or one workflow.
pub async fn cells(
    pool: &AnyPool,
    from_slot: Option<i64>,
    user_id: Option<&str>,
    workflow_id: Option<&str>,
) -> Result<Vec<Cell>, sqlx::Error> {
    let from = from_slot.unwrap_or(i64::MIN);
    let rows = match (user_id, workflow_id) {
        (Some(u), _) => {
            sqlx::query("SELECT cell FROM rollup_cells WHERE user_id = $1 AND slot >= $2")
                .bind(u)
                .bind(from)
                .fetch_all(pool)
                .await?
        }
        (None, Some(w)) => {
            sqlx::query("SELECT cell FROM rollup_cells WHERE workflow_id = $1 AND slot >= $2")
                .bind(w)
                .bind(from)
                .fetch_all(pool)
                .await?
        }
        (None, None) => {
            sqlx::query("SELECT cell FROM rollup_cells WHERE slot >= $1")
                .bind(from)
                .fetch_all(pool)
                .await?
        }
    };
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.try_get::<String, _>(0)?)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        })
        .collect()
}

/// Builds the rollups of a database written before they existed (or repairs lost ones).
pub async fn rebuild_cells_if_missing(pool: &AnyPool) -> Result<usize, sqlx::Error> {
    let have: i64 = sqlx::query("SELECT COUNT(*) FROM rollup_cells")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    if have > 0 || count(pool).await? == 0 {
        return Ok(0);
    }
    let mut rollups = Rollups::default();
    let mut after = String::new();
    loop {
        let rows =
            sqlx::query("SELECT id, record FROM executions WHERE id > $1 ORDER BY id LIMIT 1000")
                .bind(after.as_str())
                .fetch_all(pool)
                .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        for row in &rows {
            rollups.replace(None, Some(&parse_record(&row.try_get::<String, _>(1)?)?));
        }
    }
    let mut tx = pool.begin().await?;
    let mut n = 0;
    for cell in rollups.cells() {
        write_cell(&mut tx, cell).await?;
        n += 1;
    }
    tx.commit().await?;
    Ok(n)
}

/// Deletes up to `limit` executions started before `cutoff`, oldest first, in one
/// transaction, with their outputs and rollup contributions; returns how many.
pub async fn prune_before(
    pool: &AnyPool,
    engine: &str,
    cutoff: i64,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    serialize_writers(&mut tx, engine).await?;
    let rows = sqlx::query(
        "SELECT id, record FROM executions WHERE started_at < $1 ORDER BY started_at, id LIMIT $2",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut deltas = Vec::new();
    for row in &rows {
        let id: String = row.try_get(0)?;
        let old = parse_record(&row.try_get::<String, _>(1)?)?;
        deltas.extend(changes(Some(&old), None));
        for statement in [
            "DELETE FROM executions WHERE id = $1",
            "DELETE FROM execution_outputs WHERE execution_id = $1",
        ] {
            sqlx::query(statement)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    apply_cells(&mut tx, deltas).await?;
    tx.commit().await?;
    Ok(rows.len())
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

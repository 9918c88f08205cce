//! The database: SQLite or PostgreSQL through sqlx's `Any` driver, with one set of portable
//! statements (`$n` placeholders, `INSERT … ON CONFLICT … DO UPDATE … WHERE`).

use runledger::stats::{changes, Cell, CellKey, Contribution, Rollups};
use runledger::Execution;
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::versions::{judge, next_version, Incoming, Lifecycle, Stored, Verdict, MAX_VERSION};

/// Statements creating the schema; each is idempotent.
pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS executions (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
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
        received_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, id)
    )",
    "CREATE INDEX IF NOT EXISTS executions_by_user ON executions (tenant, user_id, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_workflow ON executions (tenant, workflow_id, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_status ON executions (tenant, status, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_database ON executions (tenant, database_type, started_at)",
    // Tie-broken orders for cursor pagination.
    "CREATE INDEX IF NOT EXISTS executions_by_time_id ON executions (tenant, started_at, id)",
    "CREATE INDEX IF NOT EXISTS executions_by_workflow_time_id ON executions (tenant, workflow_id, started_at, id)",
    // Retention prunes across tenants, oldest first.
    "CREATE INDEX IF NOT EXISTS executions_by_started_at ON executions (started_at)",
    // Stats: rollup cells (see runledger::stats), kept in step with `executions` in the same
    // transaction; every stats endpoint reads cells, never executions.
    "CREATE TABLE IF NOT EXISTS rollup_cells (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        slot BIGINT NOT NULL,
        workflow_id TEXT,
        user_id TEXT,
        database_type TEXT,
        cell TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    )",
    "CREATE INDEX IF NOT EXISTS rollup_cells_by_slot ON rollup_cells (tenant, slot)",
    "CREATE INDEX IF NOT EXISTS rollup_cells_by_user ON rollup_cells (tenant, user_id, slot)",
    "CREATE INDEX IF NOT EXISTS rollup_cells_by_workflow ON rollup_cells (tenant, workflow_id, slot)",
    // Lineage: which executions produced an output of a name.
    "CREATE TABLE IF NOT EXISTS execution_outputs (
        tenant TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        name TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, execution_id, name)
    )",
    "CREATE INDEX IF NOT EXISTS execution_outputs_by_name ON execution_outputs (tenant, name, started_at, execution_id)",
    // `body_hash`: the SHA-256 of the batch's records, so a different body under a known id
    // is told apart from a replay (NULL for batches stored before it existed).
    "CREATE TABLE IF NOT EXISTS ingest_batches (
        tenant TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        response TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        body_hash TEXT,
        PRIMARY KEY (tenant, batch_id)
    )",
];

/// The upsert, run only when `versions::judge` says the incoming version replaces the stored
/// one (writers take turns, so the version it read is still the stored one).
///
/// `duration_ms` is bound as text and cast: sqlx's `Any` driver sends a NULL `f64` as a
/// PostgreSQL `float4`, so a connection whose cached statement first saw a NULL duration
/// refused every later number ("incorrect binary data format in bind parameter 10").
const UPSERT: &str = "INSERT INTO executions
    (id, version, kind, workflow_id, user_id, status, database_type, started_at, completed_at, duration_ms, record, received_at, tenant)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CAST($10 AS DOUBLE PRECISION), $11, $12, $13)
    ON CONFLICT (tenant, id) DO UPDATE SET
        version = excluded.version, kind = excluded.kind, workflow_id = excluded.workflow_id,
        user_id = excluded.user_id, status = excluded.status, database_type = excluded.database_type,
        started_at = excluded.started_at, completed_at = excluded.completed_at,
        duration_ms = excluded.duration_ms, record = excluded.record, received_at = excluded.received_at";

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
    let engine = engine_of(&url);
    if crate::migrate::add_tenants(&pool, engine).await? {
        tracing::info!("moved the existing data into the default tenant");
    }
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

/// A batch id seen before in a tenant: its stored answer and the hash of its records
/// (`None` for batches stored before hashes were kept).
pub struct SeenBatch {
    /// The answer given the first time.
    pub response: String,
    /// The SHA-256 of the records it carried.
    pub body_hash: Option<String>,
}

/// The stored answer to a tenant's batch id, if it was seen before.
pub async fn batch_response(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    batch_id: &str,
) -> Result<Option<SeenBatch>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT response, body_hash FROM ingest_batches WHERE tenant = $1 AND batch_id = $2",
    )
    .bind(tenant)
    .bind(batch_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(SeenBatch {
            response: r.try_get(0)?,
            body_hash: r.try_get(1)?,
        })
    })
    .transpose()
}

/// Remembers the answer to a tenant's batch id, with the hash of its records.
pub async fn remember_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    batch_id: &str,
    body_hash: &str,
    response: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ingest_batches (batch_id, response, received_at, tenant, body_hash) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, batch_id) DO NOTHING")
        .bind(batch_id)
        .bind(response)
        .bind(now)
        .bind(tenant)
        .bind(body_hash)
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

/// What an upsert did.
pub enum Upserted {
    /// Stored: these are the rollup changes it makes.
    Written(Vec<(Contribution, i8)>),
    /// Already stored at this or a newer version: nothing changed.
    Kept,
    /// Refused (see `versions::judge`), with the reason.
    Refused(String),
}

/// Upserts one execution of a tenant if its version is newer than the stored one (within the
/// bounds of `versions::judge`). Outputs for lineage follow.
pub async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    e: &Execution,
    now: i64,
) -> Result<Upserted, sqlx::Error> {
    let stored = sqlx::query(
        "SELECT version, record, status, completed_at FROM executions WHERE tenant = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(e.id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let stored = stored
        .map(|row| {
            let lifecycle = Lifecycle {
                finished: row.try_get::<String, _>(2)? != "running",
                completed_at: row.try_get::<Option<i64>, _>(3)?,
            };
            Ok::<_, sqlx::Error>((
                row.try_get::<i64, _>(0)?,
                row.try_get::<String, _>(1)?,
                lifecycle,
            ))
        })
        .transpose()?;
    // A stored version outside 0..=MAX_VERSION (negative from a wrapped u64, or a pin) was
    // written before versions were bounded: it counts as 0, so the next real version
    // replaces it.
    let stored_version = stored.as_ref().map(|(version, _, _)| {
        u64::try_from(*version)
            .ok()
            .filter(|v| *v <= MAX_VERSION)
            .unwrap_or(0)
    });
    // A record without a version is stored at the next version; its content is compared
    // as if it had the stored one.
    let version = next_version(e.version, stored_version);
    let at_version = |v: u64| {
        let mut copy = e.clone();
        copy.version = v;
        serde_json::to_string(&copy).expect("an execution always serializes")
    };
    let record = if version == e.version {
        serde_json::to_string(e).expect("an execution always serializes")
    } else {
        at_version(version)
    };
    let seen = stored.as_ref().map(|(_, text, lifecycle)| Stored {
        version: stored_version.unwrap_or(0),
        same_content: if e.version == 0 {
            *text == at_version(stored_version.unwrap_or(0))
        } else {
            *text == record
        },
        lifecycle: *lifecycle,
    });
    let incoming = Incoming {
        version: e.version,
        lifecycle: Lifecycle {
            finished: e.status.is_final(),
            completed_at: e.completed_at,
        },
    };
    match judge(incoming, seen) {
        Verdict::Keep => return Ok(Upserted::Kept),
        Verdict::Refuse(reason) => return Ok(Upserted::Refused(reason)),
        Verdict::Write => {}
    }
    let old = stored.map(|(_, text, _)| parse_record(&text)).transpose()?;
    sqlx::query(UPSERT)
        .bind(e.id.as_str())
        .bind(version as i64)
        .bind(e.kind.as_str())
        .bind(e.workflow_id.as_deref())
        .bind(e.user_id.as_deref())
        .bind(e.status.as_str())
        .bind(e.database_type())
        .bind(e.started_at)
        .bind(e.completed_at)
        .bind(e.duration_ms.map(|ms| ms.to_string()))
        .bind(record)
        .bind(now)
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM execution_outputs WHERE tenant = $1 AND execution_id = $2")
        .bind(tenant)
        .bind(e.id.as_str())
        .execute(&mut **tx)
        .await?;
    let names: std::collections::BTreeSet<&str> =
        e.outputs.iter().map(|o| o.name.as_str()).collect();
    for name in names {
        sqlx::query(
            "INSERT INTO execution_outputs (tenant, execution_id, name, started_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant)
        .bind(e.id.as_str())
        .bind(name)
        .bind(e.started_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Upserted::Written(changes(old.as_ref(), Some(e))))
}

/// Applies rollup changes to the stored cells (read, change, write back or drop).
pub async fn apply_cells(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    all: Vec<(Contribution, i8)>,
) -> Result<(), sqlx::Error> {
    let mut by_cell: std::collections::BTreeMap<CellKey, Vec<(Contribution, i8)>> =
        Default::default();
    for (c, sign) in all {
        by_cell.entry(c.key.clone()).or_default().push((c, sign));
    }
    for (key, deltas) in by_cell {
        let id = key.id();
        let stored = sqlx::query("SELECT cell FROM rollup_cells WHERE tenant = $1 AND id = $2")
            .bind(tenant)
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
        write_cell(tx, tenant, &cell).await?;
    }
    Ok(())
}

async fn write_cell(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    cell: &Cell,
) -> Result<(), sqlx::Error> {
    let id = cell.key.id();
    if cell.is_empty() {
        sqlx::query("DELETE FROM rollup_cells WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rollup_cells (id, slot, workflow_id, user_id, database_type, cell, tenant)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant, id) DO UPDATE SET cell = excluded.cell",
    )
    .bind(id.as_str())
    .bind(cell.key.slot)
    .bind(cell.key.workflow_id.as_deref())
    .bind(cell.key.user_id.as_deref())
    .bind(cell.key.database_type.as_deref())
    .bind(serde_json::to_string(cell).expect("a cell always serializes"))
    .bind(tenant)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A tenant's cells from `from_slot` on, optionally of one user or one workflow.
pub async fn cells(
    pool: &AnyPool,
    tenant: &str,
    from_slot: Option<i64>,
    user_id: Option<&str>,
    workflow_id: Option<&str>,
) -> Result<Vec<Cell>, sqlx::Error> {
    let from = from_slot.unwrap_or(i64::MIN);
    let rows = match (user_id, workflow_id) {
        (Some(u), _) => {
            sqlx::query(
                "SELECT cell FROM rollup_cells WHERE tenant = $1 AND user_id = $2 AND slot >= $3",
            )
            .bind(tenant)
            .bind(u)
            .bind(from)
            .fetch_all(pool)
            .await?
        }
        (None, Some(w)) => sqlx::query(
            "SELECT cell FROM rollup_cells WHERE tenant = $1 AND workflow_id = $2 AND slot >= $3",
        )
        .bind(tenant)
        .bind(w)
        .bind(from)
        .fetch_all(pool)
        .await?,
        (None, None) => {
            sqlx::query("SELECT cell FROM rollup_cells WHERE tenant = $1 AND slot >= $2")
                .bind(tenant)
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
    let mut rollups: std::collections::BTreeMap<String, Rollups> = Default::default();
    let mut after = (String::new(), String::new());
    loop {
        let rows = sqlx::query(
            "SELECT tenant, id, record FROM executions WHERE tenant > $1 OR (tenant = $1 AND id > $2)
             ORDER BY tenant, id LIMIT 1000",
        )
        .bind(after.0.as_str())
        .bind(after.1.as_str())
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        after = (last.try_get(0)?, last.try_get(1)?);
        for row in &rows {
            rollups
                .entry(row.try_get(0)?)
                .or_default()
                .replace(None, Some(&parse_record(&row.try_get::<String, _>(2)?)?));
        }
    }
    let mut tx = pool.begin().await?;
    let mut n = 0;
    for (tenant, rollups) in &rollups {
        for cell in rollups.cells() {
            write_cell(&mut tx, tenant, cell).await?;
            n += 1;
        }
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
        "SELECT tenant, id, record FROM executions WHERE started_at < $1 ORDER BY started_at, tenant, id LIMIT $2",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut deltas: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for row in &rows {
        let tenant: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let old = parse_record(&row.try_get::<String, _>(2)?)?;
        for statement in [
            "DELETE FROM executions WHERE tenant = $1 AND id = $2",
            "DELETE FROM execution_outputs WHERE tenant = $1 AND execution_id = $2",
        ] {
            sqlx::query(statement)
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        deltas
            .entry(tenant)
            .or_default()
            .extend(changes(Some(&old), None));
    }
    for (tenant, deltas) in deltas {
        apply_cells(&mut tx, &tenant, deltas).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// One stored execution of a tenant, as JSON text.
pub async fn execution(
    pool: &AnyPool,
    tenant: &str,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT record FROM executions WHERE tenant = $1 AND id = $2")
        .bind(tenant)
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

/// Deletes one execution of a tenant with its outputs and rollup contributions; false when
/// there was none.
pub async fn delete_execution(
    pool: &AnyPool,
    engine: &str,
    tenant: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    serialize_writers(&mut tx, engine).await?;
    let Some(row) = sqlx::query("SELECT record FROM executions WHERE tenant = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(false);
    };
    let old = parse_record(&row.try_get::<String, _>(0)?)?;
    for statement in [
        "DELETE FROM executions WHERE tenant = $1 AND id = $2",
        "DELETE FROM execution_outputs WHERE tenant = $1 AND execution_id = $2",
    ] {
        sqlx::query(statement)
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    apply_cells(&mut tx, tenant, changes(Some(&old), None)).await?;
    tx.commit().await?;
    Ok(true)
}

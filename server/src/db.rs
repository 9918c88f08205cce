//! The database: SQLite or PostgreSQL through sqlx's `Any` driver, with one set of portable
//! statements (`$n` placeholders, `INSERT … ON CONFLICT … DO UPDATE … WHERE`).

use std::collections::BTreeMap;

use runledger::stats::{changes, Contribution};
use runledger::Execution;
use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Row};

use crate::rollups::{Deltas, Fresh};
use crate::schema::SCHEMA;

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
    let engine = engine_of(&url);
    // sqlx would log every statement over a second in full at `warn`: a multi-row upsert is
    // hundreds of KB of SQL. Statements are logged only when asked for
    // (`RUST_LOG=sqlx=debug`); a slow batch is logged by `crate::ingest` in one line.
    let options: AnyConnectOptions = url
        .parse::<AnyConnectOptions>()?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    // SQLite allows one writer at a time: one connection keeps batches from contending.
    let max = if engine == "sqlite" { 1 } else { 8 };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if engine == "sqlite" {
                    // WAL: readers never wait for the writer. `synchronous = FULL`: a `200`
                    // means the batch survives a power cut (docs/scaling.md).
                    for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    if crate::migrate::add_tenants(&pool, engine).await? {
        tracing::info!("moved the existing data into the default tenant");
    }
    if engine == "postgres" {
        crate::partitions::partition_existing(&pool).await?;
        sqlx::query(crate::partitions::CREATE)
            .execute(&pool)
            .await?;
    }
    for statement in SCHEMA {
        sqlx::query(statement).execute(&pool).await?;
    }
    // The fine-grained cells of earlier versions: the coarse `rollups` replace them and are
    // rebuilt from the executions below.
    sqlx::query("DROP TABLE IF EXISTS rollup_cells")
        .execute(&pool)
        .await?;
    let rebuilt = rebuild_cells_if_missing(&pool).await?;
    if rebuilt > 0 {
        tracing::info!(
            cells = rebuilt,
            "built stats rollups for executions stored before them"
        );
    }
    Ok(pool)
}

/// Connects to a read replica (`--read-db`): no schema is created or changed there, the
/// main database's schema reaches it by replication.
pub async fn connect_read(url: &str) -> Result<AnyPool, sqlx::Error> {
    install_default_drivers();
    let options: AnyConnectOptions = url
        .parse::<AnyConnectOptions>()?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    AnyPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
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
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(crate::schema::WRITERS_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn parse_record(text: &str) -> Result<Execution, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Builds the rollups of a database written before they existed (or repairs lost ones),
/// 1,000 executions per step, in one transaction.
pub async fn rebuild_cells_if_missing(pool: &AnyPool) -> Result<usize, sqlx::Error> {
    let have: i64 = sqlx::query("SELECT COUNT(*) FROM rollups")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    if have > 0 || count(pool).await? == 0 {
        return Ok(0);
    }
    // Every execution is counted in memory first (the cells are coarse, so they are few),
    // then each cell is written once.
    let mut tx = pool.begin().await?;
    let mut after = (String::new(), String::new());
    let mut by_tenant: BTreeMap<String, Fresh> = BTreeMap::new();
    loop {
        let rows = sqlx::query(
            "SELECT tenant, id, record FROM executions WHERE tenant > $1 OR (tenant = $1 AND id > $2)
             ORDER BY tenant, id LIMIT 1000",
        )
        .bind(after.0.as_str())
        .bind(after.1.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else { break };
        after = (last.try_get(0)?, last.try_get(1)?);
        for row in &rows {
            let e = parse_record(&row.try_get::<String, _>(2)?)?;
            by_tenant
                .entry(row.try_get(0)?)
                .or_default()
                .add(&Contribution::of(&e));
        }
    }
    let mut n = 0;
    for (tenant, fresh) in by_tenant {
        n += fresh.write(&mut tx, &tenant).await?;
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
    let mut deltas: BTreeMap<String, Deltas> = BTreeMap::new();
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
        deltas.apply(&mut tx, &tenant).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// PostgreSQL: drops every partition of `executions` lying wholly before `cutoff`, each in
/// its own transaction under the writers' lock (with its lineage and rollup cells); returns
/// how many executions they held.
pub async fn drop_expired_partitions(pool: &AnyPool, cutoff: i64) -> Result<usize, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let expired: Vec<crate::partitions::Partition> = crate::partitions::existing(&mut conn)
        .await?
        .into_iter()
        .filter(|p| p.bounds().1.is_some_and(|end| end <= cutoff))
        .collect();
    drop(conn);
    let mut removed = 0;
    for partition in expired {
        let mut tx = pool.begin().await?;
        serialize_writers(&mut tx, "postgres").await?;
        let held = crate::partitions::drop_expired(&mut tx, partition).await?;
        tx.commit().await?;
        tracing::info!(partition = %partition.name(), executions = held, "retention dropped a partition");
        removed += held;
    }
    Ok(removed)
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
    let mut deltas = Deltas::default();
    deltas.extend(changes(Some(&old), None));
    deltas.apply(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(true)
}

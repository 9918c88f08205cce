//! The forwarders' durable outbox: one row per sink and execution still to send. A batch's
//! rows are written in the batch's own transaction; a row leaves only once the consumer took
//! (or for good refused) the version it names or a newer one. So a consumer's outage, or a
//! restart of the server, loses nothing, and an execution updated ten times while the
//! consumer was down is sent once, at its newest version.

use sqlx::{AnyPool, Row};

/// The table, created when the server starts (idempotent).
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS interop_outbox (
    sink TEXT NOT NULL,
    tenant TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    PRIMARY KEY (sink, tenant, execution_id)
)";
const INDEX: &str =
    "CREATE INDEX IF NOT EXISTS interop_outbox_by_time ON interop_outbox (sink, enqueued_at)";

/// Creates the outbox table.
pub async fn prepare(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query(SCHEMA).execute(pool).await?;
    sqlx::query(INDEX).execute(pool).await?;
    Ok(())
}

/// Queues (or re-queues at a newer version) one execution for one sink.
pub async fn put(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sink: &str,
    tenant: &str,
    execution_id: &str,
    version: u64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO interop_outbox (sink, tenant, execution_id, version, enqueued_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sink, tenant, execution_id) DO UPDATE SET version = excluded.version
         WHERE excluded.version > interop_outbox.version",
    )
    .bind(sink)
    .bind(tenant)
    .bind(execution_id)
    .bind(i64::try_from(version).unwrap_or(i64::MAX))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A queued execution with its stored record (`None` when it was deleted since).
pub struct Pending {
    /// Its tenant.
    pub tenant: String,
    /// Its id.
    pub execution_id: String,
    /// The stored record's JSON text.
    pub record: Option<String>,
}

/// The oldest `limit` rows of a sink, with the records as stored now.
pub async fn oldest(pool: &AnyPool, sink: &str, limit: i64) -> Result<Vec<Pending>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.tenant, o.execution_id, e.record FROM interop_outbox o
         LEFT JOIN executions e ON e.tenant = o.tenant AND e.id = o.execution_id
         WHERE o.sink = $1 ORDER BY o.enqueued_at, o.tenant, o.execution_id LIMIT $2",
    )
    .bind(sink)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Pending {
                tenant: r.try_get(0)?,
                execution_id: r.try_get(1)?,
                record: r.try_get(2)?,
            })
        })
        .collect()
}

/// Removes a row once `version` (or newer) of its execution was handled; a newer version
/// queued meanwhile stays.
pub async fn done(
    pool: &AnyPool,
    sink: &str,
    tenant: &str,
    execution_id: &str,
    version: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM interop_outbox WHERE sink = $1 AND tenant = $2 AND execution_id = $3 AND version <= $4",
    )
    .bind(sink)
    .bind(tenant)
    .bind(execution_id)
    .bind(i64::try_from(version).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(())
}

//! The tables and indexes, as idempotent statements: what a new database is created with and
//! what `crate::migrate` copies old tables into.

/// The PostgreSQL advisory lock that writers of `executions` and `rollups` take for their
/// transaction (`crate::db::serialize_writers`), so that they take turns.
pub(crate) const WRITERS_LOCK: i64 = 7301;

/// The columns of `executions`, shared by this plain table and the partitioned one of
/// `crate::partitions` (PostgreSQL), so the two cannot drift apart.
macro_rules! executions_columns {
    () => {
        "tenant TEXT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL, \
         workflow_id TEXT, user_id TEXT, status TEXT NOT NULL, database_type TEXT, \
         started_at BIGINT NOT NULL, completed_at BIGINT, duration_ms DOUBLE PRECISION, \
         record TEXT NOT NULL, received_at BIGINT NOT NULL, "
    };
}
pub(crate) use executions_columns;

/// Statements creating the schema; each is idempotent. (On PostgreSQL `executions` is
/// created partitioned first, by `crate::partitions`; its statement here then does nothing.)
pub(crate) const SCHEMA: &[&str] = &[
    concat!(
        "CREATE TABLE IF NOT EXISTS executions (",
        executions_columns!(),
        "PRIMARY KEY (tenant, id))"
    ),
    "CREATE INDEX IF NOT EXISTS executions_by_user ON executions (tenant, user_id, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_workflow ON executions (tenant, workflow_id, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_status ON executions (tenant, status, started_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_database ON executions (tenant, database_type, started_at)",
    // Tie-broken orders for cursor pagination.
    "CREATE INDEX IF NOT EXISTS executions_by_time_id ON executions (tenant, started_at, id)",
    "CREATE INDEX IF NOT EXISTS executions_by_workflow_time_id ON executions (tenant, workflow_id, started_at, id)",
    // Retention prunes across tenants, oldest first.
    "CREATE INDEX IF NOT EXISTS executions_by_started_at ON executions (started_at)",
    // Stats: see `crate::rollups`, kept in step with `executions` in the same transaction;
    // every stats endpoint reads them, never executions.
    crate::rollups::SCHEMA,
    // Lineage: which executions produced an output of a name.
    "CREATE TABLE IF NOT EXISTS execution_outputs (
        tenant TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        name TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, execution_id, name)
    )",
    "CREATE INDEX IF NOT EXISTS execution_outputs_by_name ON execution_outputs (tenant, name, started_at, execution_id)",
    // Retention rounds (see `crate::retention`): the rounds run, newest kept for a month.
    "CREATE TABLE IF NOT EXISTS retention_rounds (
        started_at BIGINT NOT NULL,
        instance TEXT NOT NULL,
        removed BIGINT NOT NULL
    )",
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

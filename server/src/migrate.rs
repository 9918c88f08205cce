//! Moves a database written before tenants existed into the default tenant.
//!
//! Every table gained a `tenant` column at the front of its primary key, which neither SQLite
//! nor PostgreSQL can add in place the same way; so each old table is copied into a new one
//! of the current schema (tenant `''`), dropped (with its indexes), and the new one takes its
//! name. One transaction: a failure leaves the old tables as they were.

use sqlx::{AnyPool, Row};

use crate::schema::SCHEMA;

/// The tables that gained a tenant. (The stats cells of that time, `rollup_cells`, are
/// dropped instead: `rollups` is rebuilt from the executions.)
const TABLES: &[&str] = &["executions", "execution_outputs", "ingest_batches"];

/// The columns of `table` (empty when it does not exist).
async fn columns(pool: &AnyPool, engine: &str, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let sql = if engine == "postgres" {
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
    } else {
        "SELECT name FROM pragma_table_info($1)"
    };
    sqlx::query(sql)
        .bind(table)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect()
}

/// The `CREATE TABLE` statement of `table` in the current schema, under another name.
fn create_as(table: &str, name: &str) -> String {
    let prefix = format!("CREATE TABLE IF NOT EXISTS {table} (");
    let statement = SCHEMA
        .iter()
        .find(|s| s.trim_start().starts_with(&prefix))
        .expect("every migrated table is in the schema");
    statement
        .trim_start()
        .replacen(&prefix, &format!("CREATE TABLE {name} ("), 1)
}

/// Migrates the tables that exist without a `tenant` column; true when any was.
pub async fn add_tenants(pool: &AnyPool, engine: &str) -> Result<bool, sqlx::Error> {
    let mut old = Vec::new();
    for table in TABLES {
        let cols = columns(pool, engine, table).await?;
        if !cols.is_empty() && !cols.iter().any(|c| c == "tenant") {
            old.push((*table, cols));
        }
    }
    if old.is_empty() {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    for (table, cols) in &old {
        let new = format!("{table}_with_tenant");
        let cols = cols.join(", ");
        for statement in [
            create_as(table, &new),
            format!("INSERT INTO {new} (tenant, {cols}) SELECT '', {cols} FROM {table}"),
            format!("DROP TABLE {table}"),
            format!("ALTER TABLE {new} RENAME TO {table}"),
        ] {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tracing::info!(table, "moved into the default tenant");
    }
    tx.commit().await?;
    Ok(true)
}

//! Retention (`--retention-days`): one round an hour for the whole service, however many
//! instances share the database.
//!
//! A round holds a lock (PostgreSQL: a session advisory lock, so two instances never prune
//! at once; SQLite has one server) and, under it, looks at `retention_rounds`: when another
//! instance ran a round less than [`ROUND_GAP_MS`] ago, this one skips. Each round is
//! recorded there and logged ("retention round ran"), which is what tests count.

use std::time::Duration;

use sqlx::{AnyPool, Row};

use crate::db;

// The rounds run are kept in `retention_rounds` (its table is in `crate::schema`), newest
// kept for a month.

/// Retention's lock among instances sharing a PostgreSQL database.
const RETENTION_LOCK: i64 = 7302;

/// How often each instance tries a round.
const EVERY: Duration = Duration::from_secs(3600);

/// A round by any instance this recent makes the others skip theirs (less than [`EVERY`], so
/// an instance's own next round never skips).
const ROUND_GAP_MS: i64 = 50 * 60 * 1000;

/// What the retention loop needs.
#[derive(Clone)]
pub struct Retention {
    pub pool: AnyPool,
    pub engine: &'static str,
    pub days: u32,
    /// This process among the instances (recorded with its rounds).
    pub instance: String,
    /// Tests only (`--test-faults`): how long a round waits after deciding to run, so that
    /// two instances started together are sure to overlap.
    pub hold: Duration,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Holds the retention lock for a round. `None`: another instance is pruning now.
async fn turn(
    pool: &AnyPool,
    engine: &str,
) -> Result<Option<Option<sqlx::pool::PoolConnection<sqlx::Any>>>, sqlx::Error> {
    if engine != "postgres" {
        return Ok(Some(None));
    }
    let mut conn = pool.acquire().await?;
    let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
        .bind(RETENTION_LOCK)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(got.then_some(Some(conn)))
}

/// What a round did.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    /// Another instance holds the lock now.
    Busy,
    /// Another instance ran a round recently.
    RanRecently,
    /// Ran, removing this many executions.
    Ran(usize),
}

/// One round under the lock: on PostgreSQL drops the partitions wholly older than the cutoff
/// (`crate::partitions`), then deletes what is still older in batches of 500 (one short
/// transaction each, so that ingest never waits long).
async fn round(r: &Retention) -> Result<Round, sqlx::Error> {
    let Some(held) = turn(&r.pool, r.engine).await? else {
        return Ok(Round::Busy);
    };
    let outcome = prune_unless_recent(r).await;
    if let Some(mut conn) = held {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(RETENTION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    outcome
}

async fn prune_unless_recent(r: &Retention) -> Result<Round, sqlx::Error> {
    let started = now();
    let last: Option<i64> = sqlx::query("SELECT MAX(started_at) FROM retention_rounds")
        .fetch_one(&r.pool)
        .await?
        .try_get(0)?;
    if last.is_some_and(|at| started - at < ROUND_GAP_MS) {
        return Ok(Round::RanRecently);
    }
    tokio::time::sleep(r.hold).await;
    sqlx::query("INSERT INTO retention_rounds (started_at, instance, removed) VALUES ($1, $2, 0)")
        .bind(started)
        .bind(r.instance.as_str())
        .execute(&r.pool)
        .await?;
    let cutoff = started - i64::from(r.days) * 86_400_000;
    let mut removed = 0;
    if r.engine == "postgres" {
        removed += db::drop_expired_partitions(&r.pool, cutoff).await?;
    }
    // What is left before the cutoff (a partly expired month, or SQLite), row by row.
    loop {
        let n = db::prune_before(&r.pool, r.engine, cutoff, 500).await?;
        removed += n;
        if n < 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("UPDATE retention_rounds SET removed = $1 WHERE started_at = $2 AND instance = $3")
        .bind(removed as i64)
        .bind(started)
        .bind(r.instance.as_str())
        .execute(&r.pool)
        .await?;
    sqlx::query("DELETE FROM retention_rounds WHERE started_at < $1")
        .bind(started - 30 * 86_400_000)
        .execute(&r.pool)
        .await?;
    Ok(Round::Ran(removed))
}

/// `--retention-days`: a round at start, then hourly; one round an hour for the service.
pub async fn retention_loop(r: Retention) {
    loop {
        match round(&r).await {
            Ok(Round::Ran(removed)) => {
                tracing::info!(removed, days = r.days, "retention round ran")
            }
            Ok(Round::Busy) => tracing::info!("retention skipped: another instance is running it"),
            Ok(Round::RanRecently) => {
                tracing::info!(
                    "retention skipped: another instance ran it less than 50 minutes ago"
                )
            }
            Err(e) => tracing::error!(error = %e, "retention failed; it runs again in an hour"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

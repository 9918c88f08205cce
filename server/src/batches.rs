//! Remembered batch ids (`ingest_batches`) for a bounded window (`--batch-id-window`, 7 days
//! by default): a retry of a batch within the window gets the first answer again; older ids
//! are deleted, so the table holds about one window of batches instead of growing forever.
//! A client retries a batch for minutes or hours, never for days, so a week is ample.

use std::time::Duration;

use sqlx::AnyPool;

/// Longest wait between two prunes.
const MOST_EVERY: Duration = Duration::from_secs(600);
/// Rows deleted per statement, so no prune holds the write lock long.
const CHUNK: i64 = 5000;

/// The index the prune reads by.
pub async fn prepare(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS ingest_batches_by_time ON ingest_batches (received_at)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes up to `limit` ids received before `cutoff`; returns how many.
pub async fn prune_before(pool: &AnyPool, cutoff: i64, limit: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM ingest_batches WHERE batch_id IN
           (SELECT batch_id FROM ingest_batches WHERE received_at < $1 ORDER BY received_at LIMIT $2)",
    )
    .bind(cutoff)
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Prunes every quarter of the window (at most every ten minutes), for as long as it runs.
pub async fn prune_loop(pool: AnyPool, window: Duration) {
    let every = (window / 4).clamp(Duration::from_millis(100), MOST_EVERY);
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(every).await;
        let cutoff = now().saturating_sub(window_ms);
        let mut removed = 0;
        loop {
            match prune_before(&pool, cutoff, CHUNK).await {
                Ok(n) => {
                    removed += n;
                    if n < CHUNK as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "pruning remembered batch ids failed; it runs again later");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(
                removed,
                window_ms,
                "forgot batch ids older than the window (--batch-id-window)"
            );
        }
    }
}

//! Remembered batch ids (`ingest_batches`) for a bounded window (`--batch-id-window`, 7 days
//! by default): a retry of a batch within the window gets the first answer again; older ids
//! are deleted, so the table holds about one window of batches instead of growing forever.
//! A client retries a batch for minutes or hours, never for days, so a week is ample.

use std::time::Duration;

use sqlx::AnyPool;

/// Longest wait between two prunes.
const MOST_EVERY: Duration = Duration::from_secs(600);

/// The index the prune reads by.
pub async fn prepare(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS ingest_batches_by_time ON ingest_batches (received_at)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes the ids received before `cutoff`; returns how many. (By time alone, so it works
/// whatever else keys the table; the prune runs often enough that each delete is small.)
pub async fn prune_before(pool: &AnyPool, cutoff: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM ingest_batches WHERE received_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Prunes at start, then every quarter of the window (at most every ten minutes).
pub async fn prune_loop(pool: AnyPool, window: Duration) {
    let every = (window / 4).clamp(Duration::from_millis(100), MOST_EVERY);
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    loop {
        let cutoff = now().saturating_sub(window_ms);
        let removed = match prune_before(&pool, cutoff).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "pruning remembered batch ids failed; it runs again later");
                0
            }
        };
        if removed > 0 {
            tracing::info!(
                removed,
                window_ms,
                "forgot batch ids older than the window (--batch-id-window)"
            );
        }
        tokio::time::sleep(every).await;
    }
}

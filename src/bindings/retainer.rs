//! Retention in the background: small prune steps, oldest first, on open and every few
//! minutes; `tracker.prune()` on demand.

use std::rc::Rc;

use super::engine::Engine;
use super::platform;
use crate::error::{Error, RetentionError};
use crate::retention::{PruneReport, PruneRequest, Retention, STEP};
use crate::store::Store;

/// Time between background retention runs.
const EVERY_MS: u32 = 10 * 60 * 1000;
/// Delay after open before the first run, so that opening stays quick.
const FIRST_AFTER_MS: u32 = 3_000;

impl Engine {
    /// Prunes until the store is within `limits` (or `before`, when given): oldest first, one
    /// transaction per [`STEP`] records. Records the server does not have yet are kept when
    /// sync is configured; the report counts them.
    pub async fn prune_to(
        self: &Rc<Self>,
        limits: Retention,
        before: Option<i64>,
    ) -> Result<PruneReport, Error> {
        self.flush().await?;
        let before = before.or_else(|| {
            limits
                .max_age_days
                .map(|d| platform::now() - i64::from(d) * 86_400_000)
        });
        let count: u64 = self
            .store
            .cells(None, None)
            .await?
            .iter()
            .map(|c| c.count)
            .sum();
        let mut excess = limits
            .max_count
            .map_or(0, |max| count.saturating_sub(max as u64)) as usize;
        if let (Some(max_bytes), Some(usage)) = (limits.max_bytes, platform::storage_usage().await)
        {
            if usage > max_bytes && count > 0 {
                let per_record = (usage / count).max(1);
                excess = excess.max((usage - max_bytes).div_ceil(per_record) as usize);
            }
        }
        let mut total = PruneReport::default();
        loop {
            let step = self
                .store
                .prune(&PruneRequest {
                    before,
                    excess: excess.saturating_sub(total.removed.len()),
                    protect_unsynced: self.config.sync.endpoint.is_some(),
                    limit: STEP,
                })
                .await?;
            total.kept_unsynced = total.kept_unsynced.max(step.kept_unsynced);
            total.removed.extend(step.removed);
            if step.done || self.ensure_open().is_err() {
                total.done = step.done;
                break;
            }
            // Let recording and other transactions in between steps.
            platform::sleep(0).await;
        }
        if !total.removed.is_empty() {
            self.schedule_sync(0.0); // the counts changed
        }
        Ok(total)
    }

    /// Runs retention after open and then every few minutes, while the tracker is open.
    pub fn start_retention(self: &Rc<Self>) {
        let limits = self.config.retention;
        if limits.is_off() {
            return;
        }
        let engine = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let mut wait = FIRST_AFTER_MS;
            loop {
                platform::idle(f64::from(wait)).await;
                wait = EVERY_MS;
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                if engine.ensure_open().is_err() {
                    return;
                }
                match engine.prune_to(limits, None).await {
                    Ok(report) if report.kept_unsynced > 0 => engine.emit_error(
                        "retention kept records that are not synced yet",
                        &RetentionError {
                            kept: report.kept_unsynced,
                        }
                        .into(),
                    ),
                    Ok(_) => {}
                    Err(e) => engine.emit_error("retention failed; it runs again later", &e),
                }
            }
        });
    }
}

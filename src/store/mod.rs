//! Storage: one small trait, an in-memory implementation, and IndexedDB in browsers.
//!
//! Every store keeps execution metadata apart from node payloads and writes both in one
//! atomic step: a failed write leaves neither. The same step marks each written execution
//! "to send" in the store's outbox, so that a crash can never leave a stored record that sync
//! will not send. All stores pass the same behavioural suite ([`suite`]).

#[cfg(feature = "node-file")]
pub mod file;
mod memory;
#[doc(hidden)]
pub mod suite;

#[cfg(target_arch = "wasm32")]
pub mod indexeddb;

pub use memory::{MemoryStore, Snapshot};

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::history::{HistoryPage, HistoryQuery};
use crate::model::Execution;
use crate::retention::{PruneReport, PruneRequest};
use crate::stats::Cell;

/// A fault to inject into the next write, for tests of atomicity and error reporting.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq)]
pub struct FailPoint {
    /// How many record puts succeed before the write fails.
    pub after_puts: usize,
    /// The platform error name to report (`QuotaExceededError`, `AbortError`, ...).
    pub error_name: String,
}

/// A record the ingest server refused for good: kept, visible and retryable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The execution id.
    pub id: String,
    /// The version the server refused.
    pub version: u64,
    /// Why, in the server's words.
    pub reason: String,
    /// When it was refused, ms since the epoch.
    pub at: i64,
}

/// A place in the outbox's queue (when the entry was queued, then its id): reading "after"
/// one continues where an earlier read stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuePosition {
    /// When it was queued (ms since the epoch; a sequence number in memory).
    pub queued_at: f64,
    /// The execution id.
    pub id: String,
}

/// An execution waiting in the outbox, ready to send: its whole JSON (node runs included)
/// with the id and version the acknowledgement will name.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// The execution id.
    pub id: String,
    /// Its version as stored.
    pub version: u64,
    /// The whole execution as JSON, as it goes into an ingest request.
    pub json: String,
    /// Where it is in the queue.
    pub position: QueuePosition,
}

/// A record version the server has acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synced {
    /// The execution id.
    pub id: String,
    /// The version it acknowledged.
    pub version: u64,
}

/// How much the outbox holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Executions waiting to be sent.
    pub pending: usize,
    /// Executions the server refused.
    pub dead_lettered: usize,
}

/// Where executions are kept.
///
/// Methods take `&self`: stores are used from one thread (the JS event loop) and keep their
/// own interior state.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Writes whole executions (metadata and node payloads), replacing earlier versions, and
    /// marks each one to be sent, all or nothing.
    async fn write(&self, batch: &[Execution]) -> Result<(), StoreError>;
    /// One execution with its node runs.
    async fn get(&self, id: &str) -> Result<Option<Execution>, StoreError>;
    /// A page of execution summaries (no node payloads), newest first.
    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError>;
    /// Removes an execution, its payload and its outbox mark; false when there was none.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Removes a workflow's history, or everything when `workflow_id` is `None`; returns how
    /// many executions were removed.
    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError>;
    /// Every execution stored as running, with its node runs (for crash recovery).
    async fn running(&self) -> Result<Vec<Execution>, StoreError>;
    /// Up to `limit` executions waiting to be sent, whole, the longest waiting first,
    /// starting after `after` (from the front when `None`).
    async fn outbox(
        &self,
        limit: usize,
        after: Option<&QueuePosition>,
    ) -> Result<Vec<Outgoing>, StoreError>;
    /// Records the server's answer in one step: acknowledged versions (and older ones) leave
    /// the outbox and the dead letters; refused ones move to the dead letters (one per id, the
    /// newest). A record changed again since the version that was sent stays in the outbox,
    /// to be sent again.
    async fn settle(&self, synced: &[Synced], refused: &[DeadLetter]) -> Result<(), StoreError>;
    /// How many executions wait to be sent, and how many were refused.
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
    /// Every refused record, oldest first.
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;
    /// Puts refused records (all, or those in `ids`) back in the outbox; returns how many.
    async fn retry_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError>;
    /// Gives up sending refused records (all, or those in `ids`): their dead letters go, in one
    /// step, and they are not queued again; the records themselves stay stored. Returns how
    /// many dead letters were removed.
    async fn discard_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError>;
    /// Rollup cells whose slot is within the inclusive bounds, kept in step with the records
    /// by every write, delete and clear (in the same transaction).
    async fn cells(
        &self,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError>;
    /// The cells of one workflow within the slot bounds (a stats call filtered by workflow
    /// reads only these).
    async fn workflow_cells(
        &self,
        workflow_id: &str,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        let mut all = self.cells(from_slot, to_slot).await?;
        all.retain(|c| c.key.workflow_id.as_deref() == Some(workflow_id));
        Ok(all)
    }
    /// Recomputes every rollup cell from the records; returns how many cells there are.
    async fn rebuild_rollups(&self) -> Result<usize, StoreError>;
    /// One prune step in one transaction: walks records oldest first and removes what
    /// [`crate::retention::verdict`] says (rollups follow).
    async fn prune(&self, request: &PruneRequest) -> Result<PruneReport, StoreError>;
    /// Makes the next write fail after `fail.after_puts` puts (tests only).
    #[doc(hidden)]
    fn inject_failure(&self, fail: FailPoint);
}

/// Maps a platform error name to a typed store error.
pub fn classify_failure(
    operation: &'static str,
    records: usize,
    name: &str,
    message: &str,
) -> StoreError {
    if name == "QuotaExceededError" {
        StoreError::QuotaExceeded {
            records,
            detail: message.to_owned(),
        }
    } else {
        StoreError::Transaction {
            operation,
            name: name.to_owned(),
            message: message.to_owned(),
        }
    }
}

//! Storage: one small trait, an in-memory implementation, and IndexedDB in browsers.
//!
//! Every store keeps execution metadata apart from node payloads and writes both in one
//! atomic step: a failed write leaves neither. All stores pass the same behavioural suite
//! ([`suite`]).

mod memory;
#[doc(hidden)]
pub mod suite;

#[cfg(target_arch = "wasm32")]
pub mod indexeddb;

pub use memory::MemoryStore;

use crate::error::StoreError;
use crate::history::{HistoryPage, HistoryQuery};
use crate::model::Execution;

/// A fault to inject into the next write, for tests of atomicity and error reporting.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq)]
pub struct FailPoint {
    /// How many record puts succeed before the write fails.
    pub after_puts: usize,
    /// The platform error name to report (`QuotaExceededError`, `AbortError`, ...).
    pub error_name: String,
}

/// Where executions are kept.
///
/// Methods take `&self`: stores are used from one thread (the JS event loop) and keep their
/// own interior state.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Writes whole executions (metadata and node payloads), replacing earlier versions, all
    /// or nothing.
    async fn write(&self, batch: &[Execution]) -> Result<(), StoreError>;
    /// One execution with its node runs.
    async fn get(&self, id: &str) -> Result<Option<Execution>, StoreError>;
    /// A page of execution summaries (no node payloads), newest first.
    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError>;
    /// Removes an execution and its payload; false when there was none.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Removes a workflow's history, or everything when `workflow_id` is `None`; returns how
    /// many executions were removed.
    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError>;
    /// Every execution stored as running, with its node runs (for crash recovery).
    async fn running(&self) -> Result<Vec<Execution>, StoreError>;
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

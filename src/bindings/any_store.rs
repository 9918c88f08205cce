//! The store a tracker uses: IndexedDB where it exists, memory otherwise.

#[cfg(feature = "node-file")]
use super::file_io::JsFileIo;
use crate::error::StoreError;
use crate::history::{HistoryPage, HistoryQuery};
use crate::model::Execution;
use crate::retention::{PruneReport, PruneRequest};
use crate::stats::Cell;
#[cfg(feature = "node-file")]
use crate::store::file::FileStore;
use crate::store::indexeddb::IdbStore;
use crate::store::{
    DeadLetter, FailPoint, MemoryStore, OutboxCounts, Outgoing, QueuePosition, Store, Synced,
};

/// One of the stores, chosen at `Tracker.open`.
// One per tracker: the size of the largest variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AnyStore {
    /// In memory (Node, or `storage: 'memory'`).
    Memory(MemoryStore),
    /// IndexedDB.
    IndexedDb(IdbStore),
    /// The durable file store (Node; not in the browser build).
    #[cfg(feature = "node-file")]
    File(FileStore<JsFileIo>),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($s) => $call,
            AnyStore::IndexedDb($s) => $call,
            #[cfg(feature = "node-file")]
            AnyStore::File($s) => $call,
        }
    };
}

impl AnyStore {
    /// The word for the kind of store (`indexeddb`, `file` or `memory`).
    pub fn kind(&self) -> &'static str {
        match self {
            AnyStore::Memory(_) => "memory",
            AnyStore::IndexedDb(_) => "indexeddb",
            #[cfg(feature = "node-file")]
            AnyStore::File(_) => "file",
        }
    }

    /// A failed background index write or compaction of the file store, once (the other
    /// stores have no background work).
    pub fn take_maintenance_error(&self) -> Option<StoreError> {
        match self {
            #[cfg(feature = "node-file")]
            AnyStore::File(file) => file.take_maintenance_error(),
            _ => None,
        }
    }

    /// Lets go of the database connection or the file store's folder.
    pub fn close(&self) {
        match self {
            AnyStore::IndexedDb(db) => db.close(),
            #[cfg(feature = "node-file")]
            AnyStore::File(file) => {
                file.close_index();
                file.io().close();
            }
            AnyStore::Memory(_) => {}
        }
    }
}

impl Store for AnyStore {
    async fn write(&self, batch: &[Execution]) -> Result<(), StoreError> {
        delegate!(self, s => s.write(batch).await)
    }
    async fn get(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        delegate!(self, s => s.get(id).await)
    }
    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        delegate!(self, s => s.history(query).await)
    }
    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.delete(id).await)
    }
    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError> {
        delegate!(self, s => s.clear(workflow_id).await)
    }
    async fn running(&self) -> Result<Vec<Execution>, StoreError> {
        delegate!(self, s => s.running().await)
    }
    async fn outbox(
        &self,
        limit: usize,
        after: Option<&QueuePosition>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        delegate!(self, s => s.outbox(limit, after).await)
    }
    async fn settle(&self, synced: &[Synced], refused: &[DeadLetter]) -> Result<(), StoreError> {
        delegate!(self, s => s.settle(synced, refused).await)
    }
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        delegate!(self, s => s.outbox_counts().await)
    }
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        delegate!(self, s => s.dead_letters().await)
    }
    async fn retry_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        delegate!(self, s => s.retry_dead_letters(ids).await)
    }
    async fn discard_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        delegate!(self, s => s.discard_dead_letters(ids).await)
    }
    async fn cells(
        &self,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        delegate!(self, s => s.cells(from_slot, to_slot).await)
    }
    async fn workflow_cells(
        &self,
        workflow_id: &str,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        delegate!(self, s => s.workflow_cells(workflow_id, from_slot, to_slot).await)
    }
    async fn rebuild_rollups(&self) -> Result<usize, StoreError> {
        delegate!(self, s => s.rebuild_rollups().await)
    }
    async fn prune(&self, request: &PruneRequest) -> Result<PruneReport, StoreError> {
        delegate!(self, s => s.prune(request).await)
    }
    fn inject_failure(&self, fail: FailPoint) {
        delegate!(self, s => s.inject_failure(fail))
    }
}

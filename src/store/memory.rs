//! The in-memory store: the reference behaviour, native tests, and Node until it has a durable
//! store.

use std::cell::RefCell;
use std::collections::HashMap;

use super::{classify_failure, FailPoint, Store};
use crate::error::StoreError;
use crate::history::{newest_first, paginate, HistoryPage, HistoryQuery};
use crate::model::{Execution, Status};

/// Keeps executions in memory, split into metadata and payloads like the durable stores.
#[derive(Debug, Default)]
pub struct MemoryStore {
    meta: RefCell<HashMap<String, Execution>>,
    payloads: RefCell<HashMap<String, Vec<crate::model::NodeRun>>>,
    fail: RefCell<Option<FailPoint>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many executions are stored.
    pub fn len(&self) -> usize {
        self.meta.borrow().len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store for MemoryStore {
    async fn write(&self, batch: &[Execution]) -> Result<(), StoreError> {
        // Stage every put, then apply them together: a failure part-way leaves nothing.
        let staged: Vec<_> = batch
            .iter()
            .map(|e| (e.summary(), e.nodes.clone()))
            .collect();
        // Two puts per execution (metadata, payload), as in IndexedDB.
        if let Some(f) = self.fail.borrow_mut().take() {
            if f.after_puts < batch.len() * 2 {
                return Err(classify_failure(
                    "write",
                    batch.len(),
                    &f.error_name,
                    "injected failure",
                ));
            }
        }
        let (mut meta, mut payloads) = (self.meta.borrow_mut(), self.payloads.borrow_mut());
        for (summary, nodes) in staged {
            payloads.insert(summary.id.clone(), nodes);
            meta.insert(summary.id.clone(), summary);
        }
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        let meta = self.meta.borrow();
        Ok(meta.get(id).map(|summary| Execution {
            nodes: self.payloads.borrow().get(id).cloned().unwrap_or_default(),
            ..summary.clone()
        }))
    }

    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        let (limit, cursor) = query.checked_bounds();
        let mut hits: Vec<Execution> = self
            .meta
            .borrow()
            .values()
            .filter(|e| query.matches(e) && HistoryQuery::before(&cursor, e))
            .cloned()
            .collect();
        hits.sort_by(newest_first);
        hits.truncate(limit + 1);
        Ok(paginate(hits, limit))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.payloads.borrow_mut().remove(id);
        Ok(self.meta.borrow_mut().remove(id).is_some())
    }

    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError> {
        let mut meta = self.meta.borrow_mut();
        let doomed: Vec<String> = meta
            .values()
            .filter(|e| workflow_id.is_none_or(|w| e.workflow_id.as_deref() == Some(w)))
            .map(|e| e.id.clone())
            .collect();
        let mut payloads = self.payloads.borrow_mut();
        for id in &doomed {
            meta.remove(id);
            payloads.remove(id);
        }
        Ok(doomed.len())
    }

    async fn running(&self) -> Result<Vec<Execution>, StoreError> {
        let ids: Vec<String> = self
            .meta
            .borrow()
            .values()
            .filter(|e| e.status == Status::Running)
            .map(|e| e.id.clone())
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.get(&id).await?);
        }
        Ok(out)
    }

    fn inject_failure(&self, fail: FailPoint) {
        *self.fail.borrow_mut() = Some(fail);
    }
}

//! The in-memory store: the reference behaviour, native tests, and Node until it has a durable
//! store.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use super::{
    classify_failure, DeadLetter, FailPoint, OutboxCounts, Outgoing, QueuePosition, Store, Synced,
};
use crate::error::StoreError;
use crate::history::{newest_first, paginate, HistoryPage, HistoryQuery};
use crate::model::{Execution, Millis, Status};
use crate::retention::{plan, PruneReport, PruneRequest};
use crate::stats::{Cell, Rollups};

/// Keeps executions in memory, split into metadata and payloads like the durable stores.
#[derive(Debug, Default)]
pub struct MemoryStore {
    meta: RefCell<HashMap<String, Execution>>,
    payloads: RefCell<HashMap<String, Vec<crate::model::NodeRun>>>,
    /// Id → (version to send, queue position).
    outbox: RefCell<HashMap<String, (u64, u64)>>,
    dead: RefCell<HashMap<String, DeadLetter>>,
    next_position: std::cell::Cell<u64>,
    rollups: RefCell<Rollups>,
    /// Workflow id → (startedAt, id) of its executions: history by workflow walks only
    /// those, newest first, and stops at the page's end.
    by_workflow: RefCell<HashMap<String, BTreeSet<(Millis, String)>>>,
    fail: RefCell<Option<FailPoint>>,
}

fn workflow_key(e: &Execution) -> Option<(&String, (Millis, String))> {
    e.workflow_id
        .as_ref()
        .map(|w| (w, (e.started_at, e.id.clone())))
}

/// Follows the replacement of `old` by `new` in the workflow index.
fn reindex(
    index: &mut HashMap<String, BTreeSet<(Millis, String)>>,
    old: Option<&Execution>,
    new: Option<&Execution>,
) {
    if let Some((w, key)) = old.and_then(workflow_key) {
        if let Some(set) = index.get_mut(w) {
            set.remove(&key);
            if set.is_empty() {
                index.remove(w);
            }
        }
    }
    if let Some((w, key)) = new.and_then(workflow_key) {
        index.entry(w.clone()).or_default().insert(key);
    }
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

    /// What a prune step would remove, oldest first (nothing is removed yet).
    pub fn plan_prune(&self, request: &PruneRequest) -> PruneReport {
        let mut oldest_first: Vec<Execution> = self.meta.borrow().values().cloned().collect();
        oldest_first.sort_by(|a, b| newest_first(b, a));
        let outbox = self.outbox.borrow();
        plan(
            oldest_first.iter().map(|e| (e, outbox.contains_key(&e.id))),
            request,
        )
    }

    /// The stored version of execution `id`, if it is stored.
    pub fn version(&self, id: &str) -> Option<u64> {
        self.meta.borrow().get(id).map(|e| e.version)
    }

    /// The next `limit` queued executions after `after`, in queue order.
    pub fn queued(&self, limit: usize, after: Option<&QueuePosition>) -> Vec<QueuePosition> {
        let start = after.map_or(-1.0, |p| p.queued_at);
        let mut queued: Vec<(u64, String)> = self
            .outbox
            .borrow()
            .iter()
            .filter(|(_, &(_, position))| position as f64 > start)
            .map(|(id, &(_, position))| (position, id.clone()))
            .collect();
        queued.sort_unstable();
        queued
            .into_iter()
            .take(limit)
            .map(|(position, id)| QueuePosition {
                queued_at: position as f64,
                id,
            })
            .collect()
    }

    /// Replaces the outbox (in queue order) and the dead letters, e.g. from a durable log.
    pub fn set_queue(&self, outbox: Vec<(String, u64)>, dead: Vec<DeadLetter>) {
        let n = outbox.len() as u64;
        *self.outbox.borrow_mut() = outbox
            .into_iter()
            .enumerate()
            .map(|(position, (id, version))| (id, (version, position as u64)))
            .collect();
        self.next_position.set(n);
        *self.dead.borrow_mut() = dead.into_iter().map(|d| (d.id.clone(), d)).collect();
    }

    /// Everything stored, for a durable snapshot: whole executions, the outbox in queue
    /// order, and the dead letters.
    pub fn export(&self) -> Snapshot {
        let payloads = self.payloads.borrow();
        let mut executions: Vec<Execution> = self
            .meta
            .borrow()
            .values()
            .map(|m| Execution {
                nodes: payloads.get(&m.id).cloned().unwrap_or_default(),
                ..m.clone()
            })
            .collect();
        executions.sort_by(|a, b| a.id.cmp(&b.id));
        let mut outbox: Vec<(u64, String, u64)> = self
            .outbox
            .borrow()
            .iter()
            .map(|(id, &(version, position))| (position, id.clone(), version))
            .collect();
        outbox.sort_unstable();
        let mut dead: Vec<DeadLetter> = self.dead.borrow().values().cloned().collect();
        dead.sort_by(|a, b| a.id.cmp(&b.id));
        Snapshot {
            executions,
            outbox: outbox.into_iter().map(|(_, id, v)| (id, v)).collect(),
            dead,
            cells: Some(self.rollups.borrow().cells().cloned().collect()),
        }
    }

    /// Replaces everything with a snapshot.
    pub fn import(&self, snapshot: Snapshot) {
        let rollups = match snapshot.cells {
            Some(cells) => Rollups::from_cells(cells),
            None => Rollups::rebuild(&snapshot.executions),
        };
        let (mut meta, mut payloads) = (
            HashMap::with_capacity(snapshot.executions.len()),
            HashMap::with_capacity(snapshot.executions.len()),
        );
        let mut by_workflow = HashMap::new();
        for mut e in snapshot.executions {
            // Moved apart, not copied: this is the hot loop of opening a large store.
            let nodes = std::mem::take(&mut e.nodes);
            e.node_count = e.node_count.max(nodes.len() as u32);
            payloads.insert(e.id.clone(), nodes);
            reindex(&mut by_workflow, None, Some(&e));
            meta.insert(e.id.clone(), e);
        }
        let outbox: HashMap<String, (u64, u64)> = snapshot
            .outbox
            .into_iter()
            .enumerate()
            .map(|(position, (id, version))| (id, (version, position as u64)))
            .collect();
        self.next_position.set(outbox.len() as u64);
        *self.meta.borrow_mut() = meta;
        *self.by_workflow.borrow_mut() = by_workflow;
        *self.payloads.borrow_mut() = payloads;
        *self.outbox.borrow_mut() = outbox;
        *self.dead.borrow_mut() = snapshot
            .dead
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        *self.rollups.borrow_mut() = rollups;
    }
}

/// Everything a store holds, as one value (see [`MemoryStore::export`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Whole executions, by id.
    pub executions: Vec<Execution>,
    /// `(id, version)` waiting to be sent, in queue order.
    pub outbox: Vec<(String, u64)>,
    /// Refused records.
    pub dead: Vec<DeadLetter>,
    /// The stats rollups of `executions` (recomputed on import when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<Vec<crate::stats::Cell>>,
}

impl Store for MemoryStore {
    async fn write(&self, batch: &[Execution]) -> Result<(), StoreError> {
        // Stage every put, then apply them together: a failure part-way leaves nothing.
        let staged: Vec<_> = batch
            .iter()
            .map(|e| (e.summary(), e.nodes.clone()))
            .collect();
        // Three puts per execution (metadata, payload, outbox mark), as in IndexedDB.
        if let Some(f) = self.fail.borrow_mut().take() {
            if f.after_puts < batch.len() * 3 {
                return Err(classify_failure(
                    "write",
                    batch.len(),
                    &f.error_name,
                    "injected failure",
                ));
            }
        }
        let (mut meta, mut payloads) = (self.meta.borrow_mut(), self.payloads.borrow_mut());
        let mut outbox = self.outbox.borrow_mut();
        let mut rollups = self.rollups.borrow_mut();
        for (summary, nodes) in staged {
            rollups.replace(meta.get(&summary.id), Some(&summary));
            let position = self.next_position.replace(self.next_position.get() + 1);
            outbox.insert(summary.id.clone(), (summary.version, position));
            payloads.insert(summary.id.clone(), nodes);
            reindex(
                &mut self.by_workflow.borrow_mut(),
                meta.get(&summary.id),
                Some(&summary),
            );
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
        let meta = self.meta.borrow();
        let keep = |e: &&Execution| query.matches(*e) && HistoryQuery::before(&cursor, *e);
        let mut hits: Vec<&Execution> = if let Some(w) = &query.workflow_id {
            // Newest first through the workflow's own list, stopping at the page's end.
            self.by_workflow
                .borrow()
                .get(w)
                .map_or_else(Vec::new, |set| {
                    set.iter()
                        .rev()
                        .filter_map(|(_, id)| meta.get(id))
                        .filter(keep)
                        .take(limit + 1)
                        .collect()
                })
        } else {
            meta.values().filter(keep).collect()
        };
        // Only the page is sorted and copied, not every match.
        if hits.len() > limit + 1 {
            hits.select_nth_unstable_by(limit, |a, b| newest_first(a, b));
            hits.truncate(limit + 1);
        }
        hits.sort_by(|a, b| newest_first(a, b));
        Ok(paginate(hits.into_iter().cloned().collect(), limit))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.payloads.borrow_mut().remove(id);
        self.outbox.borrow_mut().remove(id);
        self.dead.borrow_mut().remove(id);
        let old = self.meta.borrow_mut().remove(id);
        reindex(&mut self.by_workflow.borrow_mut(), old.as_ref(), None);
        self.rollups.borrow_mut().replace(old.as_ref(), None);
        Ok(old.is_some())
    }

    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError> {
        let mut meta = self.meta.borrow_mut();
        let doomed: Vec<String> = meta
            .values()
            .filter(|e| workflow_id.is_none_or(|w| e.workflow_id.as_deref() == Some(w)))
            .map(|e| e.id.clone())
            .collect();
        let mut payloads = self.payloads.borrow_mut();
        let (mut outbox, mut dead) = (self.outbox.borrow_mut(), self.dead.borrow_mut());
        let mut rollups = self.rollups.borrow_mut();
        for id in &doomed {
            let old = meta.remove(id);
            reindex(&mut self.by_workflow.borrow_mut(), old.as_ref(), None);
            rollups.replace(old.as_ref(), None);
            payloads.remove(id);
            outbox.remove(id);
            dead.remove(id);
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

    async fn outbox(
        &self,
        limit: usize,
        after: Option<&QueuePosition>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let mut out = Vec::new();
        for position in self.queued(limit, after) {
            if let Some(e) = self.get(&position.id).await? {
                let json = serde_json::to_string(&e).map_err(|err| StoreError::Corrupt {
                    key: position.id.clone(),
                    reason: err.to_string(),
                })?;
                out.push(Outgoing {
                    id: position.id.clone(),
                    version: e.version,
                    json,
                    position,
                });
            }
        }
        Ok(out)
    }

    async fn settle(&self, synced: &[Synced], refused: &[DeadLetter]) -> Result<(), StoreError> {
        let (mut outbox, mut dead) = (self.outbox.borrow_mut(), self.dead.borrow_mut());
        for s in synced {
            if outbox.get(&s.id).is_some_and(|&(v, _)| v <= s.version) {
                outbox.remove(&s.id);
            }
            if dead.get(&s.id).is_some_and(|d| d.version <= s.version) {
                dead.remove(&s.id);
            }
        }
        for r in refused {
            if outbox.get(&r.id).is_some_and(|&(v, _)| v <= r.version) {
                outbox.remove(&r.id);
            }
            if dead.get(&r.id).is_none_or(|d| d.version <= r.version) {
                dead.insert(r.id.clone(), r.clone());
            }
        }
        Ok(())
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        Ok(OutboxCounts {
            pending: self.outbox.borrow().len(),
            dead_lettered: self.dead.borrow().len(),
        })
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let mut all: Vec<DeadLetter> = self.dead.borrow().values().cloned().collect();
        all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(all)
    }

    async fn retry_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        let (mut outbox, mut dead) = (self.outbox.borrow_mut(), self.dead.borrow_mut());
        let chosen: Vec<String> = dead
            .keys()
            .filter(|id| ids.is_none_or(|ids| ids.contains(id)))
            .cloned()
            .collect();
        for id in &chosen {
            let letter = dead.remove(id).expect("chosen from the dead letters");
            let position = self.next_position.replace(self.next_position.get() + 1);
            outbox
                .entry(id.clone())
                .or_insert((letter.version, position));
        }
        Ok(chosen.len())
    }

    async fn discard_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        let mut dead = self.dead.borrow_mut();
        let before = dead.len();
        dead.retain(|id, _| ids.is_some_and(|ids| !ids.contains(id)));
        Ok(before - dead.len())
    }

    async fn cells(
        &self,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        Ok(self.rollups.borrow().cells_in(from_slot, to_slot))
    }

    async fn rebuild_rollups(&self) -> Result<usize, StoreError> {
        let rebuilt = Rollups::rebuild(self.meta.borrow().values());
        let n = rebuilt.cells().count();
        *self.rollups.borrow_mut() = rebuilt;
        Ok(n)
    }

    async fn prune(&self, request: &PruneRequest) -> Result<PruneReport, StoreError> {
        let report = self.plan_prune(request);
        for id in &report.removed {
            self.delete(id).await?;
        }
        Ok(report)
    }

    fn inject_failure(&self, fail: FailPoint) {
        *self.fail.borrow_mut() = Some(fail);
    }
}

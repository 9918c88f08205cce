//! What the file store keeps in memory, per record: the few fields history filters and
//! retention look at, where its latest frame is, and its place in the outbox. Summaries are
//! not kept: a page (or a change that needs a record's old stats contribution) reads them
//! from the record's frame in the log through a [`Load`], so memory per record is a small
//! entry, not its JSON.
//!
//! Strings that repeat across records (workflow, user, database type, node and output names)
//! are shared (`Rc<str>`), and so is each id across the maps that name it.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

// Fx hashing: the keys are this process's own records, and SipHash's protection against
// crafted collisions costs a tenth of the time to open a large store.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::FrameRef;
use crate::error::StoreError;
use crate::history::{paginate, Filterable, HistoryPage, HistoryQuery};
use crate::model::{Execution, Kind, Millis, Status};
use crate::retention::{plan, PruneReport, PruneRequest};
use crate::stats::{Cell, Rollups};
use crate::store::{DeadLetter, OutboxCounts, QueuePosition, Synced};

/// One stored record, as the catalog holds it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub id: Rc<str>,
    pub version: u64,
    pub frame: FrameRef,
    pub started_at: Millis,
    pub status: Status,
    pub kind: Kind,
    pub workflow_id: Option<Rc<str>>,
    pub user_id: Option<Rc<str>>,
    pub database_type: Option<Rc<str>>,
    pub failed_nodes: Box<[Rc<str>]>,
    pub outputs: Box<[Rc<str>]>,
    pub external_ids: Box<[(Rc<str>, Box<str>)]>,
    /// `(version to send, queue position)` while it waits in the outbox.
    pub queued: Option<(u64, u64)>,
}

impl Filterable for Entry {
    fn id(&self) -> &str {
        &self.id
    }
    fn started_at(&self) -> Millis {
        self.started_at
    }
    fn status(&self) -> Status {
        self.status
    }
    fn kind(&self) -> &Kind {
        &self.kind
    }
    fn workflow_id(&self) -> Option<&str> {
        self.workflow_id.as_deref()
    }
    fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
    fn database_type(&self) -> Option<&str> {
        self.database_type.as_deref()
    }
    fn has_failed_node(&self, node: &str) -> bool {
        self.failed_nodes.iter().any(|n| &**n == node)
    }
    fn has_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|o| &**o == name)
    }
    fn external_id(&self, system: &str) -> Option<&str> {
        self.external_ids
            .iter()
            .find(|(s, _)| &**s == system)
            .map(|(_, id)| &**id)
    }
}

/// Reads a stored record's summary from its frame (the log is the only copy of it).
pub(super) type Load<'a> = &'a dyn Fn(&str, FrameRef) -> Result<Execution, StoreError>;

/// Shares one allocation among equal strings.
#[derive(Debug, Default)]
pub(super) struct Interner(HashSet<Rc<str>>);

impl Interner {
    pub fn get(&mut self, text: &str) -> Rc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Rc<str> = Rc::from(text);
        self.0.insert(shared.clone());
        shared
    }
}

/// Newest-first walks go backwards over `(startedAt, id)`.
type TimeOrder = BTreeSet<(Millis, Rc<str>)>;

/// A value a record is found by through [`Catalog::postings`] (multi-entry: a record has one
/// per failed node, output and external id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Posting {
    External(Rc<str>, Box<str>),
    FailedNode(Rc<str>),
    Output(Rc<str>),
}

/// `(what, startedAt, id)`: the records of one posting, newest last.
type Postings = BTreeSet<(Posting, Millis, Rc<str>)>;

/// The posting a query can walk instead of the whole history, if any.
fn posting_of(query: &HistoryQuery) -> Option<Posting> {
    if let Some(x) = &query.external_id {
        Some(Posting::External(
            Rc::from(x.system.as_str()),
            Box::from(x.id.as_str()),
        ))
    } else if let Some(n) = &query.failed_node {
        Some(Posting::FailedNode(Rc::from(n.as_str())))
    } else {
        query
            .output
            .as_ref()
            .map(|o| Posting::Output(Rc::from(o.as_str())))
    }
}

fn postings_of(e: &Entry) -> impl Iterator<Item = (Posting, Millis, Rc<str>)> + '_ {
    let external = e
        .external_ids
        .iter()
        .map(|(system, id)| Posting::External(system.clone(), id.clone()));
    let failed = e.failed_nodes.iter().cloned().map(Posting::FailedNode);
    let outputs = e.outputs.iter().cloned().map(Posting::Output);
    external
        .chain(failed)
        .chain(outputs)
        .map(|p| (p, e.started_at, e.id.clone()))
}

/// Every stored record's entry, the orders history walks, the outbox, the dead letters and
/// the stats rollups.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    entries: HashMap<Rc<str>, Entry>,
    by_time: TimeOrder,
    by_workflow: HashMap<Rc<str>, TimeOrder>,
    /// Records by failed node, output name and external id (only records that have them).
    postings: Postings,
    /// Queue position → id, for the records in the outbox.
    queue: BTreeMap<u64, Rc<str>>,
    next_position: u64,
    dead: HashMap<String, DeadLetter>,
    rollups: Rollups,
    strings: Interner,
}

impl Catalog {
    /// A catalog of `entries` (any order), with the queue as their `queued` fields say, and
    /// the dead letters and rollup cells given.
    pub fn assemble(
        entries: Vec<Entry>,
        next_position: u64,
        dead: Vec<DeadLetter>,
        cells: Vec<Cell>,
        strings: Interner,
    ) -> Catalog {
        let mut entries = entries;
        // Sorted already when read from the index (it is written in this order): then this is
        // one pass, and the orders below are built in bulk from sorted runs.
        entries.sort_unstable_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        let mut per_workflow: HashMap<Rc<str>, Vec<(Millis, Rc<str>)>> = HashMap::default();
        let mut order = Vec::with_capacity(entries.len());
        let mut queue = BTreeMap::new();
        for e in &entries {
            order.push((e.started_at, e.id.clone()));
            if let Some(w) = &e.workflow_id {
                per_workflow
                    .entry(w.clone())
                    .or_default()
                    .push((e.started_at, e.id.clone()));
            }
            if let Some((_, position)) = e.queued {
                queue.insert(position, e.id.clone());
            }
        }
        let postings = entries.iter().flat_map(postings_of).collect();
        let entries: HashMap<Rc<str>, Entry> =
            entries.into_iter().map(|e| (e.id.clone(), e)).collect();
        Catalog {
            entries,
            by_time: order.into_iter().collect(),
            by_workflow: per_workflow
                .into_iter()
                .map(|(w, runs)| (w, runs.into_iter().collect()))
                .collect(),
            postings,
            queue,
            next_position,
            dead: dead.into_iter().map(|d| (d.id.clone(), d)).collect(),
            rollups: Rollups::from_cells(cells),
            strings,
        }
    }

    /// Entries oldest first (by start time, then id).
    pub fn oldest_first(&self) -> impl Iterator<Item = &Entry> {
        self.by_time.iter().map(|(_, id)| &self.entries[id])
    }

    /// A stored record's summary, read from its frame.
    fn summary_of(&self, id: &str, load: Load) -> Result<Option<Execution>, StoreError> {
        self.entries
            .get(id)
            .map(|e| load(&e.id, e.frame))
            .transpose()
    }

    pub fn next_position(&self) -> u64 {
        self.next_position
    }

    pub fn dead(&self) -> Vec<DeadLetter> {
        let mut all: Vec<DeadLetter> = self.dead.values().cloned().collect();
        all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        all
    }

    pub fn cells(&self) -> Vec<Cell> {
        self.rollups.cells().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn version(&self, id: &str) -> Option<u64> {
        self.entries.get(id).map(|e| e.version)
    }

    pub fn frame(&self, id: &str) -> Option<FrameRef> {
        self.entries.get(id).map(|e| e.frame)
    }

    /// The entry for summary `e` (of a record just written or replayed, found at `frame`).
    fn entry_of(&mut self, e: &Execution, frame: FrameRef) -> Entry {
        let s = &mut self.strings;
        Entry {
            id: Rc::from(e.id.as_str()),
            version: e.version,
            frame,
            started_at: e.started_at,
            status: e.status,
            kind: e.kind.clone(),
            workflow_id: e.workflow_id.as_deref().map(|w| s.get(w)),
            user_id: e.user_id.as_deref().map(|u| s.get(u)),
            database_type: e.database_type().map(|d| s.get(d)),
            failed_nodes: e.failed_nodes.iter().map(|n| s.get(n)).collect(),
            outputs: e.outputs.iter().map(|o| s.get(&o.name)).collect(),
            external_ids: e
                .external_ids
                .iter()
                .map(|(system, id)| (s.get(system), Box::from(id.as_str())))
                .collect(),
            queued: None,
        }
    }

    /// Stores `e` (found at `frame`) in place of its older version, and queues it to be sent.
    /// The older version's summary is read back (`load`) to take it out of the rollups.
    pub fn put(&mut self, e: &Execution, frame: FrameRef, load: Load) -> Result<(), StoreError> {
        let summary = e.summary();
        let mut entry = self.entry_of(&summary, frame);
        // Read before anything changes: a failure leaves the catalog as it was.
        let old_summary = self.summary_of(&e.id, load)?;
        self.take(&e.id);
        self.rollups.replace(old_summary.as_ref(), Some(&summary));
        let position = self.next_position;
        self.next_position += 1;
        entry.queued = Some((entry.version, position));
        self.queue.insert(position, entry.id.clone());
        self.place(entry);
        Ok(())
    }

    /// Adds `entry` to the orders.
    fn place(&mut self, entry: Entry) {
        let key = (entry.started_at, entry.id.clone());
        if let Some(w) = &entry.workflow_id {
            self.by_workflow
                .entry(w.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_time.insert(key);
        self.postings.extend(postings_of(&entry));
        self.entries.insert(entry.id.clone(), entry);
    }

    /// Takes `id`'s entry out of the maps and orders (not out of the rollups or dead letters).
    fn take(&mut self, id: &str) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        let key = (entry.started_at, entry.id.clone());
        self.by_time.remove(&key);
        for posting in postings_of(&entry) {
            self.postings.remove(&posting);
        }
        if let Some(w) = &entry.workflow_id {
            if let Some(runs) = self.by_workflow.get_mut(w) {
                runs.remove(&key);
                if runs.is_empty() {
                    self.by_workflow.remove(w);
                }
            }
        }
        if let Some((_, position)) = entry.queued {
            self.queue.remove(&position);
        }
        Some(entry)
    }

    /// Removes `id` with everything about it; true when it was stored.
    pub fn remove(&mut self, id: &str, load: Load) -> Result<bool, StoreError> {
        self.dead.remove(id);
        let Some(old) = self.summary_of(id, load)? else {
            return Ok(false);
        };
        self.take(id);
        self.rollups.replace(Some(&old), None);
        Ok(true)
    }

    /// Removes every record, or every record of one workflow; returns how many.
    pub fn clear(&mut self, workflow_id: Option<&str>, load: Load) -> Result<usize, StoreError> {
        let Some(w) = workflow_id else {
            // Everything goes, rollups included: nothing to parse.
            let n = self.entries.len();
            let entries = std::mem::take(&mut self.entries);
            self.dead.retain(|id, _| !entries.contains_key(id.as_str()));
            self.by_time.clear();
            self.by_workflow.clear();
            self.postings.clear();
            self.queue.clear();
            self.rollups = Rollups::default();
            return Ok(n);
        };
        let doomed: Vec<Rc<str>> = self.by_workflow.get(w).map_or_else(Vec::new, |runs| {
            runs.iter().map(|(_, id)| id.clone()).collect()
        });
        for id in &doomed {
            self.remove(id, load)?;
        }
        Ok(doomed.len())
    }

    /// A page of history: walks newest first through the most selective order the query
    /// allows (an external id, a failed node, an output, the workflow, else time), from the
    /// cursor or `until`, and reads only the summaries it returns.
    pub fn history(&self, query: &HistoryQuery, load: Load) -> Result<HistoryPage, StoreError> {
        let (limit, cursor) = query.checked_bounds();
        // The newest place a hit can be: just before the cursor, at or before `until`.
        // (`(until + 1, "")` as an exclusive bound keeps every record started at `until`.)
        let after_until = |u: Millis| (u.saturating_add(1), Rc::<str>::from(""));
        let top: Option<(Millis, Rc<str>)> = match (&cursor, query.until) {
            (Some(c), Some(u)) if c.started_at > u => Some(after_until(u)),
            (Some(c), _) => Some((c.started_at, Rc::from(c.id.as_str()))),
            (None, Some(u)) => Some(after_until(u)),
            (None, None) => None,
        };
        let walk: Box<dyn Iterator<Item = &Rc<str>>> = if let Some(posting) = posting_of(query) {
            // No start time is `Millis::MAX` (times are validated), so it bounds a posting.
            let (at, id) = top.unwrap_or((Millis::MAX, Rc::from("")));
            let low = (posting.clone(), Millis::MIN, Rc::from(""));
            Box::new(
                self.postings
                    .range(low..(posting, at, id))
                    .rev()
                    .map(|(_, _, id)| id),
            )
        } else {
            let order = match &query.workflow_id {
                Some(w) => match self.by_workflow.get(w.as_str()) {
                    Some(runs) => runs,
                    None => return Ok(HistoryPage::default()),
                },
                None => &self.by_time,
            };
            match top {
                Some(top) => Box::new(order.range(..top).rev().map(|(_, id)| id)),
                None => Box::new(order.iter().rev().map(|(_, id)| id)),
            }
        };
        let hits = walk
            .map(|id| &self.entries[id])
            .take_while(|e| query.since.is_none_or(|since| e.started_at >= since))
            .filter(|e| query.matches(*e))
            .take(limit + 1)
            .map(|e| load(&e.id, e.frame))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(hits, limit))
    }

    /// The ids of the executions still running.
    pub fn running(&self) -> Vec<String> {
        self.entries
            .values()
            .filter(|e| e.status == Status::Running)
            .map(|e| e.id.to_string())
            .collect()
    }

    /// What a prune step would remove, oldest first (nothing is removed yet).
    pub fn plan_prune(&self, request: &PruneRequest) -> PruneReport {
        plan(
            self.oldest_first().map(|e| (e, e.queued.is_some())),
            request,
        )
    }

    /// The next `limit` queued records after `after`, in queue order.
    pub fn queued(&self, limit: usize, after: Option<&QueuePosition>) -> Vec<QueuePosition> {
        let from = match after {
            Some(p) if p.queued_at >= 0.0 => p.queued_at.floor() as u64 + 1,
            _ => 0,
        };
        self.queue
            .range(from..)
            .take(limit)
            .map(|(&position, id)| QueuePosition {
                queued_at: position as f64,
                id: id.to_string(),
            })
            .collect()
    }

    /// The outbox in queue order, as `(id, version)`.
    pub fn outbox(&self) -> Vec<(String, u64)> {
        self.queue
            .values()
            .map(|id| (id.to_string(), self.entries[id].queued.map_or(0, |q| q.0)))
            .collect()
    }

    /// Replaces the outbox (in queue order) and the dead letters.
    pub fn set_queue(&mut self, outbox: Vec<(String, u64)>, dead: Vec<DeadLetter>) {
        for id in std::mem::take(&mut self.queue).into_values() {
            if let Some(e) = self.entries.get_mut(&id) {
                e.queued = None;
            }
        }
        for (position, (id, version)) in outbox.into_iter().enumerate() {
            if let Some(e) = self.entries.get_mut(id.as_str()) {
                e.queued = Some((version, position as u64));
                self.queue.insert(position as u64, e.id.clone());
            }
            self.next_position = position as u64 + 1;
        }
        self.dead = dead.into_iter().map(|d| (d.id.clone(), d)).collect();
    }

    /// Takes acknowledged versions out of the outbox and refused ones into the dead letters.
    pub fn settle(&mut self, synced: &[Synced], refused: &[DeadLetter]) {
        for s in synced {
            self.unqueue_up_to(&s.id, s.version);
            if self.dead.get(&s.id).is_some_and(|d| d.version <= s.version) {
                self.dead.remove(&s.id);
            }
        }
        for r in refused {
            self.unqueue_up_to(&r.id, r.version);
            if self.dead.get(&r.id).is_none_or(|d| d.version <= r.version) {
                self.dead.insert(r.id.clone(), r.clone());
            }
        }
    }

    /// Leaves the outbox when what waits there is `version` or older (a newer one still goes).
    fn unqueue_up_to(&mut self, id: &str, version: u64) {
        if let Some(e) = self.entries.get_mut(id) {
            if let Some((queued, position)) = e.queued {
                if queued <= version {
                    e.queued = None;
                    self.queue.remove(&position);
                }
            }
        }
    }

    pub fn outbox_counts(&self) -> OutboxCounts {
        OutboxCounts {
            pending: self.queue.len(),
            dead_lettered: self.dead.len(),
        }
    }

    /// Drops dead letters (all, or those named) without queueing them again; returns how many.
    pub fn discard_dead_letters(&mut self, ids: Option<&[String]>) -> usize {
        let before = self.dead.len();
        self.dead
            .retain(|id, _| ids.is_some_and(|ids| !ids.contains(id)));
        before - self.dead.len()
    }

    /// Puts dead letters (all, or those named) back in the outbox; returns how many.
    pub fn retry_dead_letters(&mut self, ids: Option<&[String]>) -> usize {
        let mut chosen: Vec<DeadLetter> = self
            .dead
            .values()
            .filter(|d| ids.is_none_or(|ids| ids.contains(&d.id)))
            .cloned()
            .collect();
        chosen.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        for letter in &chosen {
            self.dead.remove(&letter.id);
            let position = self.next_position;
            self.next_position += 1;
            if let Some(e) = self.entries.get_mut(letter.id.as_str()) {
                if e.queued.is_none() {
                    e.queued = Some((letter.version, position));
                    self.queue.insert(position, e.id.clone());
                }
            }
        }
        chosen.len()
    }

    pub fn cells_in(&self, from_slot: Option<i64>, to_slot: Option<i64>) -> Vec<Cell> {
        self.rollups.cells_in(from_slot, to_slot)
    }

    /// Recomputes the rollups from every stored summary; returns the number of cells.
    pub fn rebuild_rollups(&mut self, load: Load) -> Result<usize, StoreError> {
        // One summary at a time: a rebuild does not hold every record in memory.
        let mut rollups = Rollups::default();
        for e in self.entries.values() {
            rollups.replace(None, Some(&load(&e.id, e.frame)?));
        }
        self.rollups = rollups;
        Ok(self.rollups.cells().count())
    }

    /// Every stored record's frame, in log order.
    pub fn live_frames(&self) -> Vec<(Rc<str>, FrameRef)> {
        let mut live: Vec<(Rc<str>, FrameRef)> = self
            .entries
            .values()
            .map(|e| (e.id.clone(), e.frame))
            .collect();
        live.sort_by_key(|(_, f)| f.offset);
        live
    }

    /// Points records at their frames in a rewritten log.
    pub fn move_frames(&mut self, moved: &std::collections::HashMap<Rc<str>, FrameRef>) {
        for (id, frame) in moved {
            if let Some(e) = self.entries.get_mut(id) {
                e.frame = *frame;
            }
        }
    }
}

//! What the file store knows of its records: the sealed index on disk (every record as of
//! the last checkpoint, see [`sealed`](super::sealed)) and, in memory, the records changed
//! since (new versions, records whose outbox place changed), which hide their sealed rows,
//! the ids removed since, the outbox's recent part, the dead letters and the stats rollup
//! cells changed since ([`rollup_cells`](super::rollup_cells)). Memory holds what changed
//! since the last checkpoint, not the history.
//!
//! Summaries are not kept either: a page (or a change that needs a record's old stats
//! contribution) reads them from the record's frame in the log through [`Disk`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

// Fx hashing: the keys are this process's own records.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::entry::{postings_of, Disk, Entry, Interner, Posting};
use super::rollup_cells::RollupCells;
use super::sealed::{Footer, Order, Ranks, Sealed};
use super::FrameRef;
use crate::error::StoreError;
use crate::history::{paginate, HistoryPage, HistoryQuery};
use crate::model::{Execution, Millis, Status};
use crate::retention::{verdict, PruneReport, PruneRequest, Verdict};
use crate::stats::{Cell, Rollups};

/// Calls its argument with cells (see [`RollupCells::each`]).
type CellSink<'a> = &'a mut dyn FnMut(&Cell) -> Result<(), StoreError>;
use crate::store::{DeadLetter, OutboxCounts, QueuePosition, Synced};

/// Newest-first walks go backwards over `(startedAt, id)`.
type TimeOrder = BTreeSet<(Millis, Rc<str>)>;

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

/// A walk through the sealed index, newest first, that skips rows hidden by the catalog.
struct SealedWalk<'a> {
    sealed: &'a Sealed,
    ranks: Ranks,
}

/// The sealed index, the records changed since it was written, the outbox, the dead letters
/// and the stats rollups.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    /// Every record as of the last checkpoint (none before the first).
    sealed: Option<Sealed>,
    /// Sealed records removed since.
    removed: HashSet<Rc<str>>,
    /// Sealed rows hidden (by an entry here, or removed), and how many of them were queued.
    hidden: u64,
    hidden_queued: u64,
    /// Records written or changed since the last checkpoint.
    entries: HashMap<Rc<str>, Entry>,
    by_time: TimeOrder,
    by_workflow: HashMap<Rc<str>, TimeOrder>,
    /// Records by failed node, output name and external id (only records that have them).
    postings: Postings,
    /// Queue position → id, for the entries here in the outbox (the sealed index has the rest).
    queue: BTreeMap<u64, Rc<str>>,
    next_position: u64,
    dead: HashMap<String, DeadLetter>,
    rollups: RollupCells,
    strings: Interner,
}

impl Catalog {
    /// A catalog of `entries` (any order), with the queue as their `queued` fields say, and
    /// the dead letters and rollup cells given (an index of format 3, read whole).
    pub fn assemble(
        entries: Vec<Entry>,
        next_position: u64,
        dead: Vec<DeadLetter>,
        cells: Vec<Cell>,
        strings: Interner,
    ) -> Catalog {
        let mut catalog = Catalog {
            next_position,
            dead: dead.into_iter().map(|d| (d.id.clone(), d)).collect(),
            rollups: RollupCells::from_cells(cells),
            strings,
            ..Catalog::default()
        };
        for e in entries {
            catalog.place(e);
        }
        catalog
    }

    /// A catalog over the sealed index `sealed` (nothing changed since).
    pub fn over(sealed: Sealed, footer: Footer) -> Catalog {
        Catalog {
            sealed: Some(sealed),
            next_position: footer.next_position,
            dead: footer.dead.into_iter().map(|d| (d.id.clone(), d)).collect(),
            rollups: RollupCells::from_cells(footer.legacy_cells),
            ..Catalog::default()
        }
    }

    /// After a checkpoint: `sealed` now holds every record, so the entries here go.
    pub fn seal(&mut self, sealed: Sealed) {
        self.sealed = Some(sealed);
        self.removed = HashSet::default();
        self.hidden = 0;
        self.hidden_queued = 0;
        self.entries = HashMap::default();
        self.by_time = TimeOrder::new();
        self.by_workflow = HashMap::default();
        self.postings = Postings::new();
        self.queue = BTreeMap::new();
        self.strings = Interner::default();
        self.rollups.seal();
    }

    fn is_hidden(&self, id: &str) -> bool {
        self.entries.contains_key(id) || self.removed.contains(id)
    }

    /// The next sealed entry of `walk` that is not hidden.
    fn next_sealed(
        &self,
        walk: &mut Option<SealedWalk>,
        disk: &dyn Disk,
    ) -> Result<Option<Entry>, StoreError> {
        let Some(w) = walk else {
            return Ok(None);
        };
        while let Some(rank) = w.ranks.next(w.sealed, disk)? {
            let e = w.sealed.entry(disk, rank)?;
            if !self.is_hidden(&e.id) {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Calls `f` with every stored record, oldest first by `(startedAt, id)`, until it
    /// returns false.
    pub fn each_live(
        &self,
        disk: &dyn Disk,
        f: &mut dyn FnMut(&Entry) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut recent = self.by_time.iter().map(|(_, id)| &self.entries[id]);
        let mut a = recent.next();
        let count = self.sealed.as_ref().map_or(0, |s| s.count);
        let mut rank = 0;
        let next_sealed = |rank: &mut u64| -> Result<Option<Entry>, StoreError> {
            while *rank < count {
                let Some(s) = &self.sealed else { break };
                let e = s.entry(disk, *rank)?;
                *rank += 1;
                if !self.is_hidden(&e.id) {
                    return Ok(Some(e));
                }
            }
            Ok(None)
        };
        let mut b = next_sealed(&mut rank)?;
        loop {
            let go_on = match (a, &b) {
                (None, None) => return Ok(()),
                (Some(x), Some(y)) if (y.started_at, &*y.id) < (x.started_at, &*x.id) => {
                    let go_on = f(y)?;
                    b = next_sealed(&mut rank)?;
                    go_on
                }
                (Some(x), _) => {
                    let go_on = f(x)?;
                    a = recent.next();
                    go_on
                }
                (None, Some(y)) => {
                    let go_on = f(y)?;
                    b = next_sealed(&mut rank)?;
                    go_on
                }
            };
            if !go_on {
                return Ok(());
            }
        }
    }

    pub fn next_position(&self) -> u64 {
        self.next_position
    }

    pub fn dead(&self) -> Vec<DeadLetter> {
        let mut all: Vec<DeadLetter> = self.dead.values().cloned().collect();
        all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        all
    }

    /// Calls `f` with every rollup cell, in the sealed index's order.
    pub fn each_cell(&self, disk: &dyn Disk, f: CellSink) -> Result<(), StoreError> {
        self.rollups.each(self.sealed.as_ref(), disk, f)
    }

    pub fn len(&self) -> usize {
        let sealed = self.sealed.as_ref().map_or(0, |s| s.count);
        self.entries.len() + sealed.saturating_sub(self.hidden) as usize
    }

    /// `id`'s entry, and whether it was read from the sealed index.
    fn lookup(
        &self,
        id: &str,
        disk: &dyn Disk,
    ) -> Result<Option<(Cow<'_, Entry>, bool)>, StoreError> {
        if let Some(e) = self.entries.get(id) {
            return Ok(Some((Cow::Borrowed(e), false)));
        }
        if self.removed.contains(id) {
            return Ok(None);
        }
        let Some(sealed) = &self.sealed else {
            return Ok(None);
        };
        Ok(sealed.find(disk, id)?.map(|(_, e)| (Cow::Owned(e), true)))
    }

    pub fn version(&self, id: &str, disk: &dyn Disk) -> Result<Option<u64>, StoreError> {
        Ok(self.lookup(id, disk)?.map(|(e, _)| e.version))
    }

    pub fn frame(&self, id: &str, disk: &dyn Disk) -> Result<Option<FrameRef>, StoreError> {
        Ok(self.lookup(id, disk)?.map(|(e, _)| e.frame))
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
            shadows_sealed: false,
        }
    }

    /// Brings sealed entry `e` here, hiding its row, so that it can change.
    fn adopt(&mut self, mut e: Entry) {
        self.hidden += 1;
        if e.queued.is_some() {
            self.hidden_queued += 1;
        }
        e.shadows_sealed = true;
        self.place(e);
    }

    /// Stores `e` (found at `frame`) in place of its older version, and queues it to be sent.
    /// The older version's summary is read back to take it out of the rollups.
    pub fn put(
        &mut self,
        e: &Execution,
        frame: FrameRef,
        disk: &dyn Disk,
    ) -> Result<(), StoreError> {
        let summary = e.summary();
        let mut entry = self.entry_of(&summary, frame);
        // Read before anything changes: a failure leaves the catalog as it was.
        let old = self
            .lookup(&e.id, disk)?
            .map(|(o, sealed)| (o.into_owned(), sealed));
        let old_summary = old
            .as_ref()
            .map(|(o, _)| disk.summary(&o.id, o.frame))
            .transpose()?;
        self.rollups.replace(
            self.sealed.as_ref(),
            disk,
            old_summary.as_ref(),
            Some(&summary),
        )?;
        entry.shadows_sealed = match old {
            Some((o, true)) => {
                self.adopt(o);
                true
            }
            Some((o, false)) => o.shadows_sealed,
            // A sealed row removed earlier stays hidden, by this entry now.
            None => self.removed.remove(&*e.id),
        };
        self.take(&e.id);
        let position = self.next_position;
        self.next_position += 1;
        entry.queued = Some((entry.version, position));
        self.place(entry);
        Ok(())
    }

    /// Adds `entry` to the orders (and the queue when it is queued).
    fn place(&mut self, entry: Entry) {
        let key = (entry.started_at, entry.id.clone());
        if let Some(w) = &entry.workflow_id {
            self.by_workflow
                .entry(w.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_time.insert(key);
        self.postings
            .extend(postings_of(&entry).map(|p| (p, entry.started_at, entry.id.clone())));
        if let Some((_, position)) = entry.queued {
            self.queue.insert(position, entry.id.clone());
        }
        self.entries.insert(entry.id.clone(), entry);
    }

    /// Takes `id`'s entry out of the maps and orders (not out of the rollups or dead letters).
    fn take(&mut self, id: &str) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        let key = (entry.started_at, entry.id.clone());
        self.by_time.remove(&key);
        for posting in postings_of(&entry) {
            self.postings
                .remove(&(posting, entry.started_at, entry.id.clone()));
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
    pub fn remove(&mut self, id: &str, disk: &dyn Disk) -> Result<bool, StoreError> {
        let Some((old, sealed)) = self.lookup(id, disk)?.map(|(o, s)| (o.into_owned(), s)) else {
            self.dead.remove(id);
            return Ok(false);
        };
        let summary = disk.summary(&old.id, old.frame)?;
        self.rollups
            .replace(self.sealed.as_ref(), disk, Some(&summary), None)?;
        self.dead.remove(id);
        if sealed {
            self.hidden += 1;
            if old.queued.is_some() {
                self.hidden_queued += 1;
            }
            self.removed.insert(old.id.clone());
        } else if let Some(e) = self.take(id) {
            if e.shadows_sealed {
                self.removed.insert(e.id);
            }
        }
        Ok(true)
    }

    /// Removes every record, or every record of one workflow; returns how many.
    pub fn clear(
        &mut self,
        workflow_id: Option<&str>,
        disk: &dyn Disk,
    ) -> Result<usize, StoreError> {
        let Some(w) = workflow_id else {
            // Everything goes, rollups included: nothing to parse.
            let n = self.len();
            let mut dead = std::mem::take(&mut self.dead);
            let mut stored = HashSet::default();
            for id in dead.keys() {
                if self.lookup(id, disk)?.is_some() {
                    stored.insert(id.clone());
                }
            }
            dead.retain(|id, _| !stored.contains(id));
            *self = Catalog {
                next_position: self.next_position,
                dead,
                ..Catalog::default()
            };
            return Ok(n);
        };
        let mut doomed: Vec<Rc<str>> = self.by_workflow.get(w).map_or_else(Vec::new, |runs| {
            runs.iter().map(|(_, id)| id.clone()).collect()
        });
        if let Some(sealed) = &self.sealed {
            if let Some(code) = sealed.code(w) {
                let mut walk = Some(SealedWalk {
                    sealed,
                    ranks: sealed.ranks_of(disk, Order::Workflow, code, sealed.count)?,
                });
                while let Some(e) = self.next_sealed(&mut walk, disk)? {
                    doomed.push(e.id);
                }
            }
        }
        for id in &doomed {
            self.remove(id, disk)?;
        }
        Ok(doomed.len())
    }

    /// The sealed walk for `query` below `top`: through its posting, workflow, user or
    /// status order, else through time.
    fn sealed_walk<'a>(
        &'a self,
        query: &HistoryQuery,
        top: &Option<(Millis, Rc<str>)>,
        disk: &dyn Disk,
    ) -> Result<Option<SealedWalk<'a>>, StoreError> {
        let Some(sealed) = &self.sealed else {
            return Ok(None);
        };
        let below = match top {
            Some((at, id)) => sealed.time_bound(disk, *at, id)?,
            None => sealed.count,
        };
        let by = |order: Order, value: &str| -> Result<Option<Ranks>, StoreError> {
            sealed
                .code(value)
                .map(|code| sealed.ranks_of(disk, order, code, below))
                .transpose()
        };
        let ranks = if let Some(posting) = posting_of(query) {
            Some(sealed.ranks_posted(disk, posting.hash(), below)?)
        } else if let Some(w) = &query.workflow_id {
            by(Order::Workflow, w)?
        } else if let Some(u) = &query.user_id {
            by(Order::User, u)?
        } else if let Some(s) = query.status {
            Some(sealed.ranks_of(disk, Order::Status, Sealed::status_code(s), below)?)
        } else {
            Some(Ranks::All { next: below })
        };
        Ok(ranks.map(|ranks| SealedWalk { sealed, ranks }))
    }

    /// A page of history: walks newest first through the most selective order the query
    /// allows, in the sealed index and in the recent entries at once, from the cursor or
    /// `until`, and reads only the summaries it returns.
    pub fn history(
        &self,
        query: &HistoryQuery,
        disk: &dyn Disk,
    ) -> Result<HistoryPage, StoreError> {
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
        let mut recent: Box<dyn Iterator<Item = &Rc<str>>> =
            if let Some(posting) = posting_of(query) {
                // No start time is `Millis::MAX` (times are validated), so it bounds a posting.
                let (at, id) = top.clone().unwrap_or((Millis::MAX, Rc::from("")));
                let low = (posting.clone(), Millis::MIN, Rc::from(""));
                Box::new(
                    self.postings
                        .range(low..(posting, at, id))
                        .rev()
                        .map(|(_, _, id)| id),
                )
            } else {
                let order = match &query.workflow_id {
                    Some(w) => self.by_workflow.get(w.as_str()),
                    None => Some(&self.by_time),
                };
                match (order, &top) {
                    (None, _) => Box::new(std::iter::empty()),
                    (Some(order), Some(top)) => {
                        Box::new(order.range(..top.clone()).rev().map(|(_, id)| id))
                    }
                    (Some(order), None) => Box::new(order.iter().rev().map(|(_, id)| id)),
                }
            };
        let mut next_recent = || recent.next().map(|id| &self.entries[id]);
        let mut walk = self.sealed_walk(query, &top, disk)?;
        let (mut a, mut b) = (next_recent(), self.next_sealed(&mut walk, disk)?);
        let mut hits = Vec::new();
        while hits.len() <= limit {
            let e: Cow<Entry> = match (a, &b) {
                (None, None) => break,
                (Some(x), Some(y)) if (y.started_at, &*y.id) > (x.started_at, &*x.id) => {
                    let y = b.take().map(Cow::Owned);
                    b = self.next_sealed(&mut walk, disk)?;
                    match y {
                        Some(y) => y,
                        None => break,
                    }
                }
                (Some(x), _) => {
                    a = next_recent();
                    Cow::Borrowed(x)
                }
                (None, Some(_)) => {
                    let y = b.take().map(Cow::Owned);
                    b = self.next_sealed(&mut walk, disk)?;
                    match y {
                        Some(y) => y,
                        None => break,
                    }
                }
            };
            if query.since.is_some_and(|since| e.started_at < since) {
                break;
            }
            if query.matches(&*e) {
                hits.push(disk.summary(&e.id, e.frame)?);
            }
        }
        Ok(paginate(hits, limit))
    }

    /// The ids of the executions still running.
    pub fn running(&self, disk: &dyn Disk) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = self
            .entries
            .values()
            .filter(|e| e.status == Status::Running)
            .map(|e| e.id.to_string())
            .collect();
        if let Some(sealed) = &self.sealed {
            let code = Sealed::status_code(Status::Running);
            let mut walk = Some(SealedWalk {
                sealed,
                ranks: sealed.ranks_of(disk, Order::Status, code, sealed.count)?,
            });
            while let Some(e) = self.next_sealed(&mut walk, disk)? {
                ids.push(e.id.to_string());
            }
        }
        Ok(ids)
    }

    /// What a prune step would remove, oldest first (nothing is removed yet).
    pub fn plan_prune(
        &self,
        request: &PruneRequest,
        disk: &dyn Disk,
    ) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport {
            done: true,
            ..PruneReport::default()
        };
        self.each_live(disk, &mut |e| {
            match verdict(e, report.removed.len(), request, e.queued.is_some()) {
                Verdict::Remove => report.removed.push(e.id.to_string()),
                Verdict::KeepUnsynced => report.kept_unsynced += 1,
                Verdict::KeepRunning => {}
                Verdict::Stop => {
                    report.done = report.removed.len() < request.limit;
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        Ok(report)
    }

    /// Calls `f` with `(position, entry)` of each queued record from `from`, in queue order,
    /// until it returns false.
    fn each_queued(
        &self,
        from: u64,
        disk: &dyn Disk,
        f: &mut dyn FnMut(u64, &Entry) -> bool,
    ) -> Result<(), StoreError> {
        let mut recent = self
            .queue
            .range(from..)
            .map(|(&position, id)| (position, &self.entries[id]));
        let (mut i, n) = match &self.sealed {
            Some(s) => (s.queue_from(disk, from)?, s.queued_count()),
            None => (0, 0),
        };
        let next_sealed = |i: &mut u64| -> Result<Option<(u64, Entry)>, StoreError> {
            while *i < n {
                let Some(s) = &self.sealed else { break };
                let (position, rank) = s.queue_at(disk, *i)?;
                *i += 1;
                let e = s.entry(disk, rank)?;
                if !self.is_hidden(&e.id) {
                    return Ok(Some((position, e)));
                }
            }
            Ok(None)
        };
        let (mut a, mut b) = (recent.next(), next_sealed(&mut i)?);
        loop {
            let go_on = match (a, &b) {
                (None, None) => return Ok(()),
                (Some((pa, x)), Some((pb, _))) if pa < *pb => {
                    a = recent.next();
                    f(pa, x)
                }
                (Some((pa, x)), None) => {
                    a = recent.next();
                    f(pa, x)
                }
                (_, Some((pb, y))) => {
                    let go_on = f(*pb, y);
                    b = next_sealed(&mut i)?;
                    go_on
                }
            };
            if !go_on {
                return Ok(());
            }
        }
    }

    /// The next `limit` queued records after `after`, in queue order.
    pub fn queued(
        &self,
        limit: usize,
        after: Option<&QueuePosition>,
        disk: &dyn Disk,
    ) -> Result<Vec<(QueuePosition, u64)>, StoreError> {
        let from = match after {
            Some(p) if p.queued_at >= 0.0 => p.queued_at.floor() as u64 + 1,
            _ => 0,
        };
        let mut out = Vec::new();
        if limit > 0 {
            self.each_queued(from, disk, &mut |position, e| {
                let version = e.queued.map_or(e.version, |q| q.0);
                out.push((
                    QueuePosition {
                        queued_at: position as f64,
                        id: e.id.to_string(),
                    },
                    version,
                ));
                out.len() < limit
            })?;
        }
        Ok(out)
    }

    /// The outbox in queue order, as `(id, version)`.
    pub fn outbox(&self, disk: &dyn Disk) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        self.each_queued(0, disk, &mut |_, e| {
            out.push((e.id.to_string(), e.queued.map_or(0, |q| q.0)));
            true
        })?;
        Ok(out)
    }

    /// Brings every sealed record here and drops the sealed index (compaction and a whole
    /// new queue rewrite every entry; a later checkpoint seals them again).
    pub fn materialize(&mut self, disk: &dyn Disk) -> Result<(), StoreError> {
        if self.sealed.is_none() {
            return Ok(());
        }
        let mut sealed_entries = Vec::new();
        {
            let mut walk = self.sealed.as_ref().map(|sealed| SealedWalk {
                sealed,
                ranks: Ranks::All { next: sealed.count },
            });
            while let Some(e) = self.next_sealed(&mut walk, disk)? {
                sealed_entries.push(e);
            }
        }
        self.rollups.materialize(self.sealed.as_ref(), disk)?;
        self.sealed = None;
        self.removed = HashSet::default();
        self.hidden = 0;
        self.hidden_queued = 0;
        for e in self.entries.values_mut() {
            e.shadows_sealed = false;
        }
        for e in sealed_entries {
            self.place(e);
        }
        Ok(())
    }

    /// Replaces the outbox (in queue order) and the dead letters.
    pub fn set_queue(
        &mut self,
        outbox: Vec<(String, u64)>,
        dead: Vec<DeadLetter>,
        disk: &dyn Disk,
    ) -> Result<(), StoreError> {
        self.materialize(disk)?;
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
        Ok(())
    }

    /// Takes acknowledged versions out of the outbox and refused ones into the dead letters.
    pub fn settle(
        &mut self,
        synced: &[Synced],
        refused: &[DeadLetter],
        disk: &dyn Disk,
    ) -> Result<(), StoreError> {
        for s in synced {
            self.unqueue_up_to(&s.id, s.version, disk)?;
            if self.dead.get(&s.id).is_some_and(|d| d.version <= s.version) {
                self.dead.remove(&s.id);
            }
        }
        for r in refused {
            self.unqueue_up_to(&r.id, r.version, disk)?;
            if self.dead.get(&r.id).is_none_or(|d| d.version <= r.version) {
                self.dead.insert(r.id.clone(), r.clone());
            }
        }
        Ok(())
    }

    /// Brings `id` here when it is a sealed record; true when it is stored.
    fn bring(&mut self, id: &str, disk: &dyn Disk) -> Result<bool, StoreError> {
        match self.lookup(id, disk)? {
            None => Ok(false),
            Some((_, false)) => Ok(true),
            Some((e, true)) => {
                let e = e.into_owned();
                self.adopt(e);
                Ok(true)
            }
        }
    }

    /// Leaves the outbox when what waits there is `version` or older (a newer one still goes).
    fn unqueue_up_to(&mut self, id: &str, version: u64, disk: &dyn Disk) -> Result<(), StoreError> {
        let waiting = self
            .lookup(id, disk)?
            .and_then(|(e, _)| e.queued)
            .is_some_and(|(queued, _)| queued <= version);
        if waiting && self.bring(id, disk)? {
            if let Some(e) = self.entries.get_mut(id) {
                if let Some((_, position)) = e.queued.take() {
                    self.queue.remove(&position);
                }
            }
        }
        Ok(())
    }

    pub fn outbox_counts(&self) -> OutboxCounts {
        let sealed = self.sealed.as_ref().map_or(0, |s| s.queued_count());
        OutboxCounts {
            pending: self.queue.len() + sealed.saturating_sub(self.hidden_queued) as usize,
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
    pub fn retry_dead_letters(
        &mut self,
        ids: Option<&[String]>,
        disk: &dyn Disk,
    ) -> Result<usize, StoreError> {
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
            if self.bring(&letter.id, disk)? {
                if let Some(e) = self.entries.get_mut(letter.id.as_str()) {
                    if e.queued.is_none() {
                        e.queued = Some((letter.version, position));
                        self.queue.insert(position, e.id.clone());
                    }
                }
            }
        }
        Ok(chosen.len())
    }

    /// The rollup cells within the slot bounds (of one workflow, when given).
    pub fn cells_in(
        &self,
        disk: &dyn Disk,
        workflow: Option<&str>,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        self.rollups
            .within(self.sealed.as_ref(), disk, workflow, from_slot, to_slot)
    }

    /// Recomputes the rollups from every stored summary; returns the number of cells.
    pub fn rebuild_rollups(&mut self, disk: &dyn Disk) -> Result<usize, StoreError> {
        // One summary at a time: a rebuild does not hold every record in memory.
        let mut rollups = Rollups::default();
        self.each_live(disk, &mut |e| {
            rollups.replace(None, Some(&disk.summary(&e.id, e.frame)?));
            Ok(true)
        })?;
        let n = rollups.cells().count();
        self.rollups = RollupCells::rebuilt(rollups);
        Ok(n)
    }

    /// The bytes of the stored records' latest frames (counted, not collected).
    pub fn live_bytes(&self, disk: &dyn Disk) -> Result<u64, StoreError> {
        let mut bytes = 0;
        self.each_live(disk, &mut |e| {
            bytes += e.frame.len;
            Ok(true)
        })?;
        Ok(bytes)
    }

    /// Every stored record's frame, in log order.
    pub fn live_frames(&self, disk: &dyn Disk) -> Result<Vec<(Rc<str>, FrameRef)>, StoreError> {
        let mut live = Vec::new();
        self.each_live(disk, &mut |e| {
            live.push((e.id.clone(), e.frame));
            Ok(true)
        })?;
        live.sort_by_key(|(_, f)| f.offset);
        Ok(live)
    }

    /// Points records at their frames in a rewritten log (after [`Catalog::materialize`]).
    pub fn move_frames(&mut self, moved: &std::collections::HashMap<Rc<str>, FrameRef>) {
        for (id, frame) in moved {
            if let Some(e) = self.entries.get_mut(id) {
                e.frame = *frame;
            }
        }
    }
}

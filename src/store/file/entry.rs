//! One stored record as the catalog and the sealed index hold it (the few fields history
//! filters and retention look at, where its latest frame is, its place in the outbox), and
//! [`Disk`]: what reading the store's files gives the catalog.

use std::rc::Rc;

use rustc_hash::FxHashSet as HashSet;

use super::FrameRef;
use crate::error::StoreError;
use crate::history::Filterable;
use crate::model::{Execution, Kind, Millis, Status};

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
    /// A row of the sealed index has this id (this entry hides it).
    pub shadows_sealed: bool,
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

/// What the catalog reads from disk: a record's summary from its frame in the log, and bytes
/// of the index file.
pub(super) trait Disk {
    /// The summary of `id`'s record in frame `f` (node payloads skipped).
    fn summary(&self, id: &str, f: FrameRef) -> Result<Execution, StoreError>;
    /// `len` bytes of the index file at `offset` (fewer at its end).
    fn index_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String>;
}

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

/// A value a record is found by (multi-entry: a record has one per failed node, output and
/// external id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Posting {
    External(Rc<str>, Box<str>),
    FailedNode(Rc<str>),
    Output(Rc<str>),
}

impl Posting {
    /// A stable 64-bit hash (FNV-1a) of the posting: the sealed index's key for it.
    pub fn hash(&self) -> u64 {
        let (tag, a, b): (u8, &str, &str) = match self {
            Posting::External(system, id) => (b'x', system, id),
            Posting::FailedNode(n) => (b'f', n, ""),
            Posting::Output(o) => (b'o', o, ""),
        };
        let mut h = fnv(FNV_OFFSET, &[tag]);
        h = fnv(h, a.as_bytes());
        h = fnv(h, &[0]);
        fnv(h, b.as_bytes())
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A stable 64-bit hash (FNV-1a) of a record id: the sealed index's key for it.
pub(super) fn id_hash(id: &str) -> u64 {
    fnv(FNV_OFFSET, id.as_bytes())
}

/// Every posting of `e`.
pub(super) fn postings_of(e: &Entry) -> impl Iterator<Item = Posting> + '_ {
    let external = e
        .external_ids
        .iter()
        .map(|(system, id)| Posting::External(system.clone(), id.clone()));
    let failed = e.failed_nodes.iter().cloned().map(Posting::FailedNode);
    let outputs = e.outputs.iter().cloned().map(Posting::Output);
    external.chain(failed).chain(outputs)
}

//! The durable file store (Node): an append-only log of committed changes, with an index
//! that makes opening cheap.
//!
//! ```text
//! {path}/{name}.log    frame*   frame = [len u32][crc32 u32][payload]
//!   payload: 'R' + execution JSON (one stored version of one record)
//!          | JSON op: header{format, logId} | delete | clear | settle | retry | prune | queue
//! {path}/{name}.index  binary (see `index`): the log it covers (logId, byte length), and
//!                      per execution the fields history filters on, where its
//!                      latest record frame is and its place in the outbox; dead letters, rollups
//! ```
//!
//! - Every change is appended and fsynced before the call returns: a write that `flush()`
//!   confirmed survives `kill -9` and power loss.
//! - Only a compact catalog lives in memory (`catalog`): per record the fields history
//!   filters on and where its frame is; stats rollups; the outbox. Summaries are not kept: a
//!   history page reads each summary it returns from the record's frame (skimming the node
//!   payloads), as `get`, sync and recovery read whole records; the frame's checksum is
//!   checked on every read.
//! - Opening reads the index and replays only the log written after it. A missing, damaged or
//!   stale index (another log, a shorter log) just means replaying the whole log: the log is
//!   the truth, the index a cache of it.
//! - A failed append (a full disk, say) is rolled back: the log is cut back to the end of its
//!   last good frame, so a retry appends where a whole frame belongs. If even that fails the
//!   store is sealed: every later write fails until it is reopened (which cuts the partial
//!   frame as a torn tail). Appends write at the offset the store expects, never blindly at
//!   the file's end.
//! - On replay, a damaged frame (torn, bad length, checksum mismatch, unreadable) costs that
//!   frame only: reading resumes at the next valid frame header. A damaged tail is cut off;
//!   damage in the middle is kept aside and the log rewritten without it (as compaction
//!   does). The damaged bytes are always kept in a file beside the log, and every damage is
//!   reported as a warning.
//! - Compaction copies the latest frame of each live record into a new log (written beside
//!   it, fsynced, renamed over it: a crash leaves the old log or the new one, never a mix).
//! - The file I/O is handed in ([`FileIo`]): Node's `fs` through the JS entry, `std::fs` in
//!   native tests. No `node:` import reaches the browser build.

mod bytes_in;
mod catalog;
mod cell_codec;
mod entry;
mod frame;
mod index;
mod rollup_cells;
mod sealed;
#[cfg(not(target_arch = "wasm32"))]
mod std_io;
mod summaries;

use std::cell::{Cell as StdCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::FutureExt;
use serde::{Deserialize, Serialize};

pub use frame::{crc32, encode as encode_frame, scan, Damage, Scan};
#[cfg(not(target_arch = "wasm32"))]
pub use std_io::StdFileIo;

use super::{DeadLetter, FailPoint, OutboxCounts, Outgoing, QueuePosition, Store, Synced};
use crate::error::StoreError;
use crate::history::{HistoryPage, HistoryQuery};
use crate::model::Execution;
use crate::retention::{PruneReport, PruneRequest};
use crate::stats::Cell;
use catalog::Catalog;
use entry::{Disk, Entry};
use sealed::Sealed;
pub use sealed::FORMAT as INDEX_FORMAT;

/// The log format this library writes.
pub const FORMAT_VERSION: u32 = 1;

/// Compact when the log is larger than this and mostly obsolete versions.
const COMPACT_AFTER_BYTES: u64 = 16 << 20;

/// Write a new index after this much log has been appended since the last one. The log after
/// the index is replayed, and so checked frame by frame, on every open: this bounds that
/// work, and keeps the most recent writes (where a crash tears) always checked.
const INDEX_EVERY_BYTES: u64 = 8 << 20;

/// On close, write a new index when more log than this follows it: the next open replays
/// at most this much (a store closed cleanly opens in about the time of reading a footer).
const CLOSE_TAIL_BYTES: u64 = 4 << 20;

/// First byte of a record frame's payload (op payloads start with `{`).
const RECORD: u8 = b'R';

/// The file operations the store needs. Implementations make `append` and `replace`
/// durable (fsync) before they return.
pub trait FileIo {
    /// The log from byte `offset` to its end (empty when there is no log yet).
    fn read_from(&self, offset: u64) -> Result<Vec<u8>, String>;
    /// `len` bytes of the log at `offset`.
    fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String>;
    /// The log's size in bytes (0 when there is none).
    fn log_size(&self) -> Result<u64, String>;
    /// Writes `bytes` at byte `at` of the log (its end as the store knows it: the end of
    /// the last good frame) and fsyncs. Creates the log when missing.
    fn append(&self, at: u64, bytes: &[u8]) -> Result<(), String>;
    /// Cuts the log to `len` bytes and fsyncs: rolls back what a failed append left.
    fn set_len(&self, len: u64) -> Result<(), String>;
    /// Cuts the log to `len` bytes (a damaged tail) and fsyncs, after copying the bytes cut
    /// off to a file beside it (never deleted: a person may want them); returns that file.
    fn truncate(&self, len: u64) -> Result<String, String>;
    /// Copies `bytes`, damaged bytes found at byte `at` of the log, to a new file beside
    /// it (never deleted); returns that file.
    fn keep_aside(&self, at: u64, bytes: &[u8]) -> Result<String, String>;
    /// Replaces the log atomically: a temporary file, fsync, rename, fsync of the folder.
    fn replace(&self, bytes: &[u8]) -> Result<(), String>;
    /// The index's size in bytes, if there is one.
    fn index_size(&self) -> Result<Option<u64>, String>;
    /// `len` bytes of the index at `offset` (fewer at its end).
    fn read_index_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String>;
    /// Starts writing a new index beside the current one (which stays readable until
    /// [`FileIo::commit_index`]); drops one left unfinished.
    fn begin_index(&self) -> Result<(), String>;
    /// Appends `bytes` to the index being written.
    fn append_index(&self, bytes: &[u8]) -> Result<(), String>;
    /// Makes the index written durable and puts it in place of the current one atomically
    /// (fsync, rename, fsync of the folder, as `replace` does for the log).
    fn commit_index(&self) -> Result<(), String>;
    /// A new random id for a log.
    fn fresh_id(&self) -> String;
    /// The records of the older layout (`{name}.jsonl`, one execution per line), if present.
    fn read_legacy(&self) -> Result<Option<String>, String>;
    /// Moves the older layout's file aside once migrated.
    fn retire_legacy(&self) -> Result<(), String>;
}

/// One committed change other than a record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
enum Op {
    Header {
        format: u32,
        #[serde(rename = "logId", default)]
        log_id: String,
    },
    Delete {
        id: String,
    },
    Clear {
        #[serde(rename = "workflowId")]
        workflow_id: Option<String>,
    },
    Settle {
        synced: Vec<(String, u64)>,
        refused: Vec<DeadLetter>,
    },
    Retry {
        ids: Option<Vec<String>>,
    },
    /// Dead letters given up on (`None`: all of them).
    Discard {
        ids: Option<Vec<String>>,
    },
    Prune {
        ids: Vec<String>,
    },
    /// The whole outbox and dead-letter list (after compaction's copied records).
    Queue {
        outbox: Vec<(String, u64)>,
        dead: Vec<DeadLetter>,
    },
}

/// Where a record's latest frame is.
#[derive(Clone, Copy, Debug, PartialEq)]
struct FrameRef {
    offset: u64,
    len: u64,
}

/// One run of damaged log bytes found on open.
#[derive(Clone, Debug, PartialEq)]
pub struct DamageFound {
    /// Where it started in the log.
    pub at: u64,
    /// How many bytes it held.
    pub bytes: u64,
    /// What was wrong with its first frame.
    pub reason: String,
    /// It ran to the end of the log (a torn or corrupt tail).
    pub tail: bool,
    /// The file its bytes were copied to.
    pub saved_to: String,
}

/// What opening found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenReport {
    /// Log bytes replayed (all of it without a usable index).
    pub replayed_bytes: u64,
    /// Whether the index was used.
    pub indexed: bool,
    /// The first damage found (torn, corrupt, unreadable), and why; see `damaged` for all.
    pub damage: Option<String>,
    /// Where the first damage's bytes were kept.
    pub damage_saved_to: Option<String>,
    /// Every run of damaged bytes skipped, in log order.
    pub damaged: Vec<DamageFound>,
    /// Executions migrated from the older layout.
    pub migrated: usize,
}

impl OpenReport {
    /// What a person should hear about this open: damage skipped, records migrated.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .damaged
            .iter()
            .map(|d| {
                if d.tail {
                    format!(
                        "the store's log ended in {}; that tail ({} bytes) was cut off (its bytes are kept in {}) and everything before it was kept",
                        d.reason, d.bytes, d.saved_to
                    )
                } else {
                    format!(
                        "the store's log held {} at byte {} ({} bytes); reading resumed at the next valid frame, so only the change in those bytes was lost (they are kept in {}) and the log was rewritten without them",
                        d.reason.split(" at byte").next().unwrap_or(&d.reason), d.at, d.bytes, d.saved_to
                    )
                }
            })
            .collect();
        if self.migrated > 0 {
            out.push(format!(
                "{} execution(s) were migrated from the older store layout",
                self.migrated
            ));
        }
        out
    }
}

/// What replaying log bytes found.
struct Replayed {
    /// Where the last good frame ends (relative to the bytes replayed).
    end_of_good: u64,
    /// Damaged runs (relative to the bytes replayed).
    damaged: Vec<Damage>,
}

/// Executions in an append-only log; see the module docs.
pub struct FileStore<F: FileIo> {
    io: F,
    /// What is stored, without node runs; see [`catalog`].
    state: RefCell<Catalog>,
    log_id: RefCell<String>,
    log_len: StdCell<u64>,
    indexed_len: StdCell<u64>,
    counted_len: StdCell<u64>,
    index_size: StdCell<u64>,
    fail: RefCell<Option<FailPoint>>,
    /// Why writes are refused: a failed append could not be rolled back.
    sealed: RefCell<Option<String>>,
    maintenance_error: RefCell<Option<StoreError>>,
    /// Summaries read lately (bounded; see [`summaries`]).
    summaries: RefCell<summaries::SummaryCache>,
}

impl<F: FileIo> std::fmt::Debug for FileStore<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("log_len", &self.log_len)
            .finish_non_exhaustive()
    }
}

fn io_error(operation: &'static str) -> impl Fn(String) -> StoreError {
    move |message| StoreError::Transaction {
        operation,
        name: "IoError".into(),
        message,
    }
}

/// A failed write: a full disk (`ENOSPC`, a quota) is a [`StoreError::QuotaExceeded`].
fn write_error(operation: &'static str, records: usize, message: String) -> StoreError {
    const FULL: [&str; 4] = ["ENOSPC", "EDQUOT", "No space left", "Disk quota exceeded"];
    if FULL.iter().any(|m| message.contains(m)) {
        StoreError::QuotaExceeded {
            records,
            detail: message,
        }
    } else {
        io_error(operation)(message)
    }
}

fn encode_error(operation: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |e| StoreError::Transaction {
        operation,
        name: "DataError".into(),
        message: e.to_string(),
    }
}

/// Grows the heap by `bytes` at once, ahead of building the catalog. In wasm every growth
/// of the memory is costly (the JS engine swaps the memory's buffer and counts it against its
/// own heap, which brings on garbage collections): growing it in one step instead of a
/// thousand small ones halves the time to open a large store. The allocator keeps what is
/// freed here for the allocations that follow.
fn reserve_memory(bytes: usize) {
    drop(std::hint::black_box(Vec::<u8>::with_capacity(bytes)));
}

/// Runs a call of this store, which never waits (the file I/O is synchronous).
fn now<T>(future: impl std::future::Future<Output = T>) -> T {
    future.now_or_never().expect("the file store never waits")
}

/// What opening found of an index.
enum IndexFound {
    /// None on disk.
    Missing,
    /// Another format, another log, damaged: replay the log, then write a new one.
    Unusable,
    /// It covers the log up to this byte (and is of an older format, to be rewritten).
    Covers(u64, bool),
}

/// The execution JSON in the record frame `f` of `id`, its checksum checked.
fn read_record<F: FileIo>(io: &F, id: &str, f: FrameRef) -> Result<Vec<u8>, StoreError> {
    let mut bytes = io.read_at(f.offset, f.len).map_err(io_error("read"))?;
    let scanned = scan(&bytes);
    match scanned.frames.first() {
        Some((0, p)) if p.first() == Some(&RECORD) && scanned.damaged.is_empty() => {
            // The payload in place: drop the frame header and the record mark.
            let start = frame::HEADER + 1;
            let end = frame::HEADER + p.len();
            bytes.truncate(end);
            bytes.drain(..start);
            Ok(bytes)
        }
        _ => Err(StoreError::Corrupt {
            key: id.to_owned(),
            reason: format!(
                "its record at byte {} of the log is damaged ({})",
                f.offset,
                scanned
                    .damaged
                    .first()
                    .map_or_else(|| "not a record frame".into(), |d| d.reason.clone())
            ),
        }),
    }
}

/// The summary of the record in frame `f` (node payloads skipped, not built): what history
/// pages return, and what rollups subtract when a record is replaced or removed.
fn summary_at<F: FileIo>(io: &F, id: &str, f: FrameRef) -> Result<Execution, StoreError> {
    let json = read_record(io, id, f)?;
    let record: Execution =
        crate::model::skimming(|| serde_json::from_slice(&json)).map_err(|e| {
            StoreError::Corrupt {
                key: id.to_owned(),
                reason: format!("its summary cannot be read: {e}"),
            }
        })?;
    Ok(record.summary())
}

fn record_frame(e: &Execution) -> Result<Vec<u8>, StoreError> {
    let mut payload = vec![RECORD];
    serde_json::to_writer(&mut payload, e).map_err(encode_error("write"))?;
    Ok(encode_frame(&payload))
}

fn op_frame(op: &Op) -> Result<Vec<u8>, StoreError> {
    Ok(encode_frame(
        &serde_json::to_vec(op).map_err(encode_error("write"))?,
    ))
}

/// A log's header: its format and id.
fn header_of(bytes: &[u8]) -> Option<(u32, String)> {
    let (0, first) = *scan(bytes).frames.first()? else {
        return None;
    };
    match serde_json::from_slice::<Op>(first).ok()? {
        Op::Header { format, log_id } => Some((format, log_id)),
        _ => None,
    }
}

impl<F: FileIo> FileStore<F> {
    /// Opens the log behind `io`: loads the index, replays what came after it, cuts a
    /// damaged tail, migrates the older layout.
    pub fn open(io: F) -> Result<(FileStore<F>, OpenReport), StoreError> {
        let open_error = |reason: String| StoreError::Open {
            name: "file store".into(),
            reason,
        };
        let size = io.log_size().map_err(open_error)?;
        let store = FileStore {
            io,
            state: RefCell::new(Catalog::default()),
            log_id: RefCell::new(String::new()),
            log_len: StdCell::new(0),
            indexed_len: StdCell::new(0),
            counted_len: StdCell::new(0),
            index_size: StdCell::new(0),
            fail: RefCell::new(None),
            sealed: RefCell::new(None),
            maintenance_error: RefCell::new(None),
            summaries: RefCell::default(),
        };
        let mut report = OpenReport::default();
        let mut index_outdated = false;
        if size > 0 {
            // The header says which log this is, and whether this library can read it.
            let head = store.io.read_at(0, size.min(4096)).map_err(open_error)?;
            match header_of(&head) {
                Some((format, _)) if format > FORMAT_VERSION => {
                    return Err(open_error(format!(
                        "the log was written by a newer runledger (format {format}; this one reads up to {FORMAT_VERSION})"
                    )))
                }
                Some((_, log_id)) => *store.log_id.borrow_mut() = log_id,
                None => {}
            }
        }
        let from = match store.load_index(size) {
            IndexFound::Covers(from, outdated) => {
                index_outdated = outdated;
                from
            }
            IndexFound::Unusable => {
                index_outdated = true;
                0
            }
            IndexFound::Missing => 0,
        };
        report.indexed = from > 0;
        let tail = store.io.read_from(from).map_err(open_error)?;
        report.replayed_bytes = tail.len() as u64;
        let replayed = store.replay(&tail, from);
        store.log_len.set(from + replayed.end_of_good);
        store.counted_len.set(from + replayed.end_of_good);
        report.damaged = store.set_damage_aside(&tail, from, replayed.damaged)?;
        if let Some(first) = report.damaged.first() {
            report.damage = Some(first.reason.clone());
            report.damage_saved_to = Some(first.saved_to.clone());
        }
        if store.log_len.get() == 0 {
            let log_id = store.io.fresh_id();
            store.append(
                &op_frame(&Op::Header {
                    format: FORMAT_VERSION,
                    log_id: log_id.clone(),
                })?,
                0,
            )?;
            *store.log_id.borrow_mut() = log_id;
        }
        report.migrated = store.migrate_legacy()?;
        // An index of an earlier format (or another log) is replaced at once: the next open
        // reads the new one instead of replaying the whole log again.
        if report.replayed_bytes > store.index_every() || (index_outdated && size > 0) {
            // Next time, start from here (a failure only means replaying again).
            if let Err(e) = store.checkpoint() {
                *store.maintenance_error.borrow_mut() = Some(e);
            }
        }
        Ok((store, report))
    }

    /// Loads the index when it describes this log: of format 5, its first page and its
    /// footer only; of format 4 (its rollup cells in the footer, read whole) or format 3
    /// (read whole), once, to be rewritten in format 5.
    fn load_index(&self, size: u64) -> IndexFound {
        let Ok(Some(index_size)) = self.io.index_size() else {
            return IndexFound::Missing;
        };
        let format = match self.io.read_index_at(0, 8) {
            Ok(head) if head.len() == 8 && &head[..4] == sealed::MAGIC => {
                u32::from_le_bytes([head[4], head[5], head[6], head[7]])
            }
            _ => return IndexFound::Unusable,
        };
        let (log_id, log_len, catalog, outdated) = match format {
            sealed::FORMAT | sealed::FORMAT_4 => {
                let Some((sealed, footer)) = Sealed::open(self, index_size) else {
                    return IndexFound::Unusable;
                };
                let (log_id, log_len) = (footer.log_id.clone(), footer.log_len);
                let outdated = format != sealed::FORMAT;
                (log_id, log_len, Catalog::over(sealed, footer), outdated)
            }
            index::FORMAT_3 => {
                reserve_memory(index_size as usize);
                let Ok(bytes) = self.io.read_index_at(0, index_size) else {
                    return IndexFound::Unusable;
                };
                let Some((covered, catalog)) = index::decode(&bytes) else {
                    return IndexFound::Unusable;
                };
                (covered.log_id, covered.log_len, catalog, true)
            }
            // The JSON index, or format 2 with its summaries: the log is replayed.
            _ => return IndexFound::Unusable,
        };
        if log_id != *self.log_id.borrow() || log_len > size {
            return IndexFound::Unusable;
        }
        self.index_size.set(index_size);
        *self.state.borrow_mut() = catalog;
        self.indexed_len.set(log_len);
        IndexFound::Covers(log_len, outdated)
    }

    /// Applies every valid frame of `bytes` (the log from `base`), skipping damaged ones.
    fn replay(&self, bytes: &[u8], base: u64) -> Replayed {
        let scanned = scan(bytes);
        let mut damaged = scanned.damaged;
        let mut end_of_good = 0u64;
        for (at, payload) in scanned.frames {
            let len = frame::HEADER + payload.len();
            let frame = FrameRef {
                offset: base + at as u64,
                len: len as u64,
            };
            match self.apply_payload(payload, frame) {
                Ok(()) => end_of_good = (at + len) as u64,
                // A frame with a good checksum that does not parse was written by something
                // else: skipped like a corrupt frame.
                Err(e) => damaged.push(Damage {
                    start: at,
                    end: at + len,
                    reason: format!("an unreadable frame at byte {} ({e})", frame.offset),
                }),
            }
        }
        damaged.sort_by_key(|d| d.start);
        // Neighbouring runs (an unreadable frame next to a corrupt one) are one run.
        let mut merged: Vec<Damage> = Vec::with_capacity(damaged.len());
        for d in damaged {
            match merged.last_mut() {
                Some(last) if last.end == d.start => last.end = d.end,
                _ => merged.push(d),
            }
        }
        Replayed {
            end_of_good,
            damaged: merged,
        }
    }

    /// Keeps damaged runs of `bytes` (the log from `base`) aside and removes them from the
    /// log: a damaged tail is cut off; damage before the last good frame means rewriting the
    /// log without it (a compaction). Called while opening, before anything is appended.
    fn set_damage_aside(
        &self,
        bytes: &[u8],
        base: u64,
        damaged: Vec<Damage>,
    ) -> Result<Vec<DamageFound>, StoreError> {
        let end_of_good = self.log_len.get() - base;
        let mut found = Vec::with_capacity(damaged.len());
        let mut mid_log = false;
        for d in damaged {
            let tail = d.start as u64 >= end_of_good;
            let at = base + d.start as u64;
            let saved_to = if tail {
                self.io.truncate(at).map_err(io_error("open"))?
            } else {
                mid_log = true;
                self.io
                    .keep_aside(at, &bytes[d.start..d.end])
                    .map_err(io_error("open"))?
            };
            found.push(DamageFound {
                at,
                bytes: (d.end - d.start) as u64,
                reason: d.reason,
                tail,
                saved_to,
            });
        }
        if mid_log {
            self.compact()?;
        }
        Ok(found)
    }

    fn apply_payload(&self, payload: &[u8], frame: FrameRef) -> Result<(), String> {
        if payload.first() == Some(&RECORD) {
            // Only its summary is kept in memory: node payloads are skipped, not built.
            let record: Execution =
                crate::model::skimming(|| serde_json::from_slice(&payload[1..]))
                    .map_err(|e| e.to_string())?;
            self.state
                .borrow_mut()
                .put(&record, frame, self)
                .map_err(|e| e.to_string())?;
        } else {
            let op = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
            self.apply(op).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Imports `{name}.jsonl` (one execution per line) written by the older layout.
    fn migrate_legacy(&self) -> Result<usize, StoreError> {
        let Some(text) = self.io.read_legacy().map_err(io_error("migrate"))? else {
            return Ok(0);
        };
        let records = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str::<Execution>(line).map_err(|e| StoreError::Corrupt {
                    key: format!("line {} of the older store", i + 1),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n = records.len();
        if n > 0 {
            now(self.write(&records))?;
        }
        self.io.retire_legacy().map_err(io_error("migrate"))?;
        Ok(n)
    }

    /// Applies a replayed or just-logged change to the in-memory state.
    fn apply(&self, op: Op) -> Result<(), StoreError> {
        let mut s = self.state.borrow_mut();
        let load: &dyn Disk = self;
        match op {
            Op::Header { .. } => {}
            Op::Delete { id } => {
                s.remove(&id, load)?;
            }
            Op::Clear { workflow_id } => {
                s.clear(workflow_id.as_deref(), load)?;
            }
            Op::Settle { synced, refused } => {
                let synced: Vec<Synced> = synced
                    .into_iter()
                    .map(|(id, version)| Synced { id, version })
                    .collect();
                s.settle(&synced, &refused, load)?;
            }
            Op::Retry { ids } => {
                s.retry_dead_letters(ids.as_deref(), load)?;
            }
            Op::Discard { ids } => {
                s.discard_dead_letters(ids.as_deref());
            }
            Op::Prune { ids } => {
                for id in ids {
                    s.remove(&id, load)?;
                }
            }
            Op::Queue { outbox, dead } => s.set_queue(outbox, dead, load)?,
        }
        Ok(())
    }

    /// Makes `op` durable (one fsynced frame), then applies it.
    fn commit(&self, op: Op, operation: &'static str) -> Result<(), StoreError> {
        self.append(&op_frame(&op)?, 0).map_err(|e| match e {
            StoreError::Transaction { message, name, .. } => StoreError::Transaction {
                operation,
                name,
                message,
            },
            other => other,
        })?;
        self.apply(op)?;
        self.maintain();
        Ok(())
    }

    /// Appends `bytes` (whole frames) at the end of the last good frame. A failure is rolled
    /// back: the log is cut back to that end, or, if even that fails, the store is sealed.
    fn append(&self, bytes: &[u8], records: usize) -> Result<(), StoreError> {
        if let Some(reason) = self.sealed.borrow().as_ref() {
            return Err(StoreError::Transaction {
                operation: "write",
                name: "SealedError".into(),
                message: format!(
                    "the log is sealed: {reason}; reopen the store (opening cuts the partial frame off)"
                ),
            });
        }
        let at = self.log_len.get();
        if let Err(message) = self.io.append(at, bytes) {
            if let Err(cut) = self.io.set_len(at) {
                *self.sealed.borrow_mut() = Some(format!(
                    "a failed write ({message}) could not be rolled back ({cut})"
                ));
            }
            return Err(write_error("write", records, message));
        }
        self.log_len.set(at + bytes.len() as u64);
        Ok(())
    }

    /// Compacts when most of the log is obsolete; writes a new index when much was appended.
    /// Runs after a change is durable, so a failure here (a full disk, say) does not fail
    /// that change: the log is the truth and the index a cache. The failure is kept for
    /// [`FileStore::take_maintenance_error`], and not retried before the log has grown by
    /// as much again.
    fn maintain(&self) {
        let len = self.log_len.get();
        let result = (|| {
            // Counting what is live costs a pass over every record: only when the log has
            // doubled since it was last counted.
            if len > COMPACT_AFTER_BYTES && len > 2 * self.counted_len.get() {
                self.counted_len.set(len);
                let live = self.state.borrow().live_bytes(self)?;
                if len > 2 * live {
                    return self.compact();
                }
            }
            if len - self.indexed_len.get().min(len) > self.index_every() {
                if let Err(e) = self.checkpoint() {
                    // Try again once half as much again was appended.
                    self.indexed_len
                        .set(len.saturating_sub(self.index_every() / 2));
                    return Err(e);
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            *self.maintenance_error.borrow_mut() = Some(e);
        }
    }

    /// Why the last compaction or index write failed, once (the changes themselves were
    /// written: only the cache of them is behind).
    pub fn take_maintenance_error(&self) -> Option<StoreError> {
        self.maintenance_error.borrow_mut().take()
    }

    /// How much log may follow the index before a new one is written: at least
    /// [`INDEX_EVERY_BYTES`], and a quarter of the index's own size, so that rewriting a large
    /// index stays a small share of what is written.
    fn index_every(&self) -> u64 {
        INDEX_EVERY_BYTES.max(self.index_size.get() / 4)
    }

    /// The frames of the records still stored, in log order.
    fn live_frames(&self) -> Result<Vec<(Rc<str>, FrameRef)>, StoreError> {
        self.state.borrow().live_frames(self)
    }

    /// Writes the index for the log as it is now, so that the next open replays nothing:
    /// the sealed index and the records changed since, merged into a new sealed index
    /// (streamed to disk), which then replaces both.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let log_len = self.log_len.get();
        {
            let state = self.state.borrow();
            let log_id = self.log_id.borrow();
            let meta = sealed::Meta {
                log_id: &log_id,
                log_len,
                next_position: state.next_position(),
                count: state.len() as u64,
                dead_json: serde_json::to_string(&state.dead()).map_err(encode_error("index"))?,
            };
            let each = |f: &mut dyn FnMut(&Entry) -> Result<(), StoreError>| {
                state.each_live(self, &mut |e| f(e).map(|()| true))
            };
            let sink = |bytes: &[u8]| self.io.append_index(bytes).map_err(io_error("index"));
            self.io.begin_index().map_err(io_error("index"))?;
            let each_cell = |f: &mut dyn FnMut(&crate::stats::Cell) -> Result<(), StoreError>| {
                state.each_cell(self, f)
            };
            sealed::write(&each, &each_cell, &meta, &sink)?;
            self.io.commit_index().map_err(io_error("index"))?;
        }
        // The new index replaced the one the catalog reads: read it from now on.
        let reopened = self
            .io
            .index_size()
            .ok()
            .flatten()
            .and_then(|size| Some((size, Sealed::open(self, size)?)));
        let Some((size, (sealed, _))) = reopened else {
            return self.reload_from_log();
        };
        self.state.borrow_mut().seal(sealed);
        self.indexed_len.set(log_len);
        self.index_size.set(size);
        Ok(())
    }

    /// Rebuilds the catalog from the whole log (the index it read is damaged or gone), then
    /// writes a new index.
    fn reload_from_log(&self) -> Result<(), StoreError> {
        *self.state.borrow_mut() = Catalog::default();
        self.summaries.borrow_mut().clear();
        let log = self.io.read_from(0).map_err(io_error("index"))?;
        let replayed = self.replay(&log[..self.log_len.get().min(log.len() as u64) as usize], 0);
        drop(log);
        if !replayed.damaged.is_empty() {
            return Err(StoreError::Corrupt {
                key: sealed::INDEX_KEY.into(),
                reason: "it was damaged, and rebuilding it met damage in the log: reopen the store"
                    .into(),
            });
        }
        self.checkpoint()
    }

    /// Runs `read`; when it meets a damaged index page, rebuilds the catalog from the log
    /// and runs it again.
    fn recovering<T>(&self, read: impl Fn() -> Result<T, StoreError>) -> Result<T, StoreError> {
        match read() {
            Err(StoreError::Corrupt { key, .. }) if key == sealed::INDEX_KEY => {
                self.reload_from_log()?;
                read()
            }
            other => other,
        }
    }

    /// Rewrites the log with only the latest frame of each stored record and the queue
    /// state, under a new log id, then indexes it.
    pub fn compact(&self) -> Result<(), StoreError> {
        // Every record's frame moves: the sealed index is rewritten from the catalog.
        self.state.borrow_mut().materialize(self)?;
        let old = self.io.read_from(0).map_err(io_error("compact"))?;
        let log_id = self.io.fresh_id();
        let mut bytes = op_frame(&Op::Header {
            format: FORMAT_VERSION,
            log_id: log_id.clone(),
        })?;
        let mut moved = HashMap::new();
        for (id, f) in self.live_frames()? {
            let Some(frame) = old.get(f.offset as usize..(f.offset + f.len) as usize) else {
                return Err(StoreError::Corrupt {
                    key: id.to_string(),
                    reason: "its record lies past the end of the log".into(),
                });
            };
            moved.insert(
                id,
                FrameRef {
                    offset: bytes.len() as u64,
                    len: f.len,
                },
            );
            bytes.extend_from_slice(frame);
        }
        let (outbox, dead) = {
            let s = self.state.borrow();
            (s.outbox(self)?, s.dead())
        };
        bytes.extend(op_frame(&Op::Queue { outbox, dead })?);
        self.io.replace(&bytes).map_err(io_error("compact"))?;
        self.state.borrow_mut().move_frames(&moved);
        self.summaries.borrow_mut().clear();
        *self.log_id.borrow_mut() = log_id;
        self.log_len.set(bytes.len() as u64);
        self.counted_len.set(bytes.len() as u64);
        self.checkpoint()
    }

    /// Reads a record's latest frame back, checking its checksum.
    fn load(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(f) = self.state.borrow().frame(id, self)? else {
            return Ok(None);
        };
        read_record(&self.io, id, f).map(Some)
    }

    fn load_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        let Some(json) = self.load(id)? else {
            return Ok(None);
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                key: id.to_owned(),
                reason: e.to_string(),
            })
    }

    /// The summary of `id`'s frame `f`: from the cache, or read from the log.
    fn summary(&self, id: &str, f: FrameRef) -> Result<Execution, StoreError> {
        if let Some(e) = self.summaries.borrow_mut().get(f.offset) {
            return Ok(e);
        }
        let e = summary_at(&self.io, id, f)?;
        self.summaries.borrow_mut().put(f.offset, e.clone());
        Ok(e)
    }

    /// Before the file I/O is released: writes a new index when much log follows the last
    /// one, so that the next open replays little. A failure is kept for
    /// [`FileStore::take_maintenance_error`] (the log holds every change either way).
    pub fn close_index(&self) {
        if self.sealed.borrow().is_none()
            && self.log_len.get() > self.indexed_len.get() + CLOSE_TAIL_BYTES
        {
            if let Err(e) = self.checkpoint() {
                *self.maintenance_error.borrow_mut() = Some(e);
            }
        }
    }

    /// The file I/O (to release it on close).
    pub fn io(&self) -> &F {
        &self.io
    }

    /// The log's size in bytes.
    pub fn log_len(&self) -> u64 {
        self.log_len.get()
    }
}

impl<F: FileIo> Store for FileStore<F> {
    async fn write(&self, batch: &[Execution]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(f) = self.fail.borrow_mut().take() {
            if f.after_puts < batch.len() * 3 {
                return Err(super::classify_failure(
                    "write",
                    batch.len(),
                    &f.error_name,
                    "injected failure",
                ));
            }
        }
        // One append and one fsync for the batch; each record is its own frame.
        let mut bytes = Vec::new();
        let mut frames = Vec::with_capacity(batch.len());
        let base = self.log_len.get();
        for e in batch {
            let frame = record_frame(e)?;
            frames.push(FrameRef {
                offset: base + bytes.len() as u64,
                len: frame.len() as u64,
            });
            bytes.extend(frame);
        }
        self.append(&bytes, batch.len())?;
        {
            let mut state = self.state.borrow_mut();
            for (e, frame) in batch.iter().zip(frames) {
                state.put(e, frame, self)?;
            }
        }
        self.maintain();
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        self.recovering(|| self.load_execution(id))
    }

    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.recovering(|| self.state.borrow().history(query, self))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self
            .recovering(|| self.state.borrow().version(id, self))?
            .is_some();
        self.commit(Op::Delete { id: id.to_owned() }, "delete")?;
        Ok(existed)
    }

    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError> {
        let before = self.state.borrow().len();
        self.commit(
            Op::Clear {
                workflow_id: workflow_id.map(str::to_owned),
            },
            "clear",
        )?;
        Ok(before - self.state.borrow().len())
    }

    async fn running(&self) -> Result<Vec<Execution>, StoreError> {
        let ids = self.recovering(|| self.state.borrow().running(self))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.load_execution(&id)?);
        }
        Ok(out)
    }

    async fn outbox(
        &self,
        limit: usize,
        after: Option<&QueuePosition>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        // The records go out as stored: their frames' text, not re-encoded.
        let queued = self.recovering(|| self.state.borrow().queued(limit, after, self))?;
        let mut out = Vec::with_capacity(queued.len());
        for (position, _) in queued {
            let version = self.state.borrow().version(&position.id, self)?;
            let (Some(version), Some(json)) = (version, self.load(&position.id)?) else {
                continue;
            };
            let json = String::from_utf8(json).map_err(|e| StoreError::Corrupt {
                key: position.id.clone(),
                reason: e.to_string(),
            })?;
            out.push(Outgoing {
                id: position.id.clone(),
                version,
                json,
                position,
            });
        }
        Ok(out)
    }

    async fn settle(&self, synced: &[Synced], refused: &[DeadLetter]) -> Result<(), StoreError> {
        self.commit(
            Op::Settle {
                synced: synced.iter().map(|s| (s.id.clone(), s.version)).collect(),
                refused: refused.to_vec(),
            },
            "settle",
        )
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        Ok(self.state.borrow().outbox_counts())
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self.state.borrow().dead())
    }

    async fn retry_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        let n = self
            .state
            .borrow()
            .dead()
            .iter()
            .filter(|d| ids.is_none_or(|ids| ids.contains(&d.id)))
            .count();
        self.commit(
            Op::Retry {
                ids: ids.map(<[String]>::to_vec),
            },
            "retry",
        )?;
        Ok(n)
    }

    async fn discard_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        let n = self
            .state
            .borrow()
            .dead()
            .iter()
            .filter(|d| ids.is_none_or(|ids| ids.contains(&d.id)))
            .count();
        if n == 0 {
            return Ok(0);
        }
        self.commit(
            Op::Discard {
                ids: ids.map(<[String]>::to_vec),
            },
            "discard",
        )?;
        Ok(n)
    }

    async fn cells(
        &self,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        self.recovering(|| self.state.borrow().cells_in(self, None, from_slot, to_slot))
    }

    async fn workflow_cells(
        &self,
        workflow_id: &str,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        self.recovering(|| {
            self.state
                .borrow()
                .cells_in(self, Some(workflow_id), from_slot, to_slot)
        })
    }

    async fn rebuild_rollups(&self) -> Result<usize, StoreError> {
        self.recovering(|| self.state.borrow_mut().rebuild_rollups(self))
    }

    async fn prune(&self, request: &PruneRequest) -> Result<PruneReport, StoreError> {
        // Decide on the current state, log the removals, then apply them.
        let report = self.recovering(|| self.state.borrow().plan_prune(request, self))?;
        if !report.removed.is_empty() {
            self.commit(
                Op::Prune {
                    ids: report.removed.clone(),
                },
                "prune",
            )?;
        }
        Ok(report)
    }

    fn inject_failure(&self, fail: FailPoint) {
        *self.fail.borrow_mut() = Some(fail);
    }
}

impl<F: FileIo> Disk for FileStore<F> {
    fn summary(&self, id: &str, f: FrameRef) -> Result<Execution, StoreError> {
        FileStore::summary(self, id, f)
    }
    fn index_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        self.io.read_index_at(offset, len)
    }
}

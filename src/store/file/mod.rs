//! The durable file store (Node): an append-only log of committed changes, replayed into
//! memory on open.
//!
//! ```text
//! {path}/{name}.log   frame*   frame = [len u32][crc32 u32][JSON op]
//!   op: header | write{records} | delete{id} | clear{workflowId} | settle{…} | retry{ids}
//!       | prune{ids} | snapshot{executions, outbox, dead}
//! ```
//!
//! - Every change is one frame, appended and fsynced before the call returns: a write that
//!   `flush()` confirmed survives `kill -9` and power loss, and a batch is all or nothing.
//! - On open, frames are read until the first torn or corrupt one; the damaged tail is cut
//!   off (its bytes kept in a file beside the log) and reported as a warning. Everything
//!   before it is intact.
//! - Compaction rewrites the log as one snapshot frame (written beside it, fsynced, then
//!   renamed over it: a crash leaves the old log or the new one, never a mix).
//! - The file I/O is handed in ([`FileIo`]): Node's `fs` through the JS entry, `std::fs` in
//!   native tests. No `node:` import reaches the browser build.
//!
//! State lives in a [`MemoryStore`] (history, stats rollups, outbox); this store makes each of
//! its changes durable first.

mod frame;
#[cfg(not(target_arch = "wasm32"))]
mod std_io;

use std::cell::{Cell as StdCell, RefCell};

use futures::FutureExt;
use serde::{Deserialize, Serialize};

pub use frame::{crc32, encode as encode_frame, scan, Scan};
#[cfg(not(target_arch = "wasm32"))]
pub use std_io::StdFileIo;

use super::{
    DeadLetter, FailPoint, MemoryStore, OutboxCounts, Outgoing, QueuePosition, Snapshot, Store,
    Synced,
};
use crate::error::StoreError;
use crate::history::{HistoryPage, HistoryQuery};
use crate::model::Execution;
use crate::retention::{PruneReport, PruneRequest};
use crate::stats::Cell;

/// The log format this library writes.
pub const FORMAT_VERSION: u32 = 1;

/// Compact when the log is larger than this and more than twice its last compacted size.
const COMPACT_AFTER_BYTES: u64 = 8 << 20;

/// The file operations the store needs. Implementations make `append` and `replace`
/// durable (fsync) before they return.
pub trait FileIo {
    /// The whole log (empty when there is none yet).
    fn read(&self) -> Result<Vec<u8>, String>;
    /// Appends and fsyncs.
    fn append(&self, bytes: &[u8]) -> Result<(), String>;
    /// Cuts the log to `len` bytes (a damaged tail) and fsyncs, after copying the bytes cut
    /// off to a file beside it (never deleted: a person may want them); returns that file.
    fn truncate(&self, len: u64) -> Result<String, String>;
    /// Replaces the log atomically: a temporary file, fsync, rename, fsync of the folder.
    fn replace(&self, bytes: &[u8]) -> Result<(), String>;
    /// The records of the older layout (`{name}.jsonl`, one execution per line), if present.
    fn read_legacy(&self) -> Result<Option<String>, String>;
    /// Moves the older layout's file aside once migrated.
    fn retire_legacy(&self) -> Result<(), String>;
}

/// One committed change.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
enum Op {
    Header {
        format: u32,
    },
    Write {
        records: Vec<Execution>,
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
    Prune {
        ids: Vec<String>,
    },
    Snapshot(Snapshot),
}

/// What opening found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenReport {
    /// Committed changes replayed.
    pub frames: usize,
    /// A torn or corrupt tail that was cut off, and why.
    pub damage: Option<String>,
    /// Where the bytes cut off were kept.
    pub damage_saved_to: Option<String>,
    /// Executions migrated from the older layout.
    pub migrated: usize,
}

/// Executions in an append-only log; see the module docs.
pub struct FileStore<F: FileIo> {
    io: F,
    state: MemoryStore,
    log_len: StdCell<u64>,
    compacted_len: StdCell<u64>,
    fail: RefCell<Option<FailPoint>>,
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

/// Runs a memory-store call, which completes at once.
fn now<T>(future: impl std::future::Future<Output = T>) -> T {
    future.now_or_never().expect("the memory store never waits")
}

impl<F: FileIo> FileStore<F> {
    /// Opens the log behind `io`: replays it, cuts a damaged tail, migrates the older layout.
    pub fn open(io: F) -> Result<(FileStore<F>, OpenReport), StoreError> {
        let bytes = io.read().map_err(|m| StoreError::Open {
            name: "file store".into(),
            reason: m,
        })?;
        let scanned = scan(&bytes);
        let store = FileStore {
            io,
            state: MemoryStore::new(),
            log_len: StdCell::new(scanned.valid_len as u64),
            compacted_len: StdCell::new(scanned.valid_len as u64),
            fail: RefCell::new(None),
        };
        let mut report = OpenReport {
            frames: scanned.payloads.len(),
            ..OpenReport::default()
        };
        let mut damage = scanned.damage;
        for (i, payload) in scanned.payloads.iter().enumerate() {
            match serde_json::from_slice::<Op>(payload) {
                Ok(Op::Header { format }) if format > FORMAT_VERSION => {
                    return Err(StoreError::Open {
                        name: "file store".into(),
                        reason: format!(
                            "the log was written by a newer runledger (format {format}; this one reads up to {FORMAT_VERSION})"
                        ),
                    })
                }
                Ok(op) => store.apply(op),
                Err(e) => {
                    // A frame with a good checksum that does not parse was written by
                    // something else: stop here like at a corrupt frame.
                    damage = Some(format!("frame {i} cannot be read: {e}"));
                    let good: usize = scanned.payloads[..i]
                        .iter()
                        .map(|p| p.len() + frame::HEADER)
                        .sum();
                    store.log_len.set(good as u64);
                    report.frames = i;
                    break;
                }
            }
        }
        if damage.is_some() {
            report.damage_saved_to = Some(
                store
                    .io
                    .truncate(store.log_len.get())
                    .map_err(io_error("open"))?,
            );
        }
        report.damage = damage;
        if store.log_len.get() == 0 {
            store.append(&Op::Header {
                format: FORMAT_VERSION,
            })?;
        }
        report.migrated = store.migrate_legacy()?;
        Ok((store, report))
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
    fn apply(&self, op: Op) {
        let s = &self.state;
        match op {
            Op::Header { .. } => {}
            Op::Write { records } => {
                let _ = now(s.write(&records));
            }
            Op::Delete { id } => {
                let _ = now(s.delete(&id));
            }
            Op::Clear { workflow_id } => {
                let _ = now(s.clear(workflow_id.as_deref()));
            }
            Op::Settle { synced, refused } => {
                let synced: Vec<Synced> = synced
                    .into_iter()
                    .map(|(id, version)| Synced { id, version })
                    .collect();
                let _ = now(s.settle(&synced, &refused));
            }
            Op::Retry { ids } => {
                let _ = now(s.retry_dead_letters(ids.as_deref()));
            }
            Op::Prune { ids } => {
                for id in ids {
                    let _ = now(s.delete(&id));
                }
            }
            Op::Snapshot(snapshot) => s.import(snapshot),
        }
    }

    /// Makes `op` durable (one fsynced frame), then applies it; compacts when the log has
    /// grown.
    fn commit(&self, op: Op, operation: &'static str) -> Result<(), StoreError> {
        self.append(&op).map_err(|e| match e {
            StoreError::Transaction { message, name, .. } => StoreError::Transaction {
                operation,
                name,
                message,
            },
            other => other,
        })?;
        self.apply(op);
        self.compact_if_grown()
    }

    fn append(&self, op: &Op) -> Result<(), StoreError> {
        let payload = serde_json::to_vec(op).map_err(|e| StoreError::Transaction {
            operation: "encode",
            name: "DataError".into(),
            message: e.to_string(),
        })?;
        let framed = encode_frame(&payload);
        self.io.append(&framed).map_err(io_error("write"))?;
        self.log_len.set(self.log_len.get() + framed.len() as u64);
        Ok(())
    }

    fn compact_if_grown(&self) -> Result<(), StoreError> {
        let len = self.log_len.get();
        if len > COMPACT_AFTER_BYTES && len > 2 * self.compacted_len.get() {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the log as a header and one snapshot of the current state.
    pub fn compact(&self) -> Result<(), StoreError> {
        let mut bytes = encode_frame(
            &serde_json::to_vec(&Op::Header {
                format: FORMAT_VERSION,
            })
            .expect("a header always serializes"),
        );
        let snapshot = Op::Snapshot(self.state.export());
        bytes.extend(encode_frame(&serde_json::to_vec(&snapshot).map_err(
            |e| StoreError::Transaction {
                operation: "compact",
                name: "DataError".into(),
                message: e.to_string(),
            },
        )?));
        self.io.replace(&bytes).map_err(io_error("compact"))?;
        self.log_len.set(bytes.len() as u64);
        self.compacted_len.set(bytes.len() as u64);
        Ok(())
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
        self.commit(
            Op::Write {
                records: batch.to_vec(),
            },
            "write",
        )
    }

    async fn get(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        self.state.get(id).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.state.history(query).await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self.state.get(id).await?.is_some();
        self.commit(Op::Delete { id: id.to_owned() }, "delete")?;
        Ok(existed)
    }

    async fn clear(&self, workflow_id: Option<&str>) -> Result<usize, StoreError> {
        let before = self.state.len();
        self.commit(
            Op::Clear {
                workflow_id: workflow_id.map(str::to_owned),
            },
            "clear",
        )?;
        Ok(before - self.state.len())
    }

    async fn running(&self) -> Result<Vec<Execution>, StoreError> {
        self.state.running().await
    }

    async fn outbox(
        &self,
        limit: usize,
        after: Option<&QueuePosition>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        self.state.outbox(limit, after).await
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
        self.state.outbox_counts().await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.state.dead_letters().await
    }

    async fn retry_dead_letters(&self, ids: Option<&[String]>) -> Result<usize, StoreError> {
        let n = self
            .state
            .dead_letters()
            .await?
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

    async fn cells(
        &self,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        self.state.cells(from_slot, to_slot).await
    }

    async fn rebuild_rollups(&self) -> Result<usize, StoreError> {
        self.state.rebuild_rollups().await
    }

    async fn prune(&self, request: &PruneRequest) -> Result<PruneReport, StoreError> {
        // Decide on a copy of the decisions' inputs, log the removals, then apply them.
        let report = self.state.plan_prune(request);
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

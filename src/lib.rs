//! # runledger
//!
//! An execution tracker for browser-based workflow editors and Node scripts: it records
//! workflow runs (with node-level input, output, timing and errors), query executions and any
//! pipeline step, keeps them locally (IndexedDB in browsers) and answers history queries.
//!
//! The core is pure Rust and compiles natively and to WebAssembly; the JS API (`Tracker`)
//! lives in the `bindings` module and is built for `wasm32` only.
//!
//! ```
//! use runledger::{MemoryStore, Recorder, IntakePolicy, StartSpec, Status, Store, HistoryQuery};
//!
//! # futures::executor::block_on(async {
//! let mut recorder = Recorder::new(IntakePolicy::default(), "tracker-1");
//! let now = 1_700_000_000_000;
//! let spec = StartSpec { workflow_id: Some("wf-1".into()), ..StartSpec::default() };
//! let id = recorder.start(spec, now, [7; 10]).unwrap();
//! recorder.finish(&id, Status::Success, None, now + 42).unwrap();
//!
//! // A flush: one batch, written atomically, then acknowledged.
//! let store = MemoryStore::new();
//! let batch = recorder.take_batch(500, now + 50);
//! store.write(&batch).await.unwrap();
//! recorder.acknowledge(&batch);
//!
//! let page = store.history(&HistoryQuery::default()).await.unwrap();
//! assert_eq!(page.items[0].duration_ms, Some(42.0));
//! # });
//! ```
//!
//! Layout: [`model`] (records and lifecycle), [`intake`] (redaction, payload limits,
//! validation), [`recorder`] (in-memory recording and batching), [`history`] (queries and
//! pagination), [`store`] (the storage trait, memory and IndexedDB), [`recovery`] (crash
//! recovery), [`retry`] (backoff), [`sync`] (the ingest protocol and upload decisions), and `bindings` (the JS API, wasm only).

#![deny(missing_docs)]

pub mod batch;
pub mod config;
pub mod error;
pub mod history;
pub mod intake;
pub mod model;
pub mod recorder;
pub mod recovery;
pub mod retention;
pub mod retry;
pub mod stats;
pub mod store;
pub mod sync;

#[cfg(target_arch = "wasm32")]
pub mod bindings;

pub use error::{ConfigError, Error, LifecycleError, StoreError, SyncError, ValidationError};
pub use history::{Cursor, HistoryPage, HistoryQuery};
pub use intake::{IntakePolicy, Redactor};
pub use model::{
    ErrorInfo, Execution, Kind, NodeDef, NodeOutcome, NodeRun, NodeStatus, Output, Status,
};
pub use recorder::{QueryLog, Recorder, StartSpec};
pub use store::{MemoryStore, Store};

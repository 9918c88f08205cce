//! The JS classes: `Tracker`, `Run` and `NodeRun`.

use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::any_store::AnyStore;
use super::convert::{
    decode, decode_error_info, decode_payload, encode, js_error, json_text, opt_string_arg,
    string_arg,
};
use super::engine::{Engine, EVENTS};
#[cfg(feature = "node-file")]
use super::file_io::JsFileIo;
use super::locks::{self, HeldLock};
use super::platform::{self, now, random_bytes};
use crate::config::{StorageKind, TrackerOptions};
use crate::error::{ConfigError, Error, ValidationError};
use crate::history::{ExternalRef, HistoryQuery};
use crate::intake::decode_execution_input;
use crate::model::{Execution, NodeDef, NodeOutcome, Output, Status};
use crate::recorder::{QueryLog, Recorder, StartSpec};
use crate::recovery::interrupt_orphans;
use crate::retention::Retention;
use crate::stats::{aggregate, StatsQuery};
#[cfg(feature = "node-file")]
use crate::store::file::FileStore;
use crate::store::indexeddb::IdbStore;
use crate::store::{FailPoint, MemoryStore, Store};

type JsResult<T> = Result<T, JsValue>;

fn js<T>(result: Result<T, Error>) -> JsResult<T> {
    result.map_err(|e| js_error(&e))
}

fn promise<F>(future: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue, Error>> + 'static,
{
    future_to_promise(async move { future.await.map_err(|e| js_error(&e)) })
}

fn has_indexed_db() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into())
        .is_ok_and(|v| !v.is_undefined() && !v.is_null())
}

/// Records executions and keeps them: IndexedDB in browsers, the durable file store in Node.
#[wasm_bindgen]
pub struct Tracker {
    engine: Rc<Engine>,
    recovered: Vec<String>,
    warnings: Vec<String>,
    /// Running records watched for size by the batch step (src/sync/record_size.rs).
    record_sizes: std::cell::RefCell<crate::sync::RecordSizes>,
}

#[wasm_bindgen]
impl Tracker {
    /// Opens a tracker. Options: `name`, `storage` (`auto` | `indexeddb` | `file` | `memory`),
    /// `flushIntervalMs`, `maxBatchSize`, `maxValueBytes`, `previewBytes`, `maxNodeRuns`,
    /// `redact` (`false` or `{keys, enabled}`), `retry` (`{baseMs, capMs}`), and for sync
    /// `endpoint`, `apiKey`, `syncEnabled`, `sync` (`{maxBatchRecords, maxBatchBytes,
    /// debounceMs, timeoutMs, retry}`).
    ///
    /// Executions left running by a tab or process that went away are marked `interrupted`;
    /// their ids are in `tracker.recovered`.
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "TrackerOptions | undefined")] options: JsValue,
    ) -> JsResult<Tracker> {
        let options = js(decode_options(options))?;
        js(Self::open_with(options).await)
    }

    /// Opens a tracker on the durable file store. `openIo(config)` opens the file adapter
    /// the Node entry builds (js/node-file.js); it is called once the options are known to be
    /// good, so a bad option never touches the disk. `Tracker.open` in Node calls this.
    #[cfg(feature = "node-file")]
    #[wasm_bindgen(js_name = openFile)]
    pub async fn open_file(
        #[wasm_bindgen(unchecked_param_type = "TrackerOptions | undefined")] options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(options: { name: string }) => Promise<unknown>")]
        open_io: Function,
    ) -> JsResult<Tracker> {
        let options = js(decode_options(options))?;
        let config = js(options.build().map_err(Error::from))?;
        let arg = js_sys::Object::new();
        js_sys::Reflect::set(&arg, &"name".into(), &JsValue::from_str(&config.name))?;
        let io = wasm_bindgen_futures::JsFuture::from(Promise::resolve(
            &open_io.call1(&JsValue::NULL, &arg)?,
        ))
        .await?;
        let opened = Self::open_on_file(config, io.clone()).await;
        if opened.is_err() {
            JsFileIo::new(io).close();
        }
        js(opened)
    }

    /// Problems found on open that were repaired (a torn or corrupt log tail cut off) or
    /// work done (records migrated from an older layout). Also sent as `warning` events.
    #[wasm_bindgen(getter, unchecked_return_type = "string[]")]
    pub fn warnings(&self) -> Array {
        self.warnings.iter().map(|w| JsValue::from_str(w)).collect()
    }

    /// The batch step: applies a journal captured in JS (js/capture/journal.js) in one call.
    /// Entries that cannot apply are each reported as an `error` event and a log line; the
    /// others are recorded. Returns how many entries applied.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = __applyBatch)]
    pub fn apply_batch(&self, text: &str) -> JsResult<u32> {
        js(self.engine.ensure_open())?;
        let pages_before = platform::memory_pages();
        // Records are watched for size only while they would be synced.
        let syncing = self.engine.sync.uploader.state().enabled;
        let mut sizes = self.record_sizes.borrow_mut();
        let report = js(crate::batch::apply_batch(
            &mut self.engine.recorder.borrow_mut(),
            text,
            random_bytes,
            syncing.then_some(&mut *sizes),
        ))?;
        drop(sizes);
        for failure in &report.failures {
            self.engine.emit_error(
                &format!(
                    "a recorded `{}` of execution {} (entry {} of its batch) could not be applied",
                    failure.op, failure.run_id, failure.position
                ),
                &failure.error,
            );
        }
        for error in report.too_large {
            self.engine
                .emit_error("a recorded execution is too large to sync", &error.into());
        }
        platform::grow_in_large_steps(pages_before);
        if report.applied > 0 {
            self.engine.changed();
        }
        Ok(report.applied as u32)
    }

    /// Checks a structural argument (`spec`, `node`, `output`, `error`, `reason`,
    /// `externalId`) given as JSON text, as the batch step will apply it; throws the core's
    /// typed error. The JS capture layer calls it only for arguments it has not seen before.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = __checkArg)]
    pub fn check_arg(&self, what: &str, text: &str, system: Option<String>) -> JsResult<()> {
        js(self.engine.ensure_open())?;
        js(crate::batch::check_argument(
            self.engine.recorder.borrow().policy(),
            what,
            text,
            system.as_deref(),
        ))
    }

    /// The limits the JS capture layer applies at the call: `{ maxNodeRuns, maxValueBytes,
    /// previewBytes }`.
    #[doc(hidden)]
    #[wasm_bindgen(getter, js_name = __captureLimits)]
    pub fn capture_limits(&self) -> JsValue {
        let recorder = self.engine.recorder.borrow();
        let policy = recorder.policy();
        let limits = js_sys::Object::new();
        let set = |k: &str, v: usize| {
            let _ = js_sys::Reflect::set(&limits, &k.into(), &JsValue::from(v as u32));
        };
        set("maxNodeRuns", policy.max_node_runs);
        set("maxValueBytes", policy.max_value_bytes);
        set("previewBytes", policy.preview_bytes);
        limits.into()
    }

    /// Records an execution that has already finished, in one call; returns its id.
    pub fn log(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ExecutionInput")] execution: JsValue,
    ) -> JsResult<String> {
        js(self.engine.ensure_open())?;
        let text = js(json_text("execution", &execution))?;
        let text = text.filter(|t| t != "null").unwrap_or_else(|| "{}".into());
        let e: Execution = js(decode_execution_input("execution", &text).map_err(Error::from))?;
        let id = js(self
            .engine
            .recorder
            .borrow_mut()
            .log(e, now(), random_bytes()))?;
        // Measured only for a large input: limits and redaction only shrink values, so a
        // record given as under half the server's limit stays far under it.
        if text.len() > crate::sync::SERVER_BODY_LIMIT / 2 {
            self.engine.flag_if_too_large_to_sync(&id);
        }
        self.engine.changed();
        Ok(id)
    }

    /// Records one finished query execution (`executionTime` in seconds); returns its id.
    #[wasm_bindgen(js_name = logQuery)]
    pub fn log_query(
        &self,
        #[wasm_bindgen(unchecked_param_type = "QueryLog")] query: JsValue,
    ) -> JsResult<String> {
        js(self.engine.ensure_open())?;
        let q: QueryLog = js(decode("query", query))?;
        let t = now();
        let id = js(self
            .engine
            .recorder
            .borrow_mut()
            .log(q.into_execution(t), t, random_bytes()))?;
        self.engine.changed();
        Ok(id)
    }

    /// Resolves when everything recorded before the call is durable; rejects with the cause
    /// when a write fails (the records stay queued and are retried).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move { engine.flush().await.map(|()| JsValue::UNDEFINED) })
    }

    /// One execution with its node runs, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Execution | null>")]
    pub fn get(&self, #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue) -> Promise {
        let engine = self.engine.clone();
        let id = string_arg("id", &id);
        promise(async move {
            let id = id?;
            // A run still waiting for its flush is already visible.
            if let Some(e) = engine.recorder.borrow().live(&id) {
                return Ok(encode(e));
            }
            Ok(engine
                .store
                .get(&id)
                .await?
                .map_or(JsValue::NULL, |e| encode(&e)))
        })
    }

    /// A page of execution summaries, newest first: `{ items, nextCursor }`. Filters:
    /// `workflowId`, `status`, `userId`, `databaseType`, `kind`, `since`, `until`,
    /// `failedNode`, `output`, `externalId: { system, id }`; paging: `limit` (1..1000,
    /// default 50) and `cursor`.
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryPage>")]
    pub fn history(
        &self,
        #[wasm_bindgen(unchecked_param_type = "HistoryQuery | undefined")] query: JsValue,
    ) -> Promise {
        self.history_of(decode::<HistoryQuery>("query", query))
    }
}

/// One call per recording step, by execution id and node index, and a write-failure hook:
/// what the browser tests (tests/browser.rs) drive the core with from Rust. They are not on
/// the JS prototype: JS records through the capture layer (js/capture/), which hands the
/// core batches (`__applyBatch`).
impl Tracker {
    /// Test hook: make the next write fail after `after_puts` puts with the DOMException
    /// name `error_name` (e.g. `QuotaExceededError`). The transaction is really aborted.
    #[doc(hidden)]
    pub fn inject_write_failure(&self, after_puts: usize, error_name: String) {
        self.engine.store.inject_failure(FailPoint {
            after_puts,
            error_name,
        });
    }

    /// Starts recording an execution; returns its id (`tracker.start()` wraps it in a `Run`).
    pub fn start_run(&self, spec: JsValue) -> JsResult<String> {
        js(self.engine.ensure_open())?;
        let spec: StartSpec = js(decode("spec", spec))?;
        let id = js(self
            .engine
            .recorder
            .borrow_mut()
            .start(spec, now(), random_bytes()))?;
        self.engine.changed();
        Ok(id)
    }

    /// Starts a node run in execution `run_id`; returns the node run's index.
    pub fn start_node(&self, run_id: JsValue, node: JsValue, input: JsValue) -> JsResult<u32> {
        js(self.engine.ensure_open())?;
        // Every argument is read (caller code may run and throw) before state is borrowed.
        let run_id = js(string_arg("runId", &run_id))?;
        let def: NodeDef = js(decode("node", node))?;
        let input = js(decode_payload("input", input))?;
        let index = js(self
            .engine
            .recorder
            .borrow_mut()
            .node_start(&run_id, def, input, now()))?;
        self.engine.changed();
        Ok(index as u32)
    }

    /// Ends node run `index` of execution `run_id`: `outcome` is `success` (with the output),
    /// `error` (with an error) or `skipped` (with a reason).
    pub fn end_node(
        &self,
        run_id: JsValue,
        index: u32,
        outcome: &str,
        value: JsValue,
    ) -> JsResult<()> {
        js(self.engine.ensure_open())?;
        let run_id = js(string_arg("runId", &run_id))?;
        let (index, at) = (index as usize, now());
        // Read first, borrow after: see `convert`.
        let ended = match outcome {
            "success" => {
                let output = js(decode_payload("output", value))?;
                self.engine
                    .recorder
                    .borrow_mut()
                    .node_succeed(&run_id, index, output, at)
            }
            "error" => {
                let error = js(decode_error_info("error", value))?.unwrap_or_default();
                self.engine.recorder.borrow_mut().node_finish(
                    &run_id,
                    index,
                    NodeOutcome::Error(error),
                    at,
                )
            }
            "skipped" => {
                let reason = js(opt_string_arg("reason", &value))?;
                self.engine.recorder.borrow_mut().node_finish(
                    &run_id,
                    index,
                    NodeOutcome::Skipped(reason),
                    at,
                )
            }
            other => {
                return Err(js_error(
                    &ValidationError::invalid(
                        "outcome",
                        format!("`{other}` is not success, error or skipped"),
                    )
                    .into(),
                ))
            }
        };
        js(ended)?;
        self.engine.changed();
        Ok(())
    }

    /// Adds an output (`{ name, kind?, rows?, columns?, role? }`) to execution `run_id`.
    pub fn add_output(&self, run_id: JsValue, output: JsValue) -> JsResult<()> {
        js(self.engine.ensure_open())?;
        let run_id = js(string_arg("runId", &run_id))?;
        let output: Output = js(decode("output", output))?;
        js(self
            .engine
            .recorder
            .borrow_mut()
            .add_output(&run_id, output))?;
        self.engine.changed();
        Ok(())
    }

    /// Records the id `system` gave execution `run_id` (`run.externalId(system, id)`).
    pub fn set_external_id(
        &self,
        run_id: JsValue,
        system: JsValue,
        external_id: JsValue,
    ) -> JsResult<()> {
        js(self.engine.ensure_open())?;
        let run_id = js(string_arg("runId", &run_id))?;
        let system = js(string_arg("system", &system))?;
        let external_id = js(string_arg("externalId", &external_id))?;
        js(self
            .engine
            .recorder
            .borrow_mut()
            .set_external_id(&run_id, &system, &external_id))?;
        self.engine.changed();
        Ok(())
    }

    /// Ends execution `run_id` with `status` (`success`, `failed`, `error`, `timeout`,
    /// `cancelled`) and an optional error.
    pub fn finish_run(&self, run_id: JsValue, status: &str, error: JsValue) -> JsResult<()> {
        js(self.engine.ensure_open())?;
        let run_id = js(string_arg("runId", &run_id))?;
        let status = Status::parse(status)
            .filter(|s| !matches!(s, Status::Running | Status::Interrupted))
            .ok_or_else(|| {
                js_error(
                    &ValidationError::invalid(
                        "status",
                        format!("`{status}` is not success, failed, error, timeout or cancelled"),
                    )
                    .into(),
                )
            })?;
        // `cancel(reason)` takes a reason: a string or an error, like the others.
        let error = js(decode_error_info("error", error))?;
        js(self
            .engine
            .recorder
            .borrow_mut()
            .finish(&run_id, status, error, now()))?;
        self.engine.changed();
        Ok(())
    }
}

impl Tracker {
    fn history_of(&self, query: Result<HistoryQuery, Error>) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let query = query?;
            query.validate()?;
            // History reads the store: pending records are written first so lists agree. If
            // that write fails, what is stored is still listed and the failure is reported.
            if let Err(error) = engine.flush().await {
                engine.emit_error("history() lists only what was already stored", &error);
            }
            Ok(encode(&engine.store.history(&query).await?))
        })
    }
}

#[wasm_bindgen]
impl Tracker {
    /// The executions that produced an output named `output_name`, newest first, with their
    /// external ids: a history page (`{ limit, cursor }` as for `history()`).
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryPage>")]
    pub fn lineage(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] output_name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{ limit?: number; cursor?: string } | undefined")]
        page: JsValue,
    ) -> Promise {
        let query = string_arg("outputName", &output_name).and_then(|output_name| {
            decode::<HistoryQuery>("page", page).map(|q| HistoryQuery {
                output: Some(output_name),
                ..q
            })
        });
        self.history_of(query)
    }

    /// The executions another system knows by `id` (`run.externalId(system, id)`), newest
    /// first.
    #[wasm_bindgen(js_name = byExternalId, unchecked_return_type = "Promise<Execution[]>")]
    pub fn by_external_id(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] system: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        let args = string_arg("system", &system).and_then(|s| Ok((s, string_arg("id", &id)?)));
        promise(async move {
            let (system, id) = args?;
            if let Err(error) = engine.flush().await {
                engine.emit_error("byExternalId() lists only what was already stored", &error);
            }
            let query = HistoryQuery {
                external_id: Some(ExternalRef { system, id }),
                limit: Some(crate::history::MAX_PAGE_SIZE),
                ..HistoryQuery::default()
            };
            Ok(encode(&engine.store.history(&query).await?.items))
        })
    }

    /// Stats from the rollups, never by scanning records: `{ since, until, groupBy, filter,
    /// timeZone }` → `{ groups: [{ key, total, byStatus, successRate, durationMs: { avg,
    /// min, max, p50, p95, p99 }, totalRows }], relativeError }`. Pending records are written
    /// first, as for `history()`. Min and max are exact, percentiles nearest-rank, the
    /// success rate counts finished executions only; figures rounded to two decimals.
    #[wasm_bindgen(unchecked_return_type = "Promise<StatsResult>")]
    pub fn stats(
        &self,
        #[wasm_bindgen(unchecked_param_type = "StatsQuery | undefined")] query: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        let query = decode::<StatsQuery>("query", query);
        promise(async move {
            let query = query?;
            let offset = query.validate()?;
            if let Err(error) = engine.flush().await {
                engine.emit_error("stats() count only what was already stored", &error);
            }
            let (from, to) = query.slots();
            let cells = match &query.filter.workflow_id {
                Some(w) => engine.store.workflow_cells(w, from, to).await?,
                None => engine.store.cells(from, to).await?,
            };
            // Rounded here, at the edge: the rollups and the aggregation keep full precision.
            Ok(encode(&aggregate(&cells, &query, offset).rounded()))
        })
    }

    /// Prunes now, oldest first: `{ maxAgeDays, maxCount, maxBytes, before }` (default: the
    /// tracker's retention limits). Running executions are kept, and so are records the
    /// ingest server does not have yet when sync is configured. Resolves to `{ removed: ids,
    /// keptUnsynced }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<PruneReport>")]
    pub fn prune(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PruneOptions | undefined")] options: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        let options = if options.is_undefined() || options.is_null() {
            Ok(None)
        } else {
            decode::<PruneOptions>("options", options).map(Some)
        };
        promise(async move {
            let (limits, before) = match options? {
                None => (engine.config.retention, None),
                Some(o) => (
                    Retention {
                        max_age_days: o.max_age_days,
                        max_count: o.max_count,
                        max_bytes: o.max_bytes,
                    },
                    o.before,
                ),
            };
            Ok(encode(&engine.prune_to(limits, before).await?))
        })
    }

    /// Recomputes the stats rollups from the records (they are kept in step on every write;
    /// this is the check and the repair). Resolves to the number of rollup cells.
    #[wasm_bindgen(js_name = rebuildStats, unchecked_return_type = "Promise<number>")]
    pub fn rebuild_stats(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            engine.flush().await?;
            Ok(JsValue::from(engine.store.rebuild_rollups().await? as u32))
        })
    }

    /// Deletes an execution and its node payloads; resolves to whether it existed.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn delete(&self, #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue) -> Promise {
        let engine = self.engine.clone();
        let id = string_arg("id", &id);
        promise(async move {
            let id = id?;
            // A copy still waiting to be written goes too, or it would come back.
            let pending = engine.recorder.borrow_mut().forget(|e| e.id == id) > 0;
            let stored = engine.store.delete(&id).await?;
            engine.schedule_sync(0.0);
            Ok(JsValue::from_bool(pending || stored))
        })
    }

    /// Deletes a workflow's history (`{ workflowId }`), or everything (no argument);
    /// resolves to the number of executions removed. Runs still running are kept.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn clear(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ workflowId?: string } | undefined")]
        filter: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        let filter = decode::<ClearFilter>("filter", filter);
        promise(async move {
            let filter = filter?;
            let workflow = filter.workflow_id.as_deref();
            // Pending records are written first so the count covers them; what a failed
            // write left pending is dropped too. Running executions keep recording.
            if let Err(error) = engine.flush().await {
                engine.emit_error("clear() could not write pending records first", &error);
            }
            let dropped = engine.recorder.borrow_mut().forget(|e| {
                e.status.is_final() && workflow.is_none_or(|w| e.workflow_id.as_deref() == Some(w))
            });
            let removed = engine.store.clear(workflow).await? + dropped;
            engine.schedule_sync(0.0);
            Ok(JsValue::from(removed as u32))
        })
    }

    /// Writes pending records, then sends everything waiting to the ingest server now.
    /// Resolves with the sync state once nothing waits; rejects with the reason otherwise
    /// (a retry is scheduled as usual).
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncState>")]
    pub fn sync(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move { engine.sync_now().await.map(|state| encode(&state)) })
    }

    /// The sync state: `{ enabled, pending, inFlight, deadLettered, lastSuccessAt, lastError,
    /// nextAttemptAt, paused }`. A `sync` event carries it on every change.
    #[wasm_bindgen(js_name = syncState, unchecked_return_type = "SyncState")]
    pub fn sync_state(&self) -> JsValue {
        encode(&self.engine.sync.uploader.state())
    }

    /// Records the server refused for good: `[{ id, version, reason, at }]`, oldest first.
    #[wasm_bindgen(js_name = deadLetters, unchecked_return_type = "Promise<DeadLetter[]>")]
    pub fn dead_letters(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move { Ok(encode(&engine.store.dead_letters().await?)) })
    }

    /// Puts refused records (all, or those with the given ids) back in the outbox and syncs;
    /// resolves to how many.
    #[wasm_bindgen(js_name = retryDeadLetters, unchecked_return_type = "Promise<number>")]
    pub fn retry_dead_letters(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] ids: JsValue,
    ) -> Promise {
        self.on_dead_letters(ids, |engine, ids| async move {
            let n = engine.store.retry_dead_letters(ids.as_deref()).await?;
            engine.resume_sync();
            Ok(n)
        })
    }

    /// Gives up sending refused records (all, or those with the given ids): their dead letters
    /// go and they are not sent again; the runs stay in the history. Resolves to how many.
    #[wasm_bindgen(js_name = discardDeadLetters, unchecked_return_type = "Promise<number>")]
    pub fn discard_dead_letters(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[] | undefined")] ids: JsValue,
    ) -> Promise {
        self.on_dead_letters(ids, |engine, ids| async move {
            Ok(engine.store.discard_dead_letters(ids.as_deref()).await?)
        })
    }

    /// Replaces the API key (or removes it with `null`); resumes a sync paused by a refused
    /// key.
    #[wasm_bindgen(js_name = setApiKey)]
    pub fn set_api_key(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] key: JsValue,
    ) -> JsResult<()> {
        let key = js(opt_string_arg("apiKey", &key))?;
        if key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err(js_error(&Error::Config(ConfigError {
                option: "apiKey".into(),
                reason: "must not be empty".into(),
            })));
        }
        self.engine.set_api_key(key);
        Ok(())
    }

    /// Switches sync on or off ("work offline"): off, no request starts; records keep
    /// queueing and go out when it is switched on again.
    #[wasm_bindgen(js_name = setSyncEnabled)]
    pub fn set_sync_enabled(
        &self,
        #[wasm_bindgen(unchecked_param_type = "boolean")] enabled: JsValue,
    ) -> JsResult<()> {
        let enabled = enabled.as_bool().ok_or_else(|| {
            js_error(&ValidationError::invalid("enabled", "expected true or false").into())
        })?;
        self.engine.set_sync_enabled(enabled);
        Ok(())
    }

    /// Subscribes to an event. `error` receives every background failure as an `Error`;
    /// `sync` receives the sync state on every change; `warning` receives a message when opening
    /// repaired something (Node file store: a damaged log tail cut off).
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] event: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(value: any) => void")] listener: JsValue,
    ) -> JsResult<()> {
        let (event, listener) = event_and_listener(&event, listener)?;
        if !EVENTS.contains(&event.as_str()) {
            return Err(js_error(&Error::Config(ConfigError {
                option: "event".into(),
                reason: format!(
                    "unknown event `{event}`; known events: {}",
                    EVENTS.join(", ")
                ),
            })));
        }
        self.engine.on(&event, listener);
        Ok(())
    }

    /// Unsubscribes a listener added with `on`.
    pub fn off(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] event: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(value: any) => void")] listener: JsValue,
    ) -> JsResult<()> {
        let (event, listener) = event_and_listener(&event, listener)?;
        self.engine.off(&event, &listener);
        Ok(())
    }

    /// Test hook: executes a wasm trap (`unreachable`), as a bug in the core would. No input
    /// can reach one; this proves the JS glue then reports the tracker broken instead of
    /// calling into a module whose memory may be inconsistent (js/api.js).
    #[doc(hidden)]
    #[wasm_bindgen(js_name = __trapForTests)]
    pub fn trap_for_tests(&self) {
        core::arch::wasm32::unreachable()
    }

    /// Flushes, then releases the store. Recording afterwards throws.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move { engine.close().await.map(|()| JsValue::UNDEFINED) })
    }

    /// Ids of executions that an earlier tab or process left running and this open marked
    /// `interrupted`.
    #[wasm_bindgen(getter, unchecked_return_type = "string[]")]
    pub fn recovered(&self) -> Array {
        self.recovered
            .iter()
            .map(|id| JsValue::from_str(id))
            .collect()
    }

    /// `indexeddb` or `memory`.
    #[wasm_bindgen(getter)]
    pub fn storage(&self) -> String {
        self.engine.store.kind().into()
    }

    /// Executions changed and not yet durable.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> usize {
        self.engine.recorder.borrow().dirty_len()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PruneOptions {
    #[serde(default)]
    max_age_days: Option<u32>,
    #[serde(default)]
    max_count: Option<usize>,
    #[serde(default)]
    max_bytes: Option<u64>,
    #[serde(default, deserialize_with = "crate::model::time::de_opt_millis")]
    before: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClearFilter {
    #[serde(default)]
    workflow_id: Option<String>,
}

impl Tracker {
    /// Opens a tracker from Rust (the JS `open` decodes its options and calls this).
    pub async fn open_with(options: TrackerOptions) -> Result<Tracker, Error> {
        let config = options.build()?;
        let use_idb = match config.storage {
            StorageKind::Memory => false,
            StorageKind::File => {
                return Err(ConfigError {
                    option: "storage".into(),
                    reason: "`file` is the Node store: import the package in Node (pkg/node.js)"
                        .into(),
                }
                .into())
            }
            StorageKind::IndexedDb if !has_indexed_db() => {
                return Err(ConfigError {
                    option: "storage".into(),
                    reason: "`indexeddb` was asked for, but this environment has no IndexedDB"
                        .into(),
                }
                .into())
            }
            StorageKind::IndexedDb => true,
            StorageKind::Auto => has_indexed_db(),
        };
        let owner = crate::model::IdGenerator::new().next(now(), random_bytes());
        let recorder = Recorder::new(config.intake.clone(), owner.clone());
        let name = config.name.clone();
        let store = if use_idb {
            AnyStore::IndexedDb(IdbStore::open(&name).await?)
        } else {
            AnyStore::Memory(MemoryStore::new())
        };
        let engine = Engine::new(config, recorder, store, &owner);
        let mut recovered = Vec::new();
        if use_idb {
            // Hold our own lock before anything of ours is written as running.
            *engine.owner_lock.borrow_mut() =
                HeldLock::acquire(&locks::owner_lock_name(&name, &owner)).await;
            recovered = recover_orphans(&engine, &name).await?;
        }
        // Records left by an earlier session go first: they are the oldest in the outbox.
        engine.watch_platform();
        engine.schedule_sync(0.0);
        engine.start_retention();
        Ok(Tracker {
            engine,
            recovered,
            warnings: Vec::new(),
            record_sizes: Default::default(),
        })
    }

    #[cfg(feature = "node-file")]
    async fn open_on_file(config: crate::config::Config, io: JsValue) -> Result<Tracker, Error> {
        let io = JsFileIo::new(io);
        let (store, report) = FileStore::open(io)?;
        let owner = crate::model::IdGenerator::new().next(now(), random_bytes());
        let recorder = Recorder::new(config.intake.clone(), owner.clone());
        let engine = Engine::new(config, recorder, AnyStore::File(store), &owner);
        // This process holds the store's lock, so whatever is still running in it was left
        // by a process that died.
        let orphans = interrupt_orphans(engine.store.running().await?, |_| false);
        engine.store.write(&orphans).await?;
        let warnings = report.warnings();
        for w in &warnings {
            platform::warn(w, &JsValue::UNDEFINED);
        }
        if !warnings.is_empty() {
            // After the caller's `await Tracker.open()`, so that listeners added then hear it.
            let (engine, warnings) = (engine.clone(), warnings.clone());
            wasm_bindgen_futures::spawn_local(async move {
                platform::sleep(0).await;
                for w in warnings {
                    engine.emit("warning", &JsValue::from_str(&w));
                }
            });
        }
        engine.schedule_sync(0.0);
        engine.start_retention();
        Ok(Tracker {
            engine,
            recovered: orphans.into_iter().map(|e| e.id).collect(),
            warnings,
            record_sizes: Default::default(),
        })
    }
}

/// A listener argument: a function, or a `ValidationError`.
fn listener_arg(listener: JsValue) -> JsResult<Function> {
    listener
        .dyn_into::<Function>()
        .map_err(|_| js_error(&ValidationError::invalid("listener", "expected a function").into()))
}

impl Tracker {
    /// What `retryDeadLetters` and `discardDeadLetters` share: the optional ids from JS, the
    /// store operation, then the sync counts brought up to date; resolves to how many.
    fn on_dead_letters<F, Fut>(&self, ids: JsValue, operation: F) -> Promise
    where
        F: FnOnce(Rc<Engine>, Option<Vec<String>>) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<usize, Error>> + 'static,
    {
        let engine = self.engine.clone();
        let ids = if ids.is_undefined() || ids.is_null() {
            Ok(None)
        } else {
            decode::<Vec<String>>("ids", ids).map(Some)
        };
        promise(async move {
            let n = operation(engine.clone(), ids?).await?;
            engine.sync.uploader.refresh_counts(&engine.store).await?;
            Ok(JsValue::from(n as u32))
        })
    }
}

/// Reads the options; a bad one is a configuration error, named by the option's path.
fn decode_options(options: JsValue) -> Result<TrackerOptions, Error> {
    decode::<TrackerOptions>("options", options).map_err(|e| match e {
        Error::Validation(v) => ConfigError {
            option: v.field().trim_start_matches("options.").to_owned(),
            reason: v.to_string(),
        }
        .into(),
        other => other,
    })
}

/// Marks executions of dead tracker instances as interrupted; returns their ids.
async fn recover_orphans(engine: &Rc<Engine>, name: &str) -> Result<Vec<String>, Error> {
    let Some(held) = locks::held_names().await else {
        platform::warn(
            "this environment has no Web Locks; executions left running by closed tabs are not recovered",
            &JsValue::UNDEFINED,
        );
        return Ok(Vec::new());
    };
    let running = engine.store.running().await?;
    let orphans = interrupt_orphans(running, |owner| {
        held.contains(&locks::owner_lock_name(name, owner))
    });
    engine.store.write(&orphans).await?;
    Ok(orphans.into_iter().map(|e| e.id).collect())
}

/// The checked arguments of `on` and `off`: an event name and a listener function.
fn event_and_listener(event: &JsValue, listener: JsValue) -> JsResult<(String, Function)> {
    Ok((js(string_arg("event", event))?, listener_arg(listener)?))
}

//! The tracker's engine: recording state, the store, background flushing and error events.
//!
//! ```text
//!  JS call ──► Recorder (memory, returns at once) ──► dirty set
//!                                                      │ size trigger / timer
//!                                                      ▼
//!                              flush: take_batch ──► Store::write (one transaction)
//!                                   ok  ─► acknowledge       err ─► requeue, retry with
//!                                   │                                backoff, 'error' event
//!                                   ▼
//!                         outbox (same transaction) ──► sync (see `syncer`)
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::JsValue;

use super::any_store::AnyStore;
use super::convert::{encode, js_error};
use super::locks::HeldLock;
use super::platform;
use super::sync_driver::SyncDriver;
use crate::config::Config;
use crate::error::{Error, StoreError};
use crate::recorder::Recorder;
use crate::store::Store;

/// Shared state behind a `Tracker` and its `Run` and `NodeRun` handles.
pub struct Engine {
    /// Checked options.
    pub config: Config,
    /// Recording state.
    pub recorder: RefCell<Recorder>,
    /// Where records go.
    pub store: AnyStore,
    listeners: RefCell<Vec<(String, Function)>>,
    flush_lock: futures::lock::Mutex<()>,
    timer_armed: Cell<bool>,
    flush_queued: Cell<bool>,
    retry_armed: Cell<bool>,
    failures_in_a_row: Cell<u32>,
    closed: Cell<bool>,
    /// The Web Lock that marks this instance's running executions as alive.
    pub owner_lock: RefCell<Option<HeldLock>>,
    /// Sync state and scheduling.
    pub sync: SyncDriver,
}

/// The events a caller can subscribe to.
pub const EVENTS: &[&str] = &["error", "sync", "warning"];

impl Engine {
    /// An engine over `store`; `client_id` names this tracker instance to the ingest server.
    pub fn new(config: Config, recorder: Recorder, store: AnyStore, client_id: &str) -> Rc<Engine> {
        Rc::new_cyclic(|engine: &std::rc::Weak<Engine>| {
            let engine = engine.clone();
            let on_change = Box::new(move |state: &crate::sync::SyncState| {
                if let Some(engine) = engine.upgrade() {
                    engine.emit("sync", &encode(state));
                }
            });
            let sync = SyncDriver::new(
                &config.name,
                client_id,
                config.sync.api_key.clone(),
                config.sync.enabled && config.sync.endpoint.is_some(),
                on_change,
            );
            Engine {
                config,
                recorder: RefCell::new(recorder),
                store,
                listeners: RefCell::default(),
                flush_lock: futures::lock::Mutex::new(()),
                timer_armed: Cell::new(false),
                flush_queued: Cell::new(false),
                retry_armed: Cell::new(false),
                failures_in_a_row: Cell::new(0),
                closed: Cell::new(false),
                owner_lock: RefCell::default(),
                sync,
            }
        })
    }

    /// Fails once the tracker is closed.
    pub fn ensure_open(&self) -> Result<(), Error> {
        if self.closed.get() {
            return Err(StoreError::Closed.into());
        }
        Ok(())
    }

    /// Subscribes `listener` to `event`.
    pub fn on(&self, event: &str, listener: Function) {
        self.listeners
            .borrow_mut()
            .push((event.to_owned(), listener));
    }

    /// Unsubscribes `listener` from `event`.
    pub fn off(&self, event: &str, listener: &Function) {
        self.listeners
            .borrow_mut()
            .retain(|(e, l)| !(e == event && JsValue::from(l) == JsValue::from(listener)));
    }

    /// Reports a background failure: a console warning plus every `error` listener. The
    /// message is masked (see `intake::scrub`): it may quote a URL, a server or a platform.
    pub fn emit_error(&self, context: &str, error: &Error) {
        let js = js_error(error);
        if let Some(message) = js_sys::Reflect::get(&js, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
        {
            let masked = crate::intake::scrub(&message);
            if masked != message {
                let _ = js_sys::Reflect::set(&js, &"message".into(), &masked.into());
            }
        }
        let context = crate::intake::scrub(context);
        let context = context.as_str();
        platform::warn(context, &js);
        self.emit("error", &js);
    }

    /// Flags a record handed over whole (`log()`) that is larger than the ingest server
    /// accepts in one request by default: an `error` event and a log line, at once, while a
    /// sync endpoint is set. The record is kept (its sync will dead-letter it).
    pub fn flag_if_too_large_to_sync(&self, id: &str) {
        if !self.sync.uploader.state().enabled {
            return;
        }
        let flagged = self
            .recorder
            .borrow()
            .live(id)
            .and_then(|e| crate::sync::flag_too_large(e, crate::sync::SERVER_BODY_LIMIT));
        if let Some(error) = flagged {
            self.emit_error("a recorded execution is too large to sync", &error.into());
        }
    }

    /// Calls every listener of `event` with `value`.
    pub fn emit(&self, event: &str, value: &JsValue) {
        let listeners: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, l)| l.clone())
            .collect();
        for listener in listeners {
            if let Err(thrown) = listener.call1(&JsValue::NULL, value) {
                platform::warn(&format!("a '{event}' listener threw"), &thrown);
            }
        }
    }

    /// Called after every recording call: flush now if the batch is full, else arm the timer.
    pub fn changed(self: &Rc<Self>) {
        let dirty = self.recorder.borrow().dirty_len();
        if dirty >= self.config.max_batch_size {
            self.spawn_flush();
        } else if dirty > 0 && !self.timer_armed.replace(true) {
            let engine = self.clone();
            wasm_bindgen_futures::spawn_local(async move {
                platform::sleep(engine.config.flush_interval_ms).await;
                engine.timer_armed.set(false);
                engine.background_flush().await;
            });
        }
    }

    fn spawn_flush(self: &Rc<Self>) {
        // One queued flush takes everything dirty by the time it runs: never queue two.
        if self.flush_queued.replace(true) {
            return;
        }
        let engine = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            engine.flush_queued.set(false);
            engine.background_flush().await
        });
    }

    async fn background_flush(self: Rc<Self>) {
        if let Err(error) = self.flush().await {
            self.emit_error(
                "a background write failed; the records are kept and will be retried",
                &error,
            );
        }
    }

    /// Writes everything recorded so far, in batches, each one transaction. On failure the
    /// records stay queued, a retry is scheduled, and the cause is returned.
    pub async fn flush(self: &Rc<Self>) -> Result<(), Error> {
        let _guard = self.flush_lock.lock().await;
        // Only what was recorded before this call must be durable when it resolves; a caller
        // recording without pause must not keep it from resolving.
        let mut owed = self.recorder.borrow().dirty_len();
        if owed > 0 {
            // New outbox entries: sync them once changes settle.
            self.schedule_sync(self.config.sync.debounce_ms as f64);
        }
        while owed > 0 {
            let batch = self
                .recorder
                .borrow_mut()
                .take_batch(self.config.max_batch_size, platform::now());
            if batch.is_empty() {
                break;
            }
            owed = owed.saturating_sub(batch.len());
            match self.store.write(&batch).await {
                Ok(()) => {
                    self.recorder.borrow_mut().acknowledge(&batch);
                    self.failures_in_a_row.set(0);
                    self.report_maintenance();
                }
                Err(error) => {
                    self.recorder.borrow_mut().requeue(&batch);
                    self.schedule_retry();
                    return Err(error.into());
                }
            }
        }
        Ok(())
    }

    /// Surfaces a failed index write or compaction of the file store (the records it
    /// follows were written; only the cache of them is behind, and it is tried again).
    pub fn report_maintenance(&self) {
        if let Some(error) = self.store.take_maintenance_error() {
            self.emit_error(
                "the file store could not write its index or compact its log; every record is in the log, opening will replay more of it",
                &error.into(),
            );
        }
    }

    fn schedule_retry(self: &Rc<Self>) {
        let attempt = self.failures_in_a_row.get();
        self.failures_in_a_row.set(attempt + 1);
        if self.closed.get() || self.retry_armed.replace(true) {
            return;
        }
        let delay = self
            .config
            .backoff
            .delay_ms(attempt, platform::random_unit())
            .max(10.0);
        let engine = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            platform::sleep(delay as u32).await;
            engine.retry_armed.set(false);
            if engine.recorder.borrow().dirty_len() > 0 {
                engine.background_flush().await;
            }
        });
    }

    /// Flushes, lets a sync request under way finish, releases the owner lock and closes the
    /// store. Later calls fail with `Closed`.
    pub async fn close(self: &Rc<Self>) -> Result<(), Error> {
        let flushed = self.flush().await;
        if flushed.is_ok() {
            // With an endpoint, a last try to send what is queued (`sync.closeTimeoutMs`).
            self.final_sync().await;
        }
        self.closed.set(true);
        self.stop_sync().await;
        if flushed.is_ok() {
            if let Some(lock) = self.owner_lock.borrow_mut().take() {
                lock.release();
            }
            self.store.close();
            // Closing writes the file store's index: a failure there is not the caller's
            // (every record is in the log) but is surfaced like any background one.
            self.report_maintenance();
        }
        flushed
    }
}

//! When sync runs: the tracker's side of the uploader (timers, triggers, one syncing tab).
//!
//! ```text
//!  flush ─► debounce ─┐   open / online / sync() / new key ─► now ─┐
//!                     ▼                                           ▼
//!          one pass at a time per tab (a mutex), one tab at a time per database (a Web Lock)
//!                     │ Drained: done   Retry(ms): again after ms   Paused: until a new key
//!  page hidden ─► flush, then one keepalive request (64 KiB) if no pass is running
//! ```

use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::engine::Engine;
use super::locks::{self, HeldLock};
use super::platform;
use super::uplink::FetchUplink;
use crate::error::{Error, SyncError};
use crate::sync::{PassEnd, SyncState};

impl Engine {
    fn sync_ready(&self) -> bool {
        self.config.sync.endpoint.is_some()
            && self.sync.enabled.get()
            && !self.sync.uploader.state().paused
            && self.ensure_open().is_ok()
    }

    /// Runs a pass (or, when sync cannot run, refreshes the counts) after `delay_ms`, but
    /// never before a failed attempt's backoff has passed.
    pub fn schedule_sync(self: &Rc<Self>, delay_ms: f64) {
        if self.ensure_open().is_err() {
            return;
        }
        let now = platform::now() as f64;
        let due = (now + delay_ms).max(self.sync.not_before.get());
        if self.sync.due_at.get().is_some_and(|d| d <= due) {
            return;
        }
        self.sync.due_at.set(Some(due));
        let engine = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            platform::idle(due - now).await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            if engine.sync.due_at.get() != Some(due) {
                return; // replaced by an earlier one
            }
            engine.sync.due_at.set(None);
            if engine.sync_ready() {
                engine.background_sync().await;
            } else if engine.ensure_open().is_ok() {
                if let Err(e) = engine.sync.uploader.refresh_counts(&engine.store).await {
                    engine.emit_error("cannot count the records waiting for sync", &e.into());
                }
            }
        });
    }

    async fn background_sync(self: Rc<Self>) {
        // A request while a pass runs makes that pass go round once more.
        let Some(_running) = self.sync.running.try_lock() else {
            self.sync.again.set(true);
            return;
        };
        loop {
            self.sync.again.set(false);
            let drained = self.run_pass(false).await == Ok(true);
            if !drained || !self.sync.again.get() {
                return;
            }
        }
    }

    /// One pass under the database's sync lock; reports failures (events and the console)
    /// and schedules what follows. `Ok(true)` when the outbox was drained, `Ok(false)` when
    /// the pass stopped or did not run, the failure otherwise.
    async fn run_pass(self: &Rc<Self>, keepalive: bool) -> Result<bool, Error> {
        let Some(endpoint) = self.config.sync.endpoint.as_deref() else {
            return Ok(false);
        };
        // Exactly one tab syncs a database at a time. A tab that closes mid-request releases
        // the lock; its batch was committed whole or not at all, and is sent again either way.
        let lock = if !locks::available() {
            None
        } else if keepalive {
            match HeldLock::try_acquire(&self.sync.lock_name).await {
                Some(lock) => Some(lock),
                None => return Ok(false),
            }
        } else {
            HeldLock::acquire(&self.sync.lock_name).await
        };
        let weak: Weak<Engine> = Rc::downgrade(self);
        let uplink = FetchUplink::new(
            endpoint,
            self.sync.api_key.borrow().clone(),
            self.config.sync.timeout_ms,
            Rc::new(move || weak.upgrade().is_none_or(|e| !e.sync_ready())),
            self.sync.pacer.clone(),
        )
        .exporting_otlp(self.config.sync.otlp);
        let (end, refusals) = self
            .sync
            .uploader
            .pass(
                &self.store,
                &uplink,
                &self.config.sync,
                &self.sync.client,
                keepalive,
            )
            .await;
        if let Some(lock) = lock {
            lock.release();
        }
        for refusal in refusals {
            self.emit_error("records were refused by the ingest server", &refusal.into());
        }
        let failure: Error = match end {
            PassEnd::Drained => {
                self.sync.not_before.set(0.0);
                self.sync.outage.set(false);
                return Ok(true);
            }
            PassEnd::Stopped => return Ok(false),
            PassEnd::Retry(_, cause) if keepalive => return Err(cause.into()),
            PassEnd::Retry(ms, cause) => {
                let cause = cause.into();
                self.sync.not_before.set(platform::now() as f64 + ms);
                // The first failure of an outage is an `error` event; the retries after it
                // only update the sync state (`lastError`, `nextAttemptAt`).
                if !self.sync.outage.replace(true) {
                    self.emit_error(
                        &format!("sync failed; retrying with backoff (next attempt in {ms:.0} ms) until the server answers"),
                        &cause,
                    );
                }
                self.schedule_sync(ms);
                cause
            }
            PassEnd::Paused(cause) => {
                let cause = cause.into();
                self.emit_error("sync is paused", &cause);
                cause
            }
            PassEnd::Store(cause) => {
                let cause = cause.into();
                let ms = self
                    .config
                    .sync
                    .backoff
                    .delay_ms(3, platform::random_unit());
                self.emit_error("sync could not read or update the store", &cause);
                self.schedule_sync(ms);
                cause
            }
        };
        Err(failure)
    }

    /// `tracker.sync()`: writes pending records, then sends everything now. Resolves with
    /// the state once the outbox is empty; rejects with the reason it is not.
    pub async fn sync_now(self: &Rc<Self>) -> Result<SyncState, Error> {
        if self.config.sync.endpoint.is_none() {
            return Err(SyncError::NotConfigured {
                reason: "no `endpoint` was given to Tracker.open".into(),
            }
            .into());
        }
        if !self.sync.enabled.get() {
            return Err(SyncError::NotConfigured {
                reason: "sync is switched off (tracker.setSyncEnabled(true) turns it on)".into(),
            }
            .into());
        }
        self.flush().await?;
        self.sync.uploader.reset_backoff();
        self.sync.not_before.set(0.0);
        // This pass does the work of one still waiting for its turn (scheduled at open or
        // after a write), which would otherwise run after it for nothing.
        self.sync.due_at.set(None);
        let _running = self.sync.running.lock().await;
        match self.run_pass(false).await? {
            true => Ok(self.sync.uploader.state()),
            false => Err(SyncError::NotConfigured {
                reason: "sync was switched off or the tracker closed before the outbox was empty"
                    .into(),
            }
            .into()),
        }
    }

    /// A new API key: resumes a sync paused by a refused key.
    pub fn set_api_key(self: &Rc<Self>, key: Option<String>) {
        *self.sync.api_key.borrow_mut() = key;
        self.sync.uploader.update(|s| s.paused = false);
        self.resume_sync();
    }

    /// Switches sync on or off. Off stops requests (the one in flight finishes); records keep
    /// queueing.
    pub fn set_sync_enabled(self: &Rc<Self>, enabled: bool) {
        self.sync.enabled.set(enabled);
        let configured = self.config.sync.endpoint.is_some();
        self.sync
            .uploader
            .update(|s| s.enabled = enabled && configured);
        if enabled {
            self.resume_sync();
        }
    }

    /// Forgets the backoff and syncs now (back online, a new key, sync switched on).
    pub fn resume_sync(self: &Rc<Self>) {
        self.sync.uploader.reset_backoff();
        self.sync.not_before.set(0.0);
        self.sync.due_at.set(None);
        self.schedule_sync(0.0);
    }

    /// Listens for `online` (sync now) and for the page being hidden (flush, then one
    /// keepalive request).
    pub fn watch_platform(self: &Rc<Self>) {
        let global: JsValue = js_sys::global().into();
        let weak = Rc::downgrade(self);
        let on_online = Closure::<dyn FnMut()>::new(move || {
            if let Some(engine) = weak.upgrade() {
                engine.resume_sync();
            }
        });
        self.listen(global.clone(), "online", on_online);
        let Ok(document) = js_sys::Reflect::get(&global, &"document".into()) else {
            return;
        };
        if document.is_undefined() {
            return;
        }
        let weak = Rc::downgrade(self);
        let doc = document.clone();
        let on_visibility = Closure::<dyn FnMut()>::new(move || {
            let hidden = js_sys::Reflect::get(&doc, &"visibilityState".into())
                .ok()
                .and_then(|v| v.as_string())
                .is_some_and(|v| v == "hidden");
            let Some(engine) = weak.upgrade().filter(|_| hidden) else {
                return;
            };
            wasm_bindgen_futures::spawn_local(async move {
                if engine.flush().await.is_err() || !engine.sync_ready() {
                    return;
                }
                // The keepalive pass takes over from a pass still waiting for its turn (the
                // one scheduled at open or after a write): that one would send the same
                // records without keepalive, a request that may die with the page.
                engine.sync.due_at.set(None);
                if let Some(_running) = engine.sync.running.try_lock() {
                    // Failures are retried: what does not go out now goes with the next pass
                    // (at once if the page stays, else on the next open).
                    if engine.run_pass(true).await != Ok(true) {
                        engine.schedule_sync(engine.config.sync.debounce_ms as f64);
                    }
                }
            });
        });
        self.listen(document, "visibilitychange", on_visibility);
    }

    fn listen(&self, target: JsValue, event: &'static str, handler: Closure<dyn FnMut()>) {
        let Ok(add) = js_sys::Reflect::get(&target, &"addEventListener".into()) else {
            return;
        };
        let Some(add) = add.dyn_ref::<js_sys::Function>() else {
            return; // Node has no `online` event
        };
        if add
            .call2(&target, &event.into(), handler.as_ref().unchecked_ref())
            .is_ok()
        {
            self.sync
                .platform_listeners
                .borrow_mut()
                .push((target, event, handler));
        }
    }

    /// On close: one last pass within `sync.closeTimeoutMs`; what it leaves queued is said
    /// in a `warning` event (and the console), with where it goes next.
    pub async fn final_sync(self: &Rc<Self>) {
        let timeout = self.config.sync.close_timeout_ms;
        if timeout == 0 || !self.sync_ready() {
            return;
        }
        self.sync.uploader.reset_backoff();
        self.sync.not_before.set(0.0);
        let pass = async {
            let _running = self.sync.running.lock().await;
            self.run_pass(false).await
        };
        let timer = platform::sleep(timeout);
        futures::pin_mut!(pass, timer);
        let drained = match futures::future::select(pass, timer).await {
            futures::future::Either::Left((ended, _)) => ended == Ok(true),
            futures::future::Either::Right(_) => false,
        };
        let left = self.sync.uploader.state().pending;
        if !drained || left > 0 {
            let message = format!(
                "close(): {left} execution(s) not sent to the ingest server within sync.closeTimeoutMs ({timeout} ms); they stay queued (a durable store sends them on the next open with this endpoint)"
            );
            platform::warn(&message, &JsValue::UNDEFINED);
            self.emit("warning", &JsValue::from_str(&message));
        }
    }

    /// Removes the platform listeners and waits for a pass under way to end.
    pub async fn stop_sync(&self) {
        for (target, event, handler) in self.sync.platform_listeners.borrow_mut().drain(..) {
            if let Ok(remove) = js_sys::Reflect::get(&target, &"removeEventListener".into()) {
                if let Some(remove) = remove.dyn_ref::<js_sys::Function>() {
                    let _ = remove.call2(&target, &event.into(), handler.as_ref().unchecked_ref());
                }
            }
        }
        let _ = self.sync.running.lock().await;
    }
}

//! Sync's part of the engine's state: what the scheduling in `syncer` reads and changes.
//! Kept apart from `syncer` so that the engine holds it without importing the code that
//! drives it (no import circle between `engine` and `syncer`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::locks;
use crate::sync::{ClientInfo, RequestPacer, SyncState, Uploader};

/// An event listener added to the platform (target, event, handler), removed on close.
pub(super) type PlatformListener = (JsValue, &'static str, Closure<dyn FnMut()>);

/// Sync's part of the engine's state.
pub struct SyncDriver {
    /// Pass logic and the reported state.
    pub uploader: Uploader,
    pub(super) api_key: RefCell<Option<String>>,
    pub(super) enabled: Cell<bool>,
    pub(super) client: ClientInfo,
    pub(super) lock_name: String,
    pub(super) running: futures::lock::Mutex<()>,
    pub(super) again: Cell<bool>,
    pub(super) due_at: Cell<Option<f64>>,
    pub(super) not_before: Cell<f64>,
    /// Spaces every request of this tracker out, across passes.
    pub(super) pacer: Rc<RequestPacer>,
    pub(super) platform_listeners: RefCell<Vec<PlatformListener>>,
    /// A pass failed and none has drained the outbox since: one `error` event per outage,
    /// not one per retry.
    pub(super) outage: Cell<bool>,
}

impl SyncDriver {
    /// The driver for database `db`, sending as `client_id`; `on_change` gets every state.
    pub fn new(
        db: &str,
        client_id: &str,
        api_key: Option<String>,
        enabled: bool,
        on_change: Box<dyn Fn(&SyncState)>,
    ) -> Self {
        SyncDriver {
            uploader: Uploader::new(enabled, on_change),
            api_key: RefCell::new(api_key),
            enabled: Cell::new(enabled),
            client: ClientInfo {
                id: client_id.to_owned(),
                sdk: concat!("runledger-js/", env!("CARGO_PKG_VERSION")).to_owned(),
            },
            lock_name: locks::sync_lock_name(db),
            running: futures::lock::Mutex::new(()),
            again: Cell::new(false),
            due_at: Cell::new(None),
            not_before: Cell::new(0.0),
            pacer: Rc::default(),
            platform_listeners: RefCell::default(),
            outage: Cell::new(false),
        }
    }
}

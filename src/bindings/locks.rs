//! Web Locks: one exclusive lock per tracker instance tells live recorders from dead ones, and
//! one per database lets exactly one tab sync at a time.

use std::collections::HashSet;

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    type LockManager;
    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, callback: &Function) -> Promise;
    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &Function,
    ) -> Promise;
    #[wasm_bindgen(method)]
    fn query(this: &LockManager) -> Promise;
}

fn lock_manager() -> Option<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}

/// The lock name that marks tracker instance `owner` of database `db` as alive.
pub fn owner_lock_name(db: &str, owner: &str) -> String {
    format!("runledger:{db}:owner:{owner}")
}

/// A held lock; released by [`HeldLock::release`] or when the page goes away.
#[must_use = "the lock is released when the page goes away or release() is called; keep it while recording"]
pub struct HeldLock {
    release: Function,
}

impl HeldLock {
    /// Takes the exclusive lock `name`, waiting until it is granted. `None` without Web Locks.
    pub async fn acquire(name: &str) -> Option<HeldLock> {
        Self::request(name, false).await
    }

    /// Takes the exclusive lock `name` if nobody holds it; `None` if somebody does.
    pub async fn try_acquire(name: &str) -> Option<HeldLock> {
        Self::request(name, true).await
    }

    async fn request(name: &str, if_available: bool) -> Option<HeldLock> {
        let manager = lock_manager()?;
        let mut release = None;
        // The lock is held until the promise the callback returns settles.
        let held = Promise::new(&mut |resolve, _| release = Some(resolve));
        let mut granted_resolve = None;
        let granted = Promise::new(&mut |resolve, _| granted_resolve = Some(resolve));
        let granted_resolve = granted_resolve.expect("Promise::new runs its executor at once");
        // With `ifAvailable` the callback gets `null` at once when the lock is taken.
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            let got = !lock.is_null();
            let _ = granted_resolve.call1(&JsValue::NULL, &JsValue::from_bool(got));
            if got {
                held.into()
            } else {
                JsValue::UNDEFINED
            }
        });
        if if_available {
            let options = js_sys::Object::new();
            let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE);
            let _ = manager.request_with_options(name, &options, callback.unchecked_ref());
        } else {
            let _ = manager.request(name, callback.unchecked_ref());
        }
        let got = JsFuture::from(granted).await.ok()?.as_bool()?;
        got.then(|| HeldLock {
            release: release.expect("Promise::new runs its executor at once"),
        })
    }

    /// Lets the lock go.
    pub fn release(&self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}

/// The lock that one tab holds while it syncs database `db`.
pub fn sync_lock_name(db: &str) -> String {
    format!("runledger:{db}:sync")
}

/// Whether this environment has Web Locks.
pub fn available() -> bool {
    lock_manager().is_some()
}

/// Names of every lock currently held in this origin (all tabs and workers). `None` without
/// Web Locks.
pub async fn held_names() -> Option<HashSet<String>> {
    let snapshot = JsFuture::from(lock_manager()?.query()).await.ok()?;
    let held: Array = Reflect::get(&snapshot, &"held".into())
        .ok()?
        .dyn_into()
        .ok()?;
    Some(
        held.iter()
            .filter_map(|lock| Reflect::get(&lock, &"name".into()).ok()?.as_string())
            .collect(),
    )
}

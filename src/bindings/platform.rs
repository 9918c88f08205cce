//! The few things the JS host provides: the clock, randomness, timers, the console.

use wasm_bindgen::JsValue;

/// Milliseconds since the epoch.
pub fn now() -> i64 {
    js_sys::Date::now() as i64
}

/// Ten random bytes for a UUIDv7.
pub fn random_bytes() -> [u8; 10] {
    let mut bytes = [0u8; 10];
    for b in &mut bytes {
        *b = (js_sys::Math::random() * 256.0) as u8;
    }
    bytes
}

/// A uniformly random number in `[0, 1)`.
pub fn random_unit() -> f64 {
    js_sys::Math::random()
}

/// Resolves after `ms` milliseconds (a `setTimeout`, in browsers and Node alike).
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await
}

/// Like [`sleep`], but a pending wait does not keep Node from exiting (`unref`): for
/// background timers (sync retries, retention) that must not hold a finished script open.
/// Waits of any length are waited in full: in timer-sized steps, since `setTimeout` fires at
/// once for a delay over 2^31 - 1 ms.
pub async fn idle(ms: f64) {
    for step in crate::sync::timer_steps(ms) {
        idle_step(step).await;
    }
}

async fn idle_step(ms: u32) {
    use wasm_bindgen::JsCast;
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let Some(set_timeout) = set_timeout else {
            let _ = resolve.call0(&JsValue::NULL);
            return;
        };
        if let Ok(timer) = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from(ms)) {
            // Node returns a Timeout object; browsers return a number.
            if let Ok(unref) = js_sys::Reflect::get(&timer, &"unref".into()) {
                if let Some(unref) = unref.dyn_ref::<js_sys::Function>() {
                    let _ = unref.call0(&timer);
                }
            }
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A warning on the console, prefixed with the library's name.
pub fn warn(message: &str, detail: &JsValue) {
    web_sys::console::warn_2(&JsValue::from_str(&format!("runledger: {message}")), detail);
}

/// Bytes this origin stores (`navigator.storage.estimate().usage`); `None` where unknown.
pub async fn storage_usage() -> Option<u64> {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::JsCast;
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
    let estimate: Function = Reflect::get(&storage, &"estimate".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: Promise = estimate.call0(&storage).ok()?.dyn_into().ok()?;
    let result = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    Reflect::get(&result, &"usage".into())
        .ok()?
        .as_f64()
        .map(|u| u as u64)
}

/// The wasm memory's size in 64 KiB pages.
pub fn memory_pages() -> usize {
    core::arch::wasm32::memory_size(0)
}

/// Called after work that may have grown the wasm memory (`pages_before` its size before):
/// if it grew, the allocator is made to grow it once more by a large step (a quarter of its
/// size, at least 16 MiB) that it then keeps free. Each growth of a large memory makes the JS
/// engine replace the memory's buffer (a full GC in V8 past ~60 MiB); small steps made a loop
/// that never yields slower batch after batch.
pub fn grow_in_large_steps(pages_before: usize) {
    let pages = memory_pages();
    if pages <= pages_before {
        return;
    }
    let step = (pages * 65536 / 4).max(16 << 20);
    let headroom: Vec<u8> = Vec::with_capacity(step);
    std::hint::black_box(&headroom);
}

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

/// A warning on the console, prefixed with the library's name.
pub fn warn(message: &str, detail: &JsValue) {
    web_sys::console::warn_2(&JsValue::from_str(&format!("runledger: {message}")), detail);
}

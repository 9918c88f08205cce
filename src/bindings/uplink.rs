//! The uplink over the platform's `fetch` (browsers and Node 18+ alike).

use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::platform;
use crate::sync::{
    otlp_export, parse_retry_after, ErrorBody, IngestResponse, Reply, RequestPacer, Uplink,
    INGEST_PATH,
};

/// POSTs ingest requests to one endpoint with `fetch`, no faster than its pacer allows.
pub struct FetchUplink {
    url: String,
    api_key: Option<String>,
    timeout_ms: u32,
    stopped: Rc<dyn Fn() -> bool>,
    pacer: Rc<RequestPacer>,
    /// The endpoint is an OTLP collector (`export: { otlp }`): see `sync::otlp_export`.
    otlp: bool,
}

impl FetchUplink {
    /// An uplink to `{endpoint}/v1/ingest`; `stopped` says when to stop sending; `pacer`
    /// (shared by every pass of a tracker) spaces the requests out.
    pub fn new(
        endpoint: &str,
        api_key: Option<String>,
        timeout_ms: u32,
        stopped: Rc<dyn Fn() -> bool>,
        pacer: Rc<RequestPacer>,
    ) -> Self {
        FetchUplink {
            url: format!("{endpoint}{INGEST_PATH}"),
            api_key,
            timeout_ms,
            stopped,
            pacer,
            otlp: false,
        }
    }

    /// With `otlp`, posts each batch to the endpoint itself (a collector's traces URL) as
    /// OTLP/HTTP JSON, and reads the collector's answer by OTLP's rules.
    pub fn exporting_otlp(mut self, otlp: bool) -> Self {
        if let (true, Some(url)) = (otlp, self.url.strip_suffix(INGEST_PATH)) {
            self.url = url.to_owned();
            self.otlp = true;
        }
        self
    }
}

fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

/// The origin of the page this runs in (`location.origin`); `None` in Node and workers
/// without one.
fn page_origin() -> Option<String> {
    let location = Reflect::get(&js_sys::global(), &"location".into()).ok()?;
    Reflect::get(&location, &"origin".into()).ok()?.as_string()
}

/// A platform error's message, with any secret in it (a URL's password, a token) masked.
fn message_of(error: &JsValue) -> String {
    crate::intake::scrub(&raw_message_of(error))
}

fn raw_message_of(error: &JsValue) -> String {
    let message = Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{error:?}"));
    // Node's fetch hides the reason (ECONNREFUSED, ...) in `cause`.
    match Reflect::get(error, &"cause".into())
        .ok()
        .filter(|c| c.is_object())
        .and_then(|c| Reflect::get(&c, &"code".into()).ok()?.as_string())
    {
        Some(code) => format!("{message} ({code})"),
        None => message,
    }
}

async fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let function: Function = Reflect::get(target, &method.into())?.dyn_into()?;
    let result = match args {
        [] => function.call0(target)?,
        [a] => function.call1(target, a)?,
        [a, b] => function.call2(target, a, b)?,
        _ => return Err(JsValue::from_str("too many arguments")),
    };
    match result.dyn_into::<Promise>() {
        Ok(promise) => JsFuture::from(promise).await,
        Err(value) => Ok(value),
    }
}

impl Uplink for FetchUplink {
    async fn post(&self, body: String, keepalive: bool) -> Reply {
        let (body, otlp_ids) = if self.otlp {
            match otlp_export::to_otlp(&body, "runledger-client") {
                Ok((Some(spans), ids)) => (spans, Some(ids)),
                // Nothing finished in this batch: nothing to send yet.
                Ok((None, ids)) => return otlp_export::all_accepted(ids),
                Err(message) => {
                    return Reply::Status {
                        code: 422,
                        retry_after_ms: None,
                        message,
                    }
                }
            }
        } else {
            (body, None)
        };
        // Whatever the server answers, requests are spaced out (see `sync::pace`). A page
        // being hidden cannot wait: its one keepalive request goes at once.
        let wait = self.pacer.reserve(platform::now() as f64);
        if wait > 0.0 && !keepalive {
            platform::sleep(wait.ceil() as u32).await;
        }
        let headers = Object::new();
        set(&headers, "content-type", &"application/json".into());
        if let Some(key) = &self.api_key {
            set(&headers, "authorization", &format!("Bearer {key}").into());
        }
        let init = Object::new();
        set(&init, "method", &"POST".into());
        set(&init, "headers", &headers);
        set(&init, "body", &body.into());
        set(&init, "keepalive", &keepalive.into());
        // A request that hangs must not hold the sync lock forever.
        if let Ok(signal) = Reflect::get(&js_sys::global(), &"AbortSignal".into()) {
            if let Ok(s) = call(&signal, "timeout", &[JsValue::from(self.timeout_ms)]).await {
                set(&init, "signal", &s);
            }
        }
        let global: JsValue = js_sys::global().into();
        let response = match call(&global, "fetch", &[self.url.clone().into(), init.into()]).await {
            Ok(response) => response,
            Err(error) => {
                let message = message_of(&error);
                // A blocked request is a `TypeError` (a timeout is a `TimeoutError`).
                let blocked_or_down = Reflect::get(&error, &"name".into())
                    .ok()
                    .and_then(|n| n.as_string())
                    .is_some_and(|n| n == "TypeError");
                let page = page_origin().filter(|_| blocked_or_down);
                return Reply::Network(match crate::sync::cors_hint(page.as_deref(), &self.url) {
                    Some(hint) => format!("{message}; {hint}"),
                    None => message,
                });
            }
        };
        let code = Reflect::get(&response, &"status".into())
            .ok()
            .and_then(|s| s.as_f64())
            .unwrap_or(0.0) as u16;
        let text = match call(&response, "text", &[]).await {
            Ok(text) => text.as_string().unwrap_or_default(),
            Err(error) => return Reply::Network(message_of(&error)),
        };
        if code == 200 && otlp_ids.is_none() {
            return match serde_json::from_str::<IngestResponse>(&text) {
                Ok(answer) => Reply::Ok(answer),
                Err(e) => Reply::Status {
                    code: 502,
                    retry_after_ms: None,
                    message: format!("the server's answer cannot be read: {e}"),
                },
            };
        }
        let retry_after_ms = match Reflect::get(&response, &"headers".into()) {
            Ok(headers) => call(&headers, "get", &["retry-after".into()])
                .await
                .ok()
                .and_then(|v| v.as_string())
                .and_then(|v| parse_retry_after(&v, platform::now())),
            Err(_) => None,
        };
        if let Some(ids) = otlp_ids {
            return otlp_export::reply_of(code, retry_after_ms, &crate::intake::scrub(&text), ids);
        }
        // The server's words reach errors, warnings and the sync state: masked, since a
        // server (or a proxy) may echo a URL or a header.
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| crate::intake::scrub(&format!("{} ({})", b.error.message, b.error.code)))
            .unwrap_or_else(|_| format!("HTTP {code}"));
        Reply::Status {
            code,
            retry_after_ms,
            message,
        }
    }

    fn now(&self) -> i64 {
        platform::now()
    }

    fn random(&self) -> f64 {
        platform::random_unit()
    }

    fn stopped(&self) -> bool {
        (self.stopped)()
    }
}

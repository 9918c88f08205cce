//! Futures over IndexedDB requests and transactions (the `tx.done` idiom).
//!
//! Only IDB requests may be awaited while a transaction is open: awaiting anything else (a
//! timer, a fetch) lets the transaction auto-commit. These futures wake through microtasks,
//! which run before the browser deactivates the transaction.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DomException, Event, IdbRequest, IdbTransaction};

#[derive(Default)]
struct Slot {
    result: Option<Result<JsValue, JsValue>>,
    waker: Option<Waker>,
}

impl Slot {
    fn fill(slot: &Rc<RefCell<Slot>>, result: Result<JsValue, JsValue>) {
        let mut s = slot.borrow_mut();
        s.result = Some(result);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    async fn wait(slot: &Rc<RefCell<Slot>>) -> Result<JsValue, JsValue> {
        poll_fn(|cx| {
            let mut s = slot.borrow_mut();
            match s.result.take() {
                Some(r) => Poll::Ready(r),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// Awaits an IDB request. For cursor requests, [`Request::next`] can be awaited again after
/// each `continue()`.
pub struct Request {
    req: IdbRequest,
    slot: Rc<RefCell<Slot>>,
    _on_success: Closure<dyn FnMut(Event)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Request {
    /// Starts listening to `req`.
    pub fn new(req: IdbRequest) -> Self {
        let slot = Rc::new(RefCell::new(Slot::default()));
        let (ok_slot, ok_req) = (slot.clone(), req.clone());
        let on_success = Closure::<dyn FnMut(Event)>::new(move |_| {
            Slot::fill(&ok_slot, ok_req.result());
        });
        let (err_slot, err_req) = (slot.clone(), req.clone());
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_| {
            let error = match err_req.error() {
                Ok(Some(e)) => e.into(),
                _ => JsValue::from_str("request failed"),
            };
            Slot::fill(&err_slot, Err(error));
        });
        req.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
        req.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Request {
            req,
            slot,
            _on_success: on_success,
            _on_error: on_error,
        }
    }

    /// The next result of the request.
    pub async fn next(&self) -> Result<JsValue, JsValue> {
        Slot::wait(&self.slot).await
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.req.set_onsuccess(None);
        self.req.set_onerror(None);
    }
}

/// Awaits `request`'s single result.
pub async fn once(request: Result<IdbRequest, JsValue>) -> Result<JsValue, JsValue> {
    Request::new(request?).next().await
}

/// Resolves when a transaction commits; fails with its error when it aborts.
pub struct TxDone {
    tx: IdbTransaction,
    slot: Rc<RefCell<Slot>>,
    _on_complete: Closure<dyn FnMut(Event)>,
    _on_abort: Closure<dyn FnMut(Event)>,
}

impl TxDone {
    /// Starts listening to `tx`.
    pub fn new(tx: &IdbTransaction) -> Self {
        let slot = Rc::new(RefCell::new(Slot::default()));
        let done_slot = slot.clone();
        let on_complete = Closure::<dyn FnMut(Event)>::new(move |_| {
            Slot::fill(&done_slot, Ok(JsValue::UNDEFINED))
        });
        let (abort_slot, abort_tx) = (slot.clone(), tx.clone());
        // `error` events bubble into `abort`, so listening to `abort` sees every failure.
        let on_abort = Closure::<dyn FnMut(Event)>::new(move |_| {
            let error = abort_tx.error().map(JsValue::from).unwrap_or_else(|| {
                DomException::new_with_message_and_name("transaction aborted", "AbortError")
                    .map(JsValue::from)
                    .unwrap_or(JsValue::NULL)
            });
            Slot::fill(&abort_slot, Err(error));
        });
        tx.set_oncomplete(Some(on_complete.as_ref().unchecked_ref()));
        tx.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
        TxDone {
            tx: tx.clone(),
            slot,
            _on_complete: on_complete,
            _on_abort: on_abort,
        }
    }

    /// Waits for commit or abort.
    pub async fn wait(&self) -> Result<(), JsValue> {
        Slot::wait(&self.slot).await.map(drop)
    }
}

impl Drop for TxDone {
    fn drop(&mut self) {
        self.tx.set_oncomplete(None);
        self.tx.set_onabort(None);
    }
}

/// The name and message of a JS error value (a `DOMException`, an `Error`, or anything).
pub fn error_parts(error: &JsValue) -> (String, String) {
    if let Some(dom) = error.dyn_ref::<DomException>() {
        return (dom.name(), dom.message());
    }
    if let Some(err) = error.dyn_ref::<js_sys::Error>() {
        return (String::from(err.name()), String::from(err.message()));
    }
    (
        "Error".into(),
        error.as_string().unwrap_or_else(|| format!("{error:?}")),
    )
}

//! Crossing the JS boundary: decoding arguments, encoding results, raising errors.
//!
//! Every read of a caller's value goes through js/capture/serialize.js (the package's one
//! reader of caller values; js/values.js checks string arguments), which catches whatever the
//! caller's code throws (getters, `toJSON`, Proxy traps) and reports it as an `Error` of its
//! own. Bindings read all their arguments with these functions *before* they borrow any
//! state: a JS exception unwinds through wasm without running Rust destructors, so one thrown
//! while a `RefCell` is borrowed would leave it borrowed for good.

use js_sys::Reflect;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::{Error, ValidationError};
use crate::intake::{decode_with, Payload};
use crate::model::ErrorInfo;

#[wasm_bindgen(module = "/js/capture/serialize.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = jsonText)]
    fn js_json_text(value: &JsValue) -> Result<Option<String>, JsValue>;
    #[wasm_bindgen(catch, js_name = errorText)]
    fn js_error_text(value: &JsValue) -> Result<Option<String>, JsValue>;
}

#[wasm_bindgen(module = "/js/values.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = stringArg)]
    fn js_string_arg(value: &JsValue) -> Result<String, JsValue>;
}

/// A JS `Error` whose `name` and `message` say what went wrong and where. Validation errors
/// also carry the offending `field`.
pub fn js_error(error: &Error) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name(error.name());
    if let Error::Validation(v) = error {
        let _ = Reflect::set(&js, &"field".into(), &JsValue::from_str(v.field()));
    }
    js.into()
}

/// The message of an `Error` thrown by js/values.js or js/capture/serialize.js (always one of its own, never the
/// caller's, so reading it runs no caller code).
fn thrown_message(thrown: &JsValue) -> String {
    Reflect::get(thrown, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "cannot be read".into())
}

fn invalid(what: &str, thrown: JsValue) -> Error {
    ValidationError::invalid(what, thrown_message(&thrown)).into()
}

/// The JSON text of a JS value (`None` for `undefined`).
///
/// Arguments cross the boundary as JSON text: one native `JSON.stringify` and one
/// `serde_json` parse cost far less than reading every property through the boundary, and
/// the text's length sizes payloads for free.
pub fn json_text(what: &str, value: &JsValue) -> Result<Option<String>, Error> {
    if value.is_undefined() {
        return Ok(None);
    }
    js_json_text(value).map_err(|thrown| invalid(what, thrown))
}

/// A string argument (an id, a system name): anything else, or a string that is not valid
/// Unicode, is a `ValidationError` naming `what`.
pub fn string_arg(what: &str, value: &JsValue) -> Result<String, Error> {
    js_string_arg(value).map_err(|thrown| invalid(what, thrown))
}

/// An optional string argument: `undefined` and `null` are `None`.
pub fn opt_string_arg(what: &str, value: &JsValue) -> Result<Option<String>, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    string_arg(what, value).map(Some)
}

/// Decodes an argument; `what` names it in errors (`execution.outputs[0].rows`). `undefined`
/// and `null` read as `{}`. Unknown keys are errors where the type denies them.
pub fn decode<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T, Error> {
    let text = json_text(what, &value)?
        .filter(|t| t != "null")
        .unwrap_or_else(|| "{}".into());
    decode_text(what, &text)
}

/// Decodes JSON text read by js/capture/serialize.js.
pub fn decode_text<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, Error> {
    decode_with(what, text).map_err(Error::from)
}

/// Takes a payload value (input, output) as JSON text; it is parsed only if it needs to be.
pub fn decode_payload(what: &str, value: JsValue) -> Result<Payload, Error> {
    Ok(match json_text(what, &value)? {
        Some(text) => Payload::Text(text),
        None => Payload::default(),
    })
}

/// Encodes a result as plain JS objects (through JSON text and the native `JSON.parse`).
pub fn encode<T: Serialize>(value: &T) -> JsValue {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::NULL)
}

/// Reads an error given as a JS `Error`, a string, or `{message, type, stack, nodeId}`.
pub fn decode_error_info(what: &str, value: JsValue) -> Result<Option<ErrorInfo>, Error> {
    match js_error_text(&value).map_err(|thrown| invalid(what, thrown))? {
        None => Ok(None),
        Some(text) => decode_text(what, &text).map(Some),
    }
}

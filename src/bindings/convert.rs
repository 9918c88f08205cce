//! Crossing the JS boundary: decoding arguments, encoding results, raising errors.

use js_sys::Reflect;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, ValidationError};
use crate::intake::{decode_with, Payload};
use crate::model::ErrorInfo;

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

/// The JSON text of a JS value (`None` for `undefined`).
///
/// Arguments cross the boundary as JSON text: one native `JSON.stringify` and one
/// `serde_json` parse cost far less than reading every property through the boundary, and
/// the text's length sizes payloads for free.
pub fn json_text(what: &str, value: &JsValue) -> Result<Option<String>, Error> {
    if value.is_undefined() {
        return Ok(None);
    }
    let text = js_sys::JSON::stringify(value).map_err(|e| {
        let message = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_default();
        Error::from(ValidationError::invalid(
            what,
            format!("cannot be converted to JSON: {message}"),
        ))
    })?;
    Ok(text.as_string())
}

/// Decodes an argument; `what` names it in errors (`execution.outputs[0].rows`). `undefined`
/// and `null` read as `{}`. Unknown keys are errors where the type denies them.
pub fn decode<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T, Error> {
    let text = json_text(what, &value)?
        .filter(|t| t != "null")
        .unwrap_or_else(|| "{}".into());
    decode_with(what, &mut serde_json::Deserializer::from_str(&text)).map_err(Error::from)
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
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if let Some(text) = value.as_string() {
        return Ok(Some(ErrorInfo {
            message: text,
            ..ErrorInfo::default()
        }));
    }
    if let Some(err) = value.dyn_ref::<js_sys::Error>() {
        let stack = Reflect::get(err, &"stack".into())
            .ok()
            .and_then(|s| s.as_string());
        return Ok(Some(ErrorInfo {
            message: err.message().into(),
            error_type: Some(err.name().into()),
            stack,
            node_id: None,
        }));
    }
    if value.is_object() {
        return decode(what, value).map(Some);
    }
    Err(ValidationError::invalid(
        what,
        "expected an Error, a string, or {message, type, stack}",
    )
    .into())
}

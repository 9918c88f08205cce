//! Crossing the JS boundary: decoding arguments, encoding results, raising errors.

use js_sys::Reflect;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, ValidationError};
use crate::intake::decode_with;
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

/// Decodes an argument; `what` names it in errors (`execution.outputs[0].rows`).
pub fn decode<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T, Error> {
    let value = if value.is_undefined() || value.is_null() {
        js_sys::Object::new().into()
    } else {
        value
    };
    decode_with(what, serde_wasm_bindgen::Deserializer::from(value)).map_err(Error::from)
}

/// Decodes an argument whose unknown keys are errors (options: a typo must not pass
/// silently). serde-wasm-bindgen only reads the fields a struct names, so the object goes
/// through JSON first, where `deny_unknown_fields` sees every key.
pub fn decode_strict<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T, Error> {
    let json: serde_json::Value = decode_value(what, value)?;
    let json = if json.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        json
    };
    crate::intake::decode_json(what, json).map_err(Error::from)
}

/// Decodes an optional payload value (input, output) as JSON.
pub fn decode_value(what: &str, value: JsValue) -> Result<serde_json::Value, Error> {
    if value.is_undefined() {
        return Ok(serde_json::Value::Null);
    }
    decode_with(what, serde_wasm_bindgen::Deserializer::from(value)).map_err(Error::from)
}

/// Encodes a result as plain JS objects (maps become objects, absent fields stay absent).
pub fn encode<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
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

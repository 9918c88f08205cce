//! [`FileIo`] over a JS object the Node entry builds from `node:fs` (js/node-file.js), so
//! that the wasm itself never imports `node:` modules and stays usable in browsers.

use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::store::file::FileIo;

/// The JS side: `{ read(): Uint8Array, append(bytes), truncate(len): savedPath, replace(bytes),
/// readLegacy(): string | null, retireLegacy(), close() }`; each throws on failure.
pub struct JsFileIo {
    io: JsValue,
}

impl JsFileIo {
    /// Wraps the JS object.
    pub fn new(io: JsValue) -> JsFileIo {
        JsFileIo { io }
    }

    fn call(&self, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
        let f: Function = Reflect::get(&self.io, &method.into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| format!("the file adapter has no `{method}`"))?;
        let result = match args {
            [] => f.call0(&self.io),
            [a] => f.call1(&self.io, a),
            _ => return Err("too many arguments".into()),
        };
        result.map_err(|e| {
            Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| format!("{e:?}"))
        })
    }

    /// Releases the store's lock and file handles.
    pub fn close(&self) {
        let _ = self.call("close", &[]);
    }
}

impl FileIo for JsFileIo {
    fn read(&self) -> Result<Vec<u8>, String> {
        Ok(self
            .call("read", &[])?
            .unchecked_into::<Uint8Array>()
            .to_vec())
    }
    fn append(&self, bytes: &[u8]) -> Result<(), String> {
        self.call("append", &[Uint8Array::from(bytes).into()])
            .map(drop)
    }
    fn truncate(&self, len: u64) -> Result<String, String> {
        Ok(self
            .call("truncate", &[JsValue::from(len as f64)])?
            .as_string()
            .unwrap_or_default())
    }
    fn replace(&self, bytes: &[u8]) -> Result<(), String> {
        self.call("replace", &[Uint8Array::from(bytes).into()])
            .map(drop)
    }
    fn read_legacy(&self) -> Result<Option<String>, String> {
        Ok(self.call("readLegacy", &[])?.as_string())
    }
    fn retire_legacy(&self) -> Result<(), String> {
        self.call("retireLegacy", &[]).map(drop)
    }
}

//! [`FileIo`] over a JS object the Node entry builds from `node:fs` (js/node-file.js), so
//! that the wasm itself never imports `node:` modules and stays usable in browsers.

use std::cell::RefCell;

use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::store::file::FileIo;

/// The JS side: `{ readFrom(offset), readAt(offset, len), logSize(), append(at, bytes),
/// setLen(len), truncate(len): savedPath, keepAside(at, bytes): savedPath, replace(bytes), indexSize(): number | null,
/// readIndexAt(offset, len), beginIndex(), appendIndex(bytes), commitIndex(),
/// freshId(), readLegacy(): string | null, retireLegacy(), close() }`; each throws on failure.
pub struct JsFileIo {
    io: JsValue,
    /// One JS buffer that writes are copied into and handed over from: a new one per write
    /// (megabytes per batch, freed only when V8 collects) left the process's C heap growing
    /// with every batch written, its freed chunks pinned by smaller allocations after them.
    scratch: RefCell<Uint8Array>,
}

/// The largest scratch buffer kept between writes; a larger write gets a buffer of its own.
const SCRATCH_KEPT: u32 = 16 << 20;

impl JsFileIo {
    /// Wraps the JS object.
    pub fn new(io: JsValue) -> JsFileIo {
        JsFileIo {
            io,
            scratch: RefCell::new(Uint8Array::new_with_length(0)),
        }
    }

    /// `bytes` as a JS array, valid until the next call (the caller's JS uses it at once).
    fn js_bytes(&self, bytes: &[u8]) -> Uint8Array {
        let len = bytes.len() as u32;
        if len > SCRATCH_KEPT {
            return Uint8Array::from(bytes);
        }
        let mut scratch = self.scratch.borrow_mut();
        if scratch.length() < len {
            *scratch = Uint8Array::new_with_length(len.next_power_of_two().min(SCRATCH_KEPT));
        }
        let view = scratch.subarray(0, len);
        view.copy_from(bytes);
        view
    }

    fn call(&self, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
        let f: Function = Reflect::get(&self.io, &method.into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| format!("the file adapter has no `{method}`"))?;
        let result = match args {
            [] => f.call0(&self.io),
            [a] => f.call1(&self.io, a),
            [a, b] => f.call2(&self.io, a, b),
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

fn bytes(value: JsValue) -> Vec<u8> {
    value.unchecked_into::<Uint8Array>().to_vec()
}

impl FileIo for JsFileIo {
    fn read_from(&self, offset: u64) -> Result<Vec<u8>, String> {
        Ok(bytes(
            self.call("readFrom", &[JsValue::from(offset as f64)])?,
        ))
    }
    fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        Ok(bytes(self.call(
            "readAt",
            &[JsValue::from(offset as f64), JsValue::from(len as f64)],
        )?))
    }
    fn log_size(&self) -> Result<u64, String> {
        Ok(self.call("logSize", &[])?.as_f64().unwrap_or(0.0) as u64)
    }
    fn append(&self, at: u64, bytes: &[u8]) -> Result<(), String> {
        self.call(
            "append",
            &[JsValue::from(at as f64), self.js_bytes(bytes).into()],
        )
        .map(drop)
    }
    fn set_len(&self, len: u64) -> Result<(), String> {
        self.call("setLen", &[JsValue::from(len as f64)]).map(drop)
    }
    fn keep_aside(&self, at: u64, bytes: &[u8]) -> Result<String, String> {
        Ok(self
            .call(
                "keepAside",
                &[JsValue::from(at as f64), Uint8Array::from(bytes).into()],
            )?
            .as_string()
            .unwrap_or_default())
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
    fn index_size(&self) -> Result<Option<u64>, String> {
        let size = self.call("indexSize", &[])?;
        Ok(size.as_f64().map(|s| s as u64))
    }
    fn read_index_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        Ok(bytes(self.call(
            "readIndexAt",
            &[JsValue::from(offset as f64), JsValue::from(len as f64)],
        )?))
    }
    fn begin_index(&self) -> Result<(), String> {
        self.call("beginIndex", &[]).map(drop)
    }
    fn append_index(&self, bytes: &[u8]) -> Result<(), String> {
        self.call("appendIndex", &[self.js_bytes(bytes).into()])
            .map(drop)
    }
    fn commit_index(&self) -> Result<(), String> {
        self.call("commitIndex", &[]).map(drop)
    }
    fn fresh_id(&self) -> String {
        self.call("freshId", &[])
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    }
    fn read_legacy(&self) -> Result<Option<String>, String> {
        Ok(self.call("readLegacy", &[])?.as_string())
    }
    fn retire_legacy(&self) -> Result<(), String> {
        self.call("retireLegacy", &[]).map(drop)
    }
}

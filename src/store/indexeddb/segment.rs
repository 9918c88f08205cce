//! Node payload segments: the node runs of a whole flushed batch in one record.
//!
//! Chromium's IndexedDB charges per record and per index entry, not per byte, so a batch's
//! node runs go into one `segments` record and each execution's metadata names its segment in
//! `seg`. A flush writes the text form, `{seg, ids: [id…], ends: [n…], text}`: every entry's
//! JSON back to back in one string, entry `i` ending at UTF-16 offset `ends[i]`. One string is
//! one copy for the structured clone and one decode out of wasm, where an object of per-entry
//! strings costs a property and a string each. Segments moved from the version-4 layout keep
//! the object form `{seg, nodes: {id: "[…JSON…]"}}`; both are read.
//!
//! An entry leaves its segment when the execution is rewritten (its newer version lives in a
//! newer segment), deleted, cleared or pruned, and a segment left empty is deleted: space is
//! reclaimed in the transaction that made it garbage, so a segment never holds more than the
//! live node runs.

use std::collections::{BTreeMap, HashSet};

use js_sys::{Array, JsString, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbCursor, IdbCursorDirection, IdbObjectStore};

use super::request::{once, Request};
use crate::error::StoreError;

/// Entries to drop, by segment key.
pub(super) type Removals = BTreeMap<u64, Vec<String>>;

/// The segment a stored metadata record points to (none for records without node runs).
pub(super) fn seg_of(meta: &JsValue) -> Option<u64> {
    Reflect::get(meta, &"seg".into())
        .ok()?
        .as_f64()
        .map(|k| k as u64)
}

/// Notes that `id`'s entry in the segment its stored metadata `meta` names is garbage.
pub(super) fn note_removal(removals: &mut Removals, meta: &JsValue, id: &str) {
    if let Some(seg) = seg_of(meta) {
        removals.entry(seg).or_default().push(id.to_owned());
    }
}

/// A new, empty segment record in the object form with key `seg`, and its `nodes` map to
/// fill (the version-4 upgrade moves payload objects into it as they are).
pub(super) fn new_segment(seg: u64) -> (Object, Object) {
    let record = Object::new();
    let nodes = Object::new();
    let _ = Reflect::set(&record, &"seg".into(), &JsValue::from(seg as f64));
    let _ = Reflect::set(&record, &"nodes".into(), &nodes);
    (record, nodes)
}

/// A segment in the text form, filled in Rust and handed to JS whole.
pub(super) struct SegmentText {
    ids: Vec<String>,
    ends: Vec<usize>,
    text: String,
    units: usize,
}

impl SegmentText {
    pub(super) fn new() -> Self {
        SegmentText {
            ids: Vec::new(),
            ends: Vec::new(),
            text: String::new(),
            units: 0,
        }
    }

    /// Appends `id`'s node runs (JSON text). Each id once per segment.
    pub(super) fn push(&mut self, id: &str, nodes: &str) {
        self.text.push_str(nodes);
        // JS strings index UTF-16 code units; JSON from serde is mostly ASCII.
        self.units += if nodes.is_ascii() {
            nodes.len()
        } else {
            nodes.encode_utf16().count()
        };
        self.ids.push(id.to_owned());
        self.ends.push(self.units);
    }

    /// The record with key `seg`: the small arrays through one JSON parse, the text as one
    /// string.
    pub(super) fn record(&self, seg: u64) -> Result<JsValue, JsValue> {
        let mut head = format!(r#"{{"seg":{seg},"ids":"#);
        head.push_str(&serde_json::to_string(&self.ids).map_err(|e| e.to_string())?);
        head.push_str(r#","ends":"#);
        head.push_str(&serde_json::to_string(&self.ends).map_err(|e| e.to_string())?);
        head.push('}');
        let record = js_sys::JSON::parse(&head)?;
        Reflect::set(&record, &"text".into(), &JsValue::from(self.text.as_str()))?;
        Ok(record)
    }
}

/// The parts of a text-form segment, or `None` for the object form.
struct TextParts {
    ids: Array,
    ends: Array,
    text: JsString,
}

fn text_parts(segment: &JsValue) -> Option<TextParts> {
    let text = Reflect::get(segment, &"text".into())
        .ok()?
        .dyn_into()
        .ok()?;
    Some(TextParts {
        ids: Reflect::get(segment, &"ids".into()).ok()?.dyn_into().ok()?,
        ends: Reflect::get(segment, &"ends".into())
            .ok()?
            .dyn_into()
            .ok()?,
        text,
    })
}

impl TextParts {
    /// Entry `i`'s text.
    fn entry(&self, i: u32) -> JsString {
        let at = |k: u32| self.ends.get(k).as_f64().unwrap_or(0.0) as u32;
        let start = if i == 0 { 0 } else { at(i - 1) };
        self.text.slice(start, at(i))
    }
}

/// The node runs of `id` in a stored segment (`undefined` when absent): JSON text, or the
/// array of a segment moved from layout 1.
pub(super) fn nodes_in(segment: &JsValue, id: &str) -> JsValue {
    if segment.is_undefined() {
        return JsValue::UNDEFINED;
    }
    if let Some(parts) = text_parts(segment) {
        let i = parts.ids.index_of(&JsValue::from(id), 0);
        return match u32::try_from(i) {
            Ok(i) => parts.entry(i).into(),
            Err(_) => JsValue::UNDEFINED,
        };
    }
    Reflect::get(segment, &"nodes".into())
        .and_then(|nodes| Reflect::get(&nodes, &id.into()))
        .unwrap_or(JsValue::UNDEFINED)
}

/// Asks for the highest segment key (issued with the other reads of a write, so that it
/// costs no round trip of its own). Readwrite transactions over `segments` never overlap,
/// so the next key is unique across tabs.
pub(super) fn start_last_key(segments: &IdbObjectStore) -> Result<Request, JsValue> {
    segments
        .open_key_cursor_with_range_and_direction(&JsValue::NULL, IdbCursorDirection::Prev)
        .map(|r| Request::new(r.unchecked_into()))
}

/// The key after the one [`start_last_key`] found.
pub(super) async fn next_key(last: Request) -> Result<u64, JsValue> {
    let cursor = last.next().await?;
    Ok(match cursor.dyn_ref::<IdbCursor>() {
        Some(c) => c.key()?.as_f64().unwrap_or(0.0) as u64 + 1,
        None => 1,
    })
}

/// Drops `ids` from a text-form segment; `false` when nothing is left.
fn drop_from_text(segment: &JsValue, parts: &TextParts, ids: &[String]) -> Result<bool, JsValue> {
    let gone: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let (kept_ids, kept_ends, pieces) = (Array::new(), Array::new(), Array::new());
    let mut at = 0u32;
    for i in 0..parts.ids.length() {
        let id = parts.ids.get(i);
        if id.as_string().is_some_and(|id| gone.contains(id.as_str())) {
            continue;
        }
        let piece = parts.entry(i);
        at += piece.length();
        pieces.push(&piece);
        kept_ids.push(&id);
        kept_ends.push(&JsValue::from(at));
    }
    if kept_ids.length() == 0 {
        return Ok(false);
    }
    Reflect::set(segment, &"ids".into(), &kept_ids)?;
    Reflect::set(segment, &"ends".into(), &kept_ends)?;
    Reflect::set(segment, &"text".into(), &pieces.join(""))?;
    Ok(true)
}

/// Drops `ids` from an object-form segment; `false` when nothing is left.
fn drop_from_object(segment: &JsValue, ids: &[String]) -> Result<bool, JsValue> {
    let Some(nodes) = Reflect::get(segment, &"nodes".into())?
        .dyn_into::<Object>()
        .ok()
    else {
        return Ok(false);
    };
    for id in ids {
        Reflect::delete_property(&nodes, &id.into())?;
    }
    Ok(Object::keys(&nodes).length() > 0)
}

/// Removes the noted entries from their segments, deleting segments left empty; inside the
/// caller's transaction. Every segment is read at once.
pub(super) async fn drop_entries(
    segments: &IdbObjectStore,
    removals: Removals,
    err: impl Fn(JsValue) -> StoreError,
) -> Result<(), StoreError> {
    let reads = removals
        .keys()
        .map(|seg| {
            segments
                .get(&JsValue::from(*seg as f64))
                .map(Request::new)
                .map_err(&err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for ((seg, ids), read) in removals.into_iter().zip(reads) {
        let segment = read.next().await.map_err(&err)?;
        if segment.is_undefined() {
            continue;
        }
        let left = match text_parts(&segment) {
            Some(parts) => drop_from_text(&segment, &parts, &ids),
            None => drop_from_object(&segment, &ids),
        }
        .map_err(&err)?;
        if left {
            segments.put(&segment).map_err(&err)?;
        } else {
            segments.delete(&JsValue::from(seg as f64)).map_err(&err)?;
        }
    }
    Ok(())
}

/// How many segments there are and how many entries each holds, by key (tests and the
/// bench look at compaction through this).
pub(super) async fn census(segments: &IdbObjectStore) -> Result<Vec<(u64, usize)>, JsValue> {
    let all = once(segments.get_all()).await?;
    Ok(all
        .unchecked_into::<Array>()
        .iter()
        .map(|s| {
            let key = seg_of(&s).unwrap_or(0);
            let entries = match text_parts(&s) {
                Some(parts) => parts.ids.length() as usize,
                None => Reflect::get(&s, &"nodes".into())
                    .ok()
                    .and_then(|n| n.dyn_into::<Object>().ok())
                    .map_or(0, |n| Object::keys(&n).length() as usize),
            };
            (key, entries)
        })
        .collect())
}

//! Node payload segments: the node runs of a whole flushed batch in one record.
//!
//! Chromium's IndexedDB charges per record and per index entry, not per byte, so a batch's
//! node runs go into one `segments` record `{seg, nodes: {id: "[…JSON…]"}}` and each
//! execution's metadata names its segment in `seg`. An entry leaves its segment when the
//! execution is rewritten (its newer version lives in a newer segment), deleted, cleared or
//! pruned, and a segment left empty is deleted: space is reclaimed in the transaction that
//! made it garbage, so a segment never holds more than the live node runs.

use std::collections::BTreeMap;

use js_sys::{Object, Reflect};
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

/// A new, empty segment record with key `seg`, and its `nodes` map to fill.
pub(super) fn new_segment(seg: u64) -> (Object, Object) {
    let record = Object::new();
    let nodes = Object::new();
    let _ = Reflect::set(&record, &"seg".into(), &JsValue::from(seg as f64));
    let _ = Reflect::set(&record, &"nodes".into(), &nodes);
    (record, nodes)
}

/// The node runs of `id` in a stored segment (`undefined` when absent).
pub(super) fn nodes_in(segment: &JsValue, id: &str) -> JsValue {
    if segment.is_undefined() {
        return JsValue::UNDEFINED;
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
        let Ok(nodes) = Reflect::get(&segment, &"nodes".into()) else {
            continue;
        };
        let Some(nodes) = nodes.dyn_ref::<Object>() else {
            continue;
        };
        for id in &ids {
            Reflect::delete_property(nodes, &id.into()).map_err(&err)?;
        }
        if Object::keys(nodes).length() == 0 {
            segments.delete(&JsValue::from(seg as f64)).map_err(&err)?;
        } else {
            segments.put(&segment).map_err(&err)?;
        }
    }
    Ok(())
}

/// How many segments there are and how many entries each holds, by key (tests and the
/// bench look at compaction through this).
pub(super) async fn census(segments: &IdbObjectStore) -> Result<Vec<(u64, usize)>, JsValue> {
    let all = once(segments.get_all()).await?;
    Ok(all
        .unchecked_into::<js_sys::Array>()
        .iter()
        .map(|s| {
            let key = seg_of(&s).unwrap_or(0);
            let entries = Reflect::get(&s, &"nodes".into())
                .ok()
                .and_then(|n| n.dyn_into::<Object>().ok())
                .map_or(0, |n| Object::keys(&n).length() as usize);
            (key, entries)
        })
        .collect())
}

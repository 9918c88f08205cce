//! The index of format 3, read once to upgrade a store to format 4 ([`sealed`](super::sealed)):
//! the catalog as it stood at a point of the log, every entry decoded on open.
//!
//! ```text
//! "RLIX" [format u32 = 3] [crc32 of the body u32] body
//! body: logId, logLen u64, nextPosition u64, entry count u32, entry*,
//!       dead letters (JSON), rollup cells (JSON)
//! entry: id, version u64, frame offset u64, frame len u64, startedAt i64, status u8, kind,
//!        workflowId?, userId?, databaseType?, [failed node], [output name],
//!        [(system, external id)], queued u8 [version u64, position u64]
//! ```
//!
//! Integers are little-endian; a string is `[len u32][utf-8]`, an absent one `len = u32::MAX`;
//! a list is `[count u32]` then its items. An index of format 2 (summaries inside) is not
//! read: the log is replayed instead. Either way a format-4 index is written in its place.
//!
//! The index is a cache of the log: anything wrong with it (another format, a checksum
//! mismatch, a short read) makes the store replay the log instead.

use std::rc::Rc;

use super::bytes_in::In;
use super::catalog::Catalog;
use super::entry::{Entry, Interner};
use super::frame::crc32;
use super::FrameRef;
use crate::model::{Kind, Status};

const MAGIC: &[u8; 4] = b"RLIX";
/// The index layout read here (format 1 was JSON, format 2 held summaries; format 4 is
/// [`sealed`](super::sealed)).
pub const FORMAT_3: u32 = 3;
const NONE: u32 = u32::MAX;

/// Where an index says the log was when it was written.
pub struct Covered {
    pub log_id: String,
    pub log_len: u64,
}

/// `Some(None)` for an absent string (`len = u32::MAX`), `None` for a damaged one.
fn opt<'a>(r: &mut In<'a>) -> Option<Option<&'a str>> {
    let start = r.at;
    if r.u32()? == NONE {
        return Some(None);
    }
    r.at = start;
    r.str().map(Some)
}

/// The catalog an index holds, and what log it covers; `None` when the bytes are not an
/// intact index of this format.
pub fn decode(bytes: &[u8]) -> Option<(Covered, Catalog)> {
    let parsed = parse(bytes)?;
    Some((
        parsed.covered,
        Catalog::assemble(
            parsed.entries,
            parsed.next_position,
            parsed.dead,
            parsed.cells,
            parsed.strings,
        ),
    ))
}

/// What [`parse`] read.
struct Parsed {
    covered: Covered,
    next_position: u64,
    entries: Vec<Entry>,
    dead: Vec<crate::store::DeadLetter>,
    cells: Vec<crate::stats::Cell>,
    strings: Interner,
}

fn parse(bytes: &[u8]) -> Option<Parsed> {
    if bytes.get(..4)? != MAGIC {
        return None;
    }
    let mut head = In::new(bytes);
    head.at = 4;
    if head.u32()? != FORMAT_3 {
        return None;
    }
    let crc = head.u32()?;
    let body = &bytes[12..];
    if crc32(body) != crc {
        return None;
    }
    let mut r = In::new(body);
    let covered = Covered {
        log_id: r.str()?.to_owned(),
        log_len: r.u64()?,
    };
    let next_position = r.u64()?;
    let n = r.u32()? as usize;
    let mut strings = Interner::default();
    let mut entries = Vec::with_capacity(n.min(body.len() / 32));
    for _ in 0..n {
        let id: Rc<str> = Rc::from(r.str()?);
        let version = r.u64()?;
        let frame = FrameRef {
            offset: r.u64()?,
            len: r.u64()?,
        };
        let started_at = r.u64()? as i64;
        let status = *Status::ALL.get(r.u8()? as usize)?;
        // Built-in kinds without allocating; a caller's own word is copied.
        let word = r.str()?;
        let kind = Kind::named(word).unwrap_or_else(|| Kind::Other(word.to_owned()));
        let workflow_id = opt(&mut r)?.map(|w| strings.get(w));
        let user_id = opt(&mut r)?.map(|u| strings.get(u));
        let database_type = opt(&mut r)?.map(|d| strings.get(d));
        let failed_nodes = r.list(|r| Some(strings.get(r.str()?)))?;
        let outputs = r.list(|r| Some(strings.get(r.str()?)))?;
        let external_ids = r.list(|r| Some((strings.get(r.str()?), Box::from(r.str()?))))?;
        let queued = match r.u8()? {
            0 => None,
            1 => Some((r.u64()?, r.u64()?)),
            _ => return None,
        };
        entries.push(Entry {
            id,
            version,
            frame,
            started_at,
            status,
            kind,
            workflow_id,
            user_id,
            database_type,
            failed_nodes,
            outputs,
            external_ids,
            queued,
            shadows_sealed: false,
        });
    }
    let dead = serde_json::from_str(r.str()?).ok()?;
    let cells = serde_json::from_str(r.str()?).ok()?;
    if r.at != body.len() {
        return None;
    }
    Some(Parsed {
        covered,
        next_position,
        entries,
        dead,
        cells,
        strings,
    })
}

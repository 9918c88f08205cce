//! The index file: the catalog as it stood at a point of the log, in a compact binary form
//! that opens without parsing JSON per record.
//!
//! ```text
//! "RLIX" [format u32] [crc32 of the body u32] body
//! body: logId, logLen u64, nextPosition u64, entry count u32, entry*,
//!       dead letters (JSON), rollup cells (JSON)
//! entry: id, version u64, frame offset u64, frame len u64, startedAt i64, status u8, kind,
//!        workflowId?, userId?, databaseType?, [failed node], [output name],
//!        [(system, external id)], queued u8 [version u64, position u64]
//! ```
//!
//! Format 3 holds no summaries (format 2 held each one's JSON, and the catalog kept the
//! whole file in memory): a summary is read from its record's frame in the log when a page
//! needs it. An index of format 2 is not read; the log is replayed and a format-3 index
//! written in its place.
//!
//! Integers are little-endian; a string is `[len u32][utf-8]`, an absent one `len = u32::MAX`;
//! a list is `[count u32]` then its items. Entries are written oldest first, the order the
//! catalog's time index is built in.
//!
//! The index is a cache of the log: anything wrong with it (another format, a checksum
//! mismatch, a short read) makes the store replay the log instead.

use std::rc::Rc;

use super::catalog::{Catalog, Entry, Interner};
use super::frame::crc32;
use super::FrameRef;
use crate::model::{Kind, Status};

const MAGIC: &[u8; 4] = b"RLIX";
/// The index layout this library writes (format 1 was JSON, format 2 held summaries).
pub const INDEX_FORMAT: u32 = 3;
const NONE: u32 = u32::MAX;

/// Where an index says the log was when it was written.
pub struct Covered {
    pub log_id: String,
    pub log_len: u64,
}

struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.u32(NONE),
        }
    }
    fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.u32(items.len() as u32);
        for item in items {
            each(self, item);
        }
    }
}

struct In<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let len = self.u32()?;
        if len == NONE {
            return None;
        }
        std::str::from_utf8(self.take(len as usize)?).ok()
    }
    /// `Some(None)` for an absent string, `None` for a damaged one.
    fn opt(&mut self) -> Option<Option<&'a str>> {
        let start = self.at;
        if self.u32()? == NONE {
            return Some(None);
        }
        self.at = start;
        self.str().map(Some)
    }
    fn list<T>(&mut self, mut each: impl FnMut(&mut Self) -> Option<T>) -> Option<Box<[T]>> {
        let n = self.u32()? as usize;
        // A damaged count must not reserve gigabytes: grow as items actually read.
        let mut items = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            items.push(each(self)?);
        }
        Some(items.into_boxed_slice())
    }
}

fn status_code(s: Status) -> u8 {
    Status::ALL.iter().position(|&x| x == s).unwrap_or(0) as u8
}

/// The index bytes for `catalog`, covering the log `log_id` up to `log_len`.
pub fn encode(catalog: &Catalog, log_id: &str, log_len: u64) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = Out(Vec::with_capacity(catalog.len() * 128 + 1024));
    body.str(log_id);
    body.u64(log_len);
    body.u64(catalog.next_position());
    body.u32(catalog.len() as u32);
    for e in catalog.oldest_first() {
        body.str(&e.id);
        body.u64(e.version);
        body.u64(e.frame.offset);
        body.u64(e.frame.len);
        body.u64(e.started_at as u64);
        body.u8(status_code(e.status));
        body.str(e.kind.as_str());
        body.opt(e.workflow_id.as_deref());
        body.opt(e.user_id.as_deref());
        body.opt(e.database_type.as_deref());
        body.list(&e.failed_nodes, |o, n| o.str(n));
        body.list(&e.outputs, |o, n| o.str(n));
        body.list(&e.external_ids, |o, (system, id)| {
            o.str(system);
            o.str(id);
        });
        match e.queued {
            Some((version, position)) => {
                body.u8(1);
                body.u64(version);
                body.u64(position);
            }
            None => body.u8(0),
        }
    }
    body.str(&serde_json::to_string(&catalog.dead())?);
    body.str(&serde_json::to_string(&catalog.cells())?);
    let mut out = Vec::with_capacity(body.0.len() + 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&INDEX_FORMAT.to_le_bytes());
    out.extend_from_slice(&crc32(&body.0).to_le_bytes());
    out.extend(body.0);
    Ok(out)
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
    let mut head = In { bytes, at: 4 };
    if head.u32()? != INDEX_FORMAT {
        return None;
    }
    let crc = head.u32()?;
    let body = &bytes[12..];
    if crc32(body) != crc {
        return None;
    }
    let mut r = In { bytes: body, at: 0 };
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
        let workflow_id = r.opt()?.map(|w| strings.get(w));
        let user_id = r.opt()?.map(|u| strings.get(u));
        let database_type = r.opt()?.map(|d| strings.get(d));
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

//! The sealed index (index format 5): every record and every stats rollup cell the catalog
//! held at a checkpoint, on disk as sorted runs of fixed-size rows read by offset (binary
//! search), so that neither opening nor memory grows with history. Only the records and cells
//! changed since (the catalog's own), the outbox and a bounded page cache are in memory.
//!
//! The file is pages of 4,096 bytes: 4,092 bytes of content, then the CRC-32 of them (the
//! last page may be shorter). Every page read is checked. Offsets below count content bytes.
//!
//! ```text
//! "RLIX" [format u32 = 5]
//! rows       count × 80 B, oldest first by (startedAt, id): a record's rank is its row number
//!            startedAt i64, version, frame offset, frame len, blob offset (in the blob
//!            section), queued version (u64::MAX: not queued), queue position (all u64);
//!            workflow, user, database type, kind (u32 string codes, u32::MAX: none);
//!            status u8; 7 bytes of padding
//! by_status, by_workflow, by_user     (code u32, rank u32), sorted
//! blob       per record: [len u32] id, [failed node codes], [output codes],
//!            [(system code, external id)]
//! by_id      (FNV-1a of the id u64, rank u32, 0 u32), sorted
//! postings   (FNV-1a of the posting u64, rank u32, 0 u32), sorted
//! queue      (position u64, rank u32, 0 u32), sorted
//! cells      count × 40 B, in the order of [`cell_codec`](super::cell_codec) (workflow, slot,
//!            user, database type, status, kind): slot i64, sums offset u64 (in the sums
//!            section), sums len u32, workflow, user, database type, status, kind (u32
//!            string codes, u32::MAX: none)
//! sums       per cell: its counts and sketch (see [`cell_codec`](super::cell_codec))
//! footer     logId, logLen, nextPosition, count, the sections' (offset, count), the
//!            strings, dead letters (JSON)
//! trailer    [footer offset u64] "RLIF"
//! ```
//!
//! Integers are little-endian; a string is `[len u32][utf-8]`; a list `[count u32]` items.
//! Format 4 is the same without the cells and sums sections, its rollup cells as JSON at the
//! end of the footer: it is read (cells and all, once) and rewritten in format 5.
//! A damaged page met after opening is a [`StoreError::Corrupt`] of [`INDEX_KEY`]: the index
//! is a cache of the log, and the store rebuilds it from the log.

use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::FxHashMap as HashMap;

use super::bytes_in::{u32_at, u64_at, In};
use super::cell_codec::{decode_sums, encode_sums, order_of};
use super::entry::{id_hash, postings_of, Disk, Entry};
use super::frame::crc32;
use super::FrameRef;
use crate::error::StoreError;
use crate::model::{Kind, Millis, Status};
use crate::stats::{Cell, CellKey};

/// Bytes per page of the index file.
const PAGE: u64 = 4096;
/// Content bytes per page (the rest is its checksum).
const CONTENT: u64 = PAGE - 4;
pub const MAGIC: &[u8; 4] = b"RLIX";
/// The index layout written (1 was JSON, 2 held summaries, 3 every entry decoded on open, 4
/// its rollup cells as JSON in the footer, decoded on open).
pub const FORMAT: u32 = 5;
/// The layout before: read once, to be rewritten.
pub const FORMAT_4: u32 = 4;
const TRAILER: &[u8; 4] = b"RLIF";
const ROW: u64 = 80;
const PAIR: u64 = 8;
const KEYED: u64 = 16;
const CELL_ROW: u64 = 40;
const NONE: u32 = u32::MAX;
/// Pages per generation of the page cache (two generations: at most 2 MiB).
const CACHED_PAGES: usize = 256;
/// Content written per call to the file adapter.
const CHUNK: usize = 64 * CONTENT as usize;

/// How errors name a damaged index.
pub const INDEX_KEY: &str = "the store's index";

fn damaged(reason: String) -> StoreError {
    StoreError::Corrupt {
        key: INDEX_KEY.into(),
        reason,
    }
}

fn status_code(s: Status) -> u32 {
    Status::ALL.iter().position(|&x| x == s).unwrap_or(0) as u32
}

/// A run of fixed-size rows: where it starts and how many.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Section {
    at: u64,
    count: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Sections {
    rows: Section,
    /// `count` is its length in bytes.
    blob: Section,
    by_status: Section,
    by_workflow: Section,
    by_user: Section,
    by_id: Section,
    postings: Section,
    queue: Section,
    cells: Section,
    /// `count` is its length in bytes.
    sums: Section,
}

impl Sections {
    /// The sections of format 4, then those format 5 added.
    fn all(&mut self) -> [&mut Section; 10] {
        [
            &mut self.rows,
            &mut self.blob,
            &mut self.by_status,
            &mut self.by_workflow,
            &mut self.by_user,
            &mut self.by_id,
            &mut self.postings,
            &mut self.queue,
            &mut self.cells,
            &mut self.sums,
        ]
    }
}

/// A secondary order of (code, rank) pairs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Order {
    Status,
    Workflow,
    User,
}

/// What the footer holds besides the sections.
#[derive(Debug, Default)]
pub(super) struct Footer {
    pub log_id: String,
    pub log_len: u64,
    pub next_position: u64,
    pub dead: Vec<crate::store::DeadLetter>,
    /// The rollup cells of a format-4 index (format 5 keeps them in its sections).
    pub legacy_cells: Vec<Cell>,
}

/// Two generations of pages: recent pages (the top of every binary search, the newest rows)
/// stay; memory stays bounded whatever the history's size.
#[derive(Debug, Default)]
struct Pages {
    newer: HashMap<u64, Rc<[u8]>>,
    older: HashMap<u64, Rc<[u8]>>,
}

impl Pages {
    fn get(&mut self, n: u64) -> Option<Rc<[u8]>> {
        if let Some(p) = self.newer.get(&n) {
            return Some(p.clone());
        }
        let p = self.older.remove(&n)?;
        self.put(n, p.clone());
        Some(p)
    }
    fn put(&mut self, n: u64, page: Rc<[u8]>) {
        if self.newer.len() >= CACHED_PAGES {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(n, page);
    }
}

/// One row of the `rows` section.
struct Row {
    started_at: Millis,
    version: u64,
    frame: FrameRef,
    blob: u64,
    queued: Option<(u64, u64)>,
    workflow: u32,
    user: u32,
    database_type: u32,
    kind: u32,
    status: Status,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// An open sealed index.
#[derive(Debug)]
pub(super) struct Sealed {
    /// Records in it.
    pub count: u64,
    content_len: u64,
    sections: Sections,
    strings: Vec<Rc<str>>,
    codes: HashMap<Rc<str>, u32>,
    pages: RefCell<Pages>,
}

impl Sealed {
    /// Opens the index file of `size` bytes: reads its first page and its footer only.
    /// `None` when it is not an intact index of this format.
    pub fn open(disk: &dyn Disk, size: u64) -> Option<(Sealed, Footer)> {
        let last = size % PAGE;
        if last != 0 && last <= 4 {
            return None;
        }
        let content_len = size / PAGE * CONTENT + last.saturating_sub(4);
        let mut sealed = Sealed {
            count: 0,
            content_len,
            sections: Sections::default(),
            strings: Vec::new(),
            codes: HashMap::default(),
            pages: RefCell::default(),
        };
        let head = sealed.read(disk, 0, 8).ok()?;
        let format = u32_at(&head, 4);
        if &head[..4] != MAGIC || (format != FORMAT && format != FORMAT_4) {
            return None;
        }
        let trailer = sealed.read(disk, content_len.checked_sub(12)?, 12).ok()?;
        if &trailer[8..] != TRAILER {
            return None;
        }
        let footer_at = u64_at(&trailer, 0);
        let footer_len = (content_len - 12).checked_sub(footer_at)?;
        let bytes = sealed.read(disk, footer_at, footer_len).ok()?;
        let mut r = In::new(&bytes);
        let mut footer = Footer {
            log_id: r.str()?.to_owned(),
            log_len: r.u64()?,
            next_position: r.u64()?,
            ..Footer::default()
        };
        sealed.count = r.u64()?;
        let sections = if format == FORMAT { 10 } else { 8 };
        for s in sealed.sections.all().into_iter().take(sections) {
            *s = Section {
                at: r.u64()?,
                count: r.u64()?,
            };
        }
        sealed.strings = r.list(|r| Some(Rc::from(r.str()?)))?.into_vec();
        sealed.codes = sealed
            .strings
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        footer.dead = serde_json::from_str(r.str()?).ok()?;
        if format == FORMAT_4 {
            footer.legacy_cells = serde_json::from_str(r.str()?).ok()?;
        }
        // Every section lies before the footer: no row read later can point outside the file.
        let s = sealed.sections;
        let fits = |section: Section, width: u64| {
            section
                .count
                .checked_mul(width)
                .and_then(|bytes| section.at.checked_add(bytes))
                .is_some_and(|end| end <= footer_at)
        };
        let all_fit = fits(s.rows, ROW)
            && fits(s.blob, 1)
            && fits(s.sums, 1)
            && fits(s.cells, CELL_ROW)
            && [s.by_status, s.by_workflow, s.by_user]
                .iter()
                .all(|&x| fits(x, PAIR))
            && [s.by_id, s.postings, s.queue]
                .iter()
                .all(|&x| fits(x, KEYED));
        if r.at != bytes.len() || s.rows.count != sealed.count || !all_fit {
            return None;
        }
        Some((sealed, footer))
    }

    fn page(&self, disk: &dyn Disk, n: u64) -> Result<Rc<[u8]>, StoreError> {
        if let Some(p) = self.pages.borrow_mut().get(n) {
            return Ok(p);
        }
        let raw = disk
            .index_at(n * PAGE, PAGE)
            .map_err(|e| damaged(format!("its page {n} cannot be read ({e})")))?;
        let intact = raw.len() > 4 && {
            let (content, crc) = raw.split_at(raw.len() - 4);
            crc32(content) == u32_at(crc, 0)
        };
        if !intact {
            return Err(damaged(format!(
                "its page {n} (byte {}) fails its checksum",
                n * PAGE
            )));
        }
        let page: Rc<[u8]> = Rc::from(&raw[..raw.len() - 4]);
        self.pages.borrow_mut().put(n, page.clone());
        Ok(page)
    }

    /// `len` content bytes at content offset `at`.
    fn read(&self, disk: &dyn Disk, at: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let end = at
            .checked_add(len)
            .filter(|&end| end <= self.content_len)
            .ok_or_else(|| {
                damaged(format!(
                    "it names bytes {at}..+{len}, past its end ({})",
                    self.content_len
                ))
            })?;
        let mut out = Vec::with_capacity(len as usize);
        let mut pos = at;
        while pos < end {
            let page = self.page(disk, pos / CONTENT)?;
            let from = (pos % CONTENT) as usize;
            let take = ((end - pos) as usize).min(page.len().saturating_sub(from));
            if take == 0 {
                return Err(damaged(format!("its page {} is short", pos / CONTENT)));
            }
            out.extend_from_slice(&page[from..from + take]);
            pos += take as u64;
        }
        Ok(out)
    }

    fn string(&self, code: u32) -> Result<Option<Rc<str>>, StoreError> {
        if code == NONE {
            return Ok(None);
        }
        self.strings
            .get(code as usize)
            .cloned()
            .map(Some)
            .ok_or_else(|| damaged(format!("it names string {code}, which it does not hold")))
    }

    /// The code of `text` in this index, if any record has it.
    pub fn code(&self, text: &str) -> Option<u32> {
        self.codes.get(text).copied()
    }

    /// The code of a status.
    pub fn status_code(s: Status) -> u32 {
        status_code(s)
    }

    fn row(&self, disk: &dyn Disk, rank: u64) -> Result<Row, StoreError> {
        if rank >= self.count {
            return Err(damaged(format!("it names row {rank} of {}", self.count)));
        }
        let b = self.read(disk, self.sections.rows.at + rank * ROW, ROW)?;
        let queued_version = u64_at(&b, 40);
        Ok(Row {
            started_at: u64_at(&b, 0) as i64,
            version: u64_at(&b, 8),
            frame: FrameRef {
                offset: u64_at(&b, 16),
                len: u64_at(&b, 24),
            },
            blob: u64_at(&b, 32),
            queued: (queued_version != u64::MAX).then(|| (queued_version, u64_at(&b, 48))),
            workflow: u32_at(&b, 56),
            user: u32_at(&b, 60),
            database_type: u32_at(&b, 64),
            kind: u32_at(&b, 68),
            status: *Status::ALL
                .get(b[72] as usize)
                .ok_or_else(|| damaged(format!("row {rank} has an unknown status")))?,
        })
    }

    /// The record of rank `rank`.
    pub fn entry(&self, disk: &dyn Disk, rank: u64) -> Result<Entry, StoreError> {
        let row = self.row(disk, rank)?;
        let bad = || damaged(format!("the record of row {rank} cannot be read"));
        let at = self
            .sections
            .blob
            .at
            .checked_add(row.blob)
            .ok_or_else(bad)?;
        let len = u32_at(&self.read(disk, at, 4)?, 0);
        let blob = self.read(disk, at.saturating_add(4), u64::from(len))?;
        let mut r = In::new(&blob);
        let id: Rc<str> = Rc::from(r.str().ok_or_else(bad)?);
        let code = |r: &mut In| r.u32();
        let failed = r.list(code).ok_or_else(bad)?;
        let outputs = r.list(code).ok_or_else(bad)?;
        let external = r
            .list(|r| Some((r.u32()?, Box::from(r.str()?))))
            .ok_or_else(bad)?;
        let strings = |codes: Box<[u32]>| -> Result<Box<[Rc<str>]>, StoreError> {
            codes
                .iter()
                .map(|&c| self.string(c)?.ok_or_else(bad))
                .collect()
        };
        let word = self.string(row.kind)?.ok_or_else(bad)?;
        Ok(Entry {
            id,
            version: row.version,
            frame: row.frame,
            started_at: row.started_at,
            status: row.status,
            kind: Kind::named(&word).unwrap_or_else(|| Kind::Other(word.to_string())),
            workflow_id: self.string(row.workflow)?,
            user_id: self.string(row.user)?,
            database_type: self.string(row.database_type)?,
            failed_nodes: strings(failed)?,
            outputs: strings(outputs)?,
            external_ids: external
                .into_vec()
                .into_iter()
                .map(|(c, id)| Ok((self.string(c)?.ok_or_else(bad)?, id)))
                .collect::<Result<_, StoreError>>()?,
            queued: row.queued,
            shadows_sealed: false,
        })
    }

    /// The first rank whose `(startedAt, id)` is at or after `(at, id)`.
    pub fn time_bound(&self, disk: &dyn Disk, at: Millis, id: &str) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let before = match self.row(disk, mid)?.started_at.cmp(&at) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Greater => false,
                std::cmp::Ordering::Equal => &*self.entry(disk, mid)?.id < id,
            };
            if before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// `(key, rank)` of row `i` of a pair (`PAIR`) or keyed (`KEYED`) section.
    fn key(
        &self,
        disk: &dyn Disk,
        s: Section,
        width: u64,
        i: u64,
    ) -> Result<(u64, u64), StoreError> {
        let b = self.read(disk, s.at + i * width, width)?;
        Ok(if width == PAIR {
            (u64::from(u32_at(&b, 0)), u64::from(u32_at(&b, 4)))
        } else {
            (u64_at(&b, 0), u64::from(u32_at(&b, 8)))
        })
    }

    /// The first row of section `s` whose `(key, rank)` is at or after `bound`.
    fn lower_bound(
        &self,
        disk: &dyn Disk,
        s: Section,
        width: u64,
        bound: (u64, u64),
    ) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, s.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(disk, s, width, mid)? < bound {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    fn order(&self, order: Order) -> Section {
        match order {
            Order::Status => self.sections.by_status,
            Order::Workflow => self.sections.by_workflow,
            Order::User => self.sections.by_user,
        }
    }

    /// The ranks with `code` in `order` below rank `top`, newest first.
    pub fn ranks_of(
        &self,
        disk: &dyn Disk,
        order: Order,
        code: u32,
        top: u64,
    ) -> Result<Ranks, StoreError> {
        self.ranks_in(disk, self.order(order), PAIR, u64::from(code), top)
    }

    /// The ranks of the records with `posting`'s hash below rank `top`, newest first (a hash
    /// may name other postings too: the caller checks the record).
    pub fn ranks_posted(
        &self,
        disk: &dyn Disk,
        posting_hash: u64,
        top: u64,
    ) -> Result<Ranks, StoreError> {
        self.ranks_in(disk, self.sections.postings, KEYED, posting_hash, top)
    }

    fn ranks_in(
        &self,
        disk: &dyn Disk,
        s: Section,
        width: u64,
        key: u64,
        top: u64,
    ) -> Result<Ranks, StoreError> {
        let low = self.lower_bound(disk, s, width, (key, 0))?;
        let high = self.lower_bound(disk, s, width, (key, top))?;
        Ok(Ranks::Section {
            section: s,
            width,
            low,
            next: high,
        })
    }

    /// The rank read at row `i` of a `Ranks::Section`.
    fn rank_at(&self, disk: &dyn Disk, s: Section, width: u64, i: u64) -> Result<u64, StoreError> {
        Ok(self.key(disk, s, width, i)?.1)
    }

    /// The record `id` and its rank, if this index holds it.
    pub fn find(&self, disk: &dyn Disk, id: &str) -> Result<Option<(u64, Entry)>, StoreError> {
        let h = id_hash(id);
        let s = self.sections.by_id;
        let mut i = self.lower_bound(disk, s, KEYED, (h, 0))?;
        while i < s.count {
            let (key, rank) = self.key(disk, s, KEYED, i)?;
            if key != h {
                break;
            }
            let e = self.entry(disk, rank)?;
            if &*e.id == id {
                return Ok(Some((rank, e)));
            }
            i += 1;
        }
        Ok(None)
    }

    /// Queue rows: how many.
    pub fn queued_count(&self) -> u64 {
        self.sections.queue.count
    }

    /// The first queue row at or after `position`.
    pub fn queue_from(&self, disk: &dyn Disk, position: u64) -> Result<u64, StoreError> {
        self.lower_bound(disk, self.sections.queue, KEYED, (position, 0))
    }

    /// `(position, rank)` of queue row `i`.
    pub fn queue_at(&self, disk: &dyn Disk, i: u64) -> Result<(u64, u64), StoreError> {
        self.key(disk, self.sections.queue, KEYED, i)
    }

    /// Rollup cells in it.
    pub fn cell_count(&self) -> u64 {
        self.sections.cells.count
    }

    /// The key of cell `i`, and where its sums are.
    fn cell_row(&self, disk: &dyn Disk, i: u64) -> Result<(CellKey, u64, u64), StoreError> {
        let b = self.read(disk, self.sections.cells.at + i * CELL_ROW, CELL_ROW)?;
        let bad = || damaged(format!("its cell {i} names no status or kind"));
        let key = CellKey {
            slot: u64_at(&b, 0) as i64,
            workflow_id: self.string(u32_at(&b, 20))?.map(|s| s.to_string()),
            user_id: self.string(u32_at(&b, 24))?.map(|s| s.to_string()),
            database_type: self.string(u32_at(&b, 28))?.map(|s| s.to_string()),
            status: self.string(u32_at(&b, 32))?.ok_or_else(bad)?.to_string(),
            kind: self.string(u32_at(&b, 36))?.ok_or_else(bad)?.to_string(),
        };
        Ok((key, u64_at(&b, 8), u64::from(u32_at(&b, 16))))
    }

    /// `(workflow, slot)` of cell `i`, read without decoding the rest of its key.
    pub fn cell_place(
        &self,
        disk: &dyn Disk,
        i: u64,
    ) -> Result<(Option<Rc<str>>, i64), StoreError> {
        let b = self.read(disk, self.sections.cells.at + i * CELL_ROW, 24)?;
        Ok((self.string(u32_at(&b, 20))?, u64_at(&b, 0) as i64))
    }

    /// Cell `i`, whole.
    pub fn cell(&self, disk: &dyn Disk, i: u64) -> Result<Cell, StoreError> {
        let (key, at, len) = self.cell_row(disk, i)?;
        let at = self
            .sections
            .sums
            .at
            .checked_add(at)
            .filter(|_| at.saturating_add(len) <= self.sections.sums.count)
            .ok_or_else(|| damaged(format!("its cell {i} points past its sums")))?;
        let bytes = self.read(disk, at, len)?;
        decode_sums(key, &bytes)
            .ok_or_else(|| damaged(format!("the sums of its cell {i} do not read")))
    }

    /// The first cell at or after `(workflow, slot)` in the cells' order.
    pub fn cell_bound(
        &self,
        disk: &dyn Disk,
        workflow: Option<&str>,
        slot: i64,
    ) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.cell_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (w, s) = self.cell_place(disk, mid)?;
            if (w.as_deref(), s) < (workflow, slot) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The cell of `key`, if this index holds one.
    pub fn find_cell(&self, disk: &dyn Disk, key: &CellKey) -> Result<Option<Cell>, StoreError> {
        let want = order_of(key);
        let mut i = self.cell_bound(disk, want.0, want.1)?;
        while i < self.cell_count() {
            let (w, s) = self.cell_place(disk, i)?;
            if (w.as_deref(), s) != (want.0, want.1) {
                break;
            }
            let cell = self.cell(disk, i)?;
            if cell.key == *key {
                return Ok(Some(cell));
            }
            i += 1;
        }
        Ok(None)
    }
}

/// Ranks, newest first: every rank below a point, or rows of a section.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ranks {
    All {
        next: u64,
    },
    Section {
        section: Section,
        width: u64,
        low: u64,
        next: u64,
    },
}

impl Ranks {
    /// The next rank (newest first), if any.
    pub fn next(&mut self, sealed: &Sealed, disk: &dyn Disk) -> Result<Option<u64>, StoreError> {
        match self {
            Ranks::All { next } => {
                if *next == 0 {
                    return Ok(None);
                }
                *next -= 1;
                Ok(Some(*next))
            }
            Ranks::Section {
                section,
                width,
                low,
                next,
            } => {
                if *next <= *low {
                    return Ok(None);
                }
                *next -= 1;
                sealed.rank_at(disk, *section, *width, *next).map(Some)
            }
        }
    }
}

/// Everything a new index holds besides the records.
pub(super) struct Meta<'a> {
    pub log_id: &'a str,
    pub log_len: u64,
    pub next_position: u64,
    pub count: u64,
    pub dead_json: String,
}

/// Calls its argument with every live record, oldest first by `(startedAt, id)`.
pub(super) type EachLive<'a> =
    &'a dyn Fn(&mut dyn FnMut(&Entry) -> Result<(), StoreError>) -> Result<(), StoreError>;

/// Calls its argument with every rollup cell, in the order of
/// [`order_of`](super::cell_codec::order_of).
pub(super) type EachCell<'a> =
    &'a dyn Fn(&mut dyn FnMut(&Cell) -> Result<(), StoreError>) -> Result<(), StoreError>;

/// Writes content as checksummed pages to `sink`, a chunk at a time.
struct Pager<'a> {
    sink: &'a dyn Fn(&[u8]) -> Result<(), StoreError>,
    buf: Vec<u8>,
    flushed: u64,
}

impl Pager<'_> {
    fn pos(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }
    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush(false)?;
        }
        Ok(())
    }
    /// Writes the whole pages buffered (and the partial last one when `last`).
    fn flush(&mut self, last: bool) -> Result<(), StoreError> {
        let whole = if last {
            self.buf.len()
        } else {
            self.buf.len() / CONTENT as usize * CONTENT as usize
        };
        if whole == 0 {
            return Ok(());
        }
        let mut out = Vec::with_capacity(whole + whole / CONTENT as usize * 4 + 4);
        for page in self.buf[..whole].chunks(CONTENT as usize) {
            out.extend_from_slice(page);
            out.extend_from_slice(&crc32(page).to_le_bytes());
        }
        (self.sink)(&out)?;
        self.buf.drain(..whole);
        self.flushed += whole as u64;
        Ok(())
    }
}

/// Codes for the strings of a new index.
#[derive(Default)]
struct Codes {
    strings: Vec<Rc<str>>,
    codes: HashMap<Rc<str>, u32>,
}

impl Codes {
    fn of(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.codes.get(s) {
            return c;
        }
        let c = self.strings.len() as u32;
        let s: Rc<str> = Rc::from(s);
        self.strings.push(s.clone());
        self.codes.insert(s, c);
        c
    }
    fn opt(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.of(s))
    }
}

fn blob_of(e: &Entry, codes: &mut Codes, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; 4]);
    put_str(out, &e.id);
    for list in [&e.failed_nodes, &e.outputs] {
        out.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for s in list.iter() {
            out.extend_from_slice(&codes.of(s).to_le_bytes());
        }
    }
    out.extend_from_slice(&(e.external_ids.len() as u32).to_le_bytes());
    for (system, id) in e.external_ids.iter() {
        out.extend_from_slice(&codes.of(system).to_le_bytes());
        put_str(out, id);
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_le_bytes());
}

fn write_pairs(p: &mut Pager, mut pairs: Vec<(u32, u32)>) -> Result<Section, StoreError> {
    pairs.sort_unstable();
    let s = Section {
        at: p.pos(),
        count: pairs.len() as u64,
    };
    for (code, rank) in pairs {
        p.put(&code.to_le_bytes())?;
        p.put(&rank.to_le_bytes())?;
    }
    Ok(s)
}

fn write_keyed(p: &mut Pager, mut keyed: Vec<(u64, u32)>) -> Result<Section, StoreError> {
    keyed.sort_unstable();
    let s = Section {
        at: p.pos(),
        count: keyed.len() as u64,
    };
    for (key, rank) in keyed {
        p.put(&key.to_le_bytes())?;
        p.put(&rank.to_le_bytes())?;
        p.put(&[0; 4])?;
    }
    Ok(s)
}

/// Writes a new index of the records `each` gives to `sink`, in three passes over them (the
/// rows; the blob and ids; the postings and the queue): memory holds one section's keys at
/// a time, never the records.
pub(super) fn write(
    each: EachLive,
    each_cell: EachCell,
    meta: &Meta,
    sink: &dyn Fn(&[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut p = Pager {
        sink,
        buf: Vec::with_capacity(CHUNK + ROW as usize),
        flushed: 0,
    };
    p.put(MAGIC)?;
    p.put(&FORMAT.to_le_bytes())?;
    let mut codes = Codes::default();
    let mut sections = Sections::default();
    let mut blob = Vec::new();
    let (mut statuses, mut workflows, mut users) = (Vec::new(), Vec::new(), Vec::new());
    let mut blob_len = 0u64;
    let mut rank = 0u32;
    sections.rows.at = p.pos();
    each(&mut |e| {
        blob_of(e, &mut codes, &mut blob);
        let mut row = [0u8; ROW as usize];
        let (qv, qp) = e.queued.unwrap_or((u64::MAX, 0));
        for (i, v) in [
            e.started_at as u64,
            e.version,
            e.frame.offset,
            e.frame.len,
            blob_len,
            qv,
            qp,
        ]
        .into_iter()
        .enumerate()
        {
            row[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        let workflow = codes.opt(e.workflow_id.as_deref());
        let user = codes.opt(e.user_id.as_deref());
        let database_type = codes.opt(e.database_type.as_deref());
        let kind = codes.of(e.kind.as_str());
        for (i, v) in [workflow, user, database_type, kind]
            .into_iter()
            .enumerate()
        {
            row[56 + i * 4..60 + i * 4].copy_from_slice(&v.to_le_bytes());
        }
        row[72] = status_code(e.status) as u8;
        p.put(&row)?;
        statuses.push((status_code(e.status), rank));
        if workflow != NONE {
            workflows.push((workflow, rank));
        }
        if user != NONE {
            users.push((user, rank));
        }
        blob_len += blob.len() as u64;
        rank += 1;
        Ok(())
    })?;
    if u64::from(rank) != meta.count {
        return Err(damaged(format!(
            "a new one would hold {rank} records where the catalog counts {}",
            meta.count
        )));
    }
    sections.rows.count = u64::from(rank);
    sections.by_status = write_pairs(&mut p, std::mem::take(&mut statuses))?;
    sections.by_workflow = write_pairs(&mut p, std::mem::take(&mut workflows))?;
    sections.by_user = write_pairs(&mut p, std::mem::take(&mut users))?;
    // The blob, and the ids' keys.
    sections.blob.at = p.pos();
    let mut ids = Vec::with_capacity(rank as usize);
    let mut rank = 0u32;
    each(&mut |e| {
        blob_of(e, &mut codes, &mut blob);
        p.put(&blob)?;
        ids.push((id_hash(&e.id), rank));
        rank += 1;
        Ok(())
    })?;
    sections.blob.count = blob_len;
    sections.by_id = write_keyed(&mut p, ids)?;
    // The postings and the queue.
    let (mut postings, mut queue) = (Vec::new(), Vec::new());
    let mut rank = 0u32;
    each(&mut |e| {
        postings.extend(postings_of(e).map(|posting| (posting.hash(), rank)));
        if let Some((_, position)) = e.queued {
            queue.push((position, rank));
        }
        rank += 1;
        Ok(())
    })?;
    sections.postings = write_keyed(&mut p, postings)?;
    sections.queue = write_keyed(&mut p, queue)?;
    (sections.cells, sections.sums) = write_cells(&mut p, each_cell, &mut codes)?;
    // The footer and the trailer.
    let footer_at = p.pos();
    let mut footer = Vec::new();
    put_str(&mut footer, meta.log_id);
    footer.extend_from_slice(&meta.log_len.to_le_bytes());
    footer.extend_from_slice(&meta.next_position.to_le_bytes());
    footer.extend_from_slice(&meta.count.to_le_bytes());
    for s in sections.all() {
        footer.extend_from_slice(&s.at.to_le_bytes());
        footer.extend_from_slice(&s.count.to_le_bytes());
    }
    footer.extend_from_slice(&(codes.strings.len() as u32).to_le_bytes());
    for s in &codes.strings {
        put_str(&mut footer, s);
    }
    put_str(&mut footer, &meta.dead_json);
    p.put(&footer)?;
    p.put(&footer_at.to_le_bytes())?;
    p.put(TRAILER)?;
    p.flush(true)
}

/// Writes the cells `each_cell` gives (in their order, checked) as rows, then their sums, in
/// two passes over them: memory holds one cell at a time.
fn write_cells(
    p: &mut Pager,
    each_cell: EachCell,
    codes: &mut Codes,
) -> Result<(Section, Section), StoreError> {
    let mut rows = Section {
        at: p.pos(),
        count: 0,
    };
    let mut sums = Vec::new();
    let mut sums_len = 0u64;
    let mut last: Option<CellKey> = None;
    each_cell(&mut |cell| {
        if last
            .as_ref()
            .is_some_and(|l| order_of(l) >= order_of(&cell.key))
        {
            return Err(damaged(format!(
                "a new one would hold cells out of order (at {:?})",
                cell.key
            )));
        }
        last = Some(cell.key.clone());
        sums.clear();
        encode_sums(cell, &mut sums);
        let k = &cell.key;
        let mut row = [0u8; CELL_ROW as usize];
        row[..8].copy_from_slice(&k.slot.to_le_bytes());
        row[8..16].copy_from_slice(&sums_len.to_le_bytes());
        row[16..20].copy_from_slice(&(sums.len() as u32).to_le_bytes());
        for (i, code) in [
            codes.opt(k.workflow_id.as_deref()),
            codes.opt(k.user_id.as_deref()),
            codes.opt(k.database_type.as_deref()),
            codes.of(&k.status),
            codes.of(&k.kind),
        ]
        .into_iter()
        .enumerate()
        {
            row[20 + i * 4..24 + i * 4].copy_from_slice(&code.to_le_bytes());
        }
        p.put(&row)?;
        sums_len += sums.len() as u64;
        rows.count += 1;
        Ok(())
    })?;
    let at = p.pos();
    each_cell(&mut |cell| {
        sums.clear();
        encode_sums(cell, &mut sums);
        p.put(&sums)
    })?;
    Ok((
        rows,
        Section {
            at,
            count: sums_len,
        },
    ))
}

//! Rollup cells in the sealed index (format 5): the order they are kept in, and the binary
//! form of a cell's sums (its key is in its fixed-size row, as string codes).
//!
//! ```text
//! sums: count u64, timed u64, durationSumUs i64, rows u64, zeros u64,
//!       least i64, greatest i64 (i64::MIN: unknown), [(bucket i32, count u64)]
//! ```
//!
//! Cells are ordered by workflow first, then slot (then user, database type, status, kind):
//! a stats call for one workflow over a window reads one contiguous run of them.

use super::bytes_in::In;
use crate::stats::{Cell, CellKey, Extremes, Sketch};

/// How cells are ordered in the index.
pub(super) type CellOrder<'a> = (
    Option<&'a str>,
    i64,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    &'a str,
);

/// The place of `key` in the index's order.
pub(super) fn order_of(key: &CellKey) -> CellOrder<'_> {
    (
        key.workflow_id.as_deref(),
        key.slot,
        key.user_id.as_deref(),
        key.database_type.as_deref(),
        &key.status,
        &key.kind,
    )
}

const UNKNOWN: i64 = i64::MIN;

/// Appends the sums of `cell` (not its key) to `out`.
pub(super) fn encode_sums(cell: &Cell, out: &mut Vec<u8>) {
    let extremes = cell.durations.extremes();
    let (zeros, buckets) = cell.durations.parts();
    for v in [
        cell.count,
        cell.timed,
        cell.duration_sum_us as u64,
        cell.rows,
        zeros,
        extremes.least.unwrap_or(UNKNOWN) as u64,
        extremes.greatest.unwrap_or(UNKNOWN) as u64,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut n = 0u32;
    for (bucket, count) in buckets {
        out.extend_from_slice(&bucket.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        n += 1;
    }
    out[at..at + 4].copy_from_slice(&n.to_le_bytes());
}

/// The cell of `key` with the sums in `bytes`; `None` when they do not read as sums.
pub(super) fn decode_sums(key: CellKey, bytes: &[u8]) -> Option<Cell> {
    let mut r = In::new(bytes);
    let count = r.u64()?;
    let timed = r.u64()?;
    let duration_sum_us = r.u64()? as i64;
    let rows = r.u64()?;
    let zeros = r.u64()?;
    let known = |v: u64| Some(v as i64).filter(|&v| v != UNKNOWN);
    let extremes = Extremes {
        least: known(r.u64()?),
        greatest: known(r.u64()?),
    };
    let buckets = r.list(|r| Some((r.u32()? as i32, r.u64()?)))?;
    if r.at != bytes.len() {
        return None;
    }
    Some(Cell {
        key,
        count,
        timed,
        duration_sum_us,
        rows,
        durations: Sketch::from_parts(zeros, buckets.into_vec(), extremes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_read_back_as_written() {
        let key = CellKey {
            slot: 7,
            workflow_id: Some("wf".into()),
            status: "success".into(),
            kind: "workflow".into(),
            ..CellKey::default()
        };
        let mut cell = Cell::new(key.clone());
        for (d, sign) in [(0.0, 1), (12.5, 1), (400.0, 1), (12.5, -1), (9_000.0, 1)] {
            let c = crate::stats::Contribution {
                key: key.clone(),
                duration_ms: Some(d),
                rows: 3,
            };
            cell.apply(&c, sign);
        }
        let mut bytes = Vec::new();
        encode_sums(&cell, &mut bytes);
        assert_eq!(decode_sums(key.clone(), &bytes), Some(cell));
        assert_eq!(decode_sums(key.clone(), &bytes[..bytes.len() - 1]), None);
        bytes.push(0);
        assert_eq!(decode_sums(key, &bytes), None, "trailing bytes are refused");
    }
}

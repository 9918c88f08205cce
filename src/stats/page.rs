//! A compact text form for the cells of one workflow over [`PAGE_SLOTS`] slots (an IndexedDB
//! rollup page).
//!
//! Stats read pages, so their number and size are what a stats call pays for: the browser's
//! cost per record read is high (tens of µs) and grows with its bytes, and parsing grows with
//! the bytes. A page covers four hours of one workflow, names the workflow once, and each cell
//! is an array, not an object with its key repeated:
//!
//! ```text
//! [workflowId | null, [[slot, userId | null, databaseType | null, status, kind,
//!                       count, timed, durationSumUs, rows, zeros, [bucket, n, …],
//!                       [least | null, greatest | null]], …]]
//! ```
//!
//! The last element (the sketch's exact extremes) came later: rows without it still read,
//! with the extremes unknown.

use serde::{Deserialize, Serialize};

use super::sketch::Extremes;
use super::{Cell, CellKey, Sketch};

/// Slots per page: four hours of 30-minute slots.
pub const PAGE_SLOTS: i64 = 8;

/// The first slot of the page holding `slot`.
pub fn page_slot(slot: i64) -> i64 {
    slot - slot.rem_euclid(PAGE_SLOTS)
}

/// One cell as an array; `extremes` is absent from rows stored before it existed.
struct Row {
    slot: i64,
    user_id: Option<String>,
    database_type: Option<String>,
    status: String,
    kind: String,
    count: u64,
    timed: u64,
    duration_sum_us: i64,
    rows: u64,
    zeros: u64,
    buckets: Vec<i64>,
    extremes: (Option<i64>, Option<i64>),
}

impl Serialize for Row {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(12)?;
        t.serialize_element(&self.slot)?;
        t.serialize_element(&self.user_id)?;
        t.serialize_element(&self.database_type)?;
        t.serialize_element(&self.status)?;
        t.serialize_element(&self.kind)?;
        t.serialize_element(&self.count)?;
        t.serialize_element(&self.timed)?;
        t.serialize_element(&self.duration_sum_us)?;
        t.serialize_element(&self.rows)?;
        t.serialize_element(&self.zeros)?;
        t.serialize_element(&self.buckets)?;
        t.serialize_element(&self.extremes)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Row, D::Error> {
        struct RowVisitor;
        impl<'de> serde::de::Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a rollup cell array of 11 or 12 elements")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
                let mut at = 0;
                let mut next = || {
                    at += 1;
                    at - 1
                };
                macro_rules! required {
                    () => {{
                        let i = next();
                        seq.next_element()?
                            .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?
                    }};
                }
                Ok(Row {
                    slot: required!(),
                    user_id: required!(),
                    database_type: required!(),
                    status: required!(),
                    kind: required!(),
                    count: required!(),
                    timed: required!(),
                    duration_sum_us: required!(),
                    rows: required!(),
                    zeros: required!(),
                    buckets: required!(),
                    extremes: seq.next_element()?.unwrap_or((None, None)),
                })
            }
        }
        deserializer.deserialize_seq(RowVisitor)
    }
}

#[derive(Serialize, Deserialize)]
struct Page(Option<String>, Vec<Row>);

/// The page text of `cells`, which must share their workflow and page (the first one's).
pub fn encode_page(cells: &[&Cell]) -> String {
    let workflow = cells.first().and_then(|c| c.key.workflow_id.clone());
    let rows = cells
        .iter()
        .map(|c| {
            debug_assert!(c.key.workflow_id == workflow);
            let (zeros, buckets) = c.durations.parts();
            let extremes = c.durations.extremes();
            Row {
                slot: c.key.slot,
                user_id: c.key.user_id.clone(),
                database_type: c.key.database_type.clone(),
                status: c.key.status.clone(),
                kind: c.key.kind.clone(),
                count: c.count,
                timed: c.timed,
                duration_sum_us: c.duration_sum_us,
                rows: c.rows,
                zeros,
                buckets: buckets
                    .flat_map(|(b, n)| [i64::from(b), n as i64])
                    .collect(),
                extremes: (extremes.least, extremes.greatest),
            }
        })
        .collect();
    serde_json::to_string(&Page(workflow, rows)).expect("a page always serializes")
}

/// The cells of a page text.
pub fn decode_page(text: &str) -> Result<Vec<Cell>, serde_json::Error> {
    let Page(workflow_id, rows) = serde_json::from_str(text)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let pairs = r
                .buckets
                .chunks_exact(2)
                .map(|p| (p[0] as i32, p[1].max(0) as u64));
            let extremes = Extremes {
                least: r.extremes.0,
                greatest: r.extremes.1,
            };
            Cell {
                key: CellKey {
                    slot: r.slot,
                    workflow_id: workflow_id.clone(),
                    user_id: r.user_id,
                    database_type: r.database_type,
                    status: r.status,
                    kind: r.kind,
                },
                count: r.count,
                timed: r.timed,
                duration_sum_us: r.duration_sum_us,
                rows: r.rows,
                durations: Sketch::from_parts(r.zeros, pairs, extremes),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(user: Option<&str>, status: &str, durations: &[f64]) -> Cell {
        cell_at(981_792, user, status, durations)
    }

    fn cell_at(slot: i64, user: Option<&str>, status: &str, durations: &[f64]) -> Cell {
        let mut sketch = Sketch::default();
        for d in durations {
            sketch.add(*d);
        }
        Cell {
            key: CellKey {
                slot,
                workflow_id: Some("wf-1".into()),
                user_id: user.map(Into::into),
                database_type: None,
                status: status.into(),
                kind: "workflow".into(),
            },
            count: durations.len() as u64 + 1,
            timed: durations.len() as u64,
            duration_sum_us: -5,
            rows: 1200,
            durations: sketch,
        }
    }

    #[test]
    fn a_page_round_trips_and_is_smaller_than_the_cells_as_objects() {
        let cells = [
            cell(Some("u1"), "success", &[0.0, 40.0, 40.0, 1234.5]),
            cell(None, "failed", &[]),
            cell_at(981_799, Some("u2"), "timeout", &[0.5, 3e6]),
        ];
        let refs: Vec<&Cell> = cells.iter().collect();
        let text = encode_page(&refs);
        assert_eq!(decode_page(&text).unwrap(), cells);
        let as_objects = serde_json::to_string(&cells).unwrap();
        assert!(text.len() * 2 < as_objects.len(), "{text}");
    }

    #[test]
    fn a_page_stored_before_the_extremes_still_reads() {
        let old = r#"["wf-1",[[981792,"u1",null,"success","workflow",2,2,3000000,0,0,[401,2]]]]"#;
        let cells = decode_page(old).unwrap();
        let sketch = &cells[0].durations;
        assert_eq!((sketch.count(), cells[0].count), (2, 2));
        let max = sketch.max().unwrap();
        assert!(
            max > 2990.0 && max < 3030.0,
            "estimated from the bucket: {max}"
        );
        // Written again, it keeps the extremes unknown rather than inventing them.
        let again = decode_page(&encode_page(&cells.iter().collect::<Vec<_>>())).unwrap();
        assert_eq!(again, cells);
    }

    #[test]
    fn pages_start_every_eight_slots() {
        assert_eq!(page_slot(981_792), 981_792);
        assert_eq!(page_slot(981_799), 981_792);
        assert_eq!(page_slot(981_800), 981_800);
        assert_eq!(page_slot(-1), -8);
    }

    #[test]
    fn a_damaged_page_is_an_error_not_a_panic() {
        for bad in ["", "[", "[\"wf\", [[1]]]", "{\"key\": 1}"] {
            assert!(decode_page(bad).is_err(), "{bad}");
        }
    }
}

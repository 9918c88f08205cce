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
//!                       count, timed, durationSumUs, rows, zeros, [bucket, n, …]], …]]
//! ```

use serde::{Deserialize, Serialize};

use super::{Cell, CellKey, Sketch};

/// Slots per page: four hours of 30-minute slots.
pub const PAGE_SLOTS: i64 = 8;

/// The first slot of the page holding `slot`.
pub fn page_slot(slot: i64) -> i64 {
    slot - slot.rem_euclid(PAGE_SLOTS)
}

type Row = (
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    u64,
    u64,
    i64,
    u64,
    u64,
    Vec<i64>,
);

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
            (
                c.key.slot,
                c.key.user_id.clone(),
                c.key.database_type.clone(),
                c.key.status.clone(),
                c.key.kind.clone(),
                c.count,
                c.timed,
                c.duration_sum_us,
                c.rows,
                zeros,
                buckets
                    .flat_map(|(b, n)| [i64::from(b), n as i64])
                    .collect(),
            )
        })
        .collect();
    serde_json::to_string(&Page(workflow, rows)).expect("a page always serializes")
}

/// The cells of a page text.
pub fn decode_page(text: &str) -> Result<Vec<Cell>, serde_json::Error> {
    let Page(workflow_id, rows) = serde_json::from_str(text)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                slot,
                user_id,
                database_type,
                status,
                kind,
                count,
                timed,
                sum,
                rows,
                zeros,
                buckets,
            )| {
                let pairs = buckets
                    .chunks_exact(2)
                    .map(|p| (p[0] as i32, p[1].max(0) as u64));
                Cell {
                    key: CellKey {
                        slot,
                        workflow_id: workflow_id.clone(),
                        user_id,
                        database_type,
                        status,
                        kind,
                    },
                    count,
                    timed,
                    duration_sum_us: sum,
                    rows,
                    durations: Sketch::from_parts(zeros, pairs),
                }
            },
        )
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

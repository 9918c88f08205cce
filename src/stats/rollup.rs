//! Rollup cells: what each execution contributes to stats, summed per (time slot, workflow,
//! user, database type, status, kind).
//!
//! A store keeps one [`Cell`] per key and changes it in the same transaction as the records:
//! replacing version `old` of an execution by `new` removes `old`'s [`Contribution`] and adds
//! `new`'s ([`changes`]). Every number in a cell is an integer count or sum, so any sequence
//! of adds and removes ends exactly where a rebuild from the records ends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sketch::Sketch;
use crate::model::{Execution, OutputRole};

/// The width of a time slot: 30 minutes, so that days in any time zone whose offset is a
/// multiple of 30 minutes are whole slots.
pub const SLOT_MS: i64 = 30 * 60 * 1000;

/// What a cell is keyed by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CellKey {
    /// `startedAt` divided by [`SLOT_MS`], rounded down.
    pub slot: i64,
    /// The workflow (or pipeline) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The database type of a query execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_type: Option<String>,
    /// The status word.
    pub status: String,
    /// The kind word.
    pub kind: String,
}

impl CellKey {
    /// A stable text form, used as the stored cell's key.
    pub fn id(&self) -> String {
        serde_json::to_string(self).expect("a cell key always serializes")
    }
}

/// One execution's share of its cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// Its cell.
    pub key: CellKey,
    /// Its duration in ms, once finished.
    pub duration_ms: Option<f64>,
    /// Rows it processed: the query's `totalRows`, else the rows of its primary outputs.
    pub rows: u64,
}

impl Contribution {
    /// What `e` contributes.
    pub fn of(e: &Execution) -> Contribution {
        let rows = e
            .query
            .as_ref()
            .and_then(|q| q.total_rows)
            .unwrap_or_else(|| {
                e.outputs
                    .iter()
                    .filter(|o| o.role == OutputRole::Primary)
                    .filter_map(|o| o.rows)
                    .sum()
            });
        Contribution {
            key: CellKey {
                slot: e.started_at.div_euclid(SLOT_MS),
                workflow_id: e.workflow_id.clone(),
                user_id: e.user_id.clone(),
                database_type: e.query.as_ref().and_then(|q| q.database_type.clone()),
                status: e.status.as_str().to_owned(),
                kind: e.kind.as_str().to_owned(),
            },
            duration_ms: e.status.is_final().then_some(e.duration_ms).flatten(),
            rows,
        }
    }
}

/// Sums over the executions of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    /// Its key.
    pub key: CellKey,
    /// Executions.
    pub count: u64,
    /// Executions with a duration.
    pub timed: u64,
    /// Their durations' sum, in whole microseconds (integers, so removal is exact).
    pub duration_sum_us: i64,
    /// Rows processed.
    pub rows: u64,
    /// Their durations, in ms.
    pub durations: Sketch,
}

fn micros(ms: f64) -> i64 {
    (ms * 1000.0).round() as i64
}

impl Cell {
    /// An empty cell for `key`.
    pub fn new(key: CellKey) -> Cell {
        Cell {
            key,
            ..Cell::default()
        }
    }

    /// Adds (`sign` +1) or removes (`sign` −1) a contribution.
    pub fn apply(&mut self, c: &Contribution, sign: i8) {
        // Validation bounds each value (rows and durations); saturating sums keep even a
        // cell of absurdly many from wrapping around to a small or negative number.
        if sign > 0 {
            self.count = self.count.saturating_add(1);
            self.rows = self.rows.saturating_add(c.rows);
            if let Some(d) = c.duration_ms {
                self.timed = self.timed.saturating_add(1);
                self.duration_sum_us = self.duration_sum_us.saturating_add(micros(d));
                self.durations.add(d);
            }
        } else {
            self.count = self.count.saturating_sub(1);
            self.rows = self.rows.saturating_sub(c.rows);
            if let Some(d) = c.duration_ms {
                self.timed = self.timed.saturating_sub(1);
                self.duration_sum_us = self.duration_sum_us.saturating_sub(micros(d));
                self.durations.remove(d);
            }
        }
    }

    /// True when nothing is counted in it any more (the store drops it).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The contributions to remove and add when version `old` of an execution is replaced by
/// `new` (`None`: created, or deleted). Unchanged contributions cancel out.
pub fn changes(old: Option<&Execution>, new: Option<&Execution>) -> Vec<(Contribution, i8)> {
    let (old, new) = (old.map(Contribution::of), new.map(Contribution::of));
    if old == new {
        return Vec::new();
    }
    old.map(|c| (c, -1))
        .into_iter()
        .chain(new.map(|c| (c, 1)))
        .collect()
}

/// Cells kept in memory (the memory store, and rebuilds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rollups {
    cells: BTreeMap<CellKey, Cell>,
}

impl Rollups {
    /// Rollups of `records`, from scratch.
    pub fn rebuild<'a>(records: impl IntoIterator<Item = &'a Execution>) -> Rollups {
        let mut r = Rollups::default();
        for e in records {
            r.replace(None, Some(e));
        }
        r
    }

    /// Rollups made earlier (read back from a durable index).
    pub fn from_cells(cells: Vec<Cell>) -> Rollups {
        Rollups {
            cells: cells.into_iter().map(|c| (c.key.clone(), c)).collect(),
        }
    }

    /// Follows the replacement of `old` by `new`.
    pub fn replace(&mut self, old: Option<&Execution>, new: Option<&Execution>) {
        for (c, sign) in changes(old, new) {
            let cell = self
                .cells
                .entry(c.key.clone())
                .or_insert_with(|| Cell::new(c.key.clone()));
            cell.apply(&c, sign);
            if cell.is_empty() {
                self.cells.remove(&c.key);
            }
        }
    }

    /// Cells whose slot is in `slots` (inclusive bounds).
    pub fn cells_in(&self, from_slot: Option<i64>, to_slot: Option<i64>) -> Vec<Cell> {
        self.cells
            .values()
            .filter(|c| from_slot.is_none_or(|s| c.key.slot >= s))
            .filter(|c| to_slot.is_none_or(|s| c.key.slot <= s))
            .cloned()
            .collect()
    }

    /// Every cell, ordered by key.
    pub fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.cells.values()
    }

    /// Drops every cell.
    pub fn clear(&mut self) {
        self.cells.clear();
    }
}

//! The file store's stats rollups: the cells of the sealed index (on disk, read by offset)
//! under the cells changed since it was written (in memory). Opening reads no cell; a write
//! reads the few cells it changes; a stats call reads the cells of its window (one
//! contiguous run when it names a workflow).

use std::collections::BTreeMap;

use super::cell_codec::order_of;
use super::entry::Disk;
use super::sealed::Sealed;
use crate::error::StoreError;
use crate::model::Execution;
use crate::stats::{changes, Cell, CellKey, Rollups};

/// Cells changed since the sealed index was written, over the sealed index's cells.
#[derive(Debug, Default)]
pub(super) struct RollupCells {
    /// Changed cells (an empty one hides the sealed cell it emptied).
    changed: BTreeMap<CellKey, Cell>,
    /// True when `changed` holds every cell (after a rebuild or once the sealed index is
    /// dropped): the sealed index's cells are not read.
    whole: bool,
}

impl RollupCells {
    /// Cells read whole from an older index.
    pub fn from_cells(cells: Vec<Cell>) -> RollupCells {
        RollupCells {
            changed: cells.into_iter().map(|c| (c.key.clone(), c)).collect(),
            whole: false,
        }
    }

    /// After a checkpoint: the sealed index holds every cell.
    pub fn seal(&mut self) {
        *self = RollupCells::default();
    }

    /// The cells a stats call reads now, rebuilt from scratch.
    pub fn rebuilt(rollups: Rollups) -> RollupCells {
        RollupCells {
            changed: rollups
                .cells()
                .map(|c| (c.key.clone(), c.clone()))
                .collect(),
            whole: true,
        }
    }

    fn sealed<'a>(&self, sealed: Option<&'a Sealed>) -> Option<&'a Sealed> {
        sealed.filter(|_| !self.whole)
    }

    /// Follows the replacement of `old` by `new`. The cells it changes are read first: a
    /// failure changes nothing that counts.
    pub fn replace(
        &mut self,
        sealed: Option<&Sealed>,
        disk: &dyn Disk,
        old: Option<&Execution>,
        new: Option<&Execution>,
    ) -> Result<(), StoreError> {
        let changes = changes(old, new);
        for (c, _) in &changes {
            if !self.changed.contains_key(&c.key) {
                let base = match self.sealed(sealed) {
                    Some(s) => s.find_cell(disk, &c.key)?,
                    None => None,
                };
                let cell = base.unwrap_or_else(|| Cell::new(c.key.clone()));
                self.changed.insert(c.key.clone(), cell);
            }
        }
        for (c, sign) in &changes {
            if let Some(cell) = self.changed.get_mut(&c.key) {
                cell.apply(c, *sign);
            }
        }
        Ok(())
    }

    /// Brings every sealed cell here (the sealed index is about to be dropped).
    pub fn materialize(
        &mut self,
        sealed: Option<&Sealed>,
        disk: &dyn Disk,
    ) -> Result<(), StoreError> {
        if let Some(s) = self.sealed(sealed) {
            let mut all = Vec::new();
            for i in 0..s.cell_count() {
                all.push(s.cell(disk, i)?);
            }
            for cell in all {
                self.changed.entry(cell.key.clone()).or_insert(cell);
            }
        }
        self.whole = true;
        Ok(())
    }

    /// Calls `f` with every non-empty cell, in the sealed index's order.
    pub fn each(
        &self,
        sealed: Option<&Sealed>,
        disk: &dyn Disk,
        f: &mut dyn FnMut(&Cell) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut recent: Vec<&Cell> = self.changed.values().collect();
        recent.sort_by(|a, b| order_of(&a.key).cmp(&order_of(&b.key)));
        let mut recent = recent.into_iter().peekable();
        let (count, s) = match self.sealed(sealed) {
            Some(s) => (s.cell_count(), Some(s)),
            None => (0, None),
        };
        for i in 0..count {
            let Some(s) = s else { break };
            let cell = s.cell(disk, i)?;
            while let Some(r) = recent.next_if(|r| order_of(&r.key) < order_of(&cell.key)) {
                if !r.is_empty() {
                    f(r)?;
                }
            }
            if !self.changed.contains_key(&cell.key) && !cell.is_empty() {
                f(&cell)?;
            }
        }
        for r in recent {
            if !r.is_empty() {
                f(r)?;
            }
        }
        Ok(())
    }

    /// The non-empty cells whose slot is within the inclusive bounds (of one workflow, when
    /// given), ordered by key.
    pub fn within(
        &self,
        sealed: Option<&Sealed>,
        disk: &dyn Disk,
        workflow: Option<&str>,
        from_slot: Option<i64>,
        to_slot: Option<i64>,
    ) -> Result<Vec<Cell>, StoreError> {
        let in_window =
            |slot: i64| from_slot.is_none_or(|f| slot >= f) && to_slot.is_none_or(|t| slot <= t);
        let mut out: Vec<Cell> = self
            .changed
            .values()
            .filter(|c| !c.is_empty() && in_window(c.key.slot))
            .filter(|c| workflow.is_none_or(|w| c.key.workflow_id.as_deref() == Some(w)))
            .cloned()
            .collect();
        if let Some(s) = self.sealed(sealed) {
            let mut keep = |cell: Cell| {
                if !self.changed.contains_key(&cell.key) && !cell.is_empty() {
                    out.push(cell);
                }
            };
            match workflow {
                // One contiguous run: the workflow's cells from the first slot on.
                Some(w) => {
                    let mut i = s.cell_bound(disk, Some(w), from_slot.unwrap_or(i64::MIN))?;
                    while i < s.cell_count() {
                        let (at, slot) = s.cell_place(disk, i)?;
                        if at.as_deref() != Some(w) || to_slot.is_some_and(|t| slot > t) {
                            break;
                        }
                        keep(s.cell(disk, i)?);
                        i += 1;
                    }
                }
                None => {
                    for i in 0..s.cell_count() {
                        if in_window(s.cell_place(disk, i)?.1) {
                            keep(s.cell(disk, i)?);
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

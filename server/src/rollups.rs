//! Coarse stats rollups: the core crate's [`Cell`]s, stored per scope and grain so that any
//! stats call reads at most a few thousand rows whatever the window.
//!
//! Each execution's contribution is counted in up to six stored cells: three scopes (the
//! whole tenant, its user, its workflow; a scope drops the other dimension, so the global
//! cells do not multiply by user × workflow) times two grains (a 30-minute slot and a UTC
//! day). A window from slot `s` reads the day cells of the whole days after `s` and the slot
//! cells of the partial day before them (at most 48 slots). Everything is applied set-based:
//! one read and at most two writes per batch.

use std::collections::BTreeMap;

use runledger::stats::{Cell, CellKey, Contribution};
use sqlx::{AnyPool, Row};

use crate::bulk::{Statement, ROWS_PER_STATEMENT};

/// Slots in a day cell (30-minute slots).
pub const DAY_SLOTS: i64 = 48;

/// The stats table.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rollups (
        tenant TEXT NOT NULL,
        scope TEXT NOT NULL,
        grain BIGINT NOT NULL,
        slot BIGINT NOT NULL,
        id TEXT NOT NULL,
        cell TEXT NOT NULL,
        PRIMARY KEY (tenant, scope, grain, slot, id)
    )";

/// Whose stats a cell counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole tenant.
    Global,
    /// One user.
    User(String),
    /// One workflow.
    Workflow(String),
}

impl Scope {
    /// The stored form: `''`, `u:<user>`, `w:<workflow>`.
    pub fn text(&self) -> String {
        match self {
            Scope::Global => String::new(),
            Scope::User(u) => format!("u:{u}"),
            Scope::Workflow(w) => format!("w:{w}"),
        }
    }
}

/// Where one contribution is counted: (scope, grain, key).
type Place = (String, i64, CellKey);

/// The stored cells a contribution counts in.
pub fn places(key: &CellKey) -> Vec<Place> {
    let mut scoped = vec![(
        Scope::Global,
        CellKey {
            workflow_id: None,
            user_id: None,
            ..key.clone()
        },
    )];
    // Runs without a user (workflow) count in the scope `u:` (`w:`): a breakdown by user
    // (workflow) reads every such scope and shows them as the group without one.
    scoped.push((
        Scope::User(key.user_id.clone().unwrap_or_default()),
        CellKey {
            workflow_id: None,
            ..key.clone()
        },
    ));
    scoped.push((
        Scope::Workflow(key.workflow_id.clone().unwrap_or_default()),
        CellKey {
            user_id: None,
            ..key.clone()
        },
    ));
    let mut out = Vec::with_capacity(scoped.len() * 2);
    for (scope, key) in scoped {
        let day = CellKey {
            slot: key.slot.div_euclid(DAY_SLOTS) * DAY_SLOTS,
            ..key.clone()
        };
        out.push((scope.text(), DAY_SLOTS, day));
        out.push((scope.text(), 1, key));
    }
    out
}

/// Changes to stored cells, summed in memory (one batch, a prune, a rebuild).
#[derive(Default)]
pub struct Deltas {
    by_place: BTreeMap<Place, Vec<(Contribution, i8)>>,
}

impl Deltas {
    /// Adds (`sign` +1) or removes (−1) a contribution.
    pub fn push(&mut self, c: Contribution, sign: i8) {
        for place in places(&c.key) {
            self.by_place
                .entry(place)
                .or_default()
                .push((c.clone(), sign));
        }
    }

    /// Adds every change.
    pub fn extend(&mut self, changes: impl IntoIterator<Item = (Contribution, i8)>) {
        for (c, sign) in changes {
            self.push(c, sign);
        }
    }

    /// Applies them to a tenant's stored cells: one read, one upsert and one delete per 500
    /// cells, inside the caller's transaction.
    pub async fn apply(
        self,
        tx: &mut sqlx::AnyConnection,
        tenant: &str,
    ) -> Result<usize, sqlx::Error> {
        let places: Vec<(Place, Vec<(Contribution, i8)>)> = self.by_place.into_iter().collect();
        let mut written = 0;
        for chunk in places.chunks(ROWS_PER_STATEMENT) {
            let mut stored = read_cells(tx, tenant, chunk.iter().map(|(p, _)| p)).await?;
            let mut keep = Vec::new();
            let mut drop = Vec::new();
            for (place, changes) in chunk {
                let mut cell = stored
                    .remove(&(place.0.clone(), place.1, place.2.id()))
                    .unwrap_or_else(|| Cell::new(place.2.clone()));
                for (c, sign) in changes {
                    cell.apply(c, *sign);
                }
                if cell.is_empty() {
                    drop.push(place);
                } else {
                    keep.push((place, cell));
                }
            }
            written += keep.len() + drop.len();
            write_cells(tx, tenant, &keep).await?;
            delete_cells(tx, tenant, &drop).await?;
        }
        Ok(written)
    }
}

/// Cells built from scratch in memory (a rebuild: nothing is stored yet), written once.
#[derive(Default)]
pub struct Fresh {
    cells: BTreeMap<Place, Cell>,
}

impl Fresh {
    /// Counts one contribution.
    pub fn add(&mut self, c: &Contribution) {
        for place in places(&c.key) {
            let key = place.2.clone();
            self.cells
                .entry(place)
                .or_insert_with(|| Cell::new(key))
                .apply(c, 1);
        }
    }

    /// Writes every cell for a tenant, 500 per statement; returns how many.
    pub async fn write(
        self,
        tx: &mut sqlx::AnyConnection,
        tenant: &str,
    ) -> Result<usize, sqlx::Error> {
        let cells: Vec<(Place, Cell)> = self.cells.into_iter().collect();
        for chunk in cells.chunks(ROWS_PER_STATEMENT) {
            let refs: Vec<(&Place, Cell)> = chunk.iter().map(|(p, c)| (p, c.clone())).collect();
            write_cells(tx, tenant, &refs).await?;
        }
        Ok(cells.len())
    }
}

fn decode(text: &str) -> Result<Cell, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// `(scope, grain, slot, id) IN (VALUES …)` for these places.
fn where_places<'a>(s: &mut Statement, places: impl Iterator<Item = &'a Place>) {
    s.push(" AND (scope, grain, slot, id) IN (VALUES ");
    for (i, (scope, grain, key)) in places.enumerate() {
        s.row(i == 0, |r| {
            r.value(scope.clone())
                .value(*grain)
                .value(key.slot)
                .value(key.id());
        });
    }
    s.push(")");
}

async fn read_cells<'a>(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    places: impl Iterator<Item = &'a Place>,
) -> Result<BTreeMap<(String, i64, String), Cell>, sqlx::Error> {
    let mut s = Statement::new("SELECT scope, grain, id, cell FROM rollups WHERE tenant = ");
    s.bind(tenant.to_owned());
    where_places(&mut s, places);
    let mut out = BTreeMap::new();
    for row in s.fetch_all(tx).await? {
        out.insert(
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
            decode(&row.try_get::<String, _>(3)?)?,
        );
    }
    Ok(out)
}

async fn write_cells(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    cells: &[(&Place, Cell)],
) -> Result<(), sqlx::Error> {
    if cells.is_empty() {
        return Ok(());
    }
    let mut s =
        Statement::new("INSERT INTO rollups (tenant, scope, grain, slot, id, cell) VALUES ");
    for (i, ((scope, grain, key), cell)) in cells.iter().enumerate() {
        let text = serde_json::to_string(cell).expect("a cell always serializes");
        s.row(i == 0, |r| {
            r.value(tenant.to_owned())
                .value(scope.clone())
                .value(*grain)
                .value(key.slot)
                .value(key.id())
                .value(text);
        });
    }
    s.push(" ON CONFLICT (tenant, scope, grain, slot, id) DO UPDATE SET cell = excluded.cell");
    s.execute(tx).await?;
    Ok(())
}

async fn delete_cells(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    places: &[&Place],
) -> Result<(), sqlx::Error> {
    if places.is_empty() {
        return Ok(());
    }
    let mut s = Statement::new("DELETE FROM rollups WHERE tenant = ");
    s.bind(tenant.to_owned());
    where_places(&mut s, places.iter().copied());
    s.execute(tx).await?;
    Ok(())
}

/// The first slot of the first whole day at or after `slot`.
pub fn first_whole_day(slot: i64) -> i64 {
    slot.div_euclid(DAY_SLOTS) * DAY_SLOTS
        + if slot.rem_euclid(DAY_SLOTS) == 0 {
            0
        } else {
            DAY_SLOTS
        }
}

/// A scope's cells from `from_slot` on (all time when `None`): day cells of the whole days,
/// slot cells of the partial day before them.
pub async fn cells(
    pool: &AnyPool,
    tenant: &str,
    scope: &Scope,
    from_slot: Option<i64>,
) -> Result<Vec<Cell>, sqlx::Error> {
    let rows = match from_slot {
        None => {
            sqlx::query(
                "SELECT cell FROM rollups WHERE tenant = $1 AND scope = $2 AND grain = $3",
            )
            .bind(tenant)
            .bind(scope.text())
            .bind(DAY_SLOTS)
            .fetch_all(pool)
            .await?
        }
        Some(from) => {
            sqlx::query(
                "SELECT cell FROM rollups WHERE tenant = $1 AND scope = $2 AND grain = $3 AND slot >= $4
                 UNION ALL
                 SELECT cell FROM rollups WHERE tenant = $1 AND scope = $2 AND grain = 1 AND slot >= $5 AND slot < $4",
            )
            .bind(tenant)
            .bind(scope.text())
            .bind(DAY_SLOTS)
            .bind(first_whole_day(from))
            .bind(from)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter()
        .map(|r| decode(&r.try_get::<String, _>(0)?))
        .collect()
}

/// Every user's or every workflow's cells from `from_slot` on: what a breakdown by user or by
/// workflow reads (the tenant-wide cells do not keep either, to stay small).
pub async fn cells_of_every(
    pool: &AnyPool,
    tenant: &str,
    of: Every,
    from_slot: Option<i64>,
) -> Result<Vec<Cell>, sqlx::Error> {
    // `u:`…`u;` (or `w:`…`w;`) is every scope with that prefix, as a range the key's index
    // walks.
    let (low, high) = match of {
        Every::User => ("u:", "u;"),
        Every::Workflow => ("w:", "w;"),
    };
    let from = from_slot.unwrap_or(i64::MIN);
    let rows = sqlx::query(
        "SELECT cell FROM rollups WHERE tenant = $1 AND scope >= $2 AND scope < $3 AND grain = $4 AND slot >= $5
         UNION ALL
         SELECT cell FROM rollups WHERE tenant = $1 AND scope >= $2 AND scope < $3 AND grain = 1 AND slot >= $6 AND slot < $5",
    )
    .bind(tenant)
    .bind(low)
    .bind(high)
    .bind(DAY_SLOTS)
    .bind(from_slot.map_or(i64::MIN, first_whole_day))
    .bind(from)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| decode(&r.try_get::<String, _>(0)?))
        .collect()
}

/// Which scopes [`cells_of_every`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    /// Every user's scope.
    User,
    /// Every workflow's scope.
    Workflow,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(slot: i64, user: Option<&str>, workflow: Option<&str>) -> CellKey {
        CellKey {
            slot,
            workflow_id: workflow.map(str::to_owned),
            user_id: user.map(str::to_owned),
            database_type: Some("kdb".into()),
            status: "success".into(),
            kind: "query".into(),
        }
    }

    #[test]
    fn a_contribution_counts_once_per_scope_and_grain() {
        let p = places(&key(100, Some("u1"), Some("w1")));
        assert_eq!(p.len(), 6);
        let global: Vec<_> = p.iter().filter(|(s, _, _)| s.is_empty()).collect();
        assert_eq!(global.len(), 2);
        assert!(global
            .iter()
            .all(|(_, _, k)| k.user_id.is_none() && k.workflow_id.is_none()));
        let day = p
            .iter()
            .find(|(s, g, _)| s == "u:u1" && *g == DAY_SLOTS)
            .unwrap();
        assert_eq!(day.2.slot, 96);
        assert_eq!(day.2.workflow_id, None);
        assert_eq!(places(&key(-1, None, None))[0].2.slot, -48);
        // Without a user and a workflow: still one place per scope, the empty ones.
        let scopes: Vec<String> = places(&key(5, None, None))
            .into_iter()
            .map(|(s, _, _)| s)
            .collect();
        assert_eq!(scopes, ["", "", "u:", "u:", "w:", "w:"]);
    }

    #[test]
    fn whole_days_start_at_or_after_the_slot() {
        assert_eq!(first_whole_day(96), 96);
        assert_eq!(first_whole_day(97), 144);
        assert_eq!(first_whole_day(-1), 0);
    }
}

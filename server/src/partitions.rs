//! PostgreSQL's `executions` table, natively partitioned by `started_at`, one partition a
//! UTC month (SQLite keeps one table).
//!
//! Partitions are created as batches need them, inside the batch's transaction after the
//! writers' lock (so instances never race to create one), and retention drops the ones that
//! lie wholly before its cutoff instead of deleting their rows one by one. Months are UTC
//! day boundaries, so a partition holds exactly the executions counted in the rollup cells of
//! its slots: those cells go with it. Times before 1970 and from year 10000 on fall in two
//! open-ended partitions.
//!
//! The primary key of a partitioned table must hold the partition key, so it is
//! `(tenant, id, started_at)`; that an id is stored once per tenant is kept by the writers,
//! which take turns (`db::serialize_writers`) and move a row whose `started_at` changed.

use sqlx::Row;

/// The partitioned table (the same columns as `crate::schema`'s).
pub const CREATE: &str = concat!(
    "CREATE TABLE IF NOT EXISTS executions (",
    crate::schema::executions_columns!(),
    "PRIMARY KEY (tenant, id, started_at)) PARTITION BY RANGE (started_at)"
);

const DAY_MS: i64 = 86_400_000;

/// 10000-01-01T00:00:00Z in milliseconds: where the last month partition ends.
const YEAR_10000_MS: i64 = 253_402_300_800_000;

/// The partition a time falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Partition {
    /// Before 1970-01-01.
    Before1970,
    /// One UTC month: (year, month 1..=12).
    Month(i64, u32),
    /// From year 10000 on.
    Later,
}

/// Days since 1970-01-01 of the first day of a month (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month) of a day since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m)
}

impl Partition {
    /// The partition holding `started_at` (milliseconds since the epoch).
    pub fn of(started_at: i64) -> Partition {
        if started_at < 0 {
            Partition::Before1970
        } else if started_at >= YEAR_10000_MS {
            Partition::Later
        } else {
            let (y, m) = civil_from_days(started_at.div_euclid(DAY_MS));
            Partition::Month(y, m)
        }
    }

    /// Its table name.
    pub fn name(self) -> String {
        match self {
            Partition::Before1970 => "executions_before_1970".into(),
            Partition::Month(y, m) => format!("executions_{y:04}_{m:02}"),
            Partition::Later => "executions_from_10000".into(),
        }
    }

    /// The partition a table name stands for (`None`: not one of ours).
    pub fn parse(name: &str) -> Option<Partition> {
        match name {
            "executions_before_1970" => return Some(Partition::Before1970),
            "executions_from_10000" => return Some(Partition::Later),
            _ => {}
        }
        let rest = name.strip_prefix("executions_")?;
        let (y, m) = rest.split_once('_')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let (y, m) = (y.parse().ok()?, m.parse().ok()?);
        ((1970..10000).contains(&y) && (1..=12).contains(&m)).then_some(Partition::Month(y, m))
    }

    /// `[start, end)` in milliseconds (`None`: unbounded on that side).
    pub fn bounds(self) -> (Option<i64>, Option<i64>) {
        match self {
            Partition::Before1970 => (None, Some(0)),
            Partition::Later => (Some(YEAR_10000_MS), None),
            Partition::Month(y, m) => {
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (
                    Some(days_from_civil(y, m) * DAY_MS),
                    Some(days_from_civil(ny, nm) * DAY_MS),
                )
            }
        }
    }

    /// The statement creating it.
    fn create(self) -> String {
        let bound = |b: Option<i64>, open: &str| b.map_or(open.to_owned(), |v| v.to_string());
        let (start, end) = self.bounds();
        format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF executions FOR VALUES FROM ({}) TO ({})",
            self.name(),
            bound(start, "MINVALUE"),
            bound(end, "MAXVALUE"),
        )
    }
}

/// Creates the partitions these times need that do not exist yet, in the caller's
/// transaction (which holds the writers' lock). One catalog query when none is missing.
pub async fn ensure(
    tx: &mut sqlx::AnyConnection,
    started_ats: impl IntoIterator<Item = i64>,
) -> Result<usize, sqlx::Error> {
    let wanted: std::collections::BTreeSet<Partition> =
        started_ats.into_iter().map(Partition::of).collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    // The names are ours (digits and underscores), so they are written as literals.
    let values: Vec<String> = wanted.iter().map(|p| format!("('{}')", p.name())).collect();
    let missing = sqlx::query(&format!(
        "SELECT n FROM (VALUES {}) AS v(n) WHERE to_regclass(n) IS NULL",
        values.join(", ")
    ))
    .fetch_all(&mut *tx)
    .await?;
    for row in &missing {
        let name: String = row.try_get(0)?;
        let partition = Partition::parse(&name).expect("a name made by Partition::name");
        sqlx::query(&partition.create()).execute(&mut *tx).await?;
        tracing::info!(partition = %name, "created a partition of executions");
    }
    Ok(missing.len())
}

/// The partitions of `executions` that exist now, oldest first.
pub async fn existing(tx: &mut sqlx::AnyConnection) -> Result<Vec<Partition>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = to_regclass('executions')",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(p) = Partition::parse(&row.try_get::<String, _>(0)?) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Drops one partition lying wholly before retention's cutoff, in the caller's transaction
/// (which holds the writers' lock): its lineage rows and the rollup cells of its slots go
/// with it. Returns how many executions it held.
pub async fn drop_expired(
    tx: &mut sqlx::AnyConnection,
    partition: Partition,
) -> Result<usize, sqlx::Error> {
    let name = partition.name();
    let held: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {name}"))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    sqlx::query(&format!(
        "DELETE FROM execution_outputs WHERE (tenant, execution_id) IN (SELECT tenant, id FROM {name})"
    ))
    .execute(&mut *tx)
    .await?;
    // Slot `s` covers [s, s + 1) × 30 minutes; a day cell's slot is its day's first. Month
    // bounds are whole days, so every cell of these slots counts only this partition's runs.
    let slot_ms = runledger::stats::SLOT_MS;
    let (start, end) = partition.bounds();
    sqlx::query("DELETE FROM rollups WHERE slot >= $1 AND slot < $2")
        .bind(start.map_or(i64::MIN, |s| s / slot_ms))
        .bind(end.map_or(i64::MAX, |e| e / slot_ms))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("DROP TABLE {name}"))
        .execute(&mut *tx)
        .await?;
    Ok(held as usize)
}

/// Moves an unpartitioned `executions` (written before partitioning) into the partitioned
/// table, in one transaction under the writers' lock; true when there was one to move.
pub async fn partition_existing(pool: &sqlx::AnyPool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(crate::schema::WRITERS_LOCK)
        .execute(&mut *tx)
        .await?;
    let kind: Option<String> =
        sqlx::query("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('executions')")
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
    if kind.as_deref() != Some("r") {
        return Ok(false);
    }
    sqlx::query(&CREATE.replacen(
        "CREATE TABLE IF NOT EXISTS executions (",
        "CREATE TABLE executions_partitioned (",
        1,
    ))
    .execute(&mut *tx)
    .await?;
    let days = sqlx::query(
        "SELECT DISTINCT floor(started_at::numeric / 86400000)::bigint FROM executions",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut needed = std::collections::BTreeSet::new();
    for row in days {
        needed.insert(Partition::of(
            row.try_get::<i64, _>(0)?.saturating_mul(DAY_MS),
        ));
    }
    for p in &needed {
        let statement = p.create().replacen(
            "PARTITION OF executions ",
            "PARTITION OF executions_partitioned ",
            1,
        );
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    const COLUMNS: &str = "tenant, id, version, kind, workflow_id, user_id, status, database_type, started_at, completed_at, duration_ms, record, received_at";
    for statement in [
        format!("INSERT INTO executions_partitioned ({COLUMNS}) SELECT {COLUMNS} FROM executions"),
        // Its indexes go with it; `crate::schema` creates them on the partitioned table.
        "DROP TABLE executions".to_owned(),
        "ALTER TABLE executions_partitioned RENAME TO executions".to_owned(),
        "ALTER TABLE executions RENAME CONSTRAINT executions_partitioned_pkey TO executions_pkey"
            .to_owned(),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    tracing::info!(
        partitions = needed.len(),
        "partitioned the executions table by month"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2026-12-03T19:40:00Z
        let p = Partition::of(1_796_326_800_000);
        assert_eq!(p, Partition::Month(2026, 12));
        assert_eq!(p.name(), "executions_2026_12");
        assert_eq!(
            p.bounds(),
            (Some(1_796_083_200_000), Some(1_798_761_600_000))
        );
        // The last millisecond of a month and the first of the next.
        assert_eq!(
            Partition::of(1_796_083_200_000 - 1),
            Partition::Month(2026, 11)
        );
        assert_eq!(Partition::of(0), Partition::Month(1970, 1));
        assert_eq!(Partition::of(-1), Partition::Before1970);
        assert_eq!(Partition::of(i64::MAX), Partition::Later);
        assert_eq!(Partition::of(YEAR_10000_MS - 1), Partition::Month(9999, 12));
        // February of a leap year, and of a century that is not one.
        let feb = |y| {
            let (s, e) = Partition::Month(y, 2).bounds();
            (e.unwrap() - s.unwrap()) / DAY_MS
        };
        assert_eq!((feb(2024), feb(2100), feb(2000)), (29, 28, 29));
    }

    #[test]
    fn names_parse_back_and_foreign_names_are_ignored() {
        for p in [
            Partition::Before1970,
            Partition::Month(1970, 1),
            Partition::Month(2026, 12),
            Partition::Later,
        ] {
            assert_eq!(Partition::parse(&p.name()), Some(p));
        }
        for other in [
            "executions_2026_13",
            "executions_26_01",
            "executions_x",
            "rollups",
        ] {
            assert_eq!(Partition::parse(other), None, "{other}");
        }
    }

    #[test]
    fn month_bounds_are_whole_rollup_days() {
        let slot_ms = runledger::stats::SLOT_MS;
        for m in 1..=12 {
            let (s, e) = Partition::Month(2026, m).bounds();
            assert_eq!(s.unwrap() % (slot_ms * crate::rollups::DAY_SLOTS), 0);
            assert_eq!(e.unwrap() % (slot_ms * crate::rollups::DAY_SLOTS), 0);
        }
    }
}

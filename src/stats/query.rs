//! `tracker.stats(query)`: groups of rollup cells summed into totals, status counts, success
//! rate, duration statistics and rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rollup::{Cell, SLOT_MS};
use super::sketch::{Sketch, RELATIVE_ERROR};
use crate::error::ValidationError;
use crate::model::time::{de_opt_millis, Millis};
use crate::model::Status;

/// A dimension to group by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupBy {
    /// `workflowId`.
    Workflow,
    /// `userId`.
    User,
    /// `query.databaseType`.
    DatabaseType,
    /// `status`.
    Status,
    /// The day of `startedAt`, in UTC or `timeZone`.
    Day,
}

/// Restricts which executions count.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsFilter {
    /// Only this workflow.
    #[serde(default)]
    pub workflow_id: Option<String>,
    /// Only this user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only this database type.
    #[serde(default)]
    pub database_type: Option<String>,
    /// Only this status.
    #[serde(default)]
    pub status: Option<Status>,
    /// Only this kind.
    #[serde(default)]
    pub kind: Option<String>,
}

/// What `tracker.stats()` takes.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsQuery {
    /// From this time (rounded down to its 30-minute slot).
    #[serde(default, deserialize_with = "de_opt_millis")]
    pub since: Option<Millis>,
    /// Up to this time (its whole 30-minute slot included).
    #[serde(default, deserialize_with = "de_opt_millis")]
    pub until: Option<Millis>,
    /// Dimensions to group by (none: one group of everything).
    #[serde(default)]
    pub group_by: Vec<GroupBy>,
    /// Which executions count.
    #[serde(default)]
    pub filter: StatsFilter,
    /// For `day`: `"UTC"` (default), `"Z"`, or an offset like `"+05:30"` / `"-08:00"` (a
    /// multiple of 30 minutes).
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Which group a result row is.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupKey {
    /// Present when grouped by day: `YYYY-MM-DD` in the query's time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// Present when grouped by workflow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// Present when grouped by user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Present when grouped by database type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_type: Option<String>,
    /// Present when grouped by status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Duration statistics in ms. `min` and `max` are exact; percentiles use the nearest rank
/// (the value of rank `⌈p·n⌉` in ascending order, so p95 of {100, 300} is 300) and are
/// within [`RELATIVE_ERROR`] of it. See [`Sketch`] for the one case where min or max falls
/// back to an estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Durations {
    /// Exact mean.
    pub avg: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// One group's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsGroup {
    /// Which group.
    pub key: GroupKey,
    /// Executions.
    pub total: u64,
    /// Executions per status word.
    pub by_status: BTreeMap<String, u64>,
    /// `success / finished × 100`: executions still running are not counted as failures;
    /// 0 when none finished. Rounded to two decimals by [`StatsResult::rounded`].
    pub success_rate: f64,
    /// Over executions that finished with a duration; absent when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<Durations>,
    /// Rows processed.
    pub total_rows: u64,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsResult {
    /// Groups, ordered by key.
    pub groups: Vec<StatsGroup>,
    /// The relative error of percentiles.
    pub relative_error: f64,
}

/// `x` rounded to `decimals` places, for the edges (API answers and the viewer): the
/// rollups and the aggregation keep full precision, so `0.9900000000000001` is shown as
/// `0.99`.
pub fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let rounded = (x * scale).round() / scale;
    if rounded.is_finite() {
        rounded
    } else {
        x
    }
}

/// Decimals of durations in ms at the edges (0.01 ms).
pub const DURATION_DECIMALS: i32 = 2;
/// Decimals of percentages (success rate) at the edges.
pub const PERCENT_DECIMALS: i32 = 2;

impl Durations {
    /// Every figure rounded to [`DURATION_DECIMALS`].
    pub fn rounded(&self) -> Durations {
        let r = |x| round_to(x, DURATION_DECIMALS);
        Durations {
            avg: r(self.avg),
            min: r(self.min),
            max: r(self.max),
            p50: r(self.p50),
            p95: r(self.p95),
            p99: r(self.p99),
        }
    }
}

impl StatsGroup {
    /// The group with its figures rounded for display.
    pub fn rounded(mut self) -> StatsGroup {
        self.success_rate = round_to(self.success_rate, PERCENT_DECIMALS);
        self.duration_ms = self.duration_ms.as_ref().map(Durations::rounded);
        self
    }
}

impl StatsResult {
    /// The answer with its figures rounded for display (the edge: API and bindings).
    pub fn rounded(self) -> StatsResult {
        StatsResult {
            groups: self.groups.into_iter().map(StatsGroup::rounded).collect(),
            relative_error: self.relative_error,
        }
    }
}

/// Parses a time zone: `UTC`, `Z`, or `±HH:MM` in steps of 30 minutes; returns the offset in
/// minutes.
pub fn parse_time_zone(zone: Option<&str>) -> Result<i64, ValidationError> {
    let bad = || {
        ValidationError::invalid(
            "query.timeZone",
            "expected \"UTC\" or an offset like \"+05:30\" in steps of 30 minutes",
        )
    };
    let Some(zone) = zone.map(str::trim) else {
        return Ok(0);
    };
    if zone.eq_ignore_ascii_case("utc") || zone == "Z" {
        return Ok(0);
    }
    let sign = match zone.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let (h, m) = zone[1..].split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || !(m == 0 || m == 30) {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

/// `YYYY-MM-DD` of day number `days` since 1970-01-01.
fn civil(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl StatsQuery {
    /// Checks the query; returns the time zone offset in minutes.
    pub fn validate(&self) -> Result<i64, ValidationError> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(ValidationError::invalid(
                    "query.since",
                    format!("{since} is after until ({until})"),
                ));
            }
        }
        parse_time_zone(self.time_zone.as_deref())
    }

    /// The slots to read (inclusive).
    pub fn slots(&self) -> (Option<i64>, Option<i64>) {
        (
            self.since.map(|t| t.div_euclid(SLOT_MS)),
            self.until.map(|t| t.div_euclid(SLOT_MS)),
        )
    }

    fn admits(&self, cell: &Cell) -> bool {
        let f = &self.filter;
        let k = &cell.key;
        let (from, to) = self.slots();
        from.is_none_or(|s| k.slot >= s)
            && to.is_none_or(|s| k.slot <= s)
            && f.workflow_id
                .as_ref()
                .is_none_or(|w| k.workflow_id.as_ref() == Some(w))
            && f.user_id
                .as_ref()
                .is_none_or(|u| k.user_id.as_ref() == Some(u))
            && f.database_type
                .as_ref()
                .is_none_or(|d| k.database_type.as_ref() == Some(d))
            && f.status.is_none_or(|s| k.status == s.as_str())
            && f.kind.as_ref().is_none_or(|kind| &k.kind == kind)
    }

    fn group_of(&self, cell: &Cell, offset_minutes: i64) -> GroupKey {
        let k = &cell.key;
        let mut g = GroupKey::default();
        for by in &self.group_by {
            match by {
                GroupBy::Workflow => g.workflow_id = k.workflow_id.clone(),
                GroupBy::User => g.user_id = k.user_id.clone(),
                GroupBy::DatabaseType => g.database_type = k.database_type.clone(),
                GroupBy::Status => g.status = Some(k.status.clone()),
                GroupBy::Day => {
                    let local = k.slot * SLOT_MS + offset_minutes * 60_000;
                    g.day = Some(civil(local.div_euclid(86_400_000)));
                }
            }
        }
        g
    }
}

#[derive(Default)]
struct Sums {
    total: u64,
    by_status: BTreeMap<String, u64>,
    timed: u64,
    duration_sum_us: i128,
    rows: u64,
    durations: Sketch,
}

/// Answers `query` from `cells` (any superset of the cells it needs).
pub fn aggregate<'a>(
    cells: impl IntoIterator<Item = &'a Cell>,
    query: &StatsQuery,
    offset_minutes: i64,
) -> StatsResult {
    let mut groups: BTreeMap<GroupKey, Sums> = BTreeMap::new();
    for cell in cells.into_iter().filter(|c| query.admits(c)) {
        let sums = groups
            .entry(query.group_of(cell, offset_minutes))
            .or_default();
        // Saturating: a sum of many bounded values must not wrap around (i128 for the
        // duration sum, whose mean is what is shown).
        sums.total = sums.total.saturating_add(cell.count);
        let by_status = sums.by_status.entry(cell.key.status.clone()).or_default();
        *by_status = by_status.saturating_add(cell.count);
        sums.timed = sums.timed.saturating_add(cell.timed);
        sums.duration_sum_us += i128::from(cell.duration_sum_us);
        sums.rows = sums.rows.saturating_add(cell.rows);
        sums.durations.merge(&cell.durations);
    }
    let groups = groups
        .into_iter()
        .filter(|(_, s)| s.total > 0)
        .map(|(key, s)| {
            let status = |word: &str| s.by_status.get(word).copied().unwrap_or(0);
            let finished = s.total.saturating_sub(status(Status::Running.as_str()));
            let q = |p| s.durations.quantile(p).unwrap_or(0.0);
            StatsGroup {
                key,
                total: s.total,
                success_rate: if finished == 0 {
                    0.0
                } else {
                    status(Status::Success.as_str()) as f64 * 100.0 / finished as f64
                },
                duration_ms: (s.timed > 0).then(|| Durations {
                    avg: s.duration_sum_us as f64 / s.timed as f64 / 1000.0,
                    min: s.durations.min().unwrap_or(0.0),
                    max: s.durations.max().unwrap_or(0.0),
                    p50: q(0.5),
                    p95: q(0.95),
                    p99: q(0.99),
                }),
                total_rows: s.rows,
                by_status: s.by_status,
            }
        })
        .collect();
    StatsResult {
        groups,
        relative_error: RELATIVE_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_zones() {
        assert_eq!(civil(0), "1970-01-01");
        assert_eq!(civil(19_675), "2023-11-14");
        assert_eq!(parse_time_zone(Some("+05:30")), Ok(330));
        assert_eq!(parse_time_zone(Some("-08:00")), Ok(-480));
        assert_eq!(parse_time_zone(None), Ok(0));
        for bad in ["+05:45", "Europe/Paris", "+5", "+15:00"] {
            assert_eq!(
                parse_time_zone(Some(bad)).unwrap_err().field(),
                "query.timeZone"
            );
        }
    }
}

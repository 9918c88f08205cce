//! Stats: rollups against brute force over random histories (many seeds), and every number
//! of a stats answer against an exact computation from the records.

use std::collections::BTreeMap;

use futures::executor::block_on;
use runledger::model::{Execution, Kind, QueryInfo, Status};
use runledger::stats::{
    aggregate, GroupBy, Rollups, StatsFilter, StatsQuery, RELATIVE_ERROR, SLOT_MS,
};
use runledger::store::suite::{self, sample, T0};
use runledger::MemoryStore;

#[test]
fn rollups_equal_a_recomputation_after_random_histories() {
    for seed in 1..=60 {
        block_on(suite::rollups_follow_every_change_and_equal_a_rebuild(
            &MemoryStore::new(),
            seed,
            300,
        ));
    }
}

fn history(n: usize) -> Vec<Execution> {
    let mut state = 42u64;
    let mut next = |m: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) % m
    };
    (0..n)
        .map(|i| {
            let status = [
                Status::Success,
                Status::Success,
                Status::Failed,
                Status::Timeout,
                Status::Running,
            ][next(5) as usize];
            let started = T0 + next(96) as i64 * SLOT_MS;
            let mut e = sample(
                &format!("e{i}"),
                &format!("wf-{}", next(2)),
                started,
                status,
            );
            e.user_id = Some(format!("u{}", next(2)));
            if next(2) == 0 {
                e.kind = Kind::Query;
                e.query = Some(QueryInfo {
                    database_type: Some("kdb".into()),
                    total_rows: Some(next(500)),
                    ..QueryInfo::default()
                });
            }
            e.duration_ms = status.is_final().then(|| 1.0 + next(100_000) as f64 / 7.0);
            e
        })
        .collect()
}

#[test]
fn every_number_matches_an_exact_computation_from_the_records() {
    let records = history(3_000);
    let rollups = Rollups::rebuild(&records);
    let query = StatsQuery {
        since: Some(T0 + 10 * SLOT_MS),
        until: Some(T0 + 80 * SLOT_MS),
        group_by: vec![GroupBy::Workflow, GroupBy::Day],
        filter: StatsFilter {
            user_id: Some("u1".into()),
            ..StatsFilter::default()
        },
        time_zone: Some("+05:30".into()),
    };
    let offset = query.validate().unwrap();
    let answer = aggregate(rollups.cells(), &query, offset);

    // The same by brute force.
    let mut exact: BTreeMap<(String, String), Vec<&Execution>> = BTreeMap::new();
    for e in &records {
        if e.started_at < T0 + 10 * SLOT_MS
            || e.started_at >= T0 + 81 * SLOT_MS
            || e.user_id.as_deref() != Some("u1")
        {
            continue;
        }
        let local_day = (e.started_at + 330 * 60_000).div_euclid(86_400_000);
        exact
            .entry((e.workflow_id.clone().unwrap(), local_day.to_string()))
            .or_default()
            .push(e);
    }
    assert_eq!(answer.groups.len(), exact.len());
    assert!(answer.groups.len() >= 2, "the range spans days in +05:30");
    for group in &answer.groups {
        let wf = group.key.workflow_id.as_deref().unwrap();
        let members = exact
            .iter()
            .filter(|((w, _), _)| w == wf)
            .map(|(_, v)| v)
            .find(|v| {
                v.len() as u64 == group.total
                    && v.iter().filter(|e| e.status == Status::Success).count() as u64
                        == group.by_status.get("success").copied().unwrap_or(0)
            })
            .expect("a matching exact group");
        let success = members
            .iter()
            .filter(|e| e.status == Status::Success)
            .count() as f64;
        let finished = members.iter().filter(|e| e.status.is_final()).count() as f64;
        assert!(
            finished < members.len() as f64 || group.total < 3,
            "some still run"
        );
        assert!((group.success_rate - success * 100.0 / finished).abs() < 1e-9);
        let rows: u64 = members
            .iter()
            .filter_map(|e| e.query.as_ref()?.total_rows)
            .sum();
        assert_eq!(group.total_rows, rows);
        let mut durations: Vec<f64> = members
            .iter()
            .filter_map(|e| e.duration_ms.filter(|_| e.status.is_final()))
            .collect();
        durations.sort_by(f64::total_cmp);
        let d = group.duration_ms.as_ref().expect("some finished");
        let avg = durations.iter().sum::<f64>() / durations.len() as f64;
        assert!((d.avg - avg).abs() < 1e-3, "{} vs {avg}", d.avg);
        // Min and max exact (to the thousandth the sketch keeps them in).
        assert!(
            (d.min - durations[0]).abs() < 1e-3,
            "min {} vs {}",
            d.min,
            durations[0]
        );
        let last = durations[durations.len() - 1];
        assert!((d.max - last).abs() < 1e-3, "max {} vs {last}", d.max);
        // Percentiles by the nearest rank: the value of rank ⌈q·n⌉.
        for (q, estimate) in [(0.5, d.p50), (0.95, d.p95), (0.99, d.p99)] {
            let rank = ((q * durations.len() as f64).ceil() as usize).max(1);
            let exact = durations[rank - 1];
            assert!(
                (estimate - exact).abs() <= RELATIVE_ERROR * exact,
                "q={q}: {estimate} vs {exact}"
            );
        }
    }
}

fn finished(id: &str, wf: &str, status: Status, ms: f64) -> Execution {
    let mut e = sample(id, wf, T0, status);
    e.duration_ms = status.is_final().then_some(ms);
    e
}

fn one_group(records: &[Execution]) -> runledger::stats::StatsGroup {
    let rollups = Rollups::rebuild(records);
    let mut answer = aggregate(rollups.cells(), &StatsQuery::default(), 0).rounded();
    assert_eq!(answer.groups.len(), 1);
    answer.groups.remove(0)
}

#[test]
fn the_numbers_of_the_issue_are_right() {
    // Two runs of 100 and 300 ms: nearest rank, so p95 = p99 = 300 and p50 = 100.
    let two = one_group(&[
        finished("a", "wf", Status::Success, 100.0),
        finished("b", "wf", Status::Success, 300.0),
    ]);
    let d = two.duration_ms.unwrap();
    assert_eq!((d.p50, d.p95, d.p99), (100.0, 300.0, 300.0));
    assert_eq!((d.min, d.max, d.avg), (100.0, 300.0, 200.0));
    // Ten runs of 100…1000 ms: p95 = p99 = 1000.
    let ten: Vec<Execution> = (1..=10)
        .map(|i| {
            finished(
                &format!("t{i}"),
                "wf",
                Status::Success,
                f64::from(i) * 100.0,
            )
        })
        .collect();
    let d = one_group(&ten).duration_ms.unwrap();
    assert_eq!(
        (d.p95, d.p99, d.min, d.max),
        (1000.0, 1000.0, 100.0, 1000.0)
    );
    assert!((d.p50 - 500.0).abs() <= 5.0, "{}", d.p50);
    // One run of 3000 ms: min = max = 3000 exactly (the bucket's representative is 3011.6).
    let d = one_group(&[finished("x", "wf", Status::Success, 3000.0)])
        .duration_ms
        .unwrap();
    assert_eq!((d.min, d.p50, d.max), (3000.0, 3000.0, 3000.0));
    // A running run is not a failure: 2 of 3 finished succeeded.
    let g = one_group(&[
        finished("s1", "wf", Status::Success, 10.0),
        finished("s2", "wf", Status::Success, 10.0),
        finished("f1", "wf", Status::Failed, 10.0),
        finished("r1", "wf", Status::Running, 0.0),
    ]);
    assert_eq!(g.success_rate, 66.67);
    assert_eq!(g.total, 4);
    // Nothing finished yet: a rate of 0, not a division by zero.
    let g = one_group(&[finished("r2", "wf", Status::Running, 0.0)]);
    assert_eq!((g.success_rate, g.duration_ms), (0.0, None));
}

#[test]
fn figures_are_rounded_at_the_edge_only() {
    // 99 successes of 100: 0.99 × 100 carries binary noise before rounding.
    let mut records: Vec<Execution> = (0..99)
        .map(|i| {
            finished(
                &format!("s{i}"),
                "wf",
                Status::Success,
                0.1 + f64::from(i) / 3.0,
            )
        })
        .collect();
    records.push(finished("f", "wf", Status::Failed, 1.0 / 3.0));
    let rollups = Rollups::rebuild(&records);
    let raw = aggregate(rollups.cells(), &StatsQuery::default(), 0);
    let avg_raw = raw.groups[0].duration_ms.as_ref().unwrap().avg;
    let rounded = raw.clone().rounded();
    let g = &rounded.groups[0];
    assert_eq!(g.success_rate, 99.0);
    let d = g.duration_ms.as_ref().unwrap();
    for x in [d.avg, d.min, d.max, d.p50, d.p95, d.p99] {
        assert_eq!(
            x,
            (x * 100.0).round() / 100.0,
            "{x} has at most two decimals"
        );
    }
    assert!((d.avg - avg_raw).abs() <= 0.005);
    assert_ne!(
        avg_raw, d.avg,
        "the aggregation itself keeps full precision"
    );
    // The JSON the edges send has no float noise.
    let text = serde_json::to_string(&rounded).unwrap();
    assert!(!text.contains("0000000"), "{text}");
}

#[test]
fn timeouts_and_every_status_are_counted_per_database_type() {
    let mut records = Vec::new();
    for (i, status) in [
        Status::Success,
        Status::Success,
        Status::Failed,
        Status::Timeout,
        Status::Timeout,
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = finished(&format!("q{i}"), "wf", status, 50.0);
        e.kind = Kind::Query;
        e.query = Some(QueryInfo {
            database_type: Some("bigquery".into()),
            ..QueryInfo::default()
        });
        records.push(e);
    }
    let rollups = Rollups::rebuild(&records);
    let query = StatsQuery {
        group_by: vec![GroupBy::DatabaseType],
        ..StatsQuery::default()
    };
    let answer = aggregate(rollups.cells(), &query, 0);
    let g = &answer.groups[0];
    assert_eq!(g.key.database_type.as_deref(), Some("bigquery"));
    assert_eq!(g.total, 5);
    assert_eq!(g.by_status.get("timeout"), Some(&2));
    assert_eq!(g.by_status.values().sum::<u64>(), g.total);
}

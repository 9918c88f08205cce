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
        assert_eq!(
            group.success_rate,
            (success * 10_000.0 / members.len() as f64).round() / 100.0
        );
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
        for (q, estimate) in [
            (0.0, d.min),
            (0.5, d.p50),
            (0.95, d.p95),
            (0.99, d.p99),
            (1.0, d.max),
        ] {
            let exact = durations[(q * (durations.len() - 1) as f64).floor() as usize];
            assert!(
                (estimate - exact).abs() <= RELATIVE_ERROR * exact,
                "q={q}: {estimate} vs {exact}"
            );
        }
    }
}

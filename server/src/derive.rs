//! What the server fills in when a client leaves it out, before a record is validated and
//! stored: node and execution durations from their timestamps (and a finished execution's
//! end from its start and duration), the node count and the failed nodes from the node runs.
//! A value the client sent is kept as it is.

use runledger::Execution;

/// Milliseconds from `start` to `end` (never negative).
fn span(start: i64, end: i64) -> f64 {
    end.saturating_sub(start).max(0) as f64
}

/// Fills in what `e` leaves out and its parts imply.
pub fn fill_in(e: &mut Execution) {
    for node in &mut e.nodes {
        if node.duration_ms.is_none() {
            node.duration_ms = node.completed_at.map(|end| span(node.started_at, end));
        }
    }
    if e.duration_ms.is_none() {
        e.duration_ms = e.completed_at.map(|end| span(e.started_at, end));
    }
    // A finished query logged with its start and `execution_time` but no end.
    if e.status.is_final() && e.completed_at.is_none() {
        e.completed_at = e
            .duration_ms
            .filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms < i64::MAX as f64)
            .map(|ms| e.started_at.saturating_add(ms.round() as i64));
    }
    if e.nodes.is_empty() {
        return;
    }
    let sent_count = e.node_count;
    let sent_failed = std::mem::take(&mut e.failed_nodes);
    e.refresh_node_summary();
    // A client may count more runs than it sends (a summary); it is not lowered.
    e.node_count = e.node_count.max(sent_count);
    if !sent_failed.is_empty() {
        e.failed_nodes = sent_failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger::model::{NodeRun, NodeStatus};

    fn node(id: &str, status: NodeStatus, start: i64, end: Option<i64>) -> NodeRun {
        NodeRun {
            id: id.into(),
            status,
            started_at: start,
            completed_at: end,
            ..NodeRun::default()
        }
    }

    #[test]
    fn durations_counts_and_failed_nodes_are_derived() {
        let mut e = Execution {
            id: "e".into(),
            started_at: 1_000,
            completed_at: Some(1_250),
            nodes: vec![
                node("load", NodeStatus::Success, 1_000, Some(1_100)),
                node("save", NodeStatus::Error, 1_100, Some(1_240)),
                node("tail", NodeStatus::Running, 1_240, None),
            ],
            ..Execution::default()
        };
        fill_in(&mut e);
        assert_eq!(e.duration_ms, Some(250.0));
        let durations: Vec<_> = e.nodes.iter().map(|n| n.duration_ms).collect();
        assert_eq!(durations, vec![Some(100.0), Some(140.0), None]);
        assert_eq!(e.node_count, 3);
        assert_eq!(e.failed_nodes, vec!["save".to_owned()]);
    }

    #[test]
    fn what_the_client_sent_is_kept() {
        let mut e = Execution {
            id: "e".into(),
            started_at: 1_000,
            completed_at: Some(1_250),
            duration_ms: Some(7.0),
            node_count: 40,
            failed_nodes: vec!["elsewhere".into()],
            nodes: vec![NodeRun {
                duration_ms: Some(3.0),
                ..node("load", NodeStatus::Error, 1_000, Some(1_100))
            }],
            ..Execution::default()
        };
        fill_in(&mut e);
        assert_eq!(e.duration_ms, Some(7.0));
        assert_eq!(e.nodes[0].duration_ms, Some(3.0));
        assert_eq!(e.node_count, 40);
        assert_eq!(e.failed_nodes, vec!["elsewhere".to_owned()]);
    }

    #[test]
    fn a_finished_execution_without_an_end_gets_one_from_its_duration() {
        let mut e = Execution {
            id: "q".into(),
            status: runledger::model::Status::Success,
            started_at: 1_000,
            duration_ms: Some(250.4),
            ..Execution::default()
        };
        fill_in(&mut e);
        assert_eq!(e.completed_at, Some(1_250));
        let mut running = Execution {
            id: "r".into(),
            started_at: 1_000,
            duration_ms: Some(5.0),
            ..Execution::default()
        };
        fill_in(&mut running);
        assert_eq!(
            running.completed_at, None,
            "a running execution has no end yet"
        );
    }

    #[test]
    fn a_clock_going_backwards_gives_zero_not_a_negative_duration() {
        let mut e = Execution {
            id: "e".into(),
            started_at: 2_000,
            completed_at: Some(1_000),
            ..Execution::default()
        };
        fill_in(&mut e);
        assert_eq!(e.duration_ms, Some(0.0));
    }
}

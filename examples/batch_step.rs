//! Profiles the batch step natively: builds journal batches shaped like the bench workload's
//! (bench/workload.js: a 10-node workflow run with small JSON input and output, batches of
//! 4,096 entries as a loop that never yields hands them over) and applies them to a
//! `Recorder`, taking each batch's records as the engine's flush does.
//!
//! `cargo run --release --example batch_step [executions]` prints µs per execution; run it
//! under `perf record -g` to see where the batch step spends its time.

use std::time::Instant;

use runledger::batch::apply_batch;
use runledger::{IntakePolicy, Recorder};

const TYPES: [&str; 10] = [
    "http",
    "transform",
    "sql",
    "filter",
    "map",
    "join",
    "aggregate",
    "load",
    "notify",
    "branch",
];

/// The journal entries of execution `i` (23 entries), appended to `out`.
fn execution(out: &mut Vec<String>, i: usize, t: u64) {
    let id = format!("run-{i:08}");
    let wf = i % 20;
    out.push(format!(
        r#"{{"o":"start","t":{t},"r":"{id}","d":{{"kind":"workflow","workflowId":"wf-{wf}","workflowName":"Workflow wf-{wf}","userId":"u{}","trigger":{{"type":"manual","data":{{"by":"bench"}}}}}}}}"#,
        i % 50
    ));
    for (n, ty) in TYPES.iter().enumerate() {
        out.push(format!(
            r#"{{"o":"node","t":{t},"r":"{id}","i":{n},"d":{{"id":"n{n}","name":"{ty} step {n}","type":"{ty}"}},"v":{{"rows":{},"source":"table_{n}","filter":{{"field":"status","op":"eq","value":"active"}},"batch":{i},"tags":["a","b"]}}}}"#,
            (i * 7 + n) % 10000
        ));
        out.push(format!(
            r#"{{"o":"end","t":{t},"r":"{id}","i":{n},"k":"success","v":{{"rows":{},"target":"out_{n}","columns":["id","name","amount"],"ms":{},"ok":true}}}}"#,
            (i * 13 + n) % 10000,
            (i + n) % 500
        ));
    }
    out.push(format!(
        r#"{{"o":"finish","t":{t},"r":"{id}","k":"success"}}"#
    ));
}

/// This thread's CPU time in ms (utime + stime from /proc, in 10 ms ticks): wall time on a
/// shared machine counts the time other processes ran.
fn thread_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) * 10.0
}

fn main() {
    let executions: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let mut entries = Vec::new();
    for i in 0..executions {
        execution(&mut entries, i, 1_700_000_000_000 + i as u64);
    }
    let batches: Vec<String> = entries
        .chunks(4096)
        .map(|chunk| format!("[{}]", chunk.join(",")))
        .collect();
    drop(entries);
    let mut recorder = Recorder::new(IntakePolicy::default(), "bench");
    let mut seed = 0u8;
    let start = Instant::now();
    let cpu0 = thread_cpu_ms();
    let mut taken = 0;
    for text in &batches {
        let report = apply_batch(
            &mut recorder,
            text,
            || {
                seed = seed.wrapping_add(1);
                [seed; 10]
            },
            None,
        )
        .expect("a batch");
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        let batch = recorder.take_batch(usize::MAX, 0);
        taken += batch.len();
        recorder.acknowledge(&batch);
    }
    let cpu_ms = thread_cpu_ms() - cpu0;
    let elapsed = start.elapsed();
    println!(
        "{executions} executions, {} batches, {taken} records taken: {:.2} µs CPU ({:.2} µs wall) per execution",
        batches.len(),
        cpu_ms * 1e3 / executions as f64,
        elapsed.as_secs_f64() * 1e6 / executions as f64
    );
}

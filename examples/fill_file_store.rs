//! Fills a Node file store with `n` executions natively, for `node bench/node-file.mjs
//! --fill-native DIR N` (the store of 1,000,000 that `npm run bench -- --large` opens and
//! queries: recording that many through the package takes hours on a loaded machine).
//!
//! `cargo run --release --example fill_file_store -- TEMPLATE_LOG DIR N`: the record frames
//! of TEMPLATE_LOG (runs the tracker recorded) are copied with new ids and start times, one
//! second apart and ending now, into the store `runledger` in DIR through the store's own
//! `write` (batches of 1,000, each fsynced; checkpoints as the store makes them), then closed
//! with a checkpoint, so that opening replays nothing.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use futures::executor::block_on;
    use runledger::store::file::{scan, FileStore, StdFileIo};
    use runledger::store::Store;
    use runledger::Execution;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let [template, dir, n] = &args[..] else {
        eprintln!("usage: fill_file_store TEMPLATE_LOG DIR N");
        std::process::exit(2);
    };
    let n: i64 = n.parse().expect("N is a count");
    let log = std::fs::read(template).expect("the template log reads");
    let templates: Vec<Execution> = scan(&log)
        .frames
        .into_iter()
        .filter_map(|(_, payload)| payload.strip_prefix(b"R"))
        .map(|json| serde_json::from_slice(json).expect("a record frame parses"))
        .collect();
    assert!(!templates.is_empty(), "the template log holds records");
    let (store, _) = FileStore::open(StdFileIo::new(dir, "runledger").expect("the folder opens"))
        .expect("the store opens");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - n * 1000;
    let t0 = std::time::Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let mut e = templates[(i as usize) % templates.len()].clone();
        let shift = start + i * 1000 - e.started_at;
        e.id = format!("fill-{i}");
        e.started_at += shift;
        e.completed_at = e.completed_at.map(|t| t + shift);
        for node in &mut e.nodes {
            node.started_at += shift;
            node.completed_at = node.completed_at.map(|t| t + shift);
        }
        if let Some(id) = e.external_ids.get_mut("airflow") {
            *id = format!("run-{i}");
        }
        batch.push(e);
        if batch.len() == 1000 || i == n - 1 {
            block_on(store.write(&batch)).expect("a batch is stored");
            batch.clear();
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("[fill] {} in {:?}", i + 1, t0.elapsed());
        }
    }
    store.checkpoint().expect("the index is written");
    println!("{{\"fillMs\":{}}}", t0.elapsed().as_millis());
}

#[cfg(target_arch = "wasm32")]
fn main() {}

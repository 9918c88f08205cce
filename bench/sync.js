// Sync throughput in Chromium: executions per second from the IndexedDB outbox to the
// server's commit (tracker.sync() resolving), against a plain fetch loop posting the very same
// JSON in batches of the same size to a second, equally fresh server. Results go to
// window.__sync.
import { Tracker } from '/pkg/browser.js';
import { rng, workflowRun, recordWithRunledger } from './workload.js';

const params = new URLSearchParams(location.search);
const N = Number(params.get('n') ?? 1000);
const [ours, anchor] = [params.get('ours'), params.get('anchor')];
const BATCH = 200;

try {
  const rand = rng(3);
  const tracker = await Tracker.open({
    name: `bench-sync-${Date.now()}`, endpoint: ours,
    // No background pass during recording: the timed sync() sends everything.
    sync: { maxBatchRecords: BATCH, debounceMs: 3_600_000 },
  });
  const ids = [];
  for (let i = 0; i < N; i++) {
    ids.push(recordWithRunledger(tracker, workflowRun(i, rand)));
  }
  await tracker.flush();
  const t0 = performance.now();
  const state = await tracker.sync();
  const t1 = performance.now();
  if (state.pending !== 0) throw new Error(`sync left ${state.pending} pending`);

  // The same records, as the same JSON, posted by hand.
  const records = await Promise.all(ids.map((id) => tracker.get(id)));
  await tracker.close();
  const bodies = [];
  for (let i = 0; i < records.length; i += BATCH) {
    bodies.push(JSON.stringify({ batch_id: `plain-${i}`, client: { id: 'plain', sdk: 'fetch' }, records: records.slice(i, i + BATCH) }));
  }
  const t2 = performance.now();
  for (const body of bodies) {
    const r = await fetch(`${anchor}/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (!r.ok) throw new Error(`plain fetch got ${r.status}`);
    await r.json();
  }
  const t3 = performance.now();
  window.__sync = { runledgerPerSecond: (N * 1000) / (t1 - t0), plainFetchPerSecond: (N * 1000) / (t3 - t2) };
} catch (e) {
  window.__sync = { error: `${e.name}: ${e.message}` };
}

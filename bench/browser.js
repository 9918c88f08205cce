// Browser side of the benchmark: durable write throughput into IndexedDB, runledger against
// raw IndexedDB (one put per execution, one transaction per 1,000) and Dexie (bulkPut on
// executions + node_executions). Results go to window.__bench.
import { Tracker } from '/pkg/browser.js';
import Dexie from '/node_modules/dexie/dist/dexie.mjs';
import { BasicTracerProvider, BatchSpanProcessor, context, trace } from './otel.bundle.js';
import { rng, workflowRun, asDocument, recordWithRunledger, recordWithOtel } from './workload.js';

const params = new URLSearchParams(location.search);
const N = Number(params.get('n') ?? 2000);
const tag = `${Date.now()}`;

function runs(seed) {
  const rand = rng(seed);
  return Array.from({ length: N }, (_, i) => workflowRun(i, rand));
}

async function runledger() {
  // Warm-up on a throwaway in-memory tracker, so the wasm is optimised before it is timed.
  const warm = await Tracker.open({ name: `bench-warm-${tag}`, storage: 'memory' });
  for (const run of runs(9).slice(0, 200)) recordWithRunledger(warm, run);
  await warm.close();
  const tracker = await Tracker.open({ name: `bench-rl-${tag}` });
  const work = runs(1);
  const t0 = performance.now();
  for (const run of work) recordWithRunledger(tracker, run);
  const t1 = performance.now();
  await tracker.flush();
  const t2 = performance.now();
  await tracker.close();
  // The split says where the time went: the recording calls (capture, and the batch step when
  // the journal fills mid-loop) against flush() (the rest of the batch step, then one
  // IndexedDB transaction per batch).
  return { hotPathUsPerExecution: ((t1 - t0) * 1000) / N, durablePerSecond: (N * 1000) / (t2 - t0), recordingMs: t1 - t0, flushMs: t2 - t1 };
}

/** The same runs recorded as 11 spans each with OpenTelemetry (exporter discards). */
async function otelHotPath() {
  const exporter = { export: (_s, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100000 })] });
  const tracer = provider.getTracer('bench');
  const work = runs(1);
  const record = (run) => recordWithOtel({ tracer, trace, context }, run);
  for (const run of runs(9).slice(0, 200)) record(run); // warm-up
  const t0 = performance.now();
  for (const run of work) record(run);
  const us = ((performance.now() - t0) * 1000) / N;
  await provider.shutdown();
  return us;
}

function idbRequest(req) {
  return new Promise((resolve, reject) => { req.onsuccess = () => resolve(req.result); req.onerror = () => reject(req.error); });
}

async function rawIndexedDb() {
  const open = indexedDB.open(`bench-raw-${tag}`, 1);
  open.onupgradeneeded = () => {
    const s = open.result.createObjectStore('executions', { keyPath: 'id' });
    s.createIndex('by_workflow', ['workflowId', 'startedAt', 'id']);
  };
  const db = await idbRequest(open);
  const work = runs(1);
  const t0 = performance.now();
  for (let start = 0; start < N; start += 1000) {
    const tx = db.transaction('executions', 'readwrite');
    const store = tx.objectStore('executions');
    for (let i = start; i < Math.min(N, start + 1000); i++) store.put(asDocument(`raw-${i}`, work[i], Date.now()));
    await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = tx.onabort = () => reject(tx.error); });
  }
  const t1 = performance.now();
  db.close();
  return { durablePerSecond: (N * 1000) / (t1 - t0) };
}

/** The ceiling the issue names: the same executions as one JSON string per 1,000, one put and
 * one transaction each (nothing indexed, nothing queryable: what IndexedDB allows at best). */
async function jsonStringPer1000() {
  const open = indexedDB.open(`bench-json-${tag}`, 1);
  open.onupgradeneeded = () => { open.result.createObjectStore('batches', { autoIncrement: true }); };
  const db = await idbRequest(open);
  const work = runs(1);
  const t0 = performance.now();
  for (let start = 0; start < N; start += 1000) {
    const docs = [];
    for (let i = start; i < Math.min(N, start + 1000); i++) docs.push(asDocument(`json-${i}`, work[i], Date.now()));
    const tx = db.transaction('batches', 'readwrite');
    tx.objectStore('batches').put(JSON.stringify(docs));
    await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = tx.onabort = () => reject(tx.error); });
  }
  const t1 = performance.now();
  db.close();
  return { durablePerSecond: (N * 1000) / (t1 - t0) };
}

async function dexie() {
  const db = new Dexie(`bench-dexie-${tag}`);
  db.version(1).stores({ executions: '&id, workflow_id, status, started_at', node_executions: '++id, execution_id' });
  await db.open();
  const work = runs(1);
  const t0 = performance.now();
  for (let start = 0; start < N; start += 1000) {
    const executions = [];
    const nodes = [];
    for (let i = start; i < Math.min(N, start + 1000); i++) {
      const doc = asDocument(`dx-${i}`, work[i], Date.now());
      executions.push({ id: doc.id, workflow_id: doc.workflowId, workflow_name: doc.workflowName, status: doc.status,
        started_at: doc.startedAt, completed_at: doc.completedAt, duration_ms: doc.durationMs, trigger_type: 'manual', trigger_data: doc.trigger.data });
      for (const n of doc.nodes) nodes.push({ execution_id: doc.id, node_id: n.id, node_name: n.name, node_type: n.type, status: n.status,
        started_at: n.startedAt, completed_at: n.completedAt, duration_ms: n.durationMs, input: n.input, output: n.output });
    }
    await db.transaction('rw', db.executions, db.node_executions, async () => {
      await db.executions.bulkPut(executions);
      await db.node_executions.bulkPut(nodes);
    });
  }
  const t1 = performance.now();
  db.close();
  return { durablePerSecond: (N * 1000) / (t1 - t0) };
}

const HISTORY_SIZES = (params.get('history') ?? '10000,100000').split(',').map(Number);
const WORKFLOWS = 20;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A small finished execution for seeding history: 2 node runs, about 600 bytes. */
function seedExecution(i, t0) {
  const startedAt = t0 + i * 1000;
  return {
    id: `h-${String(i).padStart(7, '0')}`, workflowId: `wf-${i % WORKFLOWS}`, userId: `u${i % 50}`, status: i % 13 ? 'success' : 'failed',
    startedAt, completedAt: startedAt + 40,
    nodes: [{ id: 'a', status: 'success', startedAt, completedAt: startedAt + 10, input: { i }, output: { rows: i % 1000 } },
      { id: 'b', status: 'success', startedAt: startedAt + 10, completedAt: startedAt + 40, input: { i }, output: { ok: true } }],
  };
}

/** History page of 50 for one workflow, at `size` stored executions: runledger, Dexie's
 * indexed query, and a naive full scan (getAll, filter, sort), median of 25 queries each. */
async function historyAt(size) {
  const t0 = Date.UTC(2026, 0, 1);
  // Retention off: the seeded history is older than the 30-day default, and Dexie keeps it all too.
  const tracker = await Tracker.open({ name: `bench-hist-${size}-${tag}`, retention: false });
  for (let i = 0; i < size; i++) {
    tracker.log(seedExecution(i, t0));
    if (i % 5000 === 4999) await tracker.flush();
  }
  await tracker.flush();
  const dx = new Dexie(`bench-hist-dexie-${size}-${tag}`);
  dx.version(1).stores({ executions: '&id, [workflow_id+started_at], status, started_at' });
  await dx.open();
  for (let start = 0; start < size; start += 5000) {
    const rows = [];
    for (let i = start; i < Math.min(size, start + 5000); i++) {
      const e = seedExecution(i, t0);
      rows.push({ id: e.id, workflow_id: e.workflowId, user_id: e.userId, status: e.status, started_at: e.startedAt, completed_at: e.completedAt, nodes: e.nodes });
    }
    await dx.executions.bulkPut(rows);
  }
  const times = { runledger: [], dexie: [], naiveScan: [], stats: [], statsDexie: [], statsScan: [] };
  const summarize = (rows) => {
    const total = rows.length;
    const success = rows.filter((e) => e.status === 'success').length;
    const avg = rows.reduce((a, e) => a + (e.completed_at - e.started_at), 0) / total;
    return { total, successRate: Math.round((success * 10000) / total) / 100, avg };
  };
  for (let q = 0; q < 25; q++) {
    const wf = `wf-${q % WORKFLOWS}`;
    let t = performance.now();
    const page = await tracker.history({ workflowId: wf, limit: 50 });
    times.runledger.push(performance.now() - t);
    t = performance.now();
    const dpage = await dx.executions.where('[workflow_id+started_at]').between([wf, Dexie.minKey], [wf, Dexie.maxKey]).reverse().limit(50).toArray();
    times.dexie.push(performance.now() - t);
    if (q < 5) {
      t = performance.now();
      const all = await dx.executions.toArray();
      all.filter((e) => e.workflow_id === wf).sort((a, b) => b.started_at - a.started_at).slice(0, 50);
      times.naiveScan.push(performance.now() - t);
    }
    if (page.items.length !== 50 || dpage.length !== 50 || page.items[0].id !== dpage[0].id) {
      throw new Error(`history answers disagree at ${size}: ${page.items.length} vs ${dpage.length}`);
    }
    // A stats call for the workflow: total, success rate, durations (runledger: rollups).
    t = performance.now();
    const stats = await tracker.stats({ filter: { workflowId: wf } });
    times.stats.push(performance.now() - t);
    t = performance.now();
    const indexed = summarize(await dx.executions.where('[workflow_id+started_at]').between([wf, Dexie.minKey], [wf, Dexie.maxKey]).toArray());
    times.statsDexie.push(performance.now() - t);
    if (q < 5) {
      t = performance.now();
      const scanned = [];
      await dx.executions.each((e) => { if (e.workflow_id === wf) scanned.push(e); });
      const naive = summarize(scanned);
      times.statsScan.push(performance.now() - t);
      if (naive.total !== indexed.total) throw new Error('stats anchors disagree');
    }
    const g = stats.groups[0];
    if (g.total !== indexed.total || g.successRate !== indexed.successRate || Math.abs(g.durationMs.avg - indexed.avg) > 1e-6) {
      throw new Error(`stats answers disagree at ${size}: ${JSON.stringify(g)} vs ${JSON.stringify(indexed)}`);
    }
  }
  await tracker.close();
  dx.close();
  return {
    size, runledgerMs: median(times.runledger), dexieMs: median(times.dexie), naiveScanMs: median(times.naiveScan),
    statsMs: median(times.stats), statsDexieMs: median(times.statsDexie), statsScanMs: median(times.statsScan),
  };
}

try {
  // Each contender runs once to warm up on a small slice, then measured.
  const result = { n: N, runledger: await runledger(), otelHotPathUs: await otelHotPath(), rawIndexedDb: await rawIndexedDb(),
    jsonCeiling: await jsonStringPer1000(), dexie: await dexie() };
  result.history = [];
  for (const size of HISTORY_SIZES) result.history.push(await historyAt(size));
  window.__bench = result;
} catch (e) {
  window.__bench = { error: `${e.name}: ${e.message}` };
}

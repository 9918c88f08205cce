// Browser side of the benchmark: durable write throughput into IndexedDB, runledger against
// raw IndexedDB (one put per execution, one transaction per 1,000) and Dexie (bulkPut on
// executions + node_executions). Results go to window.__bench.
import { Tracker } from '/pkg/browser.js';
import Dexie from '/node_modules/dexie/dist/dexie.mjs';
import { rng, workflowRun, asDocument, recordWithRunledger } from './workload.js';

const params = new URLSearchParams(location.search);
const N = Number(params.get('n') ?? 2000);
const tag = `${Date.now()}`;

function runs(seed) {
  const rand = rng(seed);
  return Array.from({ length: N }, (_, i) => workflowRun(i, rand));
}

async function runledger() {
  const tracker = await Tracker.open({ name: `bench-rl-${tag}` });
  const work = runs(1);
  const t0 = performance.now();
  for (const run of work) recordWithRunledger(tracker, run);
  const t1 = performance.now();
  await tracker.flush();
  const t2 = performance.now();
  await tracker.close();
  return { hotPathUsPerExecution: ((t1 - t0) * 1000) / N, durablePerSecond: (N * 1000) / (t2 - t0) };
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

try {
  // Each contender runs once to warm up on a small slice, then measured.
  const result = { n: N, runledger: await runledger(), rawIndexedDb: await rawIndexedDb(), dexie: await dexie() };
  window.__bench = result;
} catch (e) {
  window.__bench = { error: `${e.name}: ${e.message}` };
}

// Page of bench/chromium-flush.mjs: warms up, then `__run()` records N executions, flushes,
// and measures the one-JSON-string-per-1,000 ceiling (bench/browser.js's anchor) right after.
import { Tracker } from '/pkg/browser.js';
import { rng, workflowRun, asDocument, recordWithRunledger } from './workload.js';

const N = Number(new URLSearchParams(location.search).get('n') ?? 5000);
const tag = `${Date.now()}`;
const runs = (seed) => { const rand = rng(seed); return Array.from({ length: N }, (_, i) => workflowRun(i, rand)); };
const request = (req) => new Promise((resolve, reject) => { req.onsuccess = () => resolve(req.result); req.onerror = () => reject(req.error); });

async function ceilingMs(name) {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => { open.result.createObjectStore('batches', { autoIncrement: true }); };
  const db = await request(open);
  const work = runs(1);
  const t0 = performance.now();
  for (let start = 0; start < N; start += 1000) {
    const docs = [];
    for (let i = start; i < Math.min(N, start + 1000); i++) docs.push(asDocument(`json-${i}`, work[i], Date.now()));
    const tx = db.transaction('batches', 'readwrite');
    tx.objectStore('batches').put(JSON.stringify(docs));
    await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = tx.onabort = () => reject(tx.error); });
  }
  const ms = performance.now() - t0;
  db.close();
  return ms;
}

const warm = await Tracker.open({ name: `flush-warm-${tag}`, storage: 'memory' });
for (const run of runs(9).slice(0, 200)) recordWithRunledger(warm, run);
await warm.close();
await ceilingMs(`flush-ceiling-warm-${tag}`);
window.__ready = true;
window.__run = async () => {
  const tracker = await Tracker.open({ name: `flush-${tag}` });
  const work = runs(1);
  const t0 = performance.now();
  const ids = work.map((run) => recordWithRunledger(tracker, run));
  const t1 = performance.now();
  await tracker.flush();
  const t2 = performance.now();
  // get(id) with its 10 node runs, read from its batch's segment: median of 25.
  const gets = [];
  for (let k = 0; k < 25; k++) {
    const id = ids[Math.floor((k * ids.length) / 25)];
    const t = performance.now();
    const e = await tracker.get(id);
    gets.push(performance.now() - t);
    if (e?.nodes?.length !== 10) throw new Error(`get(${id}) came back without its 10 node runs`);
  }
  gets.sort((a, b) => a - b);
  await tracker.close();
  const ceiling = await ceilingMs(`flush-ceiling-${tag}`);
  return { n: N, recordingMs: t1 - t0, flushMs: t2 - t1, getMedianMs: gets[12], ceilingMs: ceiling, ratioToCeiling: ceiling / (t2 - t0) };
};

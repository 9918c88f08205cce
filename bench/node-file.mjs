// Node side of the benchmark for the durable file store: recording throughput until flush()
// has fsynced, the time to open a store of `n` executions, and a history page / stats call on
// it. Anchors, on the same records in the same run: an append-only JSON-lines file written
// with fs (fsync per 1,000, what a script would write by hand) and reading it back with
// JSON.parse per line (the naive open). Each part runs in a child process of its own so that
// opening starts from a cold heap, as it would in a new process.
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker } from '../pkg/node.js';
import { rng, workflowRun, recordWithRunledger, asDocument } from './workload.js';

const BATCH = 1000;

export async function fileStore(n) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-bench-file-'));
  const child = (...args) => JSON.parse(execFileSync(process.execPath,
    [new URL(import.meta.url).pathname, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 }));
  try {
    const record = child('--record', dir, String(n));
    const jsonl = child('--jsonl', dir, String(n));
    const open = child('--open', dir);
    const naiveOpen = child('--jsonl-open', dir);
    return { executions: n, ...record, jsonlPerSecond: jsonl.perSecond, ...open, jsonlOpenMs: naiveOpen.openMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function recordChild(dir, n) {
  const rand = rng(5);
  const work = Array.from({ length: n }, (_, i) => workflowRun(i, rand));
  const tracker = await Tracker.open({ path: join(dir, 'store'), retention: false, maxBatchSize: BATCH });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    recordWithRunledger(tracker, work[i]);
    if (i % BATCH === BATCH - 1) await tracker.flush();
  }
  await tracker.flush();
  const perSecond = n / ((performance.now() - t0) / 1000);
  await tracker.close();
  return { perSecond };
}

async function jsonlChild(dir, n) {
  const rand = rng(5);
  const work = Array.from({ length: n }, (_, i) => workflowRun(i, rand));
  const fd = openSync(join(dir, 'runs.jsonl'), 'a');
  const t0 = performance.now();
  let lines = '';
  for (let i = 0; i < n; i++) {
    lines += `${JSON.stringify(asDocument(`run-${i}`, work[i], Date.now()))}\n`;
    if (i % BATCH === BATCH - 1 || i === n - 1) { writeSync(fd, lines); fsyncSync(fd); lines = ''; }
  }
  const perSecond = n / ((performance.now() - t0) / 1000);
  closeSync(fd);
  return { perSecond };
}

async function openChild(dir) {
  const t0 = performance.now();
  const tracker = await Tracker.open({ path: join(dir, 'store'), retention: false });
  const openMs = performance.now() - t0;
  const median = async (f) => {
    const times = [];
    for (let i = 0; i < 15; i++) { const s = performance.now(); await f(); times.push(performance.now() - s); }
    return times.sort((a, b) => a - b)[7];
  };
  const historyMs = await median(() => tracker.history({ workflowId: 'wf-3', limit: 50 }));
  const statsMs = await median(() => tracker.stats({ filter: { workflowId: 'wf-3' } }));
  const logBytes = statSync(join(dir, 'store', 'runledger.log')).size;
  await tracker.close();
  return { openMs, historyMs, statsMs, logBytes };
}

async function jsonlOpenChild(dir) {
  const t0 = performance.now();
  const byId = new Map();
  for (const line of readFileSync(join(dir, 'runs.jsonl'), 'utf8').split('\n')) {
    if (line) { const r = JSON.parse(line); byId.set(r.id, r); }
  }
  return { openMs: performance.now() - t0, count: byId.size };
}

const [flag, ...rest] = process.argv.slice(2);
const parts = { '--record': recordChild, '--jsonl': jsonlChild, '--open': openChild, '--jsonl-open': jsonlOpenChild };
if (parts[flag]) {
  const result = await parts[flag](rest[0], Number(rest[1]));
  process.stdout.write(JSON.stringify(result));
}

// The durable Node store through the package's Node entry, with real processes and real files:
// SIGKILL at random moments, damaged logs, two processes on one store, and records made
// offline in one process run that sync in the next. (The shared store suite runs on the same
// store natively: tests/file_store.rs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker } from '../../pkg/node.js';
import { freePort, sqlite, startServer } from '../server/engines.mjs';
import { rng } from '../../bench/workload.js';

const fixture = (name) => join(import.meta.dirname, 'fixtures', name);
const tempStore = (tag) => join(mkdtempSync(join(tmpdir(), `runledger-file-${tag}-`)), 'store');

/** A child Node process whose stdout lines arrive through `onLine`. */
function child(script, args, onLine = () => {}) {
  const proc = spawn(process.execPath, [fixture(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buffered = '';
  let stderr = '';
  proc.stdout.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  proc.stderr.on('data', (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { proc, exited };
}

/** Resolves once `predicate()` holds; fails after `ms` (a bounded wait, not a timing claim). */
async function until(predicate, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function allIds(tracker) {
  const ids = new Map();
  let cursor;
  do {
    const page = await tracker.history({ limit: 500, cursor });
    for (const e of page.items) ids.set(e.id, e.status);
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

test('every record flush() confirmed survives SIGKILL at random moments (seeded rounds)', async () => {
  const path = tempStore('crash');
  const random = rng(20261123);
  const confirmed = new Map(); // id -> status as last confirmed
  for (let round = 0; round < 6; round++) {
    let lines = 0;
    const { proc, exited } = child('file-recorder.mjs', [path, String(round + 1)], (line) => {
      for (const [id, status] of JSON.parse(line)) confirmed.set(id, status);
      lines++;
    });
    await until(() => lines > 0, `round ${round}'s first confirmed flush`);
    // Somewhere in the middle of writing: 0–300 ms after the first confirmation.
    await new Promise((r) => setTimeout(r, Math.floor(random() * 300)));
    proc.kill('SIGKILL');
    const { signal, stderr } = await exited;
    assert.equal(signal, 'SIGKILL', `round ${round} ended by itself: ${stderr}`);

    const tracker = await Tracker.open({ path, retention: false });
    try {
      const stored = await allIds(tracker);
      for (const [id, status] of confirmed) {
        assert.ok(stored.has(id), `round ${round}: confirmed record ${id} is missing`);
        const now = stored.get(id);
        if (status === 'running') {
          // Left running by the killed process: interrupted now, or finished in a later
          // (unconfirmed) flush.
          assert.notEqual(now, 'running', `round ${round}: ${id} still running after recovery`);
        } else {
          assert.equal(now, status, `round ${round}: ${id} went from ${status} to ${now}`);
        }
      }
      for (const id of tracker.recovered) assert.equal(stored.get(id), 'interrupted');
      // Nothing running survives recovery; settle the states for the next round's checks.
      for (const [id, status] of stored) {
        assert.notEqual(status, 'running');
        if (confirmed.has(id)) confirmed.set(id, status);
      }
    } finally {
      await tracker.close();
    }
  }
  assert.ok(confirmed.size > 200, `only ${confirmed.size} records were confirmed over 6 rounds`);
});

async function fourRuns(path) {
  const tracker = await Tracker.open({ path, retention: false });
  const ids = [];
  for (let i = 0; i < 4; i++) {
    const run = tracker.start({ workflowId: 'wf', startedAt: Date.UTC(2026, 0, 1, 0, i) });
    run.succeed();
    ids.push(run.id);
    await tracker.flush(); // one frame each
  }
  await tracker.close();
  return ids;
}

async function openDamaged(path, damage) {
  const log = join(path, 'runledger.log');
  const bytes = readFileSync(log);
  writeFileSync(log, damage(bytes));
  const tracker = await Tracker.open({ path, retention: false });
  const events = [];
  tracker.on('warning', (w) => events.push(w));
  await until(() => events.length > 0, 'the warning event');
  return { tracker, events };
}

for (const [name, damage, reason] of [
  ['a torn tail', (b) => b.subarray(0, b.length - 7), /torn/],
  ['flipped bytes', (b) => { const c = Buffer.from(b); c[c.length - 20] ^= 0x5a; return c; }, /checksum/],
]) {
  test(`${name} in the log: opens with a warning, keeps every intact record, keeps the cut bytes`, async () => {
    const path = tempStore('damage');
    const ids = await fourRuns(path);
    const { tracker, events } = await openDamaged(path, damage);
    assert.equal(tracker.warnings.length, 1);
    assert.match(tracker.warnings[0], reason);
    assert.deepEqual(events, tracker.warnings);
    const stored = await allIds(tracker);
    assert.deepEqual([...stored.keys()].sort(), ids.slice(0, 3).sort());
    // The store takes new writes, and the cut-off bytes are kept beside the log.
    const run = tracker.start({ workflowId: 'wf' });
    run.succeed();
    await tracker.close();
    assert.ok(readdirSync(path).some((f) => f.startsWith('runledger.log.damaged-')));
    const again = await Tracker.open({ path, retention: false });
    assert.deepEqual(again.warnings, []);
    assert.equal((await allIds(again)).size, 4);
    await again.close();
  });
}

test('a garbage file: opens empty with a warning, the garbage kept aside', async () => {
  const path = tempStore('garbage');
  await fourRuns(path);
  writeFileSync(join(path, 'runledger.log'), 'PK\x03\x04 this is a zip file, not a runledger log');
  const tracker = await Tracker.open({ path, retention: false });
  assert.equal(tracker.warnings.length, 1);
  assert.equal((await allIds(tracker)).size, 0);
  await tracker.close();
  const saved = readdirSync(path).find((f) => f.startsWith('runledger.log.damaged-'));
  assert.match(readFileSync(join(path, saved), 'utf8'), /this is a zip file/);
});

test('a second process gets a clear error naming the holder, or waits with lockTimeoutMs', async () => {
  const path = tempStore('lock');
  let ready = false;
  const holder = child('file-holder.mjs', [path, '600'], (line) => { if (line === 'ready') ready = true; });
  await until(() => ready, 'the holder to open the store');
  await assert.rejects(Tracker.open({ path }), (e) => {
    assert.equal(e.name, 'StoreError');
    assert.match(e.message, new RegExp(`in use by process ${holder.proc.pid}`));
    assert.match(e.message, /lockTimeoutMs/);
    return true;
  });
  // Waiting: the holder closes after 600 ms, well inside the 15 s allowed.
  const waited = await Tracker.open({ path, lockTimeoutMs: 15_000 });
  assert.equal(waited.storage, 'file');
  assert.equal((await holder.exited).code, 0);
  // The same process cannot open it twice either.
  await assert.rejects(Tracker.open({ path }), (e) => e.name === 'StoreError');
  await waited.close();
});

test('a lock left by a killed process is taken over', async () => {
  const path = tempStore('stale');
  let ready = false;
  const holder = child('file-holder.mjs', [path, 'hold'], (line) => { if (line === 'ready') ready = true; });
  await until(() => ready, 'the holder to open the store');
  holder.proc.kill('SIGKILL');
  await holder.exited;
  assert.ok(existsSync(join(path, 'runledger.lock')), 'the killed process left its lock');
  const tracker = await Tracker.open({ path });
  await tracker.close();
  assert.ok(!existsSync(join(path, 'runledger.lock')), 'close releases the lock');
});

test('a bad option fails before anything touches the disk', async () => {
  const path = tempStore('config');
  await assert.rejects(Tracker.open({ path, flushIntervalMS: 10 }), (e) => e.name === 'ConfigError');
  assert.ok(!existsSync(path));
});

test('offline in one process run, synced by the next: every record lands once', async () => {
  const path = tempStore('sync');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let first;
  const recorder = child('file-sync.mjs', ['record', path, endpoint], (line) => { first = JSON.parse(line); });
  const r1 = await recorder.exited;
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(first.failure, 'SyncError');
  assert.equal(first.pending, 15);
  assert.ok(first.errors.includes('SyncError'));

  const db = sqlite();
  const server = await startServer(['--db', db.url, '--api-key', 'node-key'], { port });
  try {
    let second;
    const syncer = child('file-sync.mjs', ['sync', path, endpoint], (line) => { second = JSON.parse(line); });
    const r2 = await syncer.exited;
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(second, { pending: 0, lastError: null });
    for (const id of first.ids) {
      const r = await fetch(`${server.base}/api/v1/execution/${id}`, { headers: { authorization: 'Bearer node-key' } });
      assert.equal(r.status, 200, `execution ${id} did not land`);
      const body = await r.json();
      assert.equal(body.nodes[0].input.apiKey, '[REDACTED]');
    }
    const listed = await (await fetch(`${server.base}/api/v1/executions?limit=100`, { headers: { authorization: 'Bearer node-key' } })).json();
    assert.deepEqual(listed.items.map((e) => e.id).sort(), [...first.ids].sort(), 'each record once, nothing else');
  } finally {
    await server.stop();
  }
});

for (const [format, newest] of [[2, []], [3, ['e7']]]) {
  test(`a store written by an earlier layout (index format ${format}) opens through the package and its index is rewritten`, async () => {
    const path = tempStore(`upgrade-${format}`);
    mkdirSync(path, { recursive: true });
    const fixtureDir = join(import.meta.dirname, '..', 'fixtures', `file-store-index-format-${format}`);
    copyFileSync(join(fixtureDir, 'store.log'), join(path, 'runledger.log'));
    copyFileSync(join(fixtureDir, 'store.index'), join(path, 'runledger.index'));
    const indexFormat = () => readFileSync(join(path, 'runledger.index')).readUInt32LE(4);
    assert.equal(indexFormat(), format);
    const tracker = await Tracker.open({ path, retention: false });
    assert.deepEqual(tracker.warnings, []);
    const stored = await allIds(tracker);
    assert.deepEqual([...stored.keys()], [...newest, 'e6', 'e4', 'e3', 'e2', 'e1', 'e0']);
    assert.equal(stored.get('e4'), 'failed');
    const byExternal = await tracker.history({ externalId: { system: 'airflow', id: 'run-2' } });
    assert.deepEqual(byExternal.items.map((e) => e.id), ['e2']);
    await tracker.close();
    assert.equal(indexFormat(), 5, 'the index was rewritten in the current format');
    const again = await Tracker.open({ path, retention: false });
    assert.equal((await allIds(again)).size, 6 + newest.length);
    const byWorkflow = await again.history({ workflowId: 'wf-a' });
    assert.deepEqual(byWorkflow.items.map((e) => e.id), ['e6', 'e4', 'e2', 'e0']);
    await again.close();
  });
}

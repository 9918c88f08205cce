// Issue 16 point 6: `Tracker.open({ worker: true })` runs the batch step and the store on a
// real `worker_thread`; the caller's thread only captures. Same API, same durability
// contract (flush() resolves only when what was recorded before it is durable), and failures
// on the worker surface as `error` events here plus a log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker } from '../../pkg/node.js';

const tempStore = (tag) => join(mkdtempSync(join(tmpdir(), `runledger-worker-${tag}-`)), 'store');

async function quietly(fn) {
  const warned = [];
  const warn = console.warn;
  console.warn = (...args) => warned.push(args.map((a) => a?.message ?? String(a)).join(' '));
  try {
    await fn();
  } finally {
    console.warn = warn;
  }
  return warned;
}

test('on a worker thread: the same recording calls and reads, misuse throws at the call, failures are error events', async () => {
  const tracker = await Tracker.open({ storage: 'memory', worker: true });
  assert.equal(tracker.storage, 'memory');
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  const run = tracker.start({ workflowId: 'w', userId: 'u' });
  const a = run.node({ id: 'a', type: 'map' }, { rows: [1, 2] });
  a.succeed({ ok: true });
  assert.throws(() => a.succeed(), { name: 'LifecycleError', message: /node a \(attempt 1\)/ });
  assert.throws(() => run.node({ id: 'b', nmae: 'x' }), { name: 'ValidationError', field: 'node.nmae' });
  run.node({ id: 'a', type: 7 }).fail(new Error('broke'));   // known id and keys: read later, refused then
  run.output({ name: 'table_out', rows: 3 });
  run.externalId('airflow', 'run-7');
  run.fail('it failed');
  assert.throws(() => run.succeed(), { name: 'LifecycleError' });
  const logged = tracker.log({ status: 'success', startedAt: Date.now(), workflowId: 'logged' });
  tracker.log({ status: 'no such status', startedAt: Date.now() });   // refused on the worker
  const warned = await quietly(() => tracker.flush());
  const back = await tracker.get(run.id);
  assert.equal(back.status, 'failed');
  assert.deepEqual(back.nodes.map((n) => [n.id, n.attempt, n.status]), [['a', 1, 'success'], ['a', 2, 'error']]);
  assert.deepEqual(back.nodes[0].input, { rows: [1, 2] });
  assert.equal(back.outputs[0].name, 'table_out');
  assert.equal(back.externalIds.airflow, 'run-7');
  assert.equal((await tracker.get(logged)).workflowId, 'logged');
  assert.equal((await tracker.byExternalId('airflow', 'run-7'))[0].id, run.id);
  assert.equal((await tracker.history({ limit: 10 })).items.length, 2);
  await assert.rejects(tracker.history({ limitt: 1 }), { name: 'ValidationError' });
  // Two refusals, each an error event with the core's typed name and a log line.
  assert.deepEqual(errors.map((e) => e.name).sort(), ['ValidationError', 'ValidationError'], errors.map((e) => e.message).join('\n'));
  assert.ok(errors.some((e) => /node a of execution .* was refused/.test(e.message)));
  assert.ok(errors.some((e) => /status/.test(e.message)));
  assert.ok(warned.some((w) => /refused on the worker thread/.test(w)), warned.join('\n'));
  assert.throws(() => tracker.on('nope', () => {}), { name: 'ConfigError' });
  // Options the worker's core refuses reject the open, typed, and leave no thread behind.
  await assert.rejects(Tracker.open({ storage: 'memory', worker: true, flushIntervalMs: 'soon' }), { name: 'ConfigError', message: /flushIntervalMs/ });
  await assert.rejects(Tracker.open({ storage: 'memory', worker: 'yes' }), { name: 'ConfigError', message: /worker/ });
  await tracker.close();
  assert.throws(() => tracker.start({ workflowId: 'late' }), { name: 'StoreError', message: /closed/ });
  await assert.rejects(tracker.get(run.id), { name: 'StoreError' });
});

test('on a worker thread, a loop that never yields hands every batch over and waits when the worker is behind', async () => {
  const tracker = await Tracker.open({ storage: 'memory', worker: true });
  const ids = [];
  for (let i = 0; i < 1500; i++) {   // 34,500 entries: about 9 batches, more than may wait in flight
    const run = tracker.start({ workflowId: 'loop' });
    for (let n = 0; n < 10; n++) run.node({ id: `n${n}` }, { i }).succeed({ n });
    run.succeed();
    ids.push(run.id);
  }
  await tracker.flush();
  assert.equal(tracker.pending, 0);
  for (const id of [ids[0], ids[777], ids[1499]]) {
    const back = await tracker.get(id);
    assert.equal(back.nodes.length, 10);
    assert.equal(back.status, 'success');
  }
  assert.equal((await tracker.stats()).groups[0].total, 1500, 'every execution of the loop was recorded once');
  await tracker.close();
});

test('on a worker thread, every record flush() confirmed survives SIGKILL of the process', async () => {
  const path = tempStore('crash');
  const confirmed = new Set();
  for (let round = 0; round < 3; round++) {
    const proc = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'worker-recorder.mjs'), path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '', stderr = '', lines = 0;
    proc.stderr.on('data', (c) => { stderr += c; });
    proc.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        for (const id of JSON.parse(buffered.slice(0, nl))) confirmed.add(id);
        buffered = buffered.slice(nl + 1);
        lines++;
      }
    });
    const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 30_000;
    while (lines < 2 + round) {
      assert.ok(Date.now() < deadline, `round ${round}: no confirmed flush in 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    proc.kill('SIGKILL');
    assert.equal((await exited).signal, 'SIGKILL', stderr);
    const tracker = await Tracker.open({ path, retention: false });
    try {
      const stored = new Set();
      let cursor;
      do {
        const page = await tracker.history({ limit: 1000, cursor });
        for (const e of page.items) stored.add(e.id);
        cursor = page.nextCursor;
      } while (cursor);
      for (const id of confirmed) assert.ok(stored.has(id), `round ${round}: confirmed record ${id} is missing`);
    } finally {
      await tracker.close();
    }
  }
  assert.ok(confirmed.size >= 240, `${confirmed.size} confirmed`);
});

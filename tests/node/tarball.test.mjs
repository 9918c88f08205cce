// The npm tarball, installed into a fresh Node project and used the way a user would.
// Needs pkg/ (npm test builds it first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '../..');
let project;
let lib;

before(() => {
  assert.ok(existsSync(join(root, 'pkg/node.js')), 'pkg/ is missing: run `npm run build` first');
  project = mkdtempSync(join(tmpdir(), 'runledger-node-'));
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', project], { cwd: root, encoding: 'utf8' })
    .trim().split('\n').pop();
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', join(project, packed)], { cwd: project });
  // Resolve 'runledger' from inside the consumer project, through package.json "exports".
  writeFileSync(join(project, 'entry.mjs'), "export * from 'runledger';\n");
});

after(() => rmSync(project, { recursive: true, force: true }));

async function load() {
  lib ??= await import(pathToFileURL(join(project, 'entry.mjs')).href);
  return lib;
}

test('the tarball ships the wasm, both entries and the TypeScript types', () => {
  const files = readdirSync(join(project, 'node_modules/runledger/pkg'));
  for (const f of ['runledger_core_bg.wasm', 'runledger_core.js', 'browser.js', 'node.js', 'node-file.js', 'index.d.ts']) {
    assert.ok(files.includes(f), `${f} missing from the tarball: ${files}`);
  }
});

test('records a workflow run with node runs and reads it back, secrets redacted', async () => {
  const { Tracker } = await load();
  // Node's default storage is the durable file store.
  const tracker = await Tracker.open({ name: 'node-run', path: join(project, '.runledger') });
  assert.equal(tracker.storage, 'file');
  const run = tracker.start({ kind: 'workflow', workflowId: 'wf-1', workflowName: 'Import', userId: 'u1',
    trigger: { type: 'manual', data: { authorization: 'Bearer x' } } });
  const fetch = run.node({ id: 'n1', name: 'Fetch', type: 'http' }, { url: 'postgres://app:pw@db/x' });
  fetch.fail(new TypeError('socket hang up'));
  const retry = run.node({ id: 'n1', name: 'Fetch', type: 'http' }, { attempt: 2 });
  retry.succeed({ rows: 2 });
  run.output({ name: 'orders', kind: 'table', rows: 2, columns: [{ name: 'id', type: 'int' }], role: 'primary' });
  run.externalId('airflow', 'scheduled__2026-11-22');
  run.succeed();
  await tracker.flush();
  const stored = await tracker.get(run.id);
  assert.equal(stored.status, 'success');
  assert.deepEqual(stored.nodes.map((n) => [n.id, n.attempt, n.status]), [['n1', 1, 'error'], ['n1', 2, 'success']]);
  assert.equal(stored.nodes[0].error.type, 'TypeError');
  assert.equal(stored.nodes[0].input.url, 'postgres://app:[REDACTED]@db/x');
  assert.equal(stored.trigger.data.authorization, '[REDACTED]');
  assert.equal(stored.outputs[0].role, 'primary');
  assert.deepEqual(stored.externalIds, { airflow: 'scheduled__2026-11-22' });
  assert.throws(() => run.externalId('dbt', 'x'), (e) => e.name === 'LifecycleError');
  await tracker.close();
});

test('history filters and pages newest first', async () => {
  const { Tracker } = await load();
  const tracker = await Tracker.open({ name: 'node-history', path: join(project, '.runledger') });
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 5; i++) {
    tracker.logQuery({ query: `select ${i}`, databaseType: i % 2 ? 'kdb' : 'starburst', status: i === 3 ? 'failed' : 'success',
      executionTime: 0.5, totalRows: i, userId: 'u1', startedAt: t0 + i * 1000 });
  }
  const first = await tracker.history({ databaseType: 'kdb', limit: 1 });
  assert.deepEqual(first.items.map((e) => e.query.text), ['select 3']);
  assert.ok(first.nextCursor);
  const second = await tracker.history({ databaseType: 'kdb', limit: 1, cursor: first.nextCursor });
  assert.deepEqual(second.items.map((e) => e.query.text), ['select 1']);
  assert.equal(second.nextCursor, undefined);
  const failed = await tracker.history({ status: 'failed' });
  assert.deepEqual(failed.items.map((e) => e.query.text), ['select 3']);
  await tracker.close();
});

test('bad input throws an Error that says what and where', async () => {
  const { Tracker } = await load();
  const tracker = await Tracker.open({ name: 'node-errors', path: join(project, '.runledger') });
  assert.throws(() => tracker.log({ status: 'success', startedAt: 'last tuesday' }),
    (e) => e instanceof Error && e.name === 'ValidationError' && e.field === 'execution.startedAt');
  assert.throws(() => tracker.start({ outputs: 3, workflowId: 7 }), (e) => e.name === 'ValidationError' && /workflowId/.test(e.message));
  const run = tracker.start({});
  run.cancel('user pressed stop');
  assert.throws(() => run.succeed(), (e) => e.name === 'LifecycleError' && /cancelled to success/.test(e.message));
  await assert.rejects(Tracker.open({ flushIntervalMS: 10 }), (e) => e.name === 'ConfigError' && /flushIntervalMS/.test(e.message));
  // Inside `redact` too: a misspelt `keys` would leave the user's secrets in clear (issue 14).
  await assert.rejects(Tracker.open({ storage: 'memory', redact: { kes: ['pin'] } }), (e) => e.name === 'ConfigError' && /kes/.test(e.message));
  await assert.rejects(Tracker.open({ storage: 'indexeddb' }), (e) => e.name === 'ConfigError' && /no IndexedDB/.test(e.message));
  // A misspelt history query is an error, not an unfiltered page.
  await assert.rejects(tracker.history({ filter: { workflowId: 'wf-1' } }),
    (e) => e.name === 'ValidationError' && /unknown field `filter`/.test(e.message));
  await tracker.close();
});

test('recording returns before anything is written, and flush makes it visible to history', async () => {
  const { Tracker } = await load();
  const tracker = await Tracker.open({ name: 'node-batch', path: join(project, '.runledger'), flushIntervalMs: 10000 });
  const run = tracker.start({ workflowId: 'wf' });
  run.succeed();
  assert.equal(tracker.pending, 1);
  await tracker.flush();
  assert.equal(tracker.pending, 0, 'flush() wrote it');
  const page = await tracker.history({ workflowId: 'wf' });
  assert.equal(page.items.length, 1);
  await tracker.close();
});

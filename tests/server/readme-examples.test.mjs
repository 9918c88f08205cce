// The README's "Logging from any client" examples, run as a user would run them: the Python
// block with the real interpreter and the package in clients/python, the curl blocks with
// real curl, against the real server binary (the README's address replaced by its own).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sqlite, startServer } from './engines.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = README.slice(README.indexOf('## Logging from any client'));
const blocks = (lang) => [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);

let db;
let server;
let dir;
const here = (code) => code.replaceAll('http://127.0.0.1:8787', server.base);
const get = async (path) => (await fetch(server.base + path)).json();

before(async () => {
  db = sqlite();
  server = await startServer(['--db', db.url]);
  dir = mkdtempSync(join(tmpdir(), 'runledger-readme-'));
});
after(async () => {
  await server?.stop();
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the README has the Python and curl examples', () => {
  assert.equal(blocks('python').length, 1);
  assert.equal(blocks('sh').length, 2);
});

test('the Python example runs and its records land on the server', async () => {
  const out = execFileSync('python3', ['-c', here(blocks('python')[0])], {
    cwd: dir, env: { ...process.env, PYTHONPATH: join(ROOT, 'clients/python') }, encoding: 'utf8', timeout: 60_000,
  });
  assert.match(out, /left queued: 0/);
  const exported = await get('/api/v1/execution/export-2026-11-22');
  assert.equal(exported.status, 'error');
  assert.deepEqual(exported.failedNodes, ['save']);
  assert.equal(exported.nodes[0].durationMs, 2000, 'derived');
  const etl = await get('/api/v1/executions?workflow_id=etl');
  assert.equal(etl.items.length, 1);
  assert.equal(etl.items[0].status, 'success');
  const queries = await get('/api/v1/executions/analyst-1');
  assert.equal(queries.count, 2, JSON.stringify(queries));
  assert.doesNotMatch(JSON.stringify(queries), /hunter2/);
});

test('the curl examples run and do what they say', async () => {
  const [receivers, rest] = blocks('sh').map(here);
  const answers = execFileSync('bash', ['-euo', 'pipefail', '-c', receivers], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(answers.match(/"accepted":true/g)?.length, 3, answers);
  const run = await get('/api/v1/execution/wf-run-1');
  assert.equal(run.status, 'success');
  assert.equal(run.durationMs, 2000);
  assert.equal(run.nodes[0].durationMs, 1500);
  const query = await get('/api/v1/execution/q-1');
  assert.equal(query.kind, 'query');
  assert.equal(query.metadata.connection.password, '[REDACTED]');
  const out = execFileSync('bash', ['-euo', 'pipefail', '-c', rest], { encoding: 'utf8', timeout: 60_000 });
  assert.doesNotMatch(out, /"error":\{"code"/, out);
  assert.match(out, /"accepted":\["b-1"\]/);
  assert.match(out, /"total_executions"/);
  assert.match(out, /"database_stats"/);
  assert.match(out, /"workflow_id":"invoices"/);
  assert.match(out, /"total":1,"total_rows"/, "the finished run is in the 30-day workflow stats");
  // The batch again with other records: a 409, as the comment says.
  const reused = execFileSync('bash', ['-c', rest.split('\ncurl -sS http')[0].replace('"b-1"', '"b-2"')], { encoding: 'utf8' });
  assert.match(reused, /"code":"conflict"/);
});

// Shared pieces of the interop suites: the Python venv of the official OpenTelemetry and
// OpenLineage libraries (scripts/setup.sh creates it), a loopback consumer whose answers a
// test scripts, and ingest.
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';

const ROOT = resolve(import.meta.dirname, '../..');
export const PYTHON = resolve(ROOT, '.venv-interop/bin/python');

/** Runs a Python script of this folder with `input` on stdin; resolves with parsed stdout. */
export function python(script, args = [], input = '') {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/setup.sh (it creates .venv-interop)`);
  return new Promise((res, rej) => {
    const child = execFile(PYTHON, [resolve(import.meta.dirname, script), ...args], { timeout: 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => (err ? rej(new Error(`${script} failed: ${stderr || err.message}`)) : res(JSON.parse(stdout))));
    child.stdin.end(input);
  });
}

/**
 * A loopback HTTP consumer (a collector or a lineage backend) that records every request and
 * answers with `answer(request, n)` → `{ status, headers, body }` (default 200 `{}`).
 */
export function consumer(answer = () => ({})) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const request = { path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      requests.push(request);
      const { status = 200, headers = {}, body = '{}' } = answer(request, requests.length) ?? {};
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
  })));
}

let batchNo = 0;
/** Posts records to the server's ingest endpoint; resolves with the parsed answer. */
export async function ingest(base, records, key) {
  const r = await fetch(`${base}/v1/ingest`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ batch_id: `interop-${process.pid}-${batchNo++}`, client: { id: 'interop', sdk: 'test' }, records }),
  });
  if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
  return r.json();
}

/** Polls `check` (an async predicate) every 50 ms until true or `ms` pass. */
export async function until(check, ms = 20_000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const T0 = Date.parse('2026-11-02T08:00:00Z');

/** A failed workflow run with a retried node and an output, and a successful query. */
export function sampleRecords(prefix = 'x') {
  return [
    {
      id: `${prefix}-wf`, version: 1, kind: 'workflow', workflowId: 'nightly-etl', workflowName: 'Nightly ETL',
      status: 'failed', startedAt: T0, completedAt: T0 + 5000, durationMs: 5000, userId: 'u1',
      externalIds: { airflow: 'dag-run-7' }, error: { message: 'node load failed', type: 'LoadError' },
      metadata: { request: { inputs: ['raw.orders', { namespace: 'postgres://db', name: 'public.customers' }] } },
      outputs: [{ name: 'mart.daily', kind: 'table', rows: 42, role: 'primary', columns: [{ name: 'day', type: 'date' }] }],
      nodes: [
        { id: 'extract', type: 'sql', attempt: 1, status: 'success', startedAt: T0 + 10, completedAt: T0 + 1000, input: { table: 'orders' } },
        { id: 'load', attempt: 1, status: 'error', startedAt: T0 + 1100, completedAt: T0 + 2000, error: { message: 'timeout', type: 'Timeout' } },
        { id: 'load', attempt: 2, status: 'error', startedAt: T0 + 2100, completedAt: T0 + 4900, error: { message: 'disk full', stack: 'at load()' } },
      ],
    },
    {
      id: `${prefix}-q`, version: 1, kind: 'query', status: 'success', startedAt: T0 + 100, completedAt: T0 + 350,
      durationMs: 250, query: { text: 'SELECT day, count(*) FROM orders GROUP BY day', databaseType: 'postgresql', totalRows: 9, returnedRows: 9 },
    },
  ];
}

// The ingest server at team scale (`node bench/run.mjs --only server [--quick]`):
// - ingest throughput of the release server, 1 and 4 clients, batches of 500 executions of
//   10 nodes (~4 KB each), on SQLite and PostgreSQL, against the plain-insert floor measured
//   in the same run (the same rows, columns and JSON text, inserted by the engine's own CLI
//   in transactions of 500: no HTTP, no parsing, no judging, no rollups);
// - every read of the REST API at N stored executions (N = 1,000,000; 20,000 with --quick),
//   seeded directly in the database by SQL, rollups rebuilt by the server at start.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgres, sqlite, startServer } from '../tests/server/engines.mjs';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const client = { id: 'bench', sdk: 'runledger-bench/0' };
const NOW = Date.now();
const DAY = 86_400_000;

function execution(i, run) {
  const startedAt = NOW - (i % 1000) * 60_000;
  const nodes = Array.from({ length: 10 }, (_, n) => ({
    id: `n${n}`, name: `step ${n}`, status: 'success', startedAt: startedAt + n * 10, completedAt: startedAt + n * 10 + 9,
    input: { table: `t_${n}`, rows: n * 100, filter: 'x'.repeat(120) }, output: { ok: true, rows: n * 100, note: 'y'.repeat(120) },
  }));
  return {
    id: `${run}-${i}`, version: 1, status: i % 9 ? 'success' : 'failed', kind: 'workflow', workflowId: `wf${i % 40}`, userId: `u${i % 25}`,
    startedAt, completedAt: startedAt + 200, nodes,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function post(base, batch_id, records) {
  const r = await fetch(`${base}/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_id, client, records }) });
  if (r.status !== 200) throw new Error(`ingest ${r.status}: ${await r.text()}`);
  const body = await r.json();
  if (body.rejected.length) throw new Error(`rejected: ${JSON.stringify(body.rejected[0])}`);
}

/** Executions/s committed by `clients` concurrent clients sending `total` in batches of `size`. */
async function ingestRate(base, clients, total, size, run) {
  const batches = [];
  for (let b = 0; b * size < total; b++) batches.push(Array.from({ length: size }, (_, i) => execution(b * size + i, run)));
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < batches.length) {
      const b = next++;
      await post(base, `${run}-${b}`, batches[b]);
    }
  }));
  return total / ((performance.now() - t0) / 1000);
}

const sqlText = (s) => `'${s.replaceAll("'", "''")}'`;

/** The floor: the same executions rows inserted by the engine's CLI, 500 per transaction. */
function floorRate(engine, url, total) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-floor-'));
  try {
    const lines = [];
    for (let b = 0; b * 500 < total; b++) {
      const rows = Array.from({ length: 500 }, (_, i) => {
        const e = execution(b * 500 + i, 'floor');
        return `('', ${sqlText(e.id)}, 1, 'workflow', ${sqlText(e.workflowId)}, ${sqlText(e.userId)}, ${sqlText(e.status)}, NULL, ${e.startedAt}, ${e.completedAt}, 200, ${sqlText(JSON.stringify(e))}, ${NOW})`;
      });
      lines.push(`BEGIN; INSERT INTO executions (tenant, id, version, kind, workflow_id, user_id, status, database_type, started_at, completed_at, duration_ms, record, received_at) VALUES ${rows.join(',\n')}; COMMIT;`);
    }
    const file = join(dir, 'floor.sql');
    writeFileSync(file, lines.join('\n'));
    const t0 = performance.now();
    const r = engine === 'sqlite'
      ? spawnSync('sqlite3', ['-bail', url.replace(/^sqlite:/, ''), `.read ${file}`])
      : spawnSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file]);
    if (r.status !== 0) throw new Error(`floor insert failed: ${r.stderr}`);
    return total / ((performance.now() - t0) / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runSql(engine, url, sql) {
  const r = engine === 'sqlite'
    ? spawnSync('sqlite3', ['-bail', url.replace(/^sqlite:/, '')], { input: sql })
    : spawnSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', '-d', url], { input: sql });
  if (r.status !== 0) throw new Error(`${engine} seed failed: ${r.stderr}`);
}

/**
 * PostgreSQL's executions table is partitioned by UTC month (server/src/partitions.rs, which
 * creates them as batches need them): rows seeded around the server need their months'
 * partitions, named as the server names them.
 */
function monthPartitions(from, to) {
  const out = [];
  const d = new Date(from);
  for (let y = d.getUTCFullYear(), m = d.getUTCMonth(); Date.UTC(y, m, 1) <= to; m === 11 ? (y++, m = 0) : m++) {
    const name = `executions_${String(y).padStart(4, '0')}_${String(m + 1).padStart(2, '0')}`;
    out.push(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF executions FOR VALUES FROM (${Date.UTC(y, m, 1)}) TO (${Date.UTC(y, m + 1, 1)});\n`);
  }
  return out.join('');
}

/** Seeds `n` small executions over 30 days straight into the executions table. */
function seed(engine, url, n) {
  const series = engine === 'sqlite'
    ? `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ${n})`
    : `WITH s(i) AS (SELECT generate_series(0::bigint, ${n - 1}))`;
  const cat = engine === 'sqlite' ? '||' : '||';
  const int = (x) => (engine === 'sqlite' ? `CAST(${x} AS TEXT)` : `(${x})::text`);
  const started = `(${NOW} - (i * 130003007) % ${30 * DAY})`;
  const status = `(CASE WHEN i % 13 = 0 THEN 'timeout' WHEN i % 7 = 0 THEN 'failed' ELSE 'success' END)`;
  const db = `(CASE WHEN i % 3 = 0 THEN 'kdb' WHEN i % 3 = 1 THEN 'postgres' ELSE 'snowflake' END)`;
  const record = `'{"id":"s' ${cat} ${int('i')} ${cat} '","version":1,"kind":"query","workflowId":"wf' ${cat} ${int('i % 200')} ${cat} '","userId":"u' ${cat} ${int('i % 100')} ${cat} '","status":"' ${cat} ${status} ${cat} '","startedAt":' ${cat} ${int(started)} ${cat} ',"completedAt":' ${cat} ${int(`${started} + i % 5000`)} ${cat} ',"durationMs":' ${cat} ${int('i % 5000')} ${cat} ',"query":{"databaseType":"' ${cat} ${db} ${cat} '","totalRows":' ${cat} ${int('i % 97')} ${cat} '},"nodes":[]}'`;
  runSql(engine, url, `${engine === 'postgres' ? monthPartitions(NOW - 30 * DAY, NOW) : ''}${series}
INSERT INTO executions (tenant, id, version, kind, workflow_id, user_id, status, database_type, started_at, completed_at, duration_ms, record, received_at)
SELECT '', 's' ${cat} ${int('i')}, 1, 'query', 'wf' ${cat} ${int('i % 200')}, 'u' ${cat} ${int('i % 100')}, ${status}, ${db}, ${started}, ${started} + i % 5000, i % 5000, ${record}, ${NOW} FROM s;
${engine === 'postgres' ? 'ANALYZE;' : 'ANALYZE;'}`);
}

async function timeReads(base, n) {
  // A real next_cursor 29 days deep (`until` selects the page it comes from).
  const cursorDeep = (await (await fetch(`${base}/api/v1/executions?limit=50&until=${NOW - 29 * DAY}`)).json()).next_cursor;
  if (!cursorDeep) throw new Error('no cursor 29 days deep');
  const calls = {
    'history page by workflow': '/api/v1/executions?workflow_id=wf7&limit=50',
    'history page by user': '/api/v1/executions?user_id=u7&limit=50',
    'history page by time (since)': `/api/v1/executions?since=${NOW - 2 * DAY}&until=${NOW - DAY}&limit=50`,
    'history page, cursor 29 days deep': `/api/v1/executions?limit=50&cursor=${cursorDeep}`,
    'user executions, status + database_type': '/api/v1/executions/u7?status=timeout&database_type=kdb&limit=50',
    'user executions, offset 5000': '/api/v1/executions/u7?offset=5000&limit=50',
    'user stats 7 days': '/api/v1/executions/u7/stats?days=7',
    'user stats 30 days': '/api/v1/executions/u7/stats?days=30',
    'workflow stats 7 days': '/api/v1/workflows/wf7/stats?days=7',
    'workflow stats 30 days': '/api/v1/workflows/wf7/stats?days=30',
    'global stats 7 days': '/api/v1/executions/stats/global?days=7',
    'global stats 30 days': '/api/v1/executions/stats/global?days=30',
    'global database-stats': '/api/v1/executions/database-stats/global',
    'user database-stats': '/api/v1/executions/u7/database-stats',
    'lineage': '/api/v1/lineage/none?limit=50',
  };
  const out = {};
  for (const [name, path] of Object.entries(calls)) {
    const times = [];
    for (let k = 0; k < 7; k++) {
      const t0 = performance.now();
      const r = await fetch(base + path);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
      times.push(performance.now() - t0);
    }
    out[name] = median(times);
  }
  const total = await (await fetch(`${base}/api/v1/executions/stats/global?days=31`)).json();
  if (total.total_executions !== n) throw new Error(`seeded ${n} but global stats count ${total.total_executions}`);
  return out;
}

/**
 * Runs the server section; returns rows for the bench table and the raw figures.
 * `parts`: which of 'ingest' and 'reads' to run; `engines`: which of 'sqlite' and 'postgres';
 * `readN`: how many executions the reads run over (1,000,000; 20,000 when `quick`).
 */
export async function serverBench({ quick, bin, parts = ['ingest', 'reads'], engines = ['sqlite', 'postgres'], readN = quick ? 20000 : 1000000 }) {
  const perRun = quick ? 4000 : 20000;
  const figures = {};
  const rows = [];
  for (const [engine, make] of [['sqlite', sqlite], ['postgres', postgres]].filter(([e]) => engines.includes(e))) {
    figures[engine] = {};
    if (parts.includes('ingest')) {
    const db = await make();
    let server;
    try {
      server = await startServer(['--db', db.url], { bin });
      console.error(`[bench] server ingest on ${engine}`);
      const one = await ingestRate(server.base, 1, perRun, 500, 'one');
      const four = await ingestRate(server.base, 4, perRun, 500, 'four');
      await server.stop();
      server = null;
      const floor = floorRate(engine, db.url, perRun);
      figures[engine].ingest = { oneClient: one, fourClients: four, plainInsertFloor: floor };
      rows.push([`server ingest, ${engine}, 1 client, batches of 500 (executions/s)`, one, { 'plain-insert floor, same rows (engine CLI)': floor }, 'higher']);
      rows.push([`server ingest, ${engine}, 4 clients, batches of 500 (executions/s)`, four, { 'plain-insert floor, same rows (engine CLI)': floor }, 'higher']);
    } finally {
      await server?.stop();
      await db.stop();
    }
    }
    if (!parts.includes('reads')) continue;
    const readDb = await make();
    try {
      // Schema first (the server creates it), then the rows straight in, then a restart
      // rebuilds the rollups from them.
      const s1 = await startServer(['--db', readDb.url], { bin });
      await s1.stop();
      console.error(`[bench] seeding ${readN} executions into ${engine}`);
      const t0 = performance.now();
      seed(engine, readDb.url, readN);
      const seededS = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      const s2 = await startServer(['--db', readDb.url], { bin, startTimeoutMs: 900_000 });
      const rebuildS = (performance.now() - t1) / 1000;
      try {
        const reads = await timeReads(s2.base, readN);
        figures[engine].reads = { executions: readN, seededS, rollupRebuildS: rebuildS, medianMs: reads };
        const slowest = Math.max(...Object.values(reads));
        rows.push([`slowest REST read at ${readN} stored, ${engine} (ms, median)`, slowest, { 'target: 50 ms': 50 }, 'lower']);
        for (const [name, ms] of Object.entries(reads)) rows.push([`  ${name} at ${readN}, ${engine} (ms)`, ms, {}, 'lower']);
      } finally {
        await s2.stop();
      }
    } finally {
      await readDb.stop();
    }
  }
  return { rows, figures };
}

/** Prints the section's rows: each figure with its anchors and their ratio. */
export function printServerTable({ rows }) {
  const table = [];
  for (const [metric, ours, anchors, better] of rows) {
    table.push({ metric, runledger: Math.round(ours * 100) / 100, anchor: '', ratio: '' });
    for (const [name, v] of Object.entries(anchors)) table.push({ metric: '', runledger: '', anchor: `${name}: ${Math.round(v)}`, ratio: `${(ours / v).toPrecision(2)}× (${better} is better)` });
  }
  console.table(table);
}

// `node bench/server.mjs [--quick]` runs it alone, on the binary built by
// `cargo build --profile server -p runledger-server` (`bench/run.mjs --only server` builds it
// first, but needs pkg/ for its other sections' imports).
// `--only ingest|reads` runs one part, `--engine sqlite|postgres` one engine, `--reads N` sets
// the stored executions the reads run over.
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name) => { const i = process.argv.indexOf(name); return i < 0 ? undefined : process.argv[i + 1]; };
  const quick = process.argv.includes('--quick');
  const result = await serverBench({
    quick,
    parts: arg('--only') ? [arg('--only')] : undefined,
    engines: arg('--engine') ? [arg('--engine')] : undefined,
    readN: arg('--reads') ? Number(arg('--reads')) : undefined,
  });
  printServerTable(result);
  console.log(JSON.stringify(result.figures, null, 2));
}

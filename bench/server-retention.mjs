// Retention on PostgreSQL's time partitions (`node bench/server-retention.mjs [N]`): N
// executions in a month wholly before the cutoff (dropped as one partition) and N in the
// partly expired month before the cutoff (deleted 500 at a time), in one retention round
// of the release server; the two phases timed from the server's own log timestamps.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { postgres, startServer } from '../tests/server/engines.mjs';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const DAY = 86_400_000;
const NOW = Date.now();
const N = Number(process.argv[2] || 20000);
const bin = process.env.RUNLEDGER_SERVER_BIN;

const psql = (url, sql) => {
  const r = spawnSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', '-d', url], { input: sql });
  if (r.status !== 0) throw new Error(String(r.stderr));
};
const monthStart = (ms) => { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1); };
const nextMonth = (ms) => { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1); };
const name = (ms) => { const d = new Date(ms); return `executions_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`; };

/** `n` executions with ids `prefix…`, started evenly over [from, to). */
function seed(url, prefix, from, to, n) {
  const started = `(${from} + (i * ${Math.max(1, Math.floor((to - from) / n))}))`;
  psql(url, `CREATE TABLE IF NOT EXISTS ${name(from)} PARTITION OF executions FOR VALUES FROM (${monthStart(from)}) TO (${nextMonth(from)});
INSERT INTO executions (tenant, id, version, kind, workflow_id, user_id, status, database_type, started_at, completed_at, duration_ms, record, received_at)
SELECT '', '${prefix}' || i::text, 1, 'query', 'wf' || (i % 50)::text, 'u' || (i % 20)::text, 'success', 'kdb', ${started}, ${started} + 10, 10,
  '{"id":"${prefix}' || i::text || '","version":1,"kind":"query","workflowId":"wf' || (i % 50)::text || '","userId":"u' || (i % 20)::text || '","status":"success","startedAt":' || ${started}::text || ',"completedAt":' || (${started} + 10)::text || ',"durationMs":10,"query":{"databaseType":"kdb","totalRows":1},"nodes":[]}',
  ${NOW} FROM generate_series(0::bigint, ${n - 1}) AS i;
ANALYZE executions;`);
}

const at = (log, pattern) => {
  const line = log.split('\n').find((l) => pattern.test(l));
  const m = line && /(\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(line.replace(/\x1b\[[0-9;]*m/g, ''));
  return m ? Date.parse(m[1]) : NaN;
};

const db = await postgres();
try {
  const s1 = await startServer(['--db', db.url], bin ? { bin } : {});
  await s1.stop();
  const cutoff = NOW - 30 * DAY;
  seed(db.url, 'whole', monthStart(NOW - 100 * DAY), nextMonth(NOW - 100 * DAY), N);
  seed(db.url, 'part', monthStart(cutoff), cutoff - 60_000, N);
  const server = await startServer(['--db', db.url, '--retention-days', '30'], bin ? { bin } : {});
  try {
    for (let i = 0; i < 6000 && !/retention round ran|retention failed/.test(server.log()); i++) await new Promise((r) => setTimeout(r, 100));
    const log = server.log();
    const listening = at(log, /runledger-server ready/);
    const dropped = at(log, /retention dropped a partition/);
    const ran = at(log, /retention round ran/);
    console.log(JSON.stringify({
      executionsEach: N,
      dropWholePartitionMs: dropped - listening,
      deletePartlyExpiredRowsMs: ran - dropped,
      rowsPerSecondDeleted: Math.round(N / ((ran - dropped) / 1000)),
    }));
  } finally {
    await server.stop();
  }
} finally {
  await db.stop();
}

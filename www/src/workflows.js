// The demo workflows: realistic shapes whose node durations and failures come from a seeded
// PRNG, so a given seed and run number always play out the same way. Each one records through
// the public API only (tracker.start, run.node, node.succeed/fail, run.output, tracker.logQuery).

/** mulberry32: a tiny seeded PRNG, good enough for demo randomness. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Failure extends Error {
  constructor(message, type) {
    super(message);
    this.name = type;
  }
}

/**
 * Runs one node: waits a seeded time, then succeeds with `output` or fails with `error`.
 * `ctx.onStep` reports progress to the page.
 */
async function step(ctx, run, def, input, { ms, output, error }) {
  ctx.onStep(def.name, 'running');
  const node = run.node(def, input);
  await ctx.sleep(ms);
  if (error) {
    node.fail(error);
    ctx.onStep(def.name, 'error');
    throw error;
  }
  node.succeed(output);
  ctx.onStep(def.name, 'success');
  return output;
}

const between = (rand, lo, hi) => Math.round(lo + rand() * (hi - lo));

/** fetch → transform → load; the fetch is sometimes retried (a second attempt of the node). */
async function importOrders(ctx) {
  const { rand } = ctx;
  const run = ctx.tracker.start({
    kind: 'workflow', workflowId: 'import-orders', workflowName: 'Import orders', userId: ctx.user,
    trigger: { type: 'manual', data: { apiKey: 'sk-live-visible-only-as-redacted' } },
    externalIds: { airflow: `import_orders__${ctx.runNo}` },
  });
  ctx.onStart(run);
  const source = { url: 'https://shop.example/api/orders', headers: { authorization: 'Bearer abc.def' } };
  if (rand() < 0.4) {
    await step(ctx, run, { id: 'fetch', name: 'Fetch orders', type: 'http' }, source,
      { ms: between(rand, 150, 400), error: new Failure('GET /api/orders: 503 Service Unavailable', 'HttpError') }).catch(() => {});
  }
  const rows = between(rand, 800, 2000);
  await step(ctx, run, { id: 'fetch', name: 'Fetch orders', type: 'http' }, source, { ms: between(rand, 200, 600), output: { rows, sample: Array.from({ length: 3 }, (_, i) => ({ id: i + 1, total: 10 * (i + 1) })) } });
  const clean = Math.round(rows * 0.97);
  // A large output: stored as a truncation marker with a preview.
  const lines = Array.from({ length: 4000 }, (_, i) => ({ id: i, note: 'order line' }));
  await step(ctx, run, { id: 'transform', name: 'Clean rows', type: 'transform' }, { rows }, { ms: between(rand, 150, 450), output: { rows: clean, dropped: rows - clean, lines } });
  await step(ctx, run, { id: 'load', name: 'Load warehouse', type: 'sql' }, { connection: 'postgres://etl:s3cret@db/warehouse', password: 'hunter2', rows: clean },
    { ms: between(rand, 250, 700), output: { inserted: clean } });
  run.output({ name: 'warehouse.orders', kind: 'table', rows: clean, role: 'primary', columns: [{ name: 'id', type: 'int' }, { name: 'total', type: 'numeric' }] });
  run.succeed();
}

/** A branching workflow: two enrichments run side by side after a split, then merge. */
async function enrichCustomers(ctx) {
  const { rand } = ctx;
  const run = ctx.tracker.start({ kind: 'workflow', workflowId: 'enrich-customers', workflowName: 'Enrich customers', userId: ctx.user, trigger: { type: 'scheduled' } });
  ctx.onStart(run);
  const customers = between(rand, 300, 900);
  await step(ctx, run, { id: 'split', name: 'Split by region', type: 'branch' }, { customers }, { ms: between(rand, 100, 250), output: { eu: Math.round(customers / 2), us: customers - Math.round(customers / 2) } });
  await Promise.all([
    step(ctx, run, { id: 'geo', name: 'Geocode (EU)', type: 'http' }, { region: 'eu' }, { ms: between(rand, 300, 800), output: { matched: Math.round(customers / 2.1) } }),
    step(ctx, run, { id: 'credit', name: 'Credit score (US)', type: 'http' }, { region: 'us', token: 'tok_123' }, { ms: between(rand, 300, 800), output: { scored: Math.round(customers / 2.2) } }),
  ]);
  await step(ctx, run, { id: 'merge', name: 'Merge', type: 'transform' }, {}, { ms: between(rand, 100, 300), output: { rows: customers } });
  run.output({ name: 'crm.customers_enriched', kind: 'table', rows: customers, role: 'primary' });
  run.output({ name: 'reports/enrichment.csv', kind: 'file', role: 'auxiliary' });
  run.succeed();
}

/** Fails at its validation node; the load is skipped. */
async function syncInvoices(ctx) {
  const { rand } = ctx;
  const run = ctx.tracker.start({ kind: 'workflow', workflowId: 'sync-invoices', workflowName: 'Sync invoices', userId: ctx.user, trigger: { type: 'http' } });
  ctx.onStart(run);
  await step(ctx, run, { id: 'fetch', name: 'Fetch invoices', type: 'http' }, { since: '2026-11-01' }, { ms: between(rand, 150, 400), output: { rows: 412 } });
  const error = new Failure(`Invoice INV-${between(rand, 1000, 9999)} has no customer id (row ${between(rand, 1, 412)})`, 'ValidationError');
  try {
    await step(ctx, run, { id: 'validate', name: 'Validate invoices', type: 'transform' }, { rows: 412 }, { ms: between(rand, 150, 350), error });
  } catch {
    run.node({ id: 'load', name: 'Load ledger', type: 'sql' }).skip('an earlier node failed');
    run.fail({ message: error.message, type: error.name, stack: error.stack });
  }
}

/** Runs past its deadline: the slow node is cancelled and the run times out. */
async function nightlyReport(ctx) {
  const { rand } = ctx;
  const run = ctx.tracker.start({ kind: 'workflow', workflowId: 'nightly-report', workflowName: 'Nightly report', userId: ctx.user, trigger: { type: 'scheduled' } });
  ctx.onStart(run);
  await step(ctx, run, { id: 'query', name: 'Aggregate sales', type: 'sql' }, { sql: 'select region, sum(total) from orders group by 1' }, { ms: between(rand, 200, 500), output: { rows: 12 } });
  const deadline = 600;
  ctx.onStep('Render PDF', 'running');
  const render = run.node({ id: 'render', name: 'Render PDF', type: 'report' }, { pages: 40 });
  await ctx.sleep(deadline);
  render.fail({ message: `cancelled after the ${deadline} ms deadline`, type: 'Timeout' });
  ctx.onStep('Render PDF', 'timeout');
  run.timeout({ message: `Nightly report exceeded its ${deadline} ms deadline`, type: 'Timeout' });
}

const QUERIES = [
  ['postgres', 'select * from orders where created_at > now() - interval \'1 day\''],
  ['duckdb', 'select region, count(*) from read_parquet(\'sales/*.parquet\') group by 1'],
  ['starburst', 'select customer_id, sum(amount) from hive.sales.invoices group by 1'],
  ['kdb', 'select last price by sym from trade where date=.z.d'],
];

/** A query runner: logs a handful of query executions, some slow, some failing. */
async function queryRunner(ctx) {
  const { rand } = ctx;
  ctx.onStart(null, 'Query runner');
  for (let i = 0; i < 4; i++) {
    const [databaseType, query] = QUERIES[Math.floor(rand() * QUERIES.length)];
    const seconds = 0.05 + rand() * 1.5;
    const roll = rand();
    const status = roll < 0.7 ? 'success' : roll < 0.85 ? 'failed' : 'timeout';
    ctx.onStep(`${databaseType} query`, 'running');
    await ctx.sleep(between(rand, 80, 200));
    ctx.tracker.logQuery({
      query, databaseType, status, executionTime: seconds, userId: ctx.user,
      totalRows: status === 'success' ? between(rand, 1, 50_000) : 0, returnedRows: status === 'success' ? between(rand, 1, 500) : 0,
      errorMessage: status === 'failed' ? 'relation does not exist' : undefined,
      connectionParams: { host: 'db.internal', user: 'analyst', password: 'correct horse battery staple' },
    });
    ctx.onStep(`${databaseType} query`, status === 'success' ? 'success' : 'error');
  }
}

export const WORKFLOWS = [
  { id: 'import-orders', label: 'Import orders', hint: 'fetch → transform → load', run: importOrders },
  { id: 'enrich-customers', label: 'Enrich customers', hint: 'branching', run: enrichCustomers },
  { id: 'sync-invoices', label: 'Sync invoices', hint: 'fails at a node', run: syncInvoices },
  { id: 'nightly-report', label: 'Nightly report', hint: 'times out', run: nightlyReport },
  { id: 'query-runner', label: 'Query runner', hint: 'logs query executions', run: queryRunner },
];

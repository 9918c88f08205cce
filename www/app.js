// The demo page: records demo workflow runs with runledger and lists the history.
// It uses the package only through its public API, as a user's editor would.
import { Tracker } from '/pkg/browser.js';

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let cursor;

// `npm start` serves /config.json with the ingest server's address.
const config = await fetch('/config.json').then((r) => (r.ok ? r.json() : {}), () => ({}));
const tracker = await Tracker.open({ name: 'runledger-demo', endpoint: config.endpoint ?? undefined });
tracker.on('error', (e) => { $('status').textContent = `Background error: ${e.name}: ${e.message}`; });

function showSync(s) {
  const parts = s.enabled ? [`${s.pending} pending`, `${s.inFlight} in flight`, `${s.deadLettered} dead-lettered`]
    : [config.endpoint ? 'working offline' : 'no ingest server configured', `${s.pending} waiting`];
  if (s.lastSuccessAt) parts.push(`last synced ${new Date(s.lastSuccessAt).toLocaleTimeString()}`);
  if (s.paused) parts.push('paused: API key refused');
  if (s.lastError) parts.push(`last error: ${s.lastError}`);
  $('sync').textContent = `Sync: ${parts.join(' · ')}`;
}
tracker.on('sync', showSync);
showSync(tracker.syncState());
$('sync-now').addEventListener('click', () => tracker.sync().catch((e) => { $('status').textContent = `${e.name}: ${e.message}`; }));
$('offline').addEventListener('change', (ev) => tracker.setSyncEnabled(!ev.target.checked));
$('sync-now').disabled = $('offline').disabled = !config.endpoint;
$('status').textContent = tracker.recovered.length
  ? `Ready. ${tracker.recovered.length} run(s) left running by a closed tab were marked interrupted.`
  : `Ready (${tracker.storage}).`;

async function demoWorkflow(failAt) {
  const run = tracker.start({ kind: 'workflow', workflowId: 'import-orders', workflowName: 'Import orders',
    userId: 'demo-user', trigger: { type: 'manual', data: { apiKey: 'shown-as-redacted' } } });
  $('status').textContent = `Running ${run.id}…`;
  await refresh();
  const steps = [['fetch', 'Fetch orders', 'http'], ['transform', 'Clean rows', 'transform'], ['load', 'Load warehouse', 'sql']];
  let rows = 1200;
  for (const [id, name, type] of steps) {
    const node = run.node({ id, name, type }, { rows, connection: 'postgres://etl:secret@db/warehouse' });
    await sleep(150 + Math.random() * 250);
    if (id === failAt) {
      node.fail(new Error(`${name} failed: connection reset`));
      run.fail({ message: `${name} failed`, type: 'ConnectionReset' });
      await refresh();
      $('status').textContent = `Run ${run.id} failed at ${name}.`;
      return;
    }
    rows = Math.round(rows * 0.97);
    node.succeed({ rows });
  }
  run.output({ name: 'orders', kind: 'table', rows, role: 'primary', columns: [{ name: 'id', type: 'int' }] });
  run.succeed();
  await refresh();
  $('status').textContent = `Run ${run.id} succeeded.`;
}

function row(e) {
  const tr = document.createElement('tr');
  tr.tabIndex = 0;
  const cells = [new Date(e.startedAt).toLocaleTimeString(), e.workflowName ?? e.workflowId ?? e.query?.databaseType ?? '—',
    e.kind, e.status, e.durationMs == null ? '…' : `${Math.round(e.durationMs)} ms`, e.nodeCount ?? 0];
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  tr.children[3].className = e.status;
  const show = async () => { $('detail').textContent = JSON.stringify(await tracker.get(e.id), null, 2); };
  tr.addEventListener('click', show);
  tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') show(); });
  return tr;
}

async function refresh(append = false) {
  const status = $('filter-status').value || undefined;
  const page = await tracker.history({ status, limit: 20, cursor: append ? cursor : undefined });
  if (!append) $('history').replaceChildren();
  $('history').append(...page.items.map(row));
  cursor = page.nextCursor;
  $('more').hidden = !cursor;
}

$('run-ok').addEventListener('click', () => demoWorkflow(null));
$('run-fail').addEventListener('click', () => demoWorkflow('load'));
$('run-query').addEventListener('click', async () => {
  tracker.logQuery({ query: 'select count(*) from orders', databaseType: 'duckdb', status: 'success',
    executionTime: Math.random(), totalRows: 1, userId: 'demo-user', connectionParams: { password: 'hidden' } });
  await refresh();
});
$('filter-status').addEventListener('change', () => refresh());
$('more').addEventListener('click', () => refresh(true));
await refresh();

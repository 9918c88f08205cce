// The runledger viewer and demo editor. It uses the npm package exactly as a user's editor
// would, through its public API only: Tracker.open, start/node/succeed/fail, logQuery,
// history, get, stats, lineage, byExternalId, sync state and dead letters, prune and clear.
//
// URL parameters: `seed` (default 42) seeds the demo workflows' randomness; `speed` (default 1)
// divides their waits (the tests run them fast).
import { Tracker } from 'runledger';
import { $, h, duration, fillTable, time } from './format.js';
import { WORKFLOWS, prng } from './workflows.js';
import { historyList } from './history-list.js';
import { showDetail } from './detail.js';
import { renderStats } from './stats-view.js';
import { teamView } from './team.js';

const params = new URLSearchParams(location.search);
const SEED = Number(params.get('seed') ?? 42);
const SPEED = Math.max(0.1, Number(params.get('speed') ?? 1));
const DB_NAME = params.get('db') ?? 'runledger-demo';
const KEYS = { offline: `${DB_NAME}:offline`, retention: `${DB_NAME}:retention`, runNo: `${DB_NAME}:run-no` };

function notify(message, kind = 'info', source = '') {
  const el = $('notice');
  el.textContent = message;
  el.dataset.kind = kind;
  el.dataset.source = source;
}

// `npm start` serves /config.json with the ingest server's address (null: no server).
const config = await fetch('./config.json').then((r) => (r.ok ? r.json() : {}), () => ({}));
const retention = JSON.parse(localStorage.getItem(KEYS.retention) ?? 'null');
let tracker;
try {
  tracker = await Tracker.open({
    name: DB_NAME,
    endpoint: config.endpoint ?? undefined,
    apiKey: config.apiKey ?? undefined,
    syncEnabled: localStorage.getItem(KEYS.offline) !== '1',
    sync: { debounceMs: 300 },
    ...(retention ? { retention } : {}),
  });
} catch (e) {
  notify(`runledger could not open its store: ${e.name}: ${e.message}`, 'error');
  throw e;
}
globalThis.runledgerViewer = { tracker };
tracker.on('error', (e) => { notify(`Background error (${e.name}): ${e.message}`, 'error', e.name); console.error('[runledger]', e); });
if (tracker.recovered.length) notify(`${tracker.recovered.length} run(s) left running by a closed tab were marked interrupted.`);

// ---- live updates, in this tab and every other one open on the same store ----
const channel = new BroadcastChannel(`${DB_NAME}:viewer`);
let changeTimer;
/** Something was recorded here: write it, refresh the views, tell the other tabs. */
function changed() {
  clearTimeout(changeTimer);
  changeTimer = setTimeout(async () => {
    try {
      await tracker.flush();
    } catch (e) {
      notify(`Recording could not be written: ${e.message}`, 'error');
    }
    refreshLocal();
    channel.postMessage({ type: 'changed' });
  }, 60);
}
channel.onmessage = ({ data }) => {
  if (data.type === 'changed') refreshLocal();
  if (data.type === 'offline') setOffline(data.offline, false);
};

// ---- tabs ----
const tabs = [...document.querySelectorAll('[role=tab]')];
let current = 'runs';
function selectTab(name, focus = false) {
  current = name;
  for (const tab of tabs) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  if (name === 'stats') refreshStats();
  if (name === 'team') team?.show();
  if (name === 'settings') refreshDeadLetters();
}
tabs.forEach((tab, i) => {
  tab.addEventListener('click', () => selectTab(tab.id.slice(4)));
  tab.addEventListener('keydown', (ev) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
    if (step) selectTab(tabs[(i + step + tabs.length) % tabs.length].id.slice(4), true);
  });
});

// ---- detail ----
async function openLocal(id) {
  const e = await tracker.get(id);
  if (!e) { notify(`Execution ${id} is no longer stored here (pruned or cleared).`); return; }
  showDetail(e, {
    source: 'this browser',
    lineage: async (name) => (await tracker.lineage(name, { limit: 20 })).items,
    byExternalId: (system, xid) => tracker.byExternalId(system, xid),
    open: openLocal,
  });
}

// ---- history ----
const filters = $('filters');
for (const w of WORKFLOWS.filter((w) => w.id !== 'query-runner')) filters.workflowId.append(new Option(w.label, w.id));
function historyQuery() {
  const q = {};
  for (const [k, v] of new FormData(filters)) if (v) q[k] = v;
  if (q.range) { q.since = Date.now() - Number(q.range); delete q.range; }
  return q;
}
const localHistory = historyList({
  tbody: $('history'), more: $('more'), sentinel: $('history-sentinel'), empty: $('history-empty'), count: $('history-count'),
  fetchPage: (cursor, limit) => tracker.history({ ...historyQuery(), limit, cursor }),
  onOpen: (e) => openLocal(e.id),
  onError: (e) => notify(`History could not be read: ${e.message}`, 'error'),
});
filters.addEventListener('change', () => localHistory.reload());
filters.addEventListener('reset', () => setTimeout(() => localHistory.reload()));

function refreshStats() {
  return renderStats(tracker, Number($('stats-period').value)).catch((e) => notify(`Stats could not be read: ${e.message}`, 'error'));
}
$('stats-period').addEventListener('change', refreshStats);

function refreshLocal() {
  localHistory.reload();
  if (current === 'stats') refreshStats();
  if (current === 'settings') refreshDeadLetters();
}

// ---- running demo workflows ----
const sleep = (ms) => new Promise((r) => setTimeout(r, ms / SPEED));
for (const w of WORKFLOWS) {
  $('run-buttons').append(h('button', { type: 'button', 'data-workflow': w.id, onclick: () => runDemo(w) }, w.label, h('small', {}, w.hint)));
}
async function runDemo(workflow) {
  const runNo = Number(localStorage.getItem(KEYS.runNo) ?? 0) + 1;
  localStorage.setItem(KEYS.runNo, String(runNo));
  const item = h('li', { className: 'running' }, h('strong', {}, workflow.label), ' ', h('span', {}, 'starting…'));
  $('progress').prepend(item);
  const steps = item.lastChild;
  const ctx = {
    tracker, runNo, user: $('acting-user').value, rand: prng(SEED * 100_003 + runNo), sleep,
    onStart: () => changed(),
    onStep: (name, status) => { steps.textContent = `${name}: ${status}`; changed(); },
  };
  const started = performance.now();
  try {
    await workflow.run(ctx);
    steps.textContent = `done in ${duration(performance.now() - started)}`;
  } catch (e) {
    steps.textContent = `stopped: ${e.message}`;
    notify(`${workflow.label} threw: ${e.message}`, 'error');
  }
  item.className = 'done';
  changed();
  setTimeout(() => item.remove(), 8000);
}

// ---- sync ----
function describeSync(s) {
  if (!config.endpoint) return ['none', `No ingest server: ${s.pending} kept locally`];
  if (!s.enabled) return ['offline', `Offline: ${s.pending} pending`];
  if (s.paused) return ['error', 'Paused: the server refused the API key'];
  if (s.deadLettered) return ['dead', `${s.deadLettered} dead-lettered${s.pending ? `, ${s.pending} pending` : ''}`];
  if (s.inFlight) return ['in-flight', `${s.inFlight} in flight, ${s.pending} pending`];
  if (s.pending) return [s.lastError ? 'error' : 'pending', `${s.pending} pending${s.lastError ? ` (retrying: ${s.lastError})` : ''}`];
  return ['synced', s.lastSuccessAt ? `Synced ${time(s.lastSuccessAt)}` : 'Synced'];
}
function showSync(s) {
  const [state, text] = describeSync(s);
  // A sync error shown earlier is over once everything is synced again.
  if (state === 'synced' && $('notice').dataset.source === 'SyncError') notify('');
  const pill = $('sync-indicator');
  pill.dataset.state = state;
  pill.textContent = text;
  pill.title = s.lastError ? `Last error: ${s.lastError}` : '';
  const facts = [['Server', config.endpoint ?? 'none configured'], ['Switched on', String(s.enabled)], ['Pending', String(s.pending)],
    ['In flight', String(s.inFlight)], ['Dead-lettered', String(s.deadLettered)], ['Last synced', s.lastSuccessAt ? time(s.lastSuccessAt) : 'never'],
    ['Last error', s.lastError ?? 'none'], ['Next attempt', s.nextAttemptAt ? time(s.nextAttemptAt) : '—']];
  $('sync-details').replaceChildren(...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}
tracker.on('sync', showSync);
showSync(tracker.syncState());

function setOffline(offline, broadcast = true) {
  $('offline').checked = offline;
  localStorage.setItem(KEYS.offline, offline ? '1' : '0');
  tracker.setSyncEnabled(!offline);
  $('sync-now').disabled = offline || !config.endpoint;
  showSync(tracker.syncState());
  if (broadcast) channel.postMessage({ type: 'offline', offline });
}
$('offline').checked = localStorage.getItem(KEYS.offline) === '1';
$('offline').addEventListener('change', (ev) => setOffline(ev.target.checked));
$('sync-now').addEventListener('click', async () => {
  try {
    showSync(await tracker.sync());
  } catch (e) {
    notify(`Sync failed: ${e.message}`, 'error');
  }
});
$('offline').disabled = !config.endpoint;
$('sync-now').disabled = $('offline').checked || !config.endpoint;

async function refreshDeadLetters() {
  const dead = await tracker.deadLetters();
  fillTable($('dead-letters'), ['Execution', 'Version', 'Reason', 'When'],
    dead.map((d) => [h('button', { type: 'button', className: 'link', onclick: () => openLocal(d.id) }, d.id), d.version, d.reason, time(d.at)]),
    'None: every record the server saw was accepted.');
  $('retry-dead').disabled = dead.length === 0;
}
$('retry-dead').addEventListener('click', async () => {
  const n = await tracker.retryDeadLetters();
  $('retry-result').textContent = `${n} dead letter(s) queued again.`;
  refreshDeadLetters();
});

// ---- retention and clear ----
const retentionForm = $('retention');
if (retention) {
  retentionForm.maxAgeDays.value = retention.maxAgeDays ?? '';
  retentionForm.maxCount.value = retention.maxCount ?? '';
}
retentionForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const limits = {};
  for (const key of ['maxAgeDays', 'maxCount']) {
    const v = retentionForm[key].value;
    if (v) limits[key] = Number(v);
  }
  try {
    const report = await tracker.prune(limits);
    localStorage.setItem(KEYS.retention, JSON.stringify(limits));
    $('retention-result').textContent = `Saved. Pruned ${report.removed.length} execution(s) now${report.keptUnsynced ? `; kept ${report.keptUnsynced} not yet synced` : ''}.`;
    changed();
  } catch (e) {
    $('retention-result').textContent = `Not saved: ${e.message}`;
  }
});

$('clear').addEventListener('click', async () => {
  const { items } = await tracker.history({ limit: 1000 });
  const pending = tracker.syncState().pending;
  $('confirm-text').textContent = `This deletes ${items.length >= 1000 ? 'over 1,000' : items.length} execution(s) stored in this browser.${pending ? ` ${pending} of them have not reached the server and will be lost.` : ''}`;
  $('confirm-clear').showModal();
});
$('confirm-clear').addEventListener('close', async () => {
  if ($('confirm-clear').returnValue !== 'clear') return;
  const removed = await tracker.clear();
  notify(`Cleared ${removed} execution(s).`);
  changed();
});

// ---- team ----
async function serverJson(path) {
  const r = await fetch(`${config.endpoint}${path}`, { headers: config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {} });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}
function showRemote(e) {
  showDetail(e, {
    source: 'the ingest server',
    lineage: async (name) => (await serverJson(`/api/v1/lineage/${encodeURIComponent(name)}`)).executions
      .map((x) => ({ id: x.id, status: x.status, startedAt: x.started_at, externalIds: x.external_ids })),
    open: async (id) => showRemote(await serverJson(`/api/v1/execution/${encodeURIComponent(id)}`)),
  });
}
const team = config.endpoint ? teamView({ endpoint: config.endpoint, apiKey: config.apiKey, onOpen: showRemote }) : null;
if (!team) {
  $('team-error').hidden = false;
  $('team-error').textContent = 'No ingest server is configured (npm start runs one).';
}

await localHistory.reload();
selectTab(location.hash.slice(1) || 'runs');
document.body.dataset.ready = 'true';

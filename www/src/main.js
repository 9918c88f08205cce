// The runledger viewer and demo editor. It uses the npm package exactly as a user's editor
// would, through its public API only: Tracker.open, start/node/succeed/fail, logQuery,
// history, get, stats, lineage, byExternalId, sync state and dead letters, prune and clear.
//
// URL parameters: `seed` (default 42) seeds the demo workflows' randomness; `speed` (default 1)
// divides their waits (the tests run them fast).
import { Tracker } from 'runledger';
import { $, h, duration, fillTable, relative, time, title } from './format.js';
import { WORKFLOWS, prng } from './workflows.js';
import { historyList } from './history-list.js';
import { showDetail } from './detail.js';
import { showCompare } from './compare.js';
import { renderStats } from './stats-view.js';
import { teamView, fillOptions, rangeOf, runningList } from './team.js';
import { search } from './search.js';
import { formToHash, hashToForm, parseHash, updateHash } from './url-state.js';

const params = new URLSearchParams(location.search);
const SEED = Number(params.get('seed') ?? 42);
const SPEED = Math.max(0.1, Number(params.get('speed') ?? 1));
const DB_NAME = params.get('db') ?? 'runledger-demo';
const KEYS = { offline: `${DB_NAME}:offline`, retention: `${DB_NAME}:retention`, runNo: `${DB_NAME}:run-no` };

function notify(message, kind = 'info', source = '', action = null) {
  const el = $('notice');
  el.replaceChildren(message, ...(action ? [' ', h('button', { type: 'button', className: 'link', onclick: action.run }, action.label)] : []));
  el.dataset.kind = kind;
  el.dataset.source = source;
}

// `npm start` serves /config.json with the ingest server's address (null: no server).
const config = await fetch('./config.json').then((r) => (r.ok ? r.json() : {}), () => ({}));
// Under `npm start` the viewer is up while the server may still be building: "starting",
// then "up" (or "failed").
let serverState = config.endpoint ? (config.serverState ?? 'up') : null;
const serverReady = () => serverState === 'up';
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
/** A background failure in words a user acts on; the technical detail goes to the console. */
function describeBackgroundError(e) {
  const refused = /refused (\d+) record\(s\) for good/.exec(e.message);
  if (e.name === 'SyncError' && refused) return `The server refused ${refused[1]} run(s) and will not take them as they are. They are kept in this browser.`;
  if (e.name === 'SyncError') return `Some runs could not be sent to the server: ${e.message}. They are kept here and sent again automatically.`;
  if (e.name === 'StoreError' || e.name === 'QuotaError') return `Runs could not be saved in this browser: ${e.message}.`;
  return `Something went wrong in the background: ${e.message}.`;
}
tracker.on('error', (e) => {
  // While the server is still starting, not reaching it is expected: the pill says so.
  if (serverState === 'starting' && e.name === 'SyncError' && /cannot be reached/.test(e.message)) { console.info('[runledger] the server is still starting', e.message); return; }
  const review = /for good/.test(e.message) ? { label: 'Review refused runs', run: () => openRefused() } : null;
  notify(describeBackgroundError(e), 'error', e.name, review);
  console.error('[runledger]', e);
});
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
  if (parseHash().tab !== name) {
    // Another tab: its own filters, no open run.
    history.replaceState(null, '', `#${name}`);
    if (name === 'runs') formToHash(filters);
    if (name === 'team' && team) formToHash($('team-filters'), 't.');
  }
  if (name === 'stats') refreshStats();
  if (name === 'team' && serverReady()) team?.show();
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
$('detail').addEventListener('close', () => updateHash({ run: null }));
async function openLocal(id) {
  const e = await tracker.get(id);
  if (!e) { notify(`Run ${id} is not stored in this browser (it was pruned or cleared, or it was recorded elsewhere: try the Team tab).`); updateHash({ run: null }); return; }
  updateHash({ run: id });
  showDetail(e, {
    lineage: async (name) => (await tracker.lineage(name, { limit: 20 })).items,
    byExternalId: (system, xid) => tracker.byExternalId(system, xid),
    open: openLocal,
  });
}

// ---- history ----
const filters = $('filters');
hashToForm(filters);
function historyQuery() {
  const q = {};
  for (const [k, v] of new FormData(filters)) if (v && !['q', 'range', 'from', 'to'].includes(k)) q[k] = v;
  Object.assign(q, rangeOf(filters));
  return q;
}
const filtersActive = () => [...new FormData(filters)].some(([, v]) => v);
let searchFrom;
const localHistory = historyList({
  tbody: $('history'), more: $('more'), sentinel: $('history-sentinel'), empty: $('history-empty'), count: $('history-count'),
  fetchPage: async (cursor, limit) => {
    const text = filters.q.value.trim();
    if (!text) return tracker.history({ ...historyQuery(), limit, cursor });
    // Searching: `cursor` is the search's own position.
    const found = await search({
      text, limit, from: cursor,
      readPage: (c, n) => tracker.history({ ...historyQuery(), limit: n, cursor: c }),
      byId: (id) => tracker.get(id),
      full: (e) => tracker.get(e.id),
    });
    searchFrom = found;
    return { items: found.items, nextCursor: found.nextCursor };
  },
  onOpen: (e) => openLocal(e.id),
  onError: (e) => notify(`History could not be read: ${e.message}`, 'error'),
  onSelect: (picked) => pickedForCompare($('compare-runs'), picked),
  describeEmpty: () => {
    if (filters.q.value.trim()) return `No run matches “${filters.q.value.trim()}”${searchFrom && !searchFrom.complete ? ` in the newest ${searchFrom.scanned.toLocaleString()} runs` : ''}. Try fewer words, or reset the filters.`;
    if (filtersActive()) return 'No runs match these filters. Change them, or press “Reset filters”.';
    return config.endpoint
      ? 'Nothing has been recorded in this browser yet. Run a demo workflow above, or open the Team tab to see the runs on the server.'
      : 'Nothing has been recorded in this browser yet. Run a demo workflow above.';
  },
});
function pickedForCompare(button, picked) {
  button.disabled = picked.length !== 2;
  button.textContent = picked.length > 2 ? `Compare: pick only 2 (${picked.length} ticked)` : 'Compare 2 selected runs';
}
$('compare-runs').addEventListener('click', async () => {
  const [a, b] = localHistory.selected();
  showCompare(await tracker.get(a.id) ?? a, await tracker.get(b.id) ?? b);
});
let searchTimer;
function filtersChanged() {
  filters.dataset.range = filters.range.value;
  formToHash(filters);
  localHistory.reload();
}
filters.addEventListener('change', filtersChanged);
filters.addEventListener('input', (ev) => {
  if (ev.target.name !== 'q') return;
  clearTimeout(searchTimer);
  searchTimer = setTimeout(filtersChanged, 250);
});
filters.addEventListener('reset', () => setTimeout(filtersChanged));
filters.dataset.range = filters.range.value;

/** The filters list the workflows, users and database types that exist here. */
async function refreshFilterOptions() {
  const [wf, users, dbs] = await Promise.all([
    tracker.stats({ groupBy: ['workflow'] }), tracker.stats({ groupBy: ['user'] }), tracker.stats({ groupBy: ['databaseType'] }),
  ]);
  const label = (id) => WORKFLOWS.find((w) => w.id === id)?.label ?? id;
  fillOptions(filters.workflowId, wf.groups.map((g) => g.key.workflowId).filter(Boolean), label);
  fillOptions(filters.userId, users.groups.map((g) => g.key.userId).filter(Boolean));
  fillOptions(filters.databaseType, dbs.groups.map((g) => g.key.databaseType).filter(Boolean));
}

// ---- running now ----
const localRunning = runningList($('running'), $('running-count'), {
  read: async () => (await tracker.history({ status: 'running', limit: 50 })).items,
  onOpen: (e) => openLocal(e.id),
  none: 'Nothing is running in this browser right now.',
});

function refreshStats() {
  return renderStats(tracker, Number($('stats-period').value)).catch((e) => notify(`Stats could not be read: ${e.message}`, 'error'));
}
$('stats-period').addEventListener('change', refreshStats);

function refreshLocal() {
  localHistory.reload();
  localRunning.refresh();
  refreshFilterOptions().catch((e) => notify(`Filters could not be read: ${e.message}`, 'error'));
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
  if (serverState === 'starting') return ['pending', `Server starting…${s.pending ? ` · ${s.pending} waiting` : ''}`];
  if (serverState === 'failed') return ['error', 'The server did not start'];
  if (!s.enabled) return ['offline', `Offline: ${s.pending} pending`];
  if (s.paused) return ['error', 'Paused: the server refused the API key'];
  if (s.deadLettered) return ['dead', `${s.deadLettered} refused by the server${s.pending ? `, ${s.pending} pending` : ''}: review`];
  if (s.inFlight) return ['in-flight', `${s.inFlight} in flight, ${s.pending} pending`];
  if (s.pending && s.lastError && /reach|connect|network|fetch/i.test(s.lastError)) return ['error', `Server unreachable · ${s.pending} waiting`];
  if (s.pending) return [s.lastError ? 'error' : 'pending', s.lastError ? `Not sent yet · ${s.pending} waiting` : `${s.pending} pending`];
  return ['synced', s.lastSuccessAt ? `Synced ${relative(s.lastSuccessAt)}` : 'Synced'];
}
function showSync(s) {
  const [state, text] = describeSync(s);
  // A sync error shown earlier is over once everything is synced again.
  if (state === 'synced' && $('notice').dataset.source === 'SyncError') notify('');
  const pill = $('sync-indicator');
  pill.dataset.state = state;
  pill.textContent = text;
  pill.title = state === 'dead' ? 'Open the list of runs the server refused' : s.lastError ? `${text}. Last error: ${s.lastError}` : text;
  pill.tabIndex = state === 'dead' ? 0 : -1;
  if (current === 'settings' || $('refused').open) refreshDeadLetters();
  const facts = [['Server', config.endpoint ?? 'none configured'], ['Switched on', String(s.enabled)], ['Pending', String(s.pending)],
    ['In flight', String(s.inFlight)], ['Refused by the server', String(s.deadLettered)], ['Last synced', s.lastSuccessAt ? time(s.lastSuccessAt) : 'never'],
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

// Refused runs: the pill (when some are refused), the notice and the settings open one list
// where each can be opened, sent again or discarded.
const pill = $('sync-indicator');
const openIfRefused = () => { if (pill.dataset.state === 'dead') openRefused(); };
pill.addEventListener('click', openIfRefused);
pill.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); openIfRefused(); } });
$('refused-review').addEventListener('click', () => openRefused());
async function openRefused() {
  $('retry-result').textContent = '';
  await refreshDeadLetters();
  if (!$('refused').open) $('refused').showModal();
}
async function refreshDeadLetters() {
  const dead = await tracker.deadLetters();
  // Each run by its name (the id below it), as the history shows it.
  const runs = await Promise.all(dead.map((d) => tracker.get(d.id).catch(() => null)));
  const one = async (verb, d) => {
    if (verb === 'retry') await tracker.retryDeadLetters([d.id]); else await tracker.discardDeadLetters([d.id]);
    $('retry-result').textContent = verb === 'retry' ? `${d.id} is being sent again.` : `${d.id} was discarded: it stays in your history here and is not sent again.`;
    showSync(tracker.syncState());
    refreshDeadLetters();
  };
  fillTable($('dead-letters'), ['Run', 'Why the server refused it', 'When', ''],
    dead.map((d, i) => [h('button', { type: 'button', className: 'link', title: 'Open this run', onclick: () => openLocal(d.id) },
      runs[i] ? title(runs[i]) : 'a run no longer stored here', h('br'), h('small', {}, d.id)), d.reason, `${time(d.at)} (${relative(d.at)})`,
      h('span', { className: 'buttons' },
        h('button', { type: 'button', 'data-retry': d.id, onclick: () => one('retry', d) }, 'Send again'),
        h('button', { type: 'button', 'data-discard': d.id, onclick: () => one('discard', d) }, 'Discard'))]),
    'None: the server accepted every run it received.');
  $('retry-dead').disabled = dead.length === 0;
  $('discard-dead').disabled = dead.length === 0;
  $('refused-review').disabled = dead.length === 0;
  $('refused-summary').textContent = dead.length
    ? `${dead.length} run(s) were refused by the server. They are kept in this browser until you send them again or discard them.`
    : 'None: the server accepted every run it received.';
}
$('retry-dead').addEventListener('click', async () => {
  const n = await tracker.retryDeadLetters();
  $('retry-result').textContent = `${n} refused run(s) are being sent again.`;
  refreshDeadLetters();
});
$('discard-dead').addEventListener('click', async () => {
  const n = await tracker.discardDeadLetters();
  $('retry-result').textContent = `${n} refused run(s) discarded: they stay in your history here and are not sent again.`;
  showSync(tracker.syncState());
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
  updateHash({ run: e.id });
  showDetail(e, {
    lineage: async (name) => (await serverJson(`/api/v1/lineage/${encodeURIComponent(name)}`)).executions
      .map((x) => ({ id: x.id, status: x.status, startedAt: x.started_at, externalIds: x.external_ids })),
    open: async (id) => showRemote(await serverJson(`/api/v1/execution/${encodeURIComponent(id)}`)),
  });
}
const team = config.endpoint ? teamView({ endpoint: config.endpoint, apiKey: config.apiKey, onOpen: showRemote, onCompare: showCompare }) : null;
/** Says that the server is still starting (or did not start), and connects once it is up. */
function watchServerStart() {
  const say = () => {
    $('team-error').hidden = false;
    $('team-error').textContent = serverState === 'starting'
      ? 'The shared server is starting: the first `npm start` builds it, which takes a few minutes. This page connects by itself as soon as it is up; runs you record meanwhile are kept here and sent then.'
      : 'The shared server did not start: the terminal running `npm start` says why. Runs you record are kept in this browser.';
    $('team-live').dataset.state = serverState === 'starting' ? 'idle' : 'error';
    $('team-live').textContent = serverState === 'starting' ? 'server starting…' : 'server did not start';
  };
  say();
  const timer = setInterval(async () => {
    const next = await fetch('./config.json').then((r) => r.json()).then((c) => c.serverState ?? 'up', () => serverState);
    if (next === serverState) return;
    serverState = next;
    showSync(tracker.syncState());
    if (serverState === 'starting') return;
    clearInterval(timer);
    if (serverState !== 'up') { say(); return; }
    $('team-error').hidden = true;
    if (current === 'team') team.show();
    tracker.sync().then(showSync, () => {});
  }, 1500);
}
if (team && !serverReady()) watchServerStart();
if (!team) {
  $('team-error').hidden = false;
  $('team-error').textContent = 'No shared server is set up for this page. `npm start` runs one; to use another, serve /config.json with its address as "endpoint".';
}

await localHistory.reload();
refreshFilterOptions().catch((e) => notify(`Filters could not be read: ${e.message}`, 'error'));
localRunning.refresh();
// The landing tab: the one the address names; else the team's runs when this browser has
// recorded nothing yet and a server is there; else this browser's runs.
const { tab: named, params: named_params } = parseHash();
const landing = ['runs', 'stats', 'team', 'settings'].includes(named) ? named
  : (team && localHistory.loaded() === 0 ? 'team' : 'runs');
selectTab(landing);
const linkedRun = named_params.get('run');
if (linkedRun) {
  if (landing === 'team' && team && serverReady()) {
    serverJson(`/api/v1/execution/${encodeURIComponent(linkedRun)}`).then(showRemote, () => notify(`Run ${linkedRun} is not on the server.`, 'error'));
  } else {
    openLocal(linkedRun);
  }
}
document.body.dataset.ready = 'true';

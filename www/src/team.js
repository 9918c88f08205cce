// The team view: what the shared server holds, read from its REST API and refreshed live from
// its push stream (GET /api/v1/events, Server-Sent Events). Filters list what exists on the
// server (GET /api/v1/facets); trends come from GET /api/v1/stats grouped by day and
// workflow, computed by the same code as the client's tracker.stats().
import { Chart } from './charts.js';
import { $, h, card, duration, fillTable, percent, runDuration, title, statusBadge, STATUS_COLORS } from './format.js';
import { historyList } from './history-list.js';
import { formToHash, hashToForm } from './url-state.js';

const STATUSES = ['success', 'failed', 'error', 'timeout', 'cancelled', 'interrupted', 'running'];
const PALETTE = ['#1565c0', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#c62828', '#5d4037', '#455a64'];

/** Replaces a filter's options (after "any") with `values`, keeping the current choice. */
export function fillOptions(select, values, label = (v) => v) {
  const current = select.value;
  const all = [...new Set([...values, ...(current ? [current] : [])])].sort();
  select.replaceChildren(new Option('any', ''), ...all.map((v) => new Option(label(v), v)));
  select.value = current;
}

/** `{ since, until }` in ms from a filter form's `range` preset or its `from`/`to` fields. */
export function rangeOf(form) {
  const out = {};
  const preset = form.range?.value;
  if (preset && preset !== 'custom') {
    out.since = Date.now() - Number(preset);
    return out;
  }
  if (form.from?.value) out.since = new Date(form.from.value).getTime();
  // `to` names a minute: include all of it.
  if (form.to?.value) out.until = new Date(form.to.value).getTime() + 59_999;
  return out;
}

/** Fraction of finished runs that succeeded, from a `byStatus` map; null when none finished. */
function finished(byStatus = {}) {
  return Object.entries(byStatus).filter(([s]) => s !== 'running').reduce((a, [, n]) => a + n, 0);
}

/** A live list of runs in progress, with elapsed time that counts up. */
export function runningList(list, count, { read, onOpen, none }) {
  let items = [];
  function paint() {
    count.textContent = items.length ? `(${items.length})` : '';
    list.replaceChildren(...(items.length ? items.map((e) => h('li', { 'data-id': e.id },
      statusBadge('running'), ' ', h('button', { type: 'button', className: 'link', onclick: () => onOpen(e) }, title(e)),
      e.userId ? ` · ${e.userId}` : '', ' · ', h('span', { className: 'elapsed' }, runDuration(e)))) : [h('li', { className: 'muted' }, none)]));
  }
  setInterval(() => {
    for (const li of list.querySelectorAll('li[data-id]')) {
      const e = items.find((x) => x.id === li.dataset.id);
      if (e) li.querySelector('.elapsed').textContent = runDuration(e);
    }
  }, 1000);
  return {
    async refresh() {
      items = await read();
      paint();
    },
  };
}

export function teamView({ endpoint, apiKey, onOpen, onCompare, onError }) {
  const headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const api = async (path) => {
    let r;
    try {
      r = await fetch(`${endpoint}${path}`, { headers });
    } catch {
      throw new Error('the server cannot be reached (is it running?)');
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(`${r.status}: ${body.error?.message ?? body.message ?? 'refused'}`);
    return body;
  };
  const filters = $('team-filters');
  hashToForm(filters, 't.');
  const listQuery = () => {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(filters)) if (v && !['q', 'from', 'to'].includes(k)) q.set(k, v);
    const { since, until } = rangeOf(filters);
    if (since) q.set('since', String(since));
    if (until) q.set('until', String(until));
    return q;
  };
  // Every filter, the database type and the search words included, is applied by the
  // server, so pages are full and counts right.
  const readPage = async (cursor, limit, text) => {
    const q = listQuery();
    q.set('limit', String(Math.min(limit, 1000)));
    if (text) q.set('q', text);
    if (cursor) q.set('cursor', cursor);
    const page = await api(`/api/v1/executions?${q}`);
    return { items: page.items, nextCursor: page.next_cursor ?? undefined, scanned: page.scanned };
  };
  let lastSearch;
  const list = historyList({
    tbody: $('team-history'), more: $('team-more'), sentinel: $('team-more'), empty: $('team-empty'), count: $('team-count'),
    fetchPage: async (cursor, limit) => {
      const text = filters.q.value.trim();
      if (!text) return readPage(cursor, limit);
      // The server searches node inputs and outputs too, a bounded number of runs per
      // request; an exact run id comes first whatever the filters.
      const from = cursor ?? { scanned: 0 };
      const items = [];
      if (!cursor && /^[\w-]{8,}$/.test(text)) {
        const exact = await api(`/api/v1/execution/${encodeURIComponent(text)}`).catch(() => null);
        if (exact) items.push(exact);
      }
      const page = await readPage(from.cursor, limit, text);
      items.push(...page.items.filter((e) => !items.some((x) => x.id === e.id)));
      const scanned = from.scanned + (page.scanned ?? page.items.length);
      lastSearch = { scanned, complete: !page.nextCursor };
      return { items, nextCursor: page.nextCursor ? { cursor: page.nextCursor, scanned } : undefined };
    },
    onOpen: async (e) => onOpen(await api(`/api/v1/execution/${encodeURIComponent(e.id)}`)),
    onError: (e) => { showError(e); },
    onSelect: (picked) => {
      const b = $('team-compare-runs');
      b.disabled = picked.length !== 2;
      b.textContent = picked.length > 2 ? `Compare: pick only 2 (${picked.length} ticked)` : 'Compare 2 selected runs';
    },
    describeEmpty: () => {
      const text = filters.q.value.trim();
      if (text) return `No run on the server matches “${text}”${lastSearch && !lastSearch.complete ? ` in the newest ${lastSearch.scanned.toLocaleString()}` : ''}. Try fewer words, or reset the filters.`;
      if ([...new FormData(filters)].some(([, v]) => v)) return 'No runs on the server match these filters. Change them, or press “Reset filters”.';
      return 'The server has no runs yet. Runs appear here as soon as an editor or script with sync switched on records one.';
    },
  });
  $('team-compare-runs').addEventListener('click', async () => {
    const [a, b] = list.selected();
    const full = (e) => api(`/api/v1/execution/${encodeURIComponent(e.id)}`);
    onCompare(await full(a), await full(b));
  });
  let searchTimer;
  const changed = () => { formToHash(filters, 't.'); list.reload(); };
  filters.addEventListener('change', changed);
  filters.addEventListener('input', (ev) => {
    if (ev.target.name !== 'q') return;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(changed, 250);
  });
  filters.addEventListener('reset', () => setTimeout(changed));

  const running = runningList($('team-running'), $('team-running-count'), {
    read: async () => (await api('/api/v1/executions?status=running&limit=50')).items,
    onOpen: async (e) => onOpen(await api(`/api/v1/execution/${encodeURIComponent(e.id)}`)),
    none: 'Nothing is running on the server right now.',
  });

  function showError(error) {
    $('team-error').hidden = !error;
    $('team-error').textContent = error ? `The shared server at ${endpoint} could not be read: ${error.message}. The page tries again when the server is back.` : '';
  }

  let statusChart;
  let durationChart;
  const zone = (() => {
    const m = -new Date().getTimezoneOffset();
    const abs = Math.abs(m) - (Math.abs(m) % 30);
    return `${m < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  })();

  async function refreshStats() {
    const days = Number($('team-period').value);
    const [global, week, databases, facets, byDay, byWorkflow, trend] = await Promise.all([
      api('/api/v1/executions/stats/global?days=1'), api('/api/v1/executions/stats/global?days=7'),
      api('/api/v1/executions/database-stats/global'), api('/api/v1/facets?days=30'),
      api(`/api/v1/stats?days=${days}&group_by=day&time_zone=${encodeURIComponent(zone)}`),
      api(`/api/v1/stats?days=${days}&group_by=workflow`),
      api(`/api/v1/stats?days=${days}&group_by=day,workflow&time_zone=${encodeURIComponent(zone)}`),
    ]);
    fillOptions(filters.workflow_id, facets.workflows);
    fillOptions(filters.user_id, facets.users);
    fillOptions(filters.database_type, facets.database_types);
    $('team-cards').replaceChildren(
      card('runs today', String(global.total_executions), 'team-total'),
      card('success rate today (finished runs)', percent(global.success_rate, global.total_executions - (global.running_count ?? 0)), 'team-rate'),
      card('runs, 7 days', String(week.total_executions), 'team-week'),
      card('running now', String(week.running_count ?? 0), 'team-running-now'),
    );
    fillTable($('team-databases'), ['Database type', 'Queries', 'Succeeded', 'Failed', 'Timed out', 'Errors', 'Success rate', 'Avg'],
      databases.database_stats.map((d) => [d.database_type, d.execution_count, d.success_count, d.failed_count, d.timeout_count ?? 0, d.error_count ?? 0,
        percent(d.success_rate, d.execution_count - (d.running_count ?? 0)), duration(d.avg_execution_time * 1000)]),
      'No queries on the server yet.');
    fillTable($('team-workflows'), ['Workflow', 'Runs', 'Success rate', 'p50', 'p95', 'p99'],
      byWorkflow.groups.filter((g) => g.key.workflowId).map((g) => [g.key.workflowId, g.total, percent(g.successRate, finished(g.byStatus)),
        duration(g.durationMs?.p50), duration(g.durationMs?.p95), duration(g.durationMs?.p99)]),
      `No workflow runs in the last ${days === 1 ? '24 hours' : `${days} days`}.`);

    // Counts by status per day, and the success rate of finished runs (a point even for one day).
    const daysShown = byDay.groups.map((g) => g.key.day);
    statusChart?.destroy();
    statusChart = new Chart($('team-chart-status'), {
      data: {
        labels: daysShown,
        datasets: [
          ...STATUSES.map((s) => ({ type: 'bar', label: s, stack: 'status', backgroundColor: STATUS_COLORS[s], data: byDay.groups.map((g) => g.byStatus[s] ?? 0), yAxisID: 'y' })),
          { type: 'line', label: 'success rate %', borderColor: '#37474f', backgroundColor: '#37474f', pointRadius: 4, data: byDay.groups.map((g) => (finished(g.byStatus) ? g.successRate : null)), yAxisID: 'rate', spanGaps: true },
        ],
      },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'runs' } }, rate: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: 'success %' } } },
      },
    });
    // p50 and p95 per workflow per day.
    const workflows = [...new Set(trend.groups.map((g) => g.key.workflowId).filter(Boolean))].slice(0, PALETTE.length);
    const cell = (wf, day) => trend.groups.find((g) => g.key.workflowId === wf && g.key.day === day)?.durationMs;
    durationChart?.destroy();
    durationChart = new Chart($('team-chart-durations'), {
      type: 'line',
      data: {
        labels: daysShown,
        datasets: workflows.flatMap((wf, i) => [
          { label: `${wf} p50`, borderColor: PALETTE[i], backgroundColor: PALETTE[i], pointRadius: 3, spanGaps: true, data: daysShown.map((d) => cell(wf, d)?.p50 ?? null) },
          { label: `${wf} p95`, borderColor: PALETTE[i], backgroundColor: PALETTE[i], borderDash: [6, 4], pointRadius: 3, spanGaps: true, data: daysShown.map((d) => cell(wf, d)?.p95 ?? null) },
        ]),
      },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: 'duration' }, ticks: { callback: (v) => duration(v) } } },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${duration(c.parsed.y)}` } } },
      },
    });
    document.body.dataset.teamStats = String(Date.now());
  }
  $('team-period').addEventListener('change', () => refreshStats().catch(showError));

  let refreshing = null;
  let again = false;
  // One refresh at a time; pushes that arrive meanwhile fold into one more.
  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      do {
        again = false;
        try {
          await Promise.all([list.reload(), refreshStats(), running.refresh()]);
          showError(null);
        } catch (e) {
          showError(e);
          onError?.(e);
        }
      } while (again);
      refreshing = null;
    })();
    return refreshing;
  }

  let source;
  function connect() {
    const live = $('team-live');
    const url = new URL(`${endpoint}/api/v1/events`);
    if (apiKey) url.searchParams.set('key', apiKey);
    source = new EventSource(url);
    source.addEventListener('ready', () => { live.dataset.state = 'live'; live.textContent = 'live'; refresh(); });
    source.addEventListener('ingested', () => refresh());
    source.addEventListener('resync', () => refresh());
    // EventSource reconnects by itself; say so while it does.
    source.onerror = () => { live.dataset.state = 'error'; live.textContent = 'server unreachable, reconnecting…'; };
  }

  return {
    /** Starts the push stream and loads; later calls reload. */
    show() {
      if (!source) connect();
      return refresh();
    },
  };
}

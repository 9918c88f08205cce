// The team view: history and stats read from the ingest server's REST API, refreshed live
// from its push stream (GET /api/v1/events, Server-Sent Events).
import { $, card, duration, fillTable } from './format.js';
import { historyList } from './history-list.js';

const WORKFLOW_IDS = ['import-orders', 'enrich-customers', 'sync-invoices', 'nightly-report'];

export function teamView({ endpoint, apiKey, onOpen, onError }) {
  const headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const api = async (path) => {
    const r = await fetch(`${endpoint}${path}`, { headers });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(`${path}: ${r.status} ${body.message ?? body.error ?? ''}`.trim());
    return body;
  };
  const filters = $('team-filters');
  const list = historyList({
    tbody: $('team-history'), more: $('team-more'), sentinel: $('team-more'),
    fetchPage: async (cursor, limit) => {
      const q = new URLSearchParams({ limit: String(Math.min(limit, 1000)) });
      for (const [k, v] of new FormData(filters)) if (v) q.set(k, v);
      if (cursor) q.set('cursor', cursor);
      const page = await api(`/api/v1/executions?${q}`);
      return { items: page.items, nextCursor: page.next_cursor ?? undefined };
    },
    onOpen: async (e) => onOpen(await api(`/api/v1/execution/${encodeURIComponent(e.id)}`)),
    onError: (e) => { showError(e); },
  });
  for (const id of WORKFLOW_IDS) filters.workflow_id.append(new Option(id, id));
  filters.addEventListener('change', () => list.reload());

  function showError(error) {
    $('team-error').hidden = !error;
    $('team-error').textContent = error ? `The ingest server at ${endpoint} could not be read: ${error.message}` : '';
  }

  async function refreshStats() {
    const [global, week, databases, ...workflows] = await Promise.all([
      api('/api/v1/executions/stats/global?days=1'), api('/api/v1/executions/stats/global?days=7'),
      api('/api/v1/executions/database-stats/global'),
      ...WORKFLOW_IDS.map((id) => api(`/api/v1/workflows/${id}/stats?days=7`)),
    ]);
    $('team-cards').replaceChildren(
      card('executions today', String(global.total_executions), 'team-total'),
      card('success rate today', `${global.success_rate}%`, 'team-rate'),
      card('executions, 7 days', String(week.total_executions), 'team-week'),
      card('avg duration, 7 days', duration(week.avg_execution_time * 1000)),
    );
    fillTable($('team-databases'), ['Database type', 'Queries', 'Succeeded', 'Failed', 'Avg'],
      databases.database_stats.map((d) => [d.database_type, d.execution_count, d.success_count, d.failed_count, duration(d.avg_execution_time * 1000)]));
    fillTable($('team-workflows'), ['Workflow', 'Runs', 'Success rate', 'p50', 'p95', 'p99'],
      workflows.filter((w) => w.total > 0).map((w) => [w.workflow_id, w.total, `${w.success_rate}%`, duration(w.duration_ms?.p50), duration(w.duration_ms?.p95), duration(w.duration_ms?.p99)]));
  }

  let refreshing = null;
  let again = false;
  // One refresh at a time; pushes that arrive meanwhile fold into one more.
  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      do {
        again = false;
        try {
          await Promise.all([list.reload(), refreshStats()]);
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
    source.onerror = () => { live.dataset.state = 'error'; live.textContent = 'reconnecting…'; };
  }

  return {
    /** Starts the push stream and loads; later calls reload. */
    show() {
      if (!source) connect();
      return refresh();
    },
  };
}

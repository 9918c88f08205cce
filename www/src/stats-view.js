// The stats view: counts by status over time with the success rate, duration percentiles per
// workflow, and tables per user and per database type, all from `tracker.stats()`.
import { Chart } from './charts.js';
import { $, card, duration, fillTable, percent, STATUS_COLORS } from './format.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const STATUSES = ['success', 'failed', 'error', 'timeout', 'cancelled', 'interrupted', 'running'];
/** Runs that finished (running ones are neither successes nor failures). */
const finished = (g) => (g ? g.total - (g.byStatus.running ?? 0) : 0);
let statusChart;
let durationChart;

/** Time buckets for a period: hours for a day, days for longer periods. */
function buckets(days, now = Date.now()) {
  const size = days <= 1 ? HOUR : DAY;
  const count = days <= 1 ? 24 : days;
  const last = Math.floor(now / size) * size;
  return Array.from({ length: count }, (_, i) => {
    const since = last - (count - 1 - i) * size;
    const label = size === HOUR ? new Date(since).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : new Date(since).toLocaleDateString();
    return { since, until: since + size - 1, label };
  });
}

export async function renderStats(tracker, days) {
  const since = Date.now() - days * DAY;
  const [overall, perWorkflow, perUser, perDb, series] = await Promise.all([
    tracker.stats({ since }),
    tracker.stats({ since, groupBy: ['workflow'], filter: { kind: 'workflow' } }),
    tracker.stats({ since, groupBy: ['user'] }),
    tracker.stats({ since, groupBy: ['databaseType'], filter: { kind: 'query' } }),
    Promise.all(buckets(days).map(async (b) => ({ ...b, group: (await tracker.stats({ since: b.since, until: b.until })).groups[0] }))),
  ]);
  const all = overall.groups[0];
  $('stats-cards').replaceChildren(
    card('executions', String(all?.total ?? 0), 'stats-total'),
    card('success rate (finished runs)', percent(all?.successRate, finished(all)), 'stats-rate'),
    card('median duration', duration(all?.durationMs?.p50), 'stats-p50'),
    card('p95 duration', duration(all?.durationMs?.p95), 'stats-p95'),
    card('rows processed', (all?.totalRows ?? 0).toLocaleString(), 'stats-rows'),
  );

  statusChart?.destroy();
  statusChart = new Chart($('chart-status'), {
    data: {
      labels: series.map((b) => b.label),
      datasets: [
        ...STATUSES.map((s) => ({ type: 'bar', label: s, stack: 'status', backgroundColor: STATUS_COLORS[s], data: series.map((b) => b.group?.byStatus?.[s] ?? 0), yAxisID: 'y' })),
        { type: 'line', label: 'success rate %', borderColor: '#37474f', backgroundColor: '#37474f', pointRadius: 4, data: series.map((b) => (finished(b.group) ? b.group.successRate : null)), yAxisID: 'rate', spanGaps: true },
      ],
    },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'executions' } }, rate: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: 'success %' } } },
    },
  });

  const workflows = perWorkflow.groups.filter((g) => g.durationMs);
  durationChart?.destroy();
  durationChart = new Chart($('chart-durations'), {
    type: 'bar',
    data: {
      labels: workflows.map((g) => g.key.workflowId),
      datasets: [['p50', '#90caf9'], ['p95', '#1e88e5'], ['p99', '#0d47a1']].map(([p, color]) => ({ label: p, backgroundColor: color, data: workflows.map((g) => g.durationMs[p]) })),
    },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: 'duration' }, ticks: { callback: (v) => duration(v) } } },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${duration(c.parsed.y)}` } } },
    },
  });

  fillTable($('stats-users'), ['User', 'Executions', 'Success rate', 'p50', 'p95', 'Rows'],
    perUser.groups.map((g) => [g.key.userId ?? '—', g.total, percent(g.successRate, finished(g)), duration(g.durationMs?.p50), duration(g.durationMs?.p95), g.totalRows.toLocaleString()]),
    'No runs in this period.');
  const n = (g, s) => g.byStatus[s] ?? 0;
  fillTable($('stats-databases'), ['Database type', 'Queries', 'Succeeded', 'Failed', 'Timed out', 'Errors', 'Success rate', 'p50', 'p95', 'Rows'],
    perDb.groups.map((g) => [g.key.databaseType ?? '—', g.total, n(g, 'success'), n(g, 'failed'), n(g, 'timeout'), n(g, 'error'), percent(g.successRate, finished(g)),
      duration(g.durationMs?.p50), duration(g.durationMs?.p95), g.totalRows.toLocaleString()]),
    'No queries in this period.');
}

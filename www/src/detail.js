// The execution detail: facts, the error, a timeline (Gantt) of node runs with retries, each
// node's input/output/error with redacted values and truncation markers made visible, outputs
// with their lineage, and external ids.
import { Chart } from './charts.js';
import { $, h, axisDuration, duration, runDuration, time, relative, title, statusBadge, STATUS_COLORS } from './format.js';

let gantt;

/** Renders a JSON value, marking `[REDACTED]` strings and `$truncated` markers. */
export function renderValue(value) {
  if (value === undefined) return h('span', { className: 'muted' }, 'none');
  if (value === '[REDACTED]') return redactedMark();
  if (value && typeof value === 'object' && !Array.isArray(value) && value.$truncated) {
    const t = value.$truncated;
    // Two shapes: the core's cut knows the exact size (`originalBytes`); the capture layer
    // stops reading once the limit is passed, so it knows a lower bound (`originalBytesAtLeast`).
    const count = (n) => (Number.isFinite(n) ? n.toLocaleString() : '?');
    const exact = Number.isFinite(t.originalBytes);
    const size = exact ? count(t.originalBytes) : `at least ${count(t.originalBytesAtLeast)}`;
    const dropped = exact && Number.isFinite(t.bytesDropped) ? `; ${count(t.bytesDropped)} bytes were dropped before storage` : '; the rest was not read';
    return h('div', { className: 'truncated' },
      h('strong', {}, `Truncated: ${size} bytes of JSON, over the size limit for one value. `),
      `The first ${count(t.bytesKept)} bytes are kept as a preview${dropped}.`,
      h('pre', {}, `${t.preview ?? ''}…`));
  }
  if (Array.isArray(value)) {
    return h('span', { className: 'json' }, '[', ...value.flatMap((v, i) => [i ? ', ' : '', renderValue(v)]), ']');
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    return h('span', { className: 'json' }, '{', ...entries.flatMap(([k, v], i) => [i ? ', ' : '', h('span', { className: 'key' }, JSON.stringify(k)), ': ', renderValue(v)]), '}');
  }
  if (typeof value === 'string' && value.includes('[REDACTED]')) {
    // A masked connection string: `postgres://user:[REDACTED]@host/db`.
    const parts = JSON.stringify(value).split('[REDACTED]');
    return h('span', { className: 'json-string' }, ...parts.flatMap((p, i) => [i ? redactedMark() : null, p]));
  }
  return h('span', { className: `json-${typeof value}` }, JSON.stringify(value));
}

const redactedMark = () => h('mark', { className: 'redacted', title: 'A secret: redacted before it was stored or sent' }, '[REDACTED]');

function errorBlock(error) {
  if (!error) return null;
  return h('div', { className: 'error-box', 'data-testid': 'error' },
    h('strong', {}, `${error.type ?? 'Error'}: ${error.message}`),
    error.nodeId ? h('p', {}, `At node `, h('code', {}, error.nodeId)) : null,
    error.stack ? h('details', {}, h('summary', {}, 'Stack'), h('pre', {}, error.stack)) : null);
}

/** Above this many node runs the Gantt thins its bars and labels so it stays quick to draw. */
const DENSE_GANTT = 150;

function drawGantt(canvas, execution) {
  gantt?.destroy();
  const nodes = execution.nodes ?? [];
  const t0 = execution.startedAt;
  const end = (n) => (n.completedAt ?? Date.now()) - t0;
  const span = Math.max(1, ...nodes.map(end));
  const dense = nodes.length > DENSE_GANTT;
  gantt = new Chart(canvas, {
    type: 'bar',
    data: {
      labels: nodes.map((n) => `${n.name ?? n.id}${n.attempt > 1 ? ` (attempt ${n.attempt})` : ''}`),
      datasets: [{
        label: 'node run',
        data: nodes.map((n) => [n.startedAt - t0, Math.max(end(n), n.startedAt - t0 + 1)]),
        backgroundColor: nodes.map((n) => STATUS_COLORS[n.status] ?? '#607d8b'),
        borderSkipped: false, barPercentage: dense ? 1 : 0.7, categoryPercentage: dense ? 1 : 0.8,
      }],
    },
    options: {
      indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
      // A thousand bars draw in one pass; hover hit-testing is what would make it sluggish.
      events: dense ? ['click'] : undefined,
      scales: {
        x: { type: 'linear', min: 0, title: { display: true, text: 'time since the run started' }, ticks: { callback: (v) => axisDuration(v, span) } },
        y: { ticks: { autoSkip: true, display: !dense || nodes.length <= 400 } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (c) => { const n = nodes[c.dataIndex]; return `${n.status} · ${duration(n.durationMs)} · starts at +${duration(n.startedAt - t0)}`; } } },
      },
    },
  });
  const rowPx = dense ? Math.max(3, Math.min(36, Math.floor(4000 / nodes.length))) : 36;
  canvas.parentElement.style.height = `${Math.max(120, rowPx * nodes.length + 60)}px`;
}

/** Copies `text` to the clipboard; says so on `button`. */
async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    // No clipboard permission (an insecure origin): select the id so Ctrl-C copies it.
    const code = button.previousElementSibling;
    getSelection().selectAllChildren(code);
    button.textContent = 'Selected: press Ctrl-C';
  }
  setTimeout(() => { button.textContent = 'Copy id'; }, 2000);
}

/** How many node runs the page lists in full; the rest are summarised (the Gantt has them all). */
const LISTED_NODES = 200;

/**
 * Opens the detail dialog for `execution`. `lineage(name)` and `byExternalId(system, id)`
 * return lists of executions (`byExternalId` may be absent); `open(id)` opens another one.
 */
export function showDetail(execution, { lineage, byExternalId, open }) {
  const e = execution;
  $('detail-title').textContent = title(e);
  const copyButton = h('button', { type: 'button', className: 'copy-id', onclick: (ev) => copy(e.id, ev.currentTarget) }, 'Copy id');
  const facts = [
    ['Id', h('span', {}, h('code', { 'data-testid': 'run-id' }, e.id), ' ', copyButton)], ['Status', statusBadge(e.status)], ['Kind', e.kind], ['User', e.userId ?? '—'],
    ['Started', `${time(e.startedAt)} (${relative(e.startedAt)})`], ['Duration', runDuration(e)], ['Trigger', e.trigger ? e.trigger.type : '—'],
  ];
  const body = [h('dl', { className: 'facts' }, facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))];
  body.push(errorBlock(e.error));
  if (e.trigger?.data !== undefined) body.push(h('p', {}, 'Trigger data: ', renderValue(e.trigger.data)));
  if (e.query) body.push(h('section', {}, h('h3', {}, 'Query'), h('pre', {}, e.query.text ?? ''), h('p', {}, `${e.query.databaseType ?? ''} · ${e.query.totalRows ?? 0} rows`)));
  if (e.metadata && Object.keys(e.metadata).length) body.push(h('p', {}, 'Metadata: ', renderValue(e.metadata)));

  if (e.nodes?.length) {
    const canvas = h('canvas', { id: 'gantt', role: 'img', 'aria-label': `Timeline of ${e.nodes.length} node runs` });
    body.push(h('section', {}, h('h3', {}, 'Timeline'), h('div', { className: 'gantt-wrap', 'data-testid': 'gantt' }, canvas)));
    const listed = e.nodes.slice(0, LISTED_NODES);
    const rest = e.nodes.length - listed.length;
    body.push(h('section', {}, h('h3', {}, 'Node runs'), rest > 0 ? h('p', { className: 'muted' }, `The first ${LISTED_NODES} of ${e.nodes.length} node runs; the timeline shows them all.`) : null, ...listed.map((n) => h('details', { className: `node node-${n.status}`, open: n.status === 'error', 'data-node': n.id },
      h('summary', {}, statusBadge(n.status), ` ${n.name ?? n.id}`, n.attempt > 1 ? ` (attempt ${n.attempt})` : '', ` · ${duration(n.durationMs)}`),
      h('div', { className: 'kv' }, h('span', {}, 'Input'), renderValue(n.input)),
      h('div', { className: 'kv' }, h('span', {}, 'Output'), renderValue(n.output)),
      errorBlock(n.error)))));
    queueMicrotask(() => drawGantt(canvas, e));
  }

  const outputs = e.outputs ?? [];
  if (outputs.length) {
    const lineageTitle = h('p', { className: 'muted', 'aria-live': 'polite' });
    const lineageList = h('ol', { className: 'lineage' });
    body.push(h('section', {}, h('h3', {}, 'Outputs'),
      h('ul', {}, outputs.map((o) => h('li', {}, h('code', {}, o.name), ` ${o.kind ?? ''}${o.rows != null ? `, ${o.rows} rows` : ''}${o.role ? `, ${o.role}` : ''} `,
        h('button', { type: 'button', onclick: async () => {
          const items = await lineage(o.name);
          lineageTitle.textContent = `Executions that produced “${o.name}”, newest first:`;
          lineageList.replaceChildren(...items.map((x) => h('li', {}, h('button', { type: 'button', className: 'link', onclick: () => open(x.id) }, `${time(x.startedAt)} · ${x.status}`),
              x.externalIds ? ` · ${Object.entries(x.externalIds).map(([s, v]) => `${s}: ${v}`).join(', ')}` : '')));
        } }, 'Lineage')))),
      lineageTitle, lineageList));
  }
  const externalIds = Object.entries(e.externalIds ?? {});
  if (externalIds.length) {
    const found = h('p', { className: 'muted', 'aria-live': 'polite' });
    body.push(h('section', {}, h('h3', {}, 'External ids'), h('ul', {}, externalIds.map(([system, id]) => h('li', {}, `${system}: `, h('code', {}, id), ' ',
      byExternalId ? h('button', { type: 'button', onclick: async () => { const runs = await byExternalId(system, id); found.textContent = `${runs.length} execution(s) known by ${system} id ${id}.`; } }, 'Find runs') : null))), found));
  }
  $('detail-body').replaceChildren(...body.filter(Boolean));
  if (!$('detail').open) $('detail').showModal();
}

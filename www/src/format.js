// Small DOM and formatting helpers shared by the views.

export const $ = (id) => document.getElementById(id);

/** Creates an element with attributes/properties and children (strings become text). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el && key !== 'list') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

/** A duration for people: "412 ms", "3.25 s", "5 min 10 s", "2 h 05 min"; "—" when unknown. */
export function duration(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) {
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)} min ${s % 60} s`;
  }
  const m = Math.round(ms / 60_000);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** An axis tick for a duration in ms: the unit that suits the whole axis (`span`). */
export function axisDuration(ms, span) {
  if (span < 2_000) return `${Math.round(ms)} ms`;
  if (span < 120_000) return `${+(ms / 1000).toFixed(1)} s`;
  if (span < 7_200_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 3_600_000).toFixed(1)} h`;
}

const DATE_TIME = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

/** An unambiguous date and time: "3 Dec 2026, 06:53:11" (month as a word, 24-hour clock). */
export function time(ms) {
  return ms == null ? '—' : DATE_TIME.format(new Date(ms));
}

/** "just now", "3 min ago", "2 h ago", "yesterday", "4 days ago"; "in 2 min" for the future. */
export function relative(ms, now = Date.now()) {
  if (ms == null) return '';
  const d = now - ms;
  const future = d < 0;
  const a = Math.abs(d);
  const say = (n, unit) => (future ? `in ${n} ${unit}` : `${n} ${unit} ago`);
  if (a < 45_000) return future ? 'in a moment' : 'just now';
  if (a < 3_600_000) return say(Math.max(1, Math.round(a / 60_000)), 'min');
  if (a < 86_400_000) return say(Math.round(a / 3_600_000), 'h');
  const days = Math.round(a / 86_400_000);
  if (days === 1) return future ? 'tomorrow' : 'yesterday';
  return say(days, 'days');
}

/** A `<time>` with the relative time, the full date and time beside it. */
export function when(ms) {
  if (ms == null) return '—';
  return h('time', { dateTime: new Date(ms).toISOString(), title: time(ms), className: 'when' },
    h('span', { className: 'when-rel' }, relative(ms)), h('span', { className: 'when-abs' }, time(ms)));
}

/** How long a run has been going, or its duration once finished. */
export function runDuration(e, now = Date.now()) {
  if (e.status === 'running') return `running ${duration(Math.max(0, now - e.startedAt))}`;
  return duration(e.durationMs);
}

/** A percentage for people, or "—" when there is nothing to rate. */
export const percent = (rate, finished = 1) => (finished > 0 && rate != null ? `${rate}%` : '—');

export const title = (e) => e.workflowName ?? e.workflowId ?? (e.query ? `${e.query.databaseType ?? 'query'}: ${e.query.text ?? ''}` : e.kind);

export const STATUS_COLORS = {
  success: '#2e7d32', failed: '#c62828', error: '#ad1457', timeout: '#ef6c00',
  cancelled: '#757575', interrupted: '#6d4c41', running: '#1565c0', skipped: '#9e9e9e', pending: '#90a4ae',
};

export const statusBadge = (status) => h('span', { className: `badge status-${status}` }, status);

/** A table from column titles and rows of cells (strings, numbers or nodes). */
export function fillTable(table, columns, rows, empty = 'Nothing yet.') {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c))));
  const body = h('tbody', {}, rows.length
    ? rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, typeof c === 'number' ? String(c) : c))))
    : h('tr', {}, h('td', { colSpan: columns.length, className: 'empty' }, empty)));
  table.replaceChildren(head, body);
}

/** A key figure card. */
export const card = (label, value, testid) => h('div', { className: 'card', 'data-testid': testid }, h('span', { className: 'card-value' }, value), h('span', { className: 'card-label' }, label));

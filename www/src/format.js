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

export function duration(ms) {
  if (ms == null) return '…';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function time(ms) {
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

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

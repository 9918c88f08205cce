// A history table with cursor pagination and a rendered window: pages load as the end scrolls
// into view (or by "Load more"), but only the rows near the viewport are in the DOM (spacer
// rows stand for the rest), so a history of 100,000 executions scrolls as lightly as one of
// 100. `reload()` re-reads as many rows as were loaded, so a live update keeps the reader's
// place. Used for this browser's history and the team's.
import { h, runDuration, title, statusBadge, when } from './format.js';

const PAGE = 50;
/** Every row has this height (one line, see style.css `tr.row`), so the window is arithmetic. */
export const ROW_PX = 38;
/** Rows rendered above and below the viewport. */
const OVERSCAN = 30;

export function row(e, { onOpen, selectable, selected, onSelect }) {
  const open = () => onOpen(e);
  const nodes = e.kind === 'query' ? '—' : String(e.nodeCount ?? e.nodes?.length ?? 0);
  return h('tr', {
    tabIndex: 0, 'data-id': e.id, 'data-status': e.status, className: 'clickable row', title: 'Open the detail',
    onclick: open, onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); open(); } },
  },
  selectable ? h('td', { className: 'pick', onclick: (ev) => ev.stopPropagation() },
    h('input', { type: 'checkbox', checked: selected, 'aria-label': `Select ${e.id} to compare`, onchange: (ev) => onSelect(e, ev.target.checked) })) : null,
  h('td', { className: 'col-status' }, statusBadge(e.status)),
  h('td', { className: 'col-started' }, when(e.startedAt)),
  h('td', { className: 'col-title', title: title(e) }, title(e)),
  h('td', { className: 'col-user' }, e.userId ?? '—'),
  h('td', { className: 'col-duration', 'data-running-since': e.status === 'running' ? String(e.startedAt) : undefined }, runDuration(e)),
  h('td', { className: 'col-nodes' }, nodes));
}

/**
 * `fetchPage(cursor, limit)` → `{ items, nextCursor }`; `onOpen(execution)` opens a row;
 * `onError(error)` reports a failed read; `onSelect(selectedExecutions)` hears of compare
 * picks; `describeEmpty()` says why nothing is shown. `scroller` is the element that scrolls
 * (the page when absent).
 */
export function historyList({ tbody, more, sentinel, empty, count, fetchPage, onOpen, onError, onSelect, describeEmpty }) {
  let cursor;
  let items = [];
  let loading = Promise.resolve();
  let generation = 0;
  const selected = new Map();
  const columns = () => tbody.closest('table')?.querySelectorAll('thead th').length || 7;

  function pick(e, on) {
    if (on) selected.set(e.id, e); else selected.delete(e.id);
    onSelect?.([...selected.values()]);
  }

  /** Renders the rows in or near the viewport, and spacers for the others. */
  function paint() {
    const table = tbody.closest('table');
    const top = table ? table.getBoundingClientRect().top + window.scrollY : 0;
    const first = Math.max(0, Math.floor((window.scrollY - top) / ROW_PX) - OVERSCAN);
    // At least a screenful past `first`, even while the table is still below the fold.
    const last = Math.min(items.length, Math.max(first + 2 * OVERSCAN, Math.ceil((window.scrollY - top + window.innerHeight) / ROW_PX) + OVERSCAN));
    const spacer = (n) => (n > 0 ? h('tr', { className: 'spacer', 'aria-hidden': 'true' }, h('td', { colSpan: columns(), style: `height:${n * ROW_PX}px` })) : null);
    const rows = items.slice(first, Math.max(first, last)).map((e) => row(e, { onOpen, selectable: Boolean(onSelect), selected: selected.has(e.id), onSelect: pick }));
    const focusedId = document.activeElement?.closest?.('tr')?.dataset.id;
    tbody.replaceChildren(...[spacer(first), ...rows, spacer(items.length - Math.max(first, last))].filter(Boolean));
    if (focusedId) tbody.querySelector(`tr[data-id="${CSS.escape(focusedId)}"]`)?.focus({ preventScroll: true });
    tbody.dataset.loaded = String(items.length);
  }

  function render(page, append) {
    items = append ? items.concat(page.items) : page.items.slice();
    cursor = page.nextCursor;
    more.hidden = !cursor;
    if (empty) {
      empty.hidden = items.length > 0;
      if (!items.length && describeEmpty) empty.textContent = describeEmpty();
    }
    if (count) count.textContent = items.length ? `(${items.length.toLocaleString()}${cursor ? '+' : ''})` : '';
    paint();
  }

  let frame = 0;
  const repaint = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; paint(); }); };
  window.addEventListener('scroll', repaint, { passive: true });
  window.addEventListener('resize', repaint);

  // Reads are chained so that pages land in order; a reload supersedes pending appends.
  const enqueue = (task) => (loading = loading.then(task).catch(onError));

  const list = {
    reload() {
      const gen = ++generation;
      return enqueue(async () => {
        const page = await fetchPage(undefined, Math.min(Math.max(items.length, PAGE), 1000));
        if (gen === generation) render(page, false);
      });
    },
    more() {
      if (!cursor) return loading;
      const gen = generation;
      const from = cursor;
      return enqueue(async () => {
        if (gen !== generation || from !== cursor) return;
        render(await fetchPage(from, PAGE), true);
      });
    },
    /** The executions picked for comparison. */
    selected: () => [...selected.values()],
    clearSelection() { selected.clear(); onSelect?.([]); paint(); },
    /** How many rows are loaded (not all of them are in the DOM). */
    loaded: () => items.length,
  };
  more.addEventListener('click', () => list.more());
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor) list.more();
  }, { rootMargin: '600px' }).observe(sentinel);
  // Running rows count their elapsed time up.
  setInterval(() => {
    for (const td of tbody.querySelectorAll('td[data-running-since]')) {
      td.textContent = runDuration({ status: 'running', startedAt: Number(td.dataset.runningSince) });
    }
  }, 1000);
  return list;
}

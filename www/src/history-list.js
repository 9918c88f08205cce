// A history table with cursor pagination: more rows load as the end scrolls into view (or by
// the "Load more" button), and `reload()` re-reads as many rows as are shown, so a live
// update keeps the reader's place. Used for this browser's history and the team's.
import { h, duration, time, title, statusBadge } from './format.js';

const PAGE = 25;

export function row(e, onOpen) {
  const open = () => onOpen(e);
  return h('tr', {
    tabIndex: 0, 'data-id': e.id, 'data-status': e.status, className: 'clickable', title: 'Open the detail',
    onclick: open, onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); open(); } },
  },
  h('td', {}, time(e.startedAt)), h('td', {}, title(e)), h('td', {}, e.userId ?? '—'), h('td', {}, statusBadge(e.status)),
  h('td', {}, duration(e.durationMs)), h('td', {}, String(e.nodeCount ?? e.nodes?.length ?? 0)));
}

/**
 * `fetchPage(cursor, limit)` → `{ items, nextCursor }`; `onOpen(execution)` opens a row;
 * `onError(error)` reports a failed read.
 */
export function historyList({ tbody, more, sentinel, empty, count, fetchPage, onOpen, onError }) {
  let cursor;
  let shown = 0;
  let loading = Promise.resolve();
  let generation = 0;

  function render(page, append) {
    const rows = page.items.map((e) => row(e, onOpen));
    if (append) tbody.append(...rows); else tbody.replaceChildren(...rows);
    shown = tbody.children.length;
    cursor = page.nextCursor;
    more.hidden = !cursor;
    if (empty) empty.hidden = shown > 0;
    if (count) count.textContent = shown ? `(${shown}${cursor ? '+' : ''})` : '';
  }

  // Reads are chained so that pages land in order; a reload supersedes pending appends.
  const enqueue = (task) => (loading = loading.then(task).catch(onError));

  const list = {
    reload() {
      const gen = ++generation;
      return enqueue(async () => {
        const page = await fetchPage(undefined, Math.max(shown, PAGE));
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
  };
  more.addEventListener('click', () => list.more());
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor) list.more();
  }, { rootMargin: '200px' }).observe(sentinel);
  return list;
}

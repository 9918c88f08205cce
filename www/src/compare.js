// Two runs side by side: status, duration and start, then each node's status and duration in
// both, and its input and output where they differ.
import { $, h, duration, runDuration, time, title, statusBadge } from './format.js';
import { renderValue } from './detail.js';

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The node runs of `e` by node id (the last attempt of each). */
function byNode(e) {
  const m = new Map();
  for (const n of e.nodes ?? []) m.set(n.id, n);
  return m;
}

/** Opens the compare dialog for executions `a` and `b`. */
export function showCompare(a, b) {
  const head = h('tr', {}, h('th', {}, ''), h('th', { scope: 'col' }, title(a)), h('th', { scope: 'col' }, title(b)));
  const fact = (label, f) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, f(a)), h('td', {}, f(b)));
  const facts = h('table', { className: 'compare-facts' }, h('thead', {}, head), h('tbody', {},
    fact('Id', (e) => h('code', {}, e.id)), fact('Status', (e) => statusBadge(e.status)), fact('Started', (e) => time(e.startedAt)),
    fact('Duration', (e) => runDuration(e)), fact('User', (e) => e.userId ?? '—'),
    fact('Error', (e) => e.error ? `${e.error.type ?? 'Error'}: ${e.error.message}` : '—')));

  const na = byNode(a);
  const nb = byNode(b);
  const ids = [...new Set([...na.keys(), ...nb.keys()])];
  const cell = (n) => (n ? h('span', {}, statusBadge(n.status), ` ${duration(n.durationMs)}`) : h('span', { className: 'muted' }, 'not run'));
  const delta = (x, y) => (x?.durationMs != null && y?.durationMs != null ? `${y.durationMs >= x.durationMs ? '+' : '−'}${duration(Math.abs(y.durationMs - x.durationMs))}` : '');
  const nodes = h('table', { className: 'compare-nodes' },
    h('thead', {}, h('tr', {}, ['Node', 'Run A', 'Run B', 'B − A'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ids.map((id) => {
      const [x, y] = [na.get(id), nb.get(id)];
      const differs = !same(x?.status, y?.status);
      return h('tr', { 'data-node': id, className: differs ? 'differs' : '' }, h('td', {}, x?.name ?? y?.name ?? id), h('td', {}, cell(x)), h('td', {}, cell(y)), h('td', {}, delta(x, y)));
    })));
  const diffs = ids.flatMap((id) => {
    const [x, y] = [na.get(id), nb.get(id)];
    return ['input', 'output'].filter((k) => !same(x?.[k], y?.[k])).map((k) => h('div', { className: 'compare-diff', 'data-diff': `${id}.${k}` },
      h('h4', {}, `${x?.name ?? y?.name ?? id}: ${k} differs`),
      h('div', { className: 'compare-pair' }, h('div', {}, h('small', {}, 'Run A'), renderValue(x?.[k])), h('div', {}, h('small', {}, 'Run B'), renderValue(y?.[k])))));
  });
  $('compare-body').replaceChildren(facts, h('h3', {}, 'Node runs'), nodes,
    h('h3', {}, 'Inputs and outputs that differ'), ...(diffs.length ? diffs : [h('p', { className: 'muted' }, 'Every node had the same input and output in both runs.')]));
  if (!$('compare').open) $('compare').showModal();
}

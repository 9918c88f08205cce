// The address names what is on screen, so a view can be shared and reloaded: the tab, the open
// run and the filters live in the hash, e.g. `#team?run=3f2a…&status=failed&q=timeout`.

/** `{ tab, params }` of a hash like `#team?run=x&status=failed` (tab '' when absent). */
export function parseHash(hash = location.hash) {
  const text = hash.replace(/^#/, '');
  const at = text.indexOf('?');
  const tab = at < 0 ? text : text.slice(0, at);
  return { tab, params: new URLSearchParams(at < 0 ? '' : text.slice(at + 1)) };
}

/** The hash for `tab` and `params` (empty values left out). */
export function formatHash(tab, params) {
  const kept = new URLSearchParams();
  for (const [k, v] of params) if (v !== '' && v != null) kept.set(k, v);
  const query = kept.toString();
  return `#${tab}${query ? `?${query}` : ''}`;
}

/** Changes some parameters of the current hash (null removes one) without a history entry. */
export function updateHash(changes, tab) {
  const current = parseHash();
  for (const [k, v] of Object.entries(changes)) {
    if (v == null || v === '') current.params.delete(k); else current.params.set(k, v);
  }
  const next = formatHash(tab ?? current.tab, current.params);
  if (next !== location.hash) history.replaceState(null, '', next);
}

/** Puts the values of a form's named fields into the hash, with `prefix` on each name. */
export function formToHash(form, prefix = '') {
  const changes = {};
  for (const el of form.elements) if (el.name) changes[prefix + el.name] = el.value || null;
  updateHash(changes);
}

/** Fills a form's named fields from the hash; true if any value was set. */
export function hashToForm(form, prefix = '') {
  const { params } = parseHash();
  let any = false;
  for (const el of form.elements) {
    if (!el.name || !params.has(prefix + el.name)) continue;
    const v = params.get(prefix + el.name);
    if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === v)) el.append(new Option(v, v));
    el.value = v;
    any = true;
  }
  return any;
}

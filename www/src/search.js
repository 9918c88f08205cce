// Search over executions: by id, workflow or query text, error message, and any value in a
// node's input or output, in this browser's store (the Team view asks the server, which
// searches the same way: GET /api/v1/executions?q=). The store has no text index, so the
// search reads the newest executions page by page (within the other filters) and keeps those
// that match, up to a bounded number read; it says how far it looked.

/** Lower-cased text of everything a search may match in `e`. */
function haystack(e) {
  const parts = [e.id, e.workflowId, e.workflowName, e.query?.text, e.query?.databaseType, e.error?.message, e.error?.type, e.userId];
  for (const n of e.nodes ?? []) {
    parts.push(n.id, n.name, n.error?.message);
    if (n.input !== undefined) parts.push(JSON.stringify(n.input));
    if (n.output !== undefined) parts.push(JSON.stringify(n.output));
  }
  if (e.metadata) parts.push(JSON.stringify(e.metadata));
  return parts.filter((p) => p != null).join('\n').toLowerCase();
}

/** True when every word of `text` occurs in `e`. */
export function matches(e, text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const hay = haystack(e);
  return words.every((w) => hay.includes(w));
}

/** The most executions one search reads before it stops and says so. */
export const SEARCH_SCAN_LIMIT = 3000;

/**
 * `readPage(cursor, limit)` → `{ items, nextCursor }` (the filtered history, newest first,
 * possibly summaries without node values); `byId(id)` → the execution with that id or null;
 * `full(e)` (optional) → the whole record of a summary, read when the summary does not match
 * but its nodes might. Resolves `{ items, nextCursor, scanned, complete }`: `limit` matches
 * at most, continuing from `from` (a search cursor).
 */
export async function search({ text, readPage, byId, full, limit = 25, from }) {
  const items = [];
  let scanned = from?.scanned ?? 0;
  let cursor = from?.cursor;
  // An exact id comes first, whatever the other filters.
  if (!from && /^[\w-]{8,}$/.test(text.trim())) {
    const exact = await byId(text.trim()).catch(() => null);
    if (exact) items.push(exact);
  }
  const seen = new Set(items.map((e) => e.id));
  while (items.length < limit && scanned < SEARCH_SCAN_LIMIT) {
    const page = await readPage(cursor, 200);
    scanned += page.items.length;
    const unmatched = [];
    for (const e of page.items) {
      if (seen.has(e.id)) continue;
      if (matches(e, text)) { items.push(e); seen.add(e.id); } else if (full && (e.nodeCount ?? e.nodes?.length ?? 0) > 0 && !e.nodes?.some((n) => n.input !== undefined || n.output !== undefined)) unmatched.push(e);
    }
    // Node inputs and outputs are only in the whole records: read those of this page together.
    const wholes = await Promise.all(unmatched.map((e) => full(e).catch(() => null)));
    for (const [i, whole] of wholes.entries()) {
      if (whole && matches(whole, text)) { items.push(unmatched[i]); seen.add(whole.id); }
    }
    cursor = page.nextCursor;
    if (!cursor) return { items, nextCursor: undefined, scanned, complete: true };
  }
  const complete = !cursor;
  return { items, nextCursor: complete ? undefined : { cursor, scanned }, scanned, complete };
}

// docs/openapi.yaml against the real server: every documented route and method exists (the
// router does not answer "no such route" or 405), and the receivers' documented fields are
// exactly the ones the server knows (its unknown-field refusal lists them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sqlite, startServer } from './engines.mjs';

const spec = readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8');

/** `[path, method]` pairs of the spec (its paths are two-space keys, methods four-space). */
function operations() {
  const body = spec.slice(spec.indexOf('\npaths:\n'));
  const ops = [];
  let path = null;
  for (const line of body.split('\n')) {
    const p = /^ {2}(\/\S*):\s*$/.exec(line);
    if (p) { path = p[1]; continue; }
    const m = /^ {4}(get|post|put|delete|patch):\s*$/.exec(line);
    if (m && path) ops.push([path, m[1]]);
  }
  return ops;
}

/** The top-level property names of schema `name`. */
function properties(name) {
  const start = spec.indexOf(`\n    ${name}:\n`);
  assert.ok(start >= 0, `schema ${name} is in the spec`);
  const lines = spec.slice(start + 1).split('\n').slice(1);
  const end = lines.findIndex((l) => /^ {4}\S/.test(l));
  const block = lines.slice(0, end);
  const at = block.findIndex((l) => l === '      properties:');
  return block.slice(at + 1).map((l) => /^ {8}([A-Za-z_]+):/.exec(l)?.[1]).filter(Boolean);
}

let db;
let server;
before(async () => {
  db = sqlite();
  server = await startServer(['--db', db.url]);
});
after(async () => {
  await server?.stop();
  await db?.stop();
});

test('every documented route and method is served', async () => {
  const ops = operations();
  assert.ok(ops.length >= 14, `found ${ops.length} operations`);
  for (const [path, method] of ops) {
    const url = server.base + path.replace(/\{[^}]+\}/g, 'x');
    const abort = new AbortController();
    const r = await fetch(url, {
      method: method.toUpperCase(),
      signal: abort.signal,
      ...(method === 'post' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
    });
    const text = r.headers.get('content-type')?.includes('event-stream') ? '' : await r.text();
    abort.abort();
    assert.notEqual(r.status, 405, `${method} ${path}: ${text}`);
    assert.doesNotMatch(text, /no such route/, `${method} ${path}`);
  }
});

test('the receivers document exactly the fields the server knows', async () => {
  for (const [path, schema] of [['/api/executions', 'WorkflowExecutionPost'], ['/api/v1/executions', 'QueryExecutionPost']]) {
    const r = await fetch(server.base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"not_a_field":1}' });
    assert.equal(r.status, 400);
    const { error } = await r.json();
    const known = /known keys: ([^)]*)\)/.exec(error.message)?.[1].split(', ');
    assert.ok(known, error.message);
    assert.deepEqual([...known].sort(), properties(schema).sort(), path);
  }
});

test('the documented error codes include every code the receivers answer', async () => {
  const codes = /code:\s*\n\s*type: string\s*\n\s*enum: \[([^\]]*)\]/.exec(spec)[1].split(', ');
  for (const code of ['malformed_body', 'invalid_record', 'unsupported_media_type', 'not_found', 'method_not_allowed']) {
    assert.ok(codes.includes(code), code);
  }
});

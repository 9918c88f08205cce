// The static server (scripts/static-server.mjs, what `npm start` serves the viewer with) sends
// wasm, JS and CSS compressed to clients that accept it, over real HTTP on loopback: the
// bytes decompress to the file, Content-Encoding and Vary are right, refusals are honoured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, utimesSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { chooseEncoding, createStaticServer } from '../../scripts/static-server.mjs';

let dir;
let server;
let base;
// A wasm-like binary (repetitive, like real code sections) and a script.
const wasm = Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
  ...Array.from({ length: 4000 }, (_, i) => Buffer.from(`\x20\x00\x41${String.fromCharCode(i % 251)}\x6a\x21\x01`, 'latin1'))]);
const script = `export const rows = ${JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ id: i, name: `row ${i}` })))};\n`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runledger-static-'));
  writeFileSync(join(dir, 'core.wasm'), wasm);
  writeFileSync(join(dir, 'app.js'), script);
  writeFileSync(join(dir, 'tiny.css'), 'body{margin:0}');
  writeFileSync(join(dir, 'logo.png'), Buffer.alloc(4096, 7));
  server = createStaticServer([['/', dir]]);
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((res) => server.close(res));
  rmSync(dir, { recursive: true, force: true });
});

/** A raw GET (fetch would decompress for us and hide what was sent). */
function get(path, acceptEncoding) {
  return new Promise((res, rej) => {
    const headers = acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding };
    request(`${base}${path}`, { headers }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
      r.on('error', rej);
    }).on('error', rej).end();
  });
}

test('wasm and scripts go out brotli- or gzip-compressed, and decompress to the file', async () => {
  for (const [path, original, type] of [['/core.wasm', wasm, 'application/wasm'], ['/app.js', Buffer.from(script), 'text/javascript; charset=utf-8']]) {
    const br = await get(path, 'gzip, deflate, br');
    assert.equal(br.status, 200);
    assert.equal(br.headers['content-encoding'], 'br', path);
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.equal(br.headers['content-type'], type);
    assert.equal(Number(br.headers['content-length']), br.body.length);
    assert.ok(br.body.length * 3 < original.length, `${path}: ${br.body.length} of ${original.length} bytes`);
    assert.deepEqual(brotliDecompressSync(br.body), original);

    const gz = await get(path, 'gzip');
    assert.equal(gz.headers['content-encoding'], 'gzip', path);
    assert.deepEqual(gunzipSync(gz.body), original);

    const plain = await get(path, undefined);
    assert.equal(plain.headers['content-encoding'], undefined, `${path}: nothing accepted, nothing encoded`);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.deepEqual(plain.body, original);
  }
});

test('refusals, tiny files and already-compressed types are sent as they are', async () => {
  const refused = await get('/core.wasm', 'br;q=0, gzip;q=0');
  assert.equal(refused.headers['content-encoding'], undefined);
  assert.deepEqual(refused.body, wasm);
  const onlyGzip = await get('/core.wasm', 'br;q=0, *');
  assert.equal(onlyGzip.headers['content-encoding'], 'gzip');
  const tiny = await get('/tiny.css', 'br');
  assert.equal(tiny.headers['content-encoding'], undefined);
  assert.equal(String(tiny.body), 'body{margin:0}');
  const png = await get('/logo.png', 'br, gzip');
  assert.equal(png.headers['content-encoding'], undefined);
  assert.equal(png.body.length, 4096);
  assert.equal((await get('/missing.js', 'br')).status, 404);
  assert.equal((await get('/%E0%A4%A', 'br')).status, 400, 'an undecodable path is a 400, not a crash');
});

test('a changed file is compressed again, not served from the cache', async () => {
  const first = brotliDecompressSync((await get('/app.js', 'br')).body);
  assert.equal(String(first), script);
  const changed = `${script}export const more = 1;\n`;
  writeFileSync(join(dir, 'app.js'), changed);
  const later = new Date(Date.now() + 5000);
  utimesSync(join(dir, 'app.js'), later, later);
  const second = brotliDecompressSync((await get('/app.js', 'br')).body);
  assert.equal(String(second), changed);
  assert.equal(String(readFileSync(join(dir, 'app.js'))), changed);
});

test('Accept-Encoding is read as RFC 9110 says', () => {
  assert.equal(chooseEncoding('gzip, br'), 'br');
  assert.equal(chooseEncoding('gzip'), 'gzip');
  assert.equal(chooseEncoding('identity'), null);
  assert.equal(chooseEncoding(''), null);
  assert.equal(chooseEncoding('BR;q=0.5'), 'br');
  assert.equal(chooseEncoding('br;q=0, gzip;q=0.1'), 'gzip');
  assert.equal(chooseEncoding('*'), 'br');
});

// A small static file server for loopback use: the demo page, the benchmark page and the
// browser tests all serve files through it. Text and wasm are sent compressed (brotli, else
// gzip) to clients that accept it, with `Content-Encoding` and `Vary: Accept-Encoding`.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants as zlib } from 'node:zlib';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json', '.ts': 'text/plain',
  '.svg': 'image/svg+xml', '.png': 'image/png',
};

/** Extensions worth compressing (png is compressed already). */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.wasm', '.json', '.ts', '.svg']);
/** Below this, the headers cost more than compression saves. */
const MIN_COMPRESS_BYTES = 1024;

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
const ENCODERS = {
  // Quality 9: within a few % of 11 on the wasm, and about ten times faster (the first
  // request of each file pays it; the result is cached until the file changes).
  br: (body) => brotli(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } }),
  gzip: (body) => gzipAsync(body, { level: 9 }),
};

/**
 * The encoding to answer with for an `Accept-Encoding` header: `br` before `gzip`, neither
 * when refused (`q=0`) or absent.
 */
export function chooseEncoding(acceptEncoding = '') {
  const accepted = new Map();
  for (const part of String(acceptEncoding).split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    accepted.set(name, q ? Number(q.slice(2)) : 1);
  }
  const ok = (name) => (accepted.get(name) ?? (accepted.has('*') ? accepted.get('*') : 0)) > 0;
  return ['br', 'gzip'].find(ok) ?? null;
}

/** Compressed bodies by file, encoding and modification time (a changed file is redone). */
const compressedCache = new Map();

async function compressed(file, mtimeMs, encoding, body) {
  const key = `${encoding}\0${file}`;
  const hit = compressedCache.get(key);
  if (hit && hit.mtimeMs === mtimeMs) return hit.body;
  const result = { mtimeMs, body: ENCODERS[encoding](body) };
  compressedCache.set(key, result);
  try {
    return await result.body;
  } catch (err) {
    compressedCache.delete(key);
    throw err;
  }
}

/**
 * An HTTP server for `mounts`: `[urlPrefix, directory]` pairs, most specific first. `/` maps
 * to `index.html`; anything outside the mounted directories is 404. `json` maps exact paths
 * to values served as JSON (the demo's `/config.json`). Not listening yet.
 */
export function createStaticServer(mounts, json = {}) {
  const resolved = mounts.map(([prefix, dir]) => [prefix, resolve(dir)]);
  return createServer(async (req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad path: ${req.url}`);
      return;
    }
    if (Object.hasOwn(json, path)) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(json[path]));
      return;
    }
    const mount = resolved.find(([prefix]) => path.startsWith(prefix));
    const file = mount && normalize(join(mount[1], path.slice(mount[0].length) || 'index.html'));
    let body;
    let info;
    try {
      if (!file || !(file === mount[1] || file.startsWith(mount[1] + sep))) throw new Error('outside');
      info = await stat(file);
      if (!info.isFile()) throw new Error('not a file');
      body = await readFile(file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    const ext = extname(file);
    const headers = { 'content-type': TYPES[ext] ?? 'application/octet-stream', 'cache-control': 'no-store' };
    if (COMPRESSIBLE.has(ext) && body.length >= MIN_COMPRESS_BYTES) {
      // The answer depends on Accept-Encoding whichever encoding is chosen.
      headers.vary = 'Accept-Encoding';
      const encoding = chooseEncoding(req.headers['accept-encoding']);
      if (encoding) {
        try {
          body = await compressed(file, info.mtimeMs, encoding, body);
          headers['content-encoding'] = encoding;
        } catch (err) {
          // Compression failing is no reason to fail the request: send it as it is.
          console.error(`[static] could not ${encoding}-compress ${file}: ${err.message}; sent uncompressed`);
        }
      }
    }
    headers['content-length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

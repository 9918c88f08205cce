// A small static file server for loopback use: the demo page, the benchmark page and the
// browser tests all serve files through it.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json', '.ts': 'text/plain',
  '.svg': 'image/svg+xml', '.png': 'image/png',
};

/**
 * An HTTP server for `mounts`: `[urlPrefix, directory]` pairs, most specific first. `/` maps
 * to `index.html`; anything outside the mounted directories is 404. `json` maps exact paths
 * to values served as JSON (the demo's `/config.json`). Not listening yet.
 */
export function createStaticServer(mounts, json = {}) {
  const resolved = mounts.map(([prefix, dir]) => [prefix, resolve(dir)]);
  return createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (Object.hasOwn(json, path)) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(json[path]));
      return;
    }
    const mount = resolved.find(([prefix]) => path.startsWith(prefix));
    const file = mount && normalize(join(mount[1], path.slice(mount[0].length) || 'index.html'));
    let body;
    try {
      if (!file || !(file === mount[1] || file.startsWith(mount[1] + sep))) throw new Error('outside');
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      body = await readFile(file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(body);
  });
}

// Serves the demo page (www/) and the built package (pkg/) on loopback.
// Usage: node scripts/serve.mjs [--port 8080]   (PORT in the environment works too)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const argPort = process.argv.indexOf('--port');
const port = Number(argPort > 0 ? process.argv[argPort + 1] : process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json', '.ts': 'text/plain',
  '.svg': 'image/svg+xml', '.png': 'image/png',
};

function locate(urlPath) {
  const clean = normalize(decodeURIComponent(urlPath.split('?')[0])).replace(/^(\.\.[/\\])+/, '');
  if (clean.startsWith('/pkg/')) return join(root, clean);
  return join(root, 'www', clean === '/' ? 'index.html' : clean);
}

const server = createServer(async (req, res) => {
  const file = locate(req.url ?? '/');
  if (!file.startsWith(join(root, 'www')) && !file.startsWith(join(root, 'pkg'))) {
    res.writeHead(403).end('forbidden');
    return;
  }
  try {
    if (!(await stat(file)).isFile()) throw new Error('not a file');
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(body);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${req.url}`);
  }
});

server.on('error', (err) => {
  console.error(`[serve] cannot listen on ${host}:${port}: ${err.message} (set PORT to use another port)`);
  process.exit(1);
});
server.listen(port, host, () => {
  console.log(`[serve] runledger demo at http://${host}:${port}/  (Ctrl-C to stop)`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

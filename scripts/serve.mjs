// Serves the built viewer (www/dist, from `vite build`) on loopback.
// Usage: node scripts/serve.mjs [--port 8080]   (PORT in the environment works too)
// RUNLEDGER_ENDPOINT tells the page where the ingest server is (served as /config.json).
// RUNLEDGER_SERVER_STATE names a file `npm start` keeps up to date while the server is still
// building ("starting", then "up" or "failed"): the page says "server starting" meanwhile
// instead of "unreachable".
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createStaticServer } from './static-server.mjs';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'www', 'dist');
const argPort = process.argv.indexOf('--port');
const port = Number(argPort > 0 ? process.argv[argPort + 1] : process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';

if (!existsSync(join(dist, 'index.html'))) {
  console.error('[serve] www/dist is missing: run `npm run build` (or `npm start`, which builds) first');
  process.exit(1);
}
const endpoint = process.env.RUNLEDGER_ENDPOINT || null;
const stateFile = process.env.RUNLEDGER_SERVER_STATE;
/** "starting", "up" or "failed" as `npm start` last wrote it; "up" when nobody tracks it. */
function serverState() {
  if (!stateFile) return 'up';
  try {
    return readFileSync(stateFile, 'utf8').trim() || 'starting';
  } catch {
    return 'starting';
  }
}
const config = {
  endpoint,
  get serverState() { return endpoint ? serverState() : null; },
};
const server = createStaticServer([['/', dist]], { get '/config.json'() { return { ...config }; } });
server.on('error', (err) => {
  console.error(`[serve] cannot listen on ${host}:${port}: ${err.message} (set PORT to use another port)`);
  process.exit(1);
});
server.listen(port, host, () => {
  console.log(`\n  runledger viewer: http://${host}:${port}/   (Ctrl-C stops the viewer and the ingest server)\n`);
  if (endpoint) console.log(`[serve] the page syncs to the ingest server at ${endpoint}${serverState() === 'starting' ? ' (still starting: the page says so until it is up)' : ''}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

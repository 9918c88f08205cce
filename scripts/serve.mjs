// Serves the demo page (www/) and the built package (pkg/) on loopback.
// Usage: node scripts/serve.mjs [--port 8080]   (PORT in the environment works too)
// RUNLEDGER_ENDPOINT tells the page where the ingest server is (served as /config.json).
import { join, resolve } from 'node:path';
import { createStaticServer } from './static-server.mjs';

const root = resolve(import.meta.dirname, '..');
const argPort = process.argv.indexOf('--port');
const port = Number(argPort > 0 ? process.argv[argPort + 1] : process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';

const config = { endpoint: process.env.RUNLEDGER_ENDPOINT || null };
const server = createStaticServer([['/pkg/', join(root, 'pkg')], ['/', join(root, 'www')]], { '/config.json': config });
server.on('error', (err) => {
  console.error(`[serve] cannot listen on ${host}:${port}: ${err.message} (set PORT to use another port)`);
  process.exit(1);
});
server.listen(port, host, () => {
  console.log(`[serve] runledger demo at http://${host}:${port}/  (Ctrl-C to stop)`);
  if (config.endpoint) console.log(`[serve] the page syncs to ${config.endpoint}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

// Real databases for the server tests: a SQLite file in a temp dir, and a throwaway
// PostgreSQL 15 cluster on a loopback port (run as the `postgres` user when we are root,
// because initdb refuses root).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const PG_BIN = '/usr/lib/postgresql/15/bin';
// The production build of the server (`cargo build --profile server`: the release build, but
// unwinding, so that a panic in one request is answered 500 instead of ending the process).
// RUNLEDGER_SERVER_BIN runs the suites against another binary (e.g. an older build, to see
// a test fail on it).
export const SERVER_BIN = process.env.RUNLEDGER_SERVER_BIN || resolve(import.meta.dirname, '../../target/server/runledger-server');

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

const asPostgres = (cmd, args) => (process.getuid?.() === 0
  ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' })
  : execFileSync(cmd, args, { stdio: 'pipe' }));

/** A SQLite database URL in a fresh temp dir, and a cleanup. */
export function sqlite() {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-sqlite-'));
  return { url: `sqlite:${join(dir, 'runledger.db')}`, stop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** A running throwaway PostgreSQL cluster: its URL and a stop function. */
export async function postgres() {
  if (!existsSync(join(PG_BIN, 'initdb'))) throw new Error(`PostgreSQL 15 is not installed at ${PG_BIN} (npm test's setup installs it)`);
  const dir = mkdtempSync(join(tmpdir(), 'runledger-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  asPostgres(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      try { asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']); } finally { rmSync(dir, { recursive: true, force: true }); }
    },
  };
}

/**
 * Starts the real server binary; resolves with its base URL, a stop function and its log.
 * `port` fixes the port (default: any free one); `bin` picks another build of the binary;
 * `fileLimit` starts it under `ulimit -n fileLimit` (its limit on open files); `startTimeoutMs`
 * bounds the start (a rollup rebuild of a large seeded database takes longer than 30 s).
 */
export function startServer(args, { port = 0, bin = SERVER_BIN, fileLimit, startTimeoutMs = 30_000 } = {}) {
  const argv = ['--listen', `127.0.0.1:${port}`, ...args];
  const child = fileLimit
    ? spawn('sh', ['-c', `ulimit -n ${Number(fileLimit)} && exec "$0" "$@"`, bin, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  return new Promise((res, rej) => {
    const timer = setTimeout(() => { child.kill(); rej(new Error(`server did not start in ${startTimeoutMs / 1000} s:\n${log}`)); }, startTimeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`server exited with ${code}:\n${log}`)); });
    child.stdout.on('data', (d) => {
      const m = /listening on (http:\/\/\S+)/.exec(String(d));
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      res({
        base: m[1],
        log: () => log,
        pid: child.pid,
        exited: new Promise((done) => child.once('exit', (code, signal) => done({ code, signal }))),
        stop: () => new Promise((done) => { child.once('exit', (code, signal) => done({ code, signal })); child.kill('SIGTERM'); }),
      });
    });
  });
}

// The file adapter of the durable Node store: the few `node:fs` calls the wasm store needs
// (it never imports `node:` modules itself, so the same wasm serves browsers), plus the
// folder lock that keeps a second process out.
//
//   {path}/{name}.log    the store (append-only frames, see src/store/file/mod.rs)
//   {path}/{name}.index  what the log held at a point, so that opening replays only the rest
//   {path}/{name}.lock   {"pid", "startedAt", "host"} of the process that holds it
//   {path}/{name}.log.damaged-{ms}   a torn or corrupt tail cut off on open, kept for a person
import {
  closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync,
  statSync, unlinkSync, writeSync,
} from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/** The folder used when `path` is not given, relative to the working directory. */
export const DEFAULT_PATH = './.runledger';

function storeError(message) {
  const error = new Error(message);
  error.name = 'StoreError';
  return error;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return e.code === 'EPERM';
  }
}

/** Who holds the lock, or null when nobody (or a process that died) does. */
function lockHolder(lockPath) {
  let text;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
  let holder;
  try {
    holder = JSON.parse(text);
  } catch {
    // A lock file cut short by a crash between create and write.
    return null;
  }
  if (holder.host === hostname() && !isAlive(holder.pid)) return null;
  return holder;
}

function tryLock(lockPath) {
  const fd = openSync(lockPath, 'wx');
  try {
    writeSync(fd, JSON.stringify({ pid: process.pid, startedAt: Date.now(), host: hostname() }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd, bytes) {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** Writes `bytes` to a new file at `path` and fsyncs it. */
function writeSynced(path, bytes) {
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Takes the store's lock: at once, or by waiting up to `timeoutMs` for its holder. */
async function acquireLock(lockPath, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      tryLock(lockPath);
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw storeError(`cannot create the store's lock ${lockPath}: ${e.message}`);
    }
    const holder = lockHolder(lockPath);
    if (holder === null) {
      // Left by a process that is gone: take it over.
      try { unlinkSync(lockPath); } catch (e) { if (e.code !== 'ENOENT') throw e; }
      continue;
    }
    if (Date.now() >= deadline) {
      const waited = timeoutMs > 0 ? ` (waited ${timeoutMs} ms)` : '';
      throw storeError(
        `the store ${lockPath.replace(/\.lock$/, '')} is in use by process ${holder.pid} on ${holder.host}${waited}; ` +
        'close that tracker first, pass lockTimeoutMs to wait for it, or use another path',
      );
    }
    await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
  }
}

/**
 * Opens the folder `path` for the store `name`: creates it, takes its lock and returns the
 * adapter the wasm store calls. Throws a `StoreError` when another live process holds it.
 */
export async function openFileIo({ path = DEFAULT_PATH, name = 'runledger', lockTimeoutMs = 0 } = {}) {
  const dir = resolve(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw storeError(`cannot create the store folder ${dir}: ${e.message}`);
  }
  const logPath = join(dir, `${name}.log`);
  const lockPath = join(dir, `${name}.lock`);
  const legacyPath = join(dir, `${name}.jsonl`);
  await acquireLock(lockPath, lockTimeoutMs);

  const indexPath = join(dir, `${name}.index`);
  let fd = null; // appends
  let readFd = null; // reads at offsets (reopened after a rename replaces the log)
  const handle = () => (fd ??= openSync(logPath, 'a'));
  const reader = () => (readFd ??= openSync(logPath, 'r'));
  const closeHandles = () => {
    if (fd !== null) { closeSync(fd); fd = null; }
    if (readFd !== null) { closeSync(readFd); readFd = null; }
  };
  const syncDir = () => {
    // Makes a rename durable. Some platforms cannot open a folder; there, rename is the best.
    let d;
    try { d = openSync(dir, 'r'); } catch { return; }
    try { fsyncSync(d); } catch { /* not supported on this platform */ } finally { closeSync(d); }
  };
  // Written beside, fsynced, renamed over: a crash leaves the old file or the new one.
  const replaceFile = (path, bytes) => {
    writeSynced(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
    syncDir();
  };
  let released = false;
  // A process that exits without close() leaves no lock behind (one killed leaves a stale
  // lock, which the next open recognises by its dead pid and takes over).
  const releaseOnExit = () => { if (!released) try { unlinkSync(lockPath); } catch { /* gone */ } };
  process.once('exit', releaseOnExit);

  return {
    dir,
    logSize() {
      try {
        return statSync(logPath).size;
      } catch (e) {
        if (e.code === 'ENOENT') return 0;
        throw e;
      }
    },
    readFrom(offset) {
      const size = this.logSize();
      if (offset >= size) return new Uint8Array(0);
      return this.readAt(offset, size - offset);
    },
    readAt(offset, len) {
      const out = Buffer.allocUnsafe(len);
      let done = 0;
      while (done < len) {
        const n = readSync(reader(), out, done, len - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return out.subarray(0, done);
    },
    readIndex() {
      try {
        return readFileSync(indexPath);
      } catch (e) {
        if (e.code === 'ENOENT') return null;
        throw e;
      }
    },
    writeIndex(bytes) {
      replaceFile(indexPath, bytes);
    },
    freshId() {
      return randomUUID();
    },
    append(bytes) {
      const fd = handle();
      writeAll(fd, bytes);
      // Confirmed only once it is on disk.
      fsyncSync(fd);
    },
    truncate(len) {
      // The damaged tail is kept beside the log before it is cut off: never destroyed.
      const savedPath = `${logPath}.damaged-${Date.now()}`;
      writeSynced(savedPath, this.readFrom(len));
      const fd = handle();
      ftruncateSync(fd, len);
      fsyncSync(fd);
      syncDir();
      return savedPath;
    },
    replace(bytes) {
      closeHandles();
      replaceFile(logPath, bytes);
    },
    readLegacy() {
      try {
        return readFileSync(legacyPath, 'utf8');
      } catch (e) {
        if (e.code === 'ENOENT') return null;
        throw e;
      }
    },
    retireLegacy() {
      renameSync(legacyPath, `${legacyPath}.migrated`);
      syncDir();
    },
    close() {
      if (released) return;
      released = true;
      process.removeListener('exit', releaseOnExit);
      closeHandles();
      try { unlinkSync(lockPath); } catch { /* already gone */ }
    },
  };
}

// The file adapter of the durable Node store: the few `node:fs` calls the wasm store needs
// (it never imports `node:` modules itself, so the same wasm serves browsers), plus the
// folder lock that keeps a second process out.
//
//   {path}/{name}.log    the store (append-only frames, see src/store/file/mod.rs)
//   {path}/{name}.index  what the log held at a point (read by offset), so that opening replays
//                        only the rest; {name}.index.tmp while a new one is written
//   {path}/{name}.lock   {"pid", "startedAt", "host", "token"} of the process that holds it
//   {path}/{name}.lock.takeover-{hash}-{n}   a claim on taking over a stale lock (see below)
//   {path}/{name}.log.damaged-{ms}[-at-{offset}]   damaged bytes skipped on open, kept for a person
import {
  closeSync, constants, fsyncSync, ftruncateSync, linkSync, mkdirSync, openSync, readFileSync,
  readSync, readdirSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/** The folder used when `path` is not given, relative to the working directory. */
export { DEFAULT_PATH } from './api.js';
import { DEFAULT_PATH } from './api.js';

function storeError(message) {
  const error = new Error(message);
  error.name = 'StoreError';
  return error;
}

function isAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return e.code === 'EPERM';
  }
}

/** The text of `path`, or null when it does not exist. */
function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
}

/** Whether the lock text `text` names a live process (one on another host counts as live). */
function heldByLive(text) {
  let holder;
  try {
    holder = JSON.parse(text);
  } catch {
    // Lock files are written whole (link of a complete file): this one is garbage.
    return null;
  }
  if (holder?.host === hostname() && !isAlive(holder.pid)) return null;
  return holder;
}

function writeAll(fd, bytes, position = null) {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
  }
}

/** Writes `bytes` to a new file at `path` and fsyncs it; removes it if that fails. */
function writeSynced(path, bytes, flags = 'w') {
  const fd = openSync(path, flags);
  try {
    writeAll(fd, bytes);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(path); } catch { /* gone already */ }
    throw e;
  }
  closeSync(fd);
}

/**
 * Creates `path` holding `text`, atomically and only if it does not exist: the text is
 * written to a file of our own, fsynced, then hard-linked to `path` (link fails with EEXIST
 * when `path` exists). Nobody can read a half-written lock. Returns false on EEXIST.
 */
function createWhole(path, text) {
  const tmp = `${path}.${process.pid}-${randomUUID()}.tmp`;
  writeSynced(tmp, text, 'wx');
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if (e.code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(e.code)) throw e;
  } finally {
    unlinkSync(tmp);
  }
  // A file system without hard links: O_EXCL create, then write (a reader may see it empty
  // for a moment; it treats an unreadable lock as stale, so this is the weaker fallback).
  try {
    writeSynced(path, text, 'wx');
    return true;
  } catch (e) {
    if (e.code === 'EEXIST') return false;
    throw e;
  }
}

/** The largest read served from the shared scratch buffer (larger ones get their own). */
const SCRATCH_KEPT = 1 << 20;
let scratch = Buffer.alloc(0);

/**
 * A buffer for a read of `len` bytes, valid until the next read: the core copies what a
 * read returns at once. A new buffer per read (a page, a frame) was a C-heap allocation
 * each, freed only when V8 collects, and the process's heap grew with the history read.
 */
function scratchFor(len) {
  if (len > SCRATCH_KEPT) return Buffer.allocUnsafe(len);
  if (scratch.length < len) scratch = Buffer.allocUnsafe(Math.max(len, 64 * 1024));
  return scratch.subarray(0, len);
}

/** Errors of `link` on file systems that have no hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Most takeover claims tried for one stale lock (each one left by a taker that died). */
const MAX_TAKEOVER_CLAIMS = 64;

/**
 * Removes the stale lock whose text is `staleText`, so that exactly one process can then
 * create a new one. Several processes may find the same stale lock at once; each tries to
 * create the claim file `{lock}.takeover-{hash of staleText}-0` with O_EXCL. Only the one
 * that creates it removes the lock, and only if the lock still holds `staleText` (nobody
 * else can have replaced it: replacing needs the lock gone, and only a claim holder removes
 * it). The others go back to creating the lock with O_EXCL, which one process wins. A
 * claim left by a taker that died is passed over for the next claim number. Returns null
 * when done (look at the lock again), or the live process that is taking it over.
 */
function takeOver(lockPath, staleText) {
  const hash = createHash('sha256').update(staleText).digest('hex').slice(0, 16);
  for (let n = 0; n < MAX_TAKEOVER_CLAIMS; n++) {
    const claim = `${lockPath}.takeover-${hash}-${n}`;
    if (!createWhole(claim, JSON.stringify({ pid: process.pid, host: hostname() }))) {
      const text = readText(claim);
      if (text === null) return null; // its taker finished: look at the lock again
      const taker = heldByLive(text);
      if (taker !== null) return taker; // a live process is taking it over
      continue; // that taker died: the next claim
    }
    try {
      if (readText(lockPath) === staleText) unlinkSync(lockPath);
    } finally {
      unlinkSync(claim);
    }
    return null;
  }
  throw storeError(
    `cannot take over the stale lock ${lockPath}: ${MAX_TAKEOVER_CLAIMS} takeover claims were left by processes that died; remove ${lockPath}.takeover-* by hand`,
  );
}

/** Removes takeover claims of locks that are gone (once we hold the lock, none is live). */
function sweepClaims(lockPath, dir) {
  const prefix = `${lockPath.slice(dir.length + 1)}.takeover-`;
  for (const name of readdirSync(dir)) {
    // Claims only, never the temporary file a claim is being written to.
    if (!name.startsWith(prefix) || !/^[0-9a-f]{16}-\d+$/.test(name.slice(prefix.length))) continue;
    const text = readText(join(dir, name));
    if (text !== null && heldByLive(text) === null) {
      try { unlinkSync(join(dir, name)); } catch { /* gone */ }
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the store's lock: at once, or by waiting up to `timeoutMs` for its holder. Returns
 * the lock's text (it names this process and a random token).
 */
async function acquireLock(lockPath, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const mine = JSON.stringify({ pid: process.pid, startedAt: Date.now(), host: hostname(), token: randomUUID() });
  for (;;) {
    try {
      if (createWhole(lockPath, mine)) return mine;
    } catch (e) {
      throw storeError(`cannot create the store's lock ${lockPath}: ${e.message}`);
    }
    const text = readText(lockPath);
    if (text === null) continue; // released just now
    let holder = heldByLive(text);
    if (holder === null) {
      // Left by a process that is gone: take it over (atomically, see takeOver), unless
      // another live process is doing so (it is the next holder: wait for it like one).
      holder = takeOver(lockPath, text);
      if (holder === null) continue;
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
  const lockText = await acquireLock(lockPath, lockTimeoutMs);
  // Removes the lock only while it is ours.
  const unlock = () => { if (readText(lockPath) === lockText) unlinkSync(lockPath); };
  try { sweepClaims(lockPath, dir); } catch { /* only tidying */ }

  const indexPath = join(dir, `${name}.index`);
  let fd = null; // writes at offsets (not O_APPEND: a retry must land where the store says)
  let readFd = null; // reads at offsets (reopened after a rename replaces the log)
  const handle = () => (fd ??= openSync(logPath, constants.O_RDWR | constants.O_CREAT, 0o666));
  const reader = () => (readFd ??= openSync(logPath, 'r'));
  let indexFd = null; // reads of the index at offsets (reopened once a new one replaces it)
  let indexWriteFd = null; // the new index being written beside it
  const indexReader = () => (indexFd ??= openSync(indexPath, 'r'));
  const closeHandles = () => {
    if (fd !== null) { closeSync(fd); fd = null; }
    if (readFd !== null) { closeSync(readFd); readFd = null; }
  };
  const closeIndexHandles = () => {
    if (indexFd !== null) { closeSync(indexFd); indexFd = null; }
    if (indexWriteFd !== null) { closeSync(indexWriteFd); indexWriteFd = null; }
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
  const releaseOnExit = () => { if (!released) try { unlock(); } catch { /* gone */ } };
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
      const out = scratchFor(len);
      let done = 0;
      while (done < len) {
        const n = readSync(reader(), out, done, len - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return out.subarray(0, done);
    },
    indexSize() {
      try {
        return statSync(indexPath).size;
      } catch (e) {
        if (e.code === 'ENOENT') return null;
        throw e;
      }
    },
    readIndexAt(offset, len) {
      const out = scratchFor(len);
      let done = 0;
      while (done < len) {
        const n = readSync(indexReader(), out, done, len - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return out.subarray(0, done);
    },
    beginIndex() {
      // A file left by a checkpoint that did not finish is started over.
      if (indexWriteFd !== null) { closeSync(indexWriteFd); indexWriteFd = null; }
      indexWriteFd = openSync(`${indexPath}.tmp`, 'w');
    },
    appendIndex(bytes) {
      if (indexWriteFd === null) throw storeError('appendIndex without beginIndex');
      writeAll(indexWriteFd, bytes);
    },
    commitIndex() {
      if (indexWriteFd === null) throw storeError('commitIndex without beginIndex');
      const fd = indexWriteFd;
      indexWriteFd = null;
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(`${indexPath}.tmp`, indexPath);
      syncDir();
      // The index read so far is replaced: read the new one from now on.
      if (indexFd !== null) { closeSync(indexFd); indexFd = null; }
    },
    freshId() {
      return randomUUID();
    },
    append(at, bytes) {
      const fd = handle();
      writeAll(fd, bytes, at);
      // Confirmed only once it is on disk.
      fsyncSync(fd);
      // A new log: make its name durable too.
      if (at === 0) syncDir();
    },
    setLen(len) {
      // Rolls back what a failed append left (a partial frame).
      const fd = handle();
      ftruncateSync(fd, len);
      fsyncSync(fd);
    },
    keepAside(at, bytes) {
      const savedPath = `${logPath}.damaged-${Date.now()}-at-${at}`;
      writeSynced(savedPath, bytes);
      syncDir();
      return savedPath;
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
      closeIndexHandles();
      try { unlock(); } catch { /* already gone */ }
    },
  };
}

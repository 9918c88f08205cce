// The journal: what the recording calls captured, waiting for the batch step. A call appends
// one entry (no wasm call, no serialization of payloads); the journal is handed to the core
// once per task (a microtask), when it holds MAX_ENTRIES, on `flush()` and every other
// tracker call that reads records, on page hide and at process exit: one JSON text and one
// wasm call per batch (`Tracker.__applyBatch`, src/batch.rs).
//
// Payloads (node input and output) and node definitions whose id and keys the tracker has
// already seen are read when the batch is built, i.e. at the end of the current task or at
// the next `await`: see "When values are read" in README.md. `snapshot()` reads a value at
// the call instead.

import { boundedJson } from './serialize.js';

/** Entries after which a batch is handed over at the call (a loop that never yields). */
export const MAX_ENTRIES = 4096;

// The snapshots this module made: a WeakSet asks no question of the caller's value (an
// `instanceof` would run a Proxy's getPrototypeOf trap, which may throw).
const snapshots = new WeakSet();

/** A value read at the call (`snapshot(value)`): its JSON text, bounded like any payload. */
export class Snapshot {
  constructor(text) {
    this.text = text;
    snapshots.add(this);
    Object.freeze(this);
  }
}

const journals = new Set();

/** Hands every open journal to its core (page hide, process exit). */
export function drainAll() {
  for (const journal of journals) journal.drain();
}

if (typeof globalThis.addEventListener === 'function') {
  globalThis.addEventListener('pagehide', drainAll);
  globalThis.addEventListener('visibilitychange', () => {
    if (globalThis.document?.visibilityState === 'hidden') drainAll();
  });
}
if (typeof globalThis.process?.on === 'function') globalThis.process.on('beforeExit', drainAll);

/** What an entry's `v` holds: nothing, a payload to read at the batch. */
export const NO_PAYLOAD = 0;
export const PAYLOAD = 1;

/**
 * One captured call, with a fixed shape (one allocation per call): `o` op, `t` time, `r` run
 * id, `i` node run index, `k` word, `d` JSON text of a structural argument read at the call,
 * `def` a node definition still to be read (with `nodeId` read at the call), `v` payload.
 */
class Entry {
  constructor(o, t, r, i, k, d, def, nodeId, v, flags) {
    this.o = o;
    this.t = t;
    this.r = r;
    this.i = i;
    this.k = k;
    this.d = d;
    this.def = def;
    this.nodeId = nodeId;
    this.v = v;
    this.flags = flags;
  }
}

export class Journal {
  /**
   * `apply(text)` runs the batch step on the core; `report(error)` tells the tracker's
   * `error` listeners and the log; `readDef(entry)` reads a deferred node definition (JSON
   * text). `limits` bounds payloads: `{ maxValueBytes, previewBytes }`.
   */
  constructor({ apply, report, readDef, limits }) {
    this.apply = apply;
    this.report = report;
    this.readDef = readDef;
    this.maxBytes = limits.maxValueBytes;
    this.previewBytes = limits.previewBytes;
    this.entries = [];
    this.scheduled = false;
    this.drainSoon = () => {
      this.scheduled = false;
      this.drain();
    };
    journals.add(this);
  }

  /** Appends one captured call (see `Entry`). */
  push(o, t, r, i, k, d, def, nodeId, v, flags) {
    const entries = this.entries;
    entries.push(new Entry(o, t, r, i, k, d, def, nodeId, v, flags));
    if (entries.length >= MAX_ENTRIES) {
      this.drain();
    } else if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.drainSoon);
    }
  }

  payload(value) {
    if (value !== null && typeof value === 'object' && snapshots.has(value)) return value.text;
    return boundedJson(value, this.maxBytes, this.previewBytes);
  }

  /** The batch's JSON text. Payloads and deferred node definitions are read here. */
  text(entries) {
    let text = '[';
    for (let n = 0; n < entries.length; n++) {
      const e = entries[n];
      text += `${n ? ',' : ''}{"o":"${e.o}","t":${e.t},"r":${JSON.stringify(e.r)}`;
      if (e.i !== undefined) text += `,"i":${e.i}`;
      if (e.k !== undefined) text += `,"k":${JSON.stringify(e.k)}`;
      if (e.def !== undefined) {
        // Read once: a batch handed over again (after a failure) reports nothing twice.
        e.d = this.readDef(e);
        e.def = undefined;
      }
      if (e.d !== undefined) text += `,"d":${e.d}`;
      if (e.flags === PAYLOAD) {
        const v = this.payload(e.v);
        if (v !== undefined) text += `,"v":${v}`;
      }
      text += '}';
    }
    return `${text}]`;
  }

  /**
   * Hands the journal to the core. If the batch step fails as a whole, the entries are kept
   * (ahead of newer ones) for the next drain, and the failure is reported; a wasm trap is
   * rethrown (the tracker is broken: see js/api.js).
   */
  drain() {
    if (this.entries.length === 0) return;
    const entries = this.entries;
    this.entries = [];
    try {
      this.apply(this.text(entries));
    } catch (thrown) {
      this.entries = entries.concat(this.entries);
      if (thrown?.name === 'TrackerBrokenError') throw thrown;
      this.report(thrown);
    }
  }

  /** Stops draining at page hide and exit (the tracker closed). */
  detach() {
    journals.delete(this);
  }
}

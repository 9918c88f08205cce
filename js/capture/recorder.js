// The recording calls of one tracker, in JS: each checks its arguments and the lifecycle at
// the call, appends to the journal and returns. Structural arguments (the spec, a node's
// definition, an output, an error) are small and read at the call, so a bad one throws the
// core's typed `ValidationError` at once: each distinct one is checked once by the core
// (`__checkArg`) and remembered, so a workflow's repeated node definitions cost no wasm call.
// Payloads (node input and output) are not read here: see journal.js.

import { Journal, Snapshot } from './journal.js';
import { RecordSizes } from './record-size.js';
import { Lifecycle, invalid } from './lifecycle.js';
import { boundedJson } from './serialize.js';
import { newId } from './ids.js';
import { jsonText, errorText, stringArg } from '../values.js';

/** Distinct structural arguments remembered as checked, per kind. */
const CHECKED_LIMIT = 4096;

const STATUSES = new Set(['success', 'failed', 'error', 'timeout', 'cancelled']);

function read(what, fn, value) {
  try {
    return fn(value);
  } catch (thrown) {
    throw invalid(what, thrown.message);
  }
}

export class CaptureRecorder {
  #tracker;

  /**
   * `report(error)` tells the tracker's `error` listeners and the log that a batch failed;
   * `flag(error)` that a record has a problem (too big to sync: record-size.js).
   */
  constructor(tracker, report, flag = report) {
    this.#tracker = tracker;
    const limits = tracker.__captureLimits;
    this.limits = limits;
    this.lifecycle = new Lifecycle(limits.maxNodeRuns);
    const sizes = new RecordSizes({ syncing: () => tracker.syncState().enabled, flag });
    this.journal = new Journal({ apply: (text) => tracker.__applyBatch(text), report, limits, sizes });
    this.checked = new Map();   // kind → Map(text → parsed fields the capture needs)
  }

  /** `text` checked by the core as a `what`; remembered (with `extra`) once it passed. */
  #check(what, text, system) {
    let seen = this.checked.get(what);
    if (!seen) this.checked.set(what, (seen = new Map()));
    const key = system === undefined ? text : `${system}\u0000${text}`;
    let known = seen.get(key);
    if (known === undefined) {
      this.#tracker.__checkArg(what, text, system);
      known = what === 'node' ? JSON.parse(text).id : true;
      if (seen.size >= CHECKED_LIMIT) seen.clear();
      seen.set(key, known);
    }
    return known;
  }

  #structural(what, value) {
    const text = read(what, jsonText, value);
    return text === undefined || text === 'null' ? '{}' : text;
  }

  start(spec) {
    this.lifecycle.ensureOpen();
    const d = this.#structural('spec', spec);
    this.#check('spec', d);
    // The id is read from the text already read (a getter runs once).
    let id = d.includes('"id"') ? JSON.parse(d).id : undefined;
    if (id === undefined || id === null) id = newId(Date.now());
    this.lifecycle.start(id);
    this.journal.push({ o: 'start', t: Date.now(), r: id, d });
    return id;
  }

  nodeStart(runId, def, input) {
    this.lifecycle.ensureOpen();
    const d = this.#structural('node', def);
    const nodeId = this.#check('node', d);
    const index = this.lifecycle.nodeStart(runId, nodeId);
    this.journal.push({ o: 'node', t: Date.now(), r: runId, i: index, d, v: input, payload: true });
    return index;
  }

  nodeEnd(runId, index, outcome, value) {
    this.lifecycle.ensureOpen();
    const t = Date.now();
    if (outcome === 'success') {
      this.lifecycle.nodeEnd(runId, index, outcome);
      this.journal.push({ o: 'end', t, r: runId, i: index, k: outcome, v: value, payload: true });
      return;
    }
    let d;
    if (outcome === 'error') {
      d = read('error', errorText, value);
      if (d !== undefined) this.#check('error', d);
    } else if (value !== undefined && value !== null) {
      d = JSON.stringify(read('reason', stringArg, value));
    }
    this.lifecycle.nodeEnd(runId, index, outcome);
    this.journal.push({ o: 'end', t, r: runId, i: index, k: outcome, d });
  }

  output(runId, output) {
    this.lifecycle.ensureOpen();
    const d = this.#structural('output', output);
    this.#check('output', d);
    this.lifecycle.change(runId);
    this.journal.push({ o: 'output', t: Date.now(), r: runId, d });
  }

  externalId(runId, system, externalId) {
    this.lifecycle.ensureOpen();
    const s = read('system', stringArg, system);
    const d = JSON.stringify(read('externalId', stringArg, externalId));
    this.#check('externalId', d, s);
    this.lifecycle.change(runId);
    this.journal.push({ o: 'ext', t: Date.now(), r: runId, k: s, d });
  }

  finish(runId, status, error) {
    this.lifecycle.ensureOpen();
    if (!STATUSES.has(status)) throw invalid('status', `\`${status}\` is not success, failed, error, timeout or cancelled`);
    const d = read('error', errorText, error);
    if (d !== undefined) this.#check('error', d);
    this.lifecycle.finish(runId, status);
    this.journal.push({ o: 'finish', t: Date.now(), r: runId, k: status, d });
  }

  /** A value read now, bounded like a payload (`snapshot(value)`). */
  snapshot(value) {
    return new Snapshot(boundedJson(value, this.limits.maxValueBytes, this.limits.previewBytes));
  }
}

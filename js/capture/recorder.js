// The recording calls of one tracker, in JS: each checks its arguments and the lifecycle at
// the call, appends one entry to the journal and returns (no wasm call, no serialization of
// payloads). What a call reads of the caller's values is kept to what it must check at once:
//
//  - the spec (one per execution: its id is returned, a bad one throws at once) is read at
//    the call, field by field: a spec whose every top-level field (key and value) was part of
//    a spec the core checked is written from those fields without a wasm call; any other is
//    checked whole by the core (`__checkArg`), which throws its typed error at once;
//  - a node run's error, a skip reason, an output and an external id are read whole at the
//    call and checked by the core the first time each distinct text is seen;
//  - a node definition is read at the call only the first time its id, or one of its keys,
//    is seen by this tracker (so a typo or a bad id throws the core's typed error at once);
//    after that only `def.id` is read at the call, and the definition is read with the
//    payloads when the batch is built. A definition that turns out bad then is reported
//    (`error` event and log line) and the node run is recorded with its id alone.
//  - payloads (node input and output) are read when the batch is built: see journal.js.

import { Journal, Snapshot, NO_PAYLOAD, PAYLOAD } from './journal.js';
import { Lifecycle, invalid } from './lifecycle.js';
import { boundedJson, jsonText, errorText, describeThrown } from './serialize.js';
import { newId } from './ids.js';
import { KnownArguments } from './known.js';
import { stringArg } from '../values.js';

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

/**
 * What the capture layer needs of a core, and all it needs: the in-process tracker
 * (js/api.js, `captureCoreOf`) and the worker host (js/worker/host.js) each implement it.
 *
 * @typedef {object} CaptureCore
 * @property {{ maxNodeRuns: number, maxValueBytes: number, previewBytes: number }} limits
 *   the limits applied at the call;
 * @property {(what: string, text: string, system?: string) => void} check checks a
 *   structural argument (JSON text) as the batch step will apply it; throws the core's typed
 *   error;
 * @property {(text: string) => void} apply runs the batch step on one journal batch (JSON
 *   text); throws if the batch as a whole could not be handed over. Problems with single
 *   records (an entry refused, a record too large to sync) are the core's to report.
 */

export class CaptureRecorder {
  #core;

  /**
   * `core` is a {@link CaptureCore}; `report(error, logLine?)` tells the tracker's `error`
   * listeners and the log that a batch failed or a deferred value was refused.
   */
  constructor(core, report) {
    this.#core = core;
    const limits = core.limits;
    this.limits = limits;
    this.report = report;
    this.lifecycle = new Lifecycle(limits.maxNodeRuns);
    this.journal = new Journal({
      apply: core.apply,
      report,
      readDef: (entry) => this.#readDeferredDef(entry),
      limits,
    });
    this.checked = new Map();   // kind → Map(text → parsed fields the capture needs)
    this.known = new KnownArguments();
  }

  /** `text` checked by the core as a `what`; remembered (with `extra`) once it passed. */
  #check(what, text, system) {
    let seen = this.checked.get(what);
    if (!seen) this.checked.set(what, (seen = new Map()));
    const key = system === undefined ? text : `${system}\u0000${text}`;
    let known = seen.get(key);
    if (known === undefined) {
      this.#core.check(what, text, system);
      known = what === 'node' ? JSON.parse(text) : true;
      if (seen.size >= CHECKED_LIMIT) seen.clear();
      seen.set(key, known);
    }
    return known;
  }

  #structural(what, value) {
    const text = read(what, jsonText, value);
    return text === undefined || text === 'null' ? '{}' : text;
  }

  /** A deferred node definition, read when its batch is built (see the header). */
  #readDeferredDef(entry) {
    let error;
    try {
      const text = jsonText(entry.def);
      if (text !== undefined && text !== 'null') {
        this.#check('node', text);
        return text;
      }
      error = invalid('node', 'is missing');
    } catch (thrown) {
      error = thrown?.name === 'ValidationError' ? thrown : invalid('node', describeThrown(thrown));
    }
    error.message = `node ${entry.nodeId} of execution ${entry.r}, read at the end of its task, was refused (recorded with its id alone): ${error.message}`;
    this.report(error, `runledger: ${error.message}`);
    return `{"id":${JSON.stringify(entry.nodeId)}}`;
  }

  start(spec) {
    this.lifecycle.ensureOpen();
    let d = this.known.specText(spec);
    let id;
    if (d === undefined) {
      d = this.#structural('spec', spec);
      this.#check('spec', d);
      // The id is read from the text already read (a getter runs once).
      const parsed = JSON.parse(d);
      id = parsed?.id;
      this.known.learnSpec(parsed);
    }
    const made = id === undefined || id === null;
    if (made) id = newId(Date.now());
    this.lifecycle.start(id, made);
    this.journal.push('start', Date.now(), id, undefined, undefined, d, undefined, undefined, undefined, NO_PAYLOAD);
    return id;
  }

  nodeStart(runId, def, input) {
    this.lifecycle.ensureOpen();
    let nodeId = this.known.nodeId(def);
    let d;
    if (nodeId === undefined) {
      d = this.#structural('node', def);
      const parsed = this.#check('node', d);
      nodeId = parsed.id;
      this.known.learnNode(parsed);
      def = undefined;
    }
    const index = this.lifecycle.nodeStart(runId, nodeId);
    this.journal.push('node', Date.now(), runId, index, undefined, d, def, nodeId, input, PAYLOAD);
    return index;
  }

  nodeEnd(runId, index, outcome, value) {
    this.lifecycle.ensureOpen();
    const t = Date.now();
    if (outcome === 'success') {
      this.lifecycle.nodeEnd(runId, index, outcome);
      this.journal.push('end', t, runId, index, outcome, undefined, undefined, undefined, value, PAYLOAD);
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
    this.journal.push('end', t, runId, index, outcome, d, undefined, undefined, undefined, NO_PAYLOAD);
  }

  output(runId, output) {
    this.lifecycle.ensureOpen();
    const d = this.#structural('output', output);
    this.#check('output', d);
    this.lifecycle.change(runId);
    this.journal.push('output', Date.now(), runId, undefined, undefined, d, undefined, undefined, undefined, NO_PAYLOAD);
  }

  externalId(runId, system, externalId) {
    this.lifecycle.ensureOpen();
    const s = read('system', stringArg, system);
    const d = JSON.stringify(read('externalId', stringArg, externalId));
    this.#check('externalId', d, s);
    this.lifecycle.change(runId);
    this.journal.push('ext', Date.now(), runId, undefined, s, d, undefined, undefined, undefined, NO_PAYLOAD);
  }

  finish(runId, status, error) {
    this.lifecycle.ensureOpen();
    if (!STATUSES.has(status)) throw invalid('status', `\`${status}\` is not success, failed, error, timeout or cancelled`);
    const d = read('error', errorText, error);
    if (d !== undefined) this.#check('error', d);
    this.lifecycle.finish(runId, status);
    this.journal.push('finish', Date.now(), runId, undefined, status, d, undefined, undefined, undefined, NO_PAYLOAD);
  }

  /** A value read now, bounded like a payload (`snapshot(value)`). */
  snapshot(value) {
    return new Snapshot(boundedJson(value, this.limits.maxValueBytes, this.limits.previewBytes));
  }
}

// The lifecycle state machine of the capture layer: which recording calls an execution and
// its node runs allow, checked at the call (in JS, no wasm) so that misuse throws at once
// with the same typed errors and messages as the core (src/error.rs, src/model/lifecycle.rs).

/** How many finished execution ids are remembered to explain late calls (as the core). */
const REMEMBERED_FINISHED = 10_000;

/** An `Error` named like the core's typed errors (`LifecycleError`, `ValidationError`, ...). */
export function typedError(name, message, field) {
  const error = new Error(message);
  error.name = name;
  if (field !== undefined) error.field = field;
  return error;
}

export function invalid(field, reason) {
  return typedError('ValidationError', `\`${field}\` is invalid: ${reason}`, field);
}

function alreadyFinished(id, from, to) {
  return typedError('LifecycleError', `execution ${id} cannot go from ${from} to ${to}: it has already finished`);
}

function unknownExecution(id) {
  return typedError('LifecycleError', `execution ${id} is not being recorded by this tracker`);
}

function nodeAfterEnd(id, nodeId, event, status) {
  return typedError('LifecycleError', `node ${nodeId} of execution ${id} cannot ${event}: the execution has already finished (${status})`);
}

const EVENT = { success: 'succeed', error: 'fail', skipped: 'skip' };

/** The state of the executions one tracker records. */
export class Lifecycle {
  constructor(maxNodeRuns) {
    this.maxNodeRuns = maxNodeRuns;
    /** id → { nodes: [{ id, attempt, status }], attempts: Map(nodeId → runs) } */
    this.running = new Map();
    /** id → final status, the last REMEMBERED_FINISHED of them. */
    this.finished = new Map();
    this.closed = false;
  }

  ensureOpen() {
    if (this.closed) throw typedError('StoreError', 'the store is closed');
  }

  /** A new execution `id`; throws if this tracker already used the id. */
  start(id) {
    this.ensureOpen();
    if (this.running.has(id) || this.finished.has(id)) {
      throw invalid('id', `${id} is already used by an execution of this tracker`);
    }
    this.running.set(id, { nodes: [], attempts: new Map() });
  }

  /** A logged (already finished) execution `id`. */
  logged(id, status) {
    if (this.running.has(id) || this.finished.has(id)) {
      throw invalid('id', `${id} is already used by an execution of this tracker`);
    }
    this.remember(id, status);
  }

  #run(id, nodeId, event) {
    const run = this.running.get(id);
    if (run) return run;
    const status = this.finished.get(id);
    if (status === undefined) throw unknownExecution(id);
    if (nodeId === '') throw alreadyFinished(id, status, status);
    throw nodeAfterEnd(id, nodeId, event, status);
  }

  /** Starts a node run of `nodeId`; returns its index. */
  nodeStart(id, nodeId) {
    this.ensureOpen();
    const run = this.#run(id, nodeId, 'start');
    if (run.nodes.length >= this.maxNodeRuns) {
      throw typedError('ValidationError', `\`nodes\` is too large: ${run.nodes.length + 1} exceeds the limit of ${this.maxNodeRuns}`, 'nodes');
    }
    const attempt = (run.attempts.get(nodeId) ?? 0) + 1;
    run.attempts.set(nodeId, attempt);
    run.nodes.push({ id: nodeId, attempt, status: 'running' });
    return run.nodes.length - 1;
  }

  /** Ends node run `index` with `outcome` (`success`, `error`, `skipped`). */
  nodeEnd(id, index, outcome) {
    this.ensureOpen();
    const run = this.#run(id, `#${index}`, EVENT[outcome]);
    const node = run.nodes[index];
    if (!node) throw unknownExecution(id);
    if (node.status !== 'running') {
      throw typedError('LifecycleError', `node ${node.id} (attempt ${node.attempt}) of execution ${id} cannot go from ${node.status} to ${outcome}: it has already finished`);
    }
    node.status = outcome;
  }

  /** A change only a running execution accepts (`output`, `externalId`). */
  change(id) {
    this.ensureOpen();
    this.#run(id, '', 'change');
  }

  /** Ends execution `id` with `status`. */
  finish(id, status) {
    this.ensureOpen();
    if (!this.running.has(id)) {
      const from = this.finished.get(id);
      if (from === undefined) throw unknownExecution(id);
      throw alreadyFinished(id, from, status);
    }
    this.running.delete(id);
    this.remember(id, status);
  }

  /** Execution `id` was deleted: later calls for it are for an unknown execution. */
  forget(id) {
    this.running.delete(id);
    this.finished.delete(id);
  }

  remember(id, status) {
    this.finished.set(id, status);
    if (this.finished.size > REMEMBERED_FINISHED) {
      this.finished.delete(this.finished.keys().next().value);
    }
  }
}

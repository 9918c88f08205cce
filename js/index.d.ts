import type { StartSpec, NodeDef, OutputInput } from './runledger_core.js';

export * from './runledger_core.js';

/** Resolves once the wasm module is loaded. `Tracker.open` waits for it by itself. */
export function ready(): Promise<void>;

declare module './runledger_core.js' {
  interface Tracker {
    /** Starts recording an execution and returns its handle. Never waits for storage. */
    start(spec: StartSpec): Run;
    /**
     * Reads `value` now, bounded like any payload, for a caller that changes it in place
     * afterwards: node inputs and outputs are otherwise read at the end of the current task.
     */
    snapshot(value: unknown): Snapshot;
    /** Gives up sending refused runs (all, or those ids): they stay in the history, unsent. Resolves to how many. */
    discardDeadLetters(ids?: string[]): Promise<number>;
  }
}

/** A value read at the call (`tracker.snapshot(value)`); pass it where a value goes. */
export declare class Snapshot {
  private constructor();
}

/** A running execution. Every method returns at once; none waits for storage. */
export declare class Run {
  /** The execution id (UUIDv7 unless the caller gave one). */
  readonly id: string;
  /** Starts a node run; a node id that ran before in this execution is its next attempt. */
  node(node: NodeDef, input?: unknown): NodeRun;
  /** Adds an output. */
  output(output: OutputInput): void;
  /** Records the id another system gave this run (e.g. `externalId('airflow', runId)`). */
  externalId(system: string, id: string): void;
  /** Ends the execution successfully. */
  succeed(): void;
  /** Ends it as failed: the work itself failed. */
  fail(error?: unknown): void;
  /** Ends it as an error of the machinery around the work. */
  error(error?: unknown): void;
  /** Ends it as timed out. */
  timeout(error?: unknown): void;
  /** Ends it as cancelled. */
  cancel(reason?: unknown): void;
}

/** One run of one node. */
export declare class NodeRun {
  readonly runId: string;
  readonly index: number;
  /** Ends the node run with its output. */
  succeed(output?: unknown): void;
  /** Ends it with an error (an `Error`, a message, or `{ message, type, stack }`). */
  fail(error?: unknown): void;
  /** Marks it skipped, with an optional reason. */
  skip(reason?: string): void;
}

/**
 * Thrown by every call once the wasm core has trapped (a bug, never a reaction to input):
 * the process's trackers refuse further work instead of calling into a module whose memory
 * may be inconsistent. `error` listeners hear it once. Restart the process to record again.
 */
export declare class TrackerBrokenError extends Error {
  readonly name: 'TrackerBrokenError';
}

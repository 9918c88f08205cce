// The size each running record will have as JSON, estimated at the batch step (where the
// payloads' JSON text is made anyway), so that a record the ingest server would refuse for
// size is flagged when it is recorded, not when its sync fails. The server refuses a request
// body over its `--max-body-bytes` (413), and a record is sent at least alone: one larger than
// that can never land, and is dead-lettered by sync. README "Limits that agree" has the
// table of client defaults against the server's.

/** The ingest server's default `--max-body-bytes` (server/src/main.rs). */
export const SERVER_BODY_LIMIT = 8 * 1024 * 1024;

/** A node run's own fields as JSON (id, name, type, status, times, attempt, duration). */
const NODE_OVERHEAD = 200;

export class RecordSizes {
  /**
   * `flag(error)` reports a record over `limit`, once per record, if `syncing()` says the
   * tracker syncs to a server at all.
   */
  constructor({ limit = SERVER_BODY_LIMIT, syncing, flag }) {
    this.limit = limit;
    this.syncing = syncing;
    this.flag = flag;
    this.bytes = new Map();   // run id → estimated bytes, until the run finishes
  }

  /** Counts one journal entry of the batch; `payloadBytes` is its payload's JSON length. */
  count(entry, payloadBytes) {
    const before = this.bytes.get(entry.r) ?? 0;
    if (before < 0) {
      if (entry.o === 'finish') this.bytes.delete(entry.r);
      return;   // flagged already
    }
    const after = before + payloadBytes + (entry.d?.length ?? 0) + (entry.o === 'node' ? NODE_OVERHEAD : 0);
    if (entry.o === 'finish') this.bytes.delete(entry.r);
    else this.bytes.set(entry.r, after);
    if (after > this.limit && this.syncing()) {
      if (entry.o !== 'finish') this.bytes.set(entry.r, -1);
      this.flag(tooLarge(entry.r, after, this.limit));
    }
  }
}

function tooLarge(id, bytes, limit) {
  const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const error = new Error(`execution ${id} is already about ${mb(bytes)} as JSON, more than the ingest server accepts in one request by default (${mb(limit)}, its --max-body-bytes): its sync will be refused (413) and the record dead-lettered (see deadLetters()). It is kept locally. Record less in it (smaller node inputs and outputs, a lower maxValueBytes or maxNodeRuns), or start the server with a larger --max-body-bytes.`);
  error.name = 'SyncError';
  return error;
}

// What the core has accepted before, so a recording call need not read or check it again:
// spec fields (each top-level key and value of a spec the core accepted) and node
// definitions' ids and keys. Bounded: each memory is dropped whole when it passes its limit
// (then the next calls are read and checked whole, and learn again).

import { jsonText } from './serialize.js';

/** Entries after which a memory starts again. */
const LIMIT = 4096;

export class KnownArguments {
  constructor() {
    // key → Map(value → `"key":json`): a string value by itself, any other by "\u0001" + its
    // JSON text (a string and a JSON text never collide).
    this.specFields = new Map();
    this.specCount = 0;
    this.nodeIds = new Set();
    this.nodeKeys = new Set();
  }

  /** Remembers each top-level field of `spec`, parsed from a text the core accepted. */
  learnSpec(spec) {
    if (this.specCount >= LIMIT) {
      this.specFields.clear();
      this.specCount = 0;
    }
    for (const key in spec) {
      if (key === 'id') continue;   // an execution's own id: new every time
      const value = spec[key];
      const text = JSON.stringify(value);
      let values = this.specFields.get(key);
      if (!values) this.specFields.set(key, (values = new Map()));
      values.set(typeof value === 'string' ? value : `\u0001${text}`, `${JSON.stringify(key)}:${text}`);
      this.specCount++;
    }
  }

  /**
   * The JSON text of `spec` written from known fields if every field of it is known;
   * `undefined` otherwise (then it is read and checked whole).
   */
  specText(spec) {
    if (spec === null || typeof spec !== 'object') return undefined;
    try {
      if (Object.getPrototypeOf(spec) !== Object.prototype) return undefined;
      let text = '';
      for (const key in spec) {
        const value = spec[key];
        if (value === undefined) continue;
        const values = this.specFields.get(key);
        if (values === undefined) return undefined;
        const field = values.get(typeof value === 'string' ? value : `\u0001${jsonText(value)}`);
        if (field === undefined) return undefined;
        text += text === '' ? field : `,${field}`;
      }
      return `{${text}}`;
    } catch {
      return undefined;   // a Proxy or getter threw: the whole read says what, typed
    }
  }

  /** Remembers the id and keys of a node definition parsed from a text the core accepted. */
  learnNode(def) {
    if (this.nodeIds.size >= LIMIT) this.nodeIds.clear();
    this.nodeIds.add(def.id);
    for (const key in def) this.nodeKeys.add(key);
  }

  /**
   * The id of node definition `def` if it may be read later: a plain object whose id and
   * keys are known. Otherwise `undefined` (read it now).
   */
  nodeId(def) {
    if (def === null || typeof def !== 'object') return undefined;
    try {
      if (Object.getPrototypeOf(def) !== Object.prototype) return undefined;
      const id = def.id;
      if (typeof id !== 'string' || !this.nodeIds.has(id)) return undefined;
      for (const key in def) if (!this.nodeKeys.has(key)) return undefined;
      return id;
    } catch {
      return undefined;   // a Proxy or getter threw: the whole read says what, typed
    }
  }
}

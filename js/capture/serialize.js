// The bounded serializer: the JSON text of a caller's value, at a cost bounded by the size
// limit, never by the value. It never throws, never loops forever and never loses the record:
// whatever cannot be written as JSON becomes a marker saying what it was.
//
//  - A value larger than `maxBytes` becomes `{"$truncated": {"preview", "bytesKept",
//    "originalBytesAtLeast", "type", "length"?}}`: the walk stops once the limit is passed,
//    so a 50 MB array costs about what 64 KiB costs.
//  - `{"$unsupported": {"type", "text"}}` stands for what JSON cannot hold: functions,
//    symbols, bigints, NaN/±Infinity, strings with lone surrogates (kept with U+FFFD),
//    circular references, typed arrays and buffers, invalid dates, values nested deeper than
//    64, and a getter, Proxy trap or `toJSON` that threw (`type: "thrown"`).
//  - `Date` is written as its ISO text (what JSON.stringify writes); `Map` and `Set` as
//    `{"$unsupported": {"type": "Map" | "Set", "text", "entries" | "values"}}`.
//
// It is the one reader of caller values in the package: payloads (`boundedJson`), and the
// arguments read whole at the call (`jsonText`, `errorText`: strict, unbounded, a value that
// cannot be read throws an `Error` saying why, which the caller turns into a typed
// ValidationError). The wasm core imports `jsonText` and `errorText` from here (a
// wasm-bindgen snippet: this module imports nothing).

/** The key of the marker for a value JSON cannot hold. */
export const UNSUPPORTED_KEY = '$unsupported';
/** The key of the marker for a value larger than the limit. */
export const TRUNCATED_KEY = '$truncated';

const MAX_DEPTH = 64;
const hasWellFormed = typeof String.prototype.isWellFormed === 'function';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = hasWellFormed ? (s) => s.isWellFormed() : (s) => !LONE_SURROGATE.test(s);
const toWellFormed = typeof String.prototype.toWellFormed === 'function'
  ? (s) => s.toWellFormed()
  : (s) => s.replace(new RegExp(LONE_SURROGATE, 'g'), '\uFFFD');

/** Thrown inside the walk when the limit is passed; never escapes this module. */
const STOP = Symbol('stop');

/** What a strict read throws: a value that cannot be read, and why. */
class Unreadable extends Error {}

/** A short description of something thrown by the caller's code; never throws itself. */
export function describeThrown(thrown) {
  try {
    if (typeof thrown === 'string') return toWellFormed(thrown);
    if (thrown !== null && typeof thrown === 'object') {
      const m = Object.getOwnPropertyDescriptor(thrown, 'message')?.value
        ?? Object.getOwnPropertyDescriptor(Object.getPrototypeOf(thrown) ?? {}, 'message')?.value;
      if (typeof m === 'string') return toWellFormed(m);
    }
    return `a ${typeof thrown}`;
  } catch {
    return 'a value that cannot be described';
  }
}

function marker(type, text) {
  return `{"${UNSUPPORTED_KEY}":{"type":${JSON.stringify(type)},"text":${JSON.stringify(toWellFormed(String(text)))}}}`;
}

function typeName(value) {
  try {
    return Object.prototype.toString.call(value).slice(8, -1);
  } catch {
    return 'Object';
  }
}

/**
 * A walk that writes JSON text into `out` and stops (throws STOP) once `budget` characters
 * are written. Every read of the caller's value is inside try/catch.
 */
class Writer {
  /** `strict`: a cycle, a throw or a key with a lone surrogate throws instead of a marker. */
  constructor(budget, strict = false) {
    this.budget = budget;
    this.strict = strict;
    this.size = 0;
    this.parts = [];
    this.ancestors = [];
  }

  push(text) {
    this.parts.push(text);
    this.size += text.length;
    if (this.size > this.budget) throw STOP;
  }

  string(s) {
    // A huge string is cut before it is escaped: escaping it whole would cost its length.
    const cut = s.length > this.budget ? s.slice(0, this.budget + 1) : s;
    if (!wellFormed(cut)) {
      this.push(marker('string', cut));
      return;
    }
    this.push(JSON.stringify(cut));
  }

  /** A marker for what could not be read, or (strict) an `Error` saying so. */
  unreadable(type, text) {
    if (this.strict) throw new Unreadable(text);
    this.push(marker(type, text));
  }

  key(k) {
    if (this.strict && !wellFormed(k)) throw new Unreadable(`the key ${JSON.stringify(k)} holds a lone surrogate (not valid Unicode)`);
    this.push(JSON.stringify(wellFormed(k) ? k : toWellFormed(k)));
    this.push(':');
  }

  value(v, depth) {
    switch (typeof v) {
      case 'string': this.string(v); return;
      case 'number': this.push(Number.isFinite(v) ? String(v) : marker('number', String(v))); return;
      case 'boolean': this.push(v ? 'true' : 'false'); return;
      case 'undefined': this.push('null'); return;
      case 'bigint': this.push(marker('bigint', BigInt.prototype.toString.call(v))); return;
      case 'symbol': this.push(marker('symbol', Symbol.prototype.toString.call(v))); return;
      case 'function': this.push(marker('function', `function ${functionName(v)}`.trimEnd())); return;
      default: this.object(v, depth);
    }
  }

  object(v, depth) {
    if (v === null) { this.push('null'); return; }
    if (depth >= MAX_DEPTH) { this.push(marker('depth', `nested deeper than ${MAX_DEPTH}`)); return; }
    if (this.ancestors.includes(v)) { this.unreadable('circular', 'a reference to an enclosing value'); return; }
    let special;
    try {
      special = this.special(v, depth);
    } catch (thrown) {
      if (thrown === STOP || thrown instanceof Unreadable) throw thrown;
      this.unreadable('thrown', `reading it threw: ${describeThrown(thrown)}`);
      return;
    }
    if (special) return;
    let isArray;
    try {
      isArray = Array.isArray(v);
    } catch (thrown) {
      this.unreadable('thrown', `reading it threw: ${describeThrown(thrown)}`);
      return;
    }
    this.ancestors.push(v);
    try {
      if (isArray) this.array(v, depth);
      else this.plainObject(v, depth);
    } finally {
      this.ancestors.pop();
    }
  }

  /** Dates, typed arrays, Map, Set, toJSON; true when `v` was written. */
  special(v, depth) {
    if (v instanceof Date) {
      const t = Date.prototype.getTime.call(v);
      this.push(Number.isNaN(t) ? marker('Date', 'Invalid Date') : JSON.stringify(Date.prototype.toISOString.call(v)));
      return true;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer)) {
      const size = ArrayBuffer.isView(v) ? (v.length ?? v.byteLength) : v.byteLength;
      this.push(marker(typeName(v), `${typeName(v)}(${size})`));
      return true;
    }
    if (v instanceof Map || v instanceof Set) {
      const isMap = v instanceof Map;
      this.ancestors.push(v);
      try {
        this.push(`{"${UNSUPPORTED_KEY}":{"type":"${isMap ? 'Map' : 'Set'}","text":"${isMap ? 'Map' : 'Set'}(${v.size})","${isMap ? 'entries' : 'values'}":[`);
        let first = true;
        for (const item of v) {
          if (!first) this.push(',');
          first = false;
          if (isMap) {
            this.push('[');
            this.value(item[0], depth + 1);
            this.push(',');
            this.value(item[1], depth + 1);
            this.push(']');
          } else {
            this.value(item, depth + 1);
          }
        }
        this.push(']}}');
      } finally {
        this.ancestors.pop();
      }
      return true;
    }
    const toJSON = v.toJSON;
    if (typeof toJSON === 'function') {
      const replaced = toJSON.call(v, '');
      if (replaced === v || (replaced !== null && typeof replaced === 'object' && typeof replaced.toJSON === 'function')) {
        this.push(marker('toJSON', 'toJSON returned a value that has toJSON'));
      } else {
        this.value(replaced, depth + 1);
      }
      return true;
    }
    return false;
  }

  array(v, depth) {
    this.push('[');
    let length;
    try {
      length = v.length;
    } catch (thrown) {
      this.unreadable('thrown', `reading its length threw: ${describeThrown(thrown)}`);
      this.push(']');
      return;
    }
    for (let i = 0; i < length; i++) {
      if (i > 0) this.push(',');
      let item;
      try {
        item = v[i];
      } catch (thrown) {
        this.unreadable('thrown', `reading [${i}] threw: ${describeThrown(thrown)}`);
        continue;
      }
      this.value(item, depth + 1);
    }
    this.push(']');
  }

  plainObject(v, depth) {
    let keys;
    try {
      keys = Object.keys(v);
    } catch (thrown) {
      this.unreadable('thrown', `listing its keys threw: ${describeThrown(thrown)}`);
      return;
    }
    this.push('{');
    let first = true;
    for (const k of keys) {
      let item;
      try {
        item = v[k];
      } catch (thrown) {
        if (!first) this.push(',');
        first = false;
        this.key(k);
        this.unreadable('thrown', `the getter threw: ${describeThrown(thrown)}`);
        continue;
      }
      // JSON.stringify leaves out undefined, functions and symbols in objects; functions and
      // symbols are marked here (a record should say they were there), undefined is left out.
      if (item === undefined) continue;
      if (!first) this.push(',');
      first = false;
      this.key(k);
      this.value(item, depth + 1);
    }
    this.push('}');
  }
}

function functionName(fn) {
  try {
    const name = Object.getOwnPropertyDescriptor(fn, 'name')?.value;
    return typeof name === 'string' ? toWellFormed(name) : '';
  } catch {
    return '';
  }
}

/**
 * True when native JSON.stringify writes `value` as the bounded writer would, and its text is
 * at most about `budget` characters: plain objects, arrays, finite numbers, well-formed
 * strings, no toJSON, no cycle (bounded depth). The walk stops as soon as the answer is no,
 * so it costs at most what `budget` characters cost.
 */
function plainWithin(value, budget) {
  let size = 0;
  const walk = (v, depth) => {
    switch (typeof v) {
      case 'string':
        size += v.length + 2;
        return size <= budget && wellFormed(v);
      case 'number':
        size += 8;
        return v - v === 0;
      case 'boolean':
        size += 5;
        return true;
      case 'object': {
        if (v === null) { size += 4; return true; }
        if (depth > MAX_DEPTH || size > budget) return false;
        if (Array.isArray(v)) {
          if (Object.getPrototypeOf(v) !== Array.prototype) return false;
          size += 2;
          for (let i = 0; i < v.length; i++) {
            size += 1;
            if (v[i] === undefined || !walk(v[i], depth + 1)) return false;
          }
          return size <= budget;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) return false;
        if (typeof v.toJSON === 'function') return false;
        size += 2;
        for (const k in v) {
          if (!Object.hasOwn(v, k) || !wellFormed(k)) return false;
          size += k.length + 4;
          const item = v[k];
          if (item === undefined || !walk(item, depth + 1)) return false;
          if (size > budget) return false;
        }
        return true;
      }
      default:
        return false;
    }
  };
  return walk(value, 0);
}

function truncated(value, writer, previewBytes) {
  let preview = writer.parts.join('');
  if (preview.length > previewBytes) preview = preview.slice(0, previewBytes);
  if (!wellFormed(preview)) preview = toWellFormed(preview.slice(0, -1));
  let type = typeName(value);
  let length;
  try {
    if (Array.isArray(value)) length = value.length;
    else if (typeof value === 'string') length = value.length;
  } catch { /* a Proxy: no length */ }
  if (typeof value === 'string') type = 'string';
  const fields = [`"preview":${JSON.stringify(preview)}`, `"bytesKept":${preview.length}`,
    `"originalBytesAtLeast":${writer.size}`, `"type":${JSON.stringify(type)}`];
  if (length !== undefined) fields.push(`"length":${length}`);
  return `{"${TRUNCATED_KEY}":{${fields.join(',')}}}`;
}

/**
 * The JSON text of `value` (`undefined` for `undefined`), at most about `maxBytes` long:
 * a larger value becomes a `$truncated` marker with a `previewBytes` preview. Never throws.
 */
export function boundedJson(value, maxBytes, previewBytes) {
  if (value === undefined) return undefined;
  // The common case: a small plain value, written by the native JSON.stringify.
  try {
    if (plainWithin(value, maxBytes)) {
      const text = JSON.stringify(value);
      if (text.length <= maxBytes) return text;
    }
  } catch {
    // A Proxy or getter threw during the quick walk: the careful writer marks it.
  }
  const writer = new Writer(maxBytes);
  try {
    writer.value(value, 0);
    return writer.parts.join('');
  } catch (thrown) {
    if (thrown === STOP) return truncated(value, writer, previewBytes);
    // Only a bug of this module gets here (every caller read is guarded): keep the record.
    return marker('thrown', `the value could not be read: ${describeThrown(thrown)}`);
  }
}

/**
 * The JSON text of an argument read whole at the call (`undefined` for `undefined`): no size
 * bound (the core applies its limits), unsupported values marked as in payloads. Throws an
 * `Error` whose message says why the value cannot be read (a cycle, a getter, `toJSON` or
 * Proxy trap that threw, a key with a lone surrogate).
 */
export function jsonText(value) {
  if (value === undefined) return undefined;
  try {
    if (plainWithin(value, Infinity)) return JSON.stringify(value);
  } catch {
    // A Proxy or getter threw during the quick walk: the strict writer says what.
  }
  const writer = new Writer(Infinity, true);
  try {
    writer.value(value, 0);
  } catch (thrown) {
    throw new Error(`cannot be converted to JSON: ${thrown instanceof Unreadable ? thrown.message : describeThrown(thrown)}`);
  }
  return writer.parts.join('');
}

/**
 * The JSON text of an error given as an `Error`, a string or `{ message, type, stack,
 * nodeId }` (`undefined` for nothing). An `Error`'s `name` is its `type`. Throws like
 * `jsonText`.
 */
export function errorText(value) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return jsonText({ message: value });
  let fields;
  try {
    if (value instanceof Error) {
      const { message, name, stack } = value;
      fields = {
        message: typeof message === 'string' ? message : jsonText(message) ?? '',
        type: typeof name === 'string' ? name : undefined,
        stack: typeof stack === 'string' ? stack : undefined,
      };
    }
  } catch (thrown) {
    throw new Error(`cannot be read: ${describeThrown(thrown)}`);
  }
  if (fields) return jsonText(fields);
  if (typeof value === 'object') return jsonText(value);
  throw new Error(`expected an Error, a string, or {message, type, stack}, not a ${typeof value}`);
}

// Reading the caller's values before the core sees them. Any caller code may run while a
// value is read (getters, `toJSON`, Proxy traps, `toString`) and any of it may throw: every
// read happens here, inside try/catch, before the wasm core takes its state, so a throw
// becomes a typed `ValidationError` (raised by the core from the message thrown here) and the
// tracker stays usable. Values JSON cannot hold are marked, never dropped or reshaped silently:
// `{"$unsupported": {"type", "text"}}` for functions, symbols, bigints, NaN and ±Infinity, and
// strings with lone surrogates (kept with U+FFFD in `text`). NUL and every other character of
// a well-formed string are kept as they are.
//
// The core imports this module (wasm-bindgen snippet): it is not part of the public API.

/** The key of the marker that stands for a value JSON cannot hold. */
export const UNSUPPORTED_KEY = '$unsupported';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = typeof String.prototype.isWellFormed === 'function'
  ? (s) => s.isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);
const toWellFormed = typeof String.prototype.toWellFormed === 'function'
  ? (s) => s.toWellFormed()
  : (s) => s.replace(new RegExp(LONE_SURROGATE, 'g'), '\uFFFD');

function unsupported(type, text) {
  return { [UNSUPPORTED_KEY]: { type, text } };
}

function replacer(key, value) {
  if (!wellFormed(key)) {
    throw new Error(`the key ${JSON.stringify(key)} holds a lone surrogate (not valid Unicode)`);
  }
  switch (typeof value) {
    case 'string':
      return wellFormed(value) ? value : unsupported('string', toWellFormed(value));
    case 'number':
      return Number.isFinite(value) ? value : unsupported('number', String(value));
    case 'bigint':
      return unsupported('bigint', BigInt.prototype.toString.call(value));
    case 'function':
      return unsupported('function', `function ${describeName(value)}`.trimEnd());
    case 'symbol':
      return unsupported('symbol', Symbol.prototype.toString.call(value));
    default:
      return value;
  }
}

const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F]/;

/**
 * True when JSON.stringify keeps `value` as it is: no function, symbol, bigint or non-finite
 * number anywhere, no `toJSON` (which could return one), not deeper than 64 (a cycle, or a
 * shape the careful path handles).
 */
function plainJson(value, depth) {
  switch (typeof value) {
    case 'string': case 'boolean': case 'undefined':
      return true;
    case 'number':
      return value - value === 0;
    case 'object': {
      if (value === null) return true;
      if (depth > 64 || typeof value.toJSON === 'function') return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!plainJson(value[i], depth + 1)) return false;
        return true;
      }
      for (const key in value) if (!plainJson(value[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

function describeName(fn) {
  const name = Object.getOwnPropertyDescriptor(fn, 'name')?.value;
  return typeof name === 'string' && wellFormed(name) ? name : '';
}

/** A short description of something thrown by the caller's code; never throws itself. */
export function describeThrown(thrown) {
  try {
    if (typeof thrown === 'string') return toWellFormed(thrown);
    if (thrown !== null && typeof thrown === 'object') {
      const message = Object.getOwnPropertyDescriptor(thrown, 'message')?.value
        ?? Object.getOwnPropertyDescriptor(Object.getPrototypeOf(thrown) ?? {}, 'message')?.value;
      if (typeof message === 'string') return toWellFormed(message);
    }
    return `a ${typeof thrown}`;
  } catch {
    return 'a value that cannot be described';
  }
}

function fail(what) {
  return (thrown) => {
    throw new Error(`${what}: ${describeThrown(thrown)}`);
  };
}

/**
 * The JSON text of `value` (`undefined` for `undefined`), with unsupported values marked.
 * Throws an `Error` whose message says why it cannot be read (a cycle, a getter or `toJSON`
 * that threw, a Proxy trap that threw).
 */
export function jsonText(value) {
  if (value === undefined) return undefined;
  try {
    // The hot path: a replacer costs a JS call per value (~3× the plain stringify), so it
    // only runs when a quick walk finds a value it must mark, or the text shows an escaped
    // lone surrogate (JSON.stringify writes those as `\udXXX`; a false alarm only costs time).
    if (plainJson(value, 0)) {
      const text = JSON.stringify(value);
      if (!ESCAPED_SURROGATE.test(text)) return text;
    }
    return JSON.stringify(value, replacer);
  } catch (thrown) {
    return fail('cannot be converted to JSON')(thrown);
  }
}

/**
 * The JSON text of an error given as an `Error`, a string or `{ message, type, stack,
 * nodeId }` (`undefined` for nothing). An `Error`'s `name` is its `type`.
 */
export function errorText(value) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return jsonText({ message: value });
  let isError;
  try {
    isError = value instanceof Error;
  } catch (thrown) {
    return fail('cannot be read')(thrown);
  }
  if (isError) {
    try {
      const { message, name, stack } = value;
      return jsonText({
        message: typeof message === 'string' ? message : jsonText(message) ?? '',
        type: typeof name === 'string' ? name : undefined,
        stack: typeof stack === 'string' ? stack : undefined,
      });
    } catch (thrown) {
      return fail('cannot be read')(thrown);
    }
  }
  if (typeof value === 'object') return jsonText(value);
  throw new Error(`expected an Error, a string, or {message, type, stack}, not a ${typeof value}`);
}

/**
 * `value` if it is a string of well-formed Unicode; otherwise throws an `Error` saying what
 * it is instead.
 */
export function stringArg(value) {
  if (typeof value !== 'string') {
    throw new Error(`expected a string, not ${value === null ? 'null' : `a ${typeof value}`}`);
  }
  if (!wellFormed(value)) throw new Error('holds a lone surrogate (not valid Unicode)');
  return value;
}

// Argument checks for the wasm core's bindings (a wasm-bindgen snippet: this module imports
// nothing). Reading a caller's value as JSON is not done here: js/capture/serialize.js is the
// one reader (`jsonText`, `errorText`, `boundedJson`), for the capture layer and the core alike.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = typeof String.prototype.isWellFormed === 'function'
  ? (s) => s.isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);

/**
 * `value` if it is a string of well-formed Unicode; otherwise throws an `Error` saying what
 * it is instead (the core turns it into a typed ValidationError naming the argument).
 */
export function stringArg(value) {
  if (typeof value !== 'string') {
    throw new Error(`expected a string, not ${value === null ? 'null' : `a ${typeof value}`}`);
  }
  if (!wellFormed(value)) throw new Error('holds a lone surrogate (not valid Unicode)');
  return value;
}

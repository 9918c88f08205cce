// What each part of a wasm costs: reads the code section (one body per function) and the name
// section of a build that keeps names (scripts/build.sh writes the shipped browser wasm once
// more, names kept, as target/bundle/runledger_core_names_bg.wasm), sorts every function into a
// part by its name and reports, per part, its raw bytes and the gzip -9 bytes of its
// bodies compressed together. Data segments (string constants, tables) are one more part.
//
// `node bench/wasm-parts.mjs [file.wasm] [--largest]` prints the table (and the largest functions).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** The parts, first match wins; each tests a function's demangled name. */
const PARTS = [
  ['drop glue (drop_in_place)', (n) => /^core::ptr::drop_in_place/.test(n)],
  ['serde_json: parse and print JSON text', (n) => /serde_json::(de|read|value::de|error)/.test(n) && !/Deserialize for|Visitor for|__Visitor|__Field/.test(n)],
  ['serde derive code of the record model and bindings (per-type (de)serializers)', (n) => /(_::<impl serde::|__Visitor|__FieldVisitor|__Field|serde::de::Visitor|serde::ser::Serialize|Serializer>::serialize_|Deserializer>::deserialize_|serde::de::impls|serde::ser::impls|serde::private|serde_core::|serde::de::|serde::ser::)/.test(n)],
  ['serde_json: write JSON text (incl. float formatting)', (n) => /serde_json::(ser|value::ser|value)/.test(n)],
  ['float and integer formatting (ryu, itoa, core::fmt::float/num)', (n) => /(ryu::|itoa::|core::fmt::float|core::fmt::num|flt2dec|dec2flt|core::num::)/.test(n)],
  ['formatting and panics (core::fmt, panic machinery)', (n) => /(core::fmt|alloc::fmt|core::panicking|std::panicking|core::panic|std::panic|rust_begin_unwind|core::result::unwrap_failed|core::option::expect_failed|__rust_start_panic|rust_panic)/.test(n)],
  ['Unicode tables and char classes', (n) => /(core::unicode|unicode_|char::methods|to_lowercase|to_uppercase|is_alphanumeric|is_whitespace)/.test(n)],
  ['strings and UTF-8 (core::str, alloc::string)', (n) => /(core::str|alloc::str|alloc::string)/.test(n)],
  ['collections (hashbrown, BTreeMap, Vec, sort)', (n) => /(hashbrown::|alloc::collections|btree|core::slice::sort|alloc::slice|alloc::vec|alloc::raw_vec|rustc_hash)/.test(n)],
  ['allocator (dlmalloc)', (n) => /(dlmalloc|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|alloc::alloc)/.test(n)],
  ['wasm-bindgen, js-sys, web-sys glue', (n) => /(wasm_bindgen|js_sys|web_sys|__wbg|__wbindgen|externref)/.test(n)],
  ['futures and timers', (n) => /(futures_|futures::|gloo_timers|core::future|core::task)/.test(n)],
  ['uuid', (n) => /uuid::/.test(n)],
  ['runledger: IndexedDB store', (n) => /runledger::store::indexeddb/.test(n)],
  ['runledger: bindings (Tracker, engine, sync driver)', (n) => /runledger::bindings/.test(n)],
  ['runledger: stats and rollups', (n) => /runledger::stats/.test(n)],
  ['runledger: sync (protocol, OTLP export)', (n) => /runledger::sync/.test(n)],
  ['runledger: intake (redaction, limits, validation)', (n) => /runledger::intake/.test(n)],
  ['runledger: recorder and batch step', (n) => /runledger::(recorder|batch)/.test(n)],
  ['runledger: model, history, store, retention, other', (n) => /runledger::/.test(n)],
];
const OTHER = 'other (core, std, unnamed)';

const ESCAPES = { '$LT$': '<', '$GT$': '>', '$RF$': '&', '$BP$': '*', '$SP$': '@', '$LP$': '(', '$RP$': ')', '$C$': ',' };

/** A readable name from a Rust symbol (legacy `_ZN…E` or v0 `_R…`): enough to sort it into a part. */
export function demangle(symbol) {
  // wasm-bindgen's output is demangled already, with crate hashes (`core[0123…]::`) and `::h…`.
  if (!symbol.startsWith('_ZN') && !symbol.startsWith('_R')) return symbol.replace(/\[[0-9a-f]{16}\]/g, '').replace(/::h[0-9a-f]{16}$/, '');
  const legacy = /^_ZN(.*)E$/.exec(symbol);
  const text = legacy ? legacy[1] : symbol.startsWith('_R') ? symbol.slice(2) : null;
  if (text === null) return symbol;
  const parts = [];
  for (let i = 0; i < text.length;) {
    const m = (legacy ? /^(\d+)/ : /^(\d+)_?/).exec(text.slice(i));
    if (!m) { i++; continue; }
    const len = Number(m[1]);
    const ident = text.slice(i + m[0].length, i + m[0].length + len);
    i += m[0].length + len;
    if (legacy && /^h[0-9a-f]{16}$/.test(ident)) continue;
    parts.push(ident);
  }
  return parts.join('::')
    .replace(/\$(LT|GT|RF|BP|SP|LP|RP|C)\$/g, (e) => ESCAPES[e])
    .replace(/\$u([0-9a-f]+)\$/g, (_, hex) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/\.\./g, '::')
    .replace(/(^|::)_(?=[<{])/g, '$1');
}

function reader(bytes) {
  let at = 0;
  const r = {
    get at() { return at; },
    set at(v) { at = v; },
    byte: () => bytes[at++],
    u32() {
      let result = 0;
      let shift = 0;
      for (;;) {
        const b = bytes[at++];
        result += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return result;
        shift += 7;
      }
    },
    name() {
      const len = r.u32();
      const s = Buffer.from(bytes.subarray(at, at + len)).toString('utf8');
      at += len;
      return s;
    },
  };
  return r;
}

/** The sections of a wasm file: { code: [{start,end}], names: Map(index→name), imports, data }. */
function readModule(bytes) {
  const r = reader(bytes);
  r.at = 8;
  let importedFunctions = 0;
  const bodies = [];
  const names = new Map();
  let dataBytes = 0;
  const data = [];
  while (r.at < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.at + size;
    if (id === 2) {
      for (let n = r.u32(), i = 0; i < n; i++) {
        r.name();
        r.name();
        const kind = r.byte();
        if (kind === 0) { r.u32(); importedFunctions++; } else if (kind === 1) { r.byte(); limits(r); } else if (kind === 2) { limits(r); } else if (kind === 3) { r.byte(); r.byte(); } else { r.byte(); r.u32(); }
      }
    } else if (id === 10) {
      for (let n = r.u32(), i = 0; i < n; i++) {
        const len = r.u32();
        bodies.push({ start: r.at, end: r.at + len });
        r.at += len;
      }
    } else if (id === 11) {
      dataBytes = size;
      data.push(bytes.subarray(r.at, end));
    } else if (id === 0) {
      const name = r.name();
      if (name === 'name') {
        while (r.at < end) {
          const sub = r.byte();
          const subSize = r.u32();
          const subEnd = r.at + subSize;
          if (sub === 1) {
            for (let n = r.u32(), i = 0; i < n; i++) names.set(r.u32(), demangle(r.name()));
          }
          r.at = subEnd;
        }
      }
    }
    r.at = end;
  }
  return { bodies, names, importedFunctions, dataBytes, data };
}

function limits(r) {
  const flags = r.byte();
  r.u32();
  if (flags & 1) r.u32();
}

/**
 * The cost of each part of the wasm at `path` (a build that keeps its name section): rows of
 * { part, functions, rawBytes, gzipBytes } sorted by raw size, plus totals.
 */
export function wasmParts(path) {
  const bytes = readFileSync(path);
  const { bodies, names, importedFunctions, dataBytes, data } = readModule(bytes);
  if (names.size === 0) throw new Error(`${path} has no name section: measure a build that keeps names`);
  const groups = new Map();
  bodies.forEach((body, i) => {
    const name = names.get(i + importedFunctions) ?? '';
    const part = PARTS.find(([, test]) => test(name))?.[0] ?? OTHER;
    const g = groups.get(part) ?? { part, functions: 0, chunks: [] };
    g.functions++;
    g.chunks.push(bytes.subarray(body.start, body.end));
    groups.set(part, g);
  });
  groups.set('data segments (string constants, tables)', { part: 'data segments (string constants, tables)', functions: 0, chunks: data });
  const rows = [...groups.values()].map(({ part, functions, chunks }) => {
    const all = Buffer.concat(chunks);
    return { part, functions, rawBytes: all.length, gzipBytes: gzipSync(all, { level: 9 }).length };
  }).sort((a, b) => b.rawBytes - a.rawBytes);
  const codeBytes = bodies.reduce((s, b) => s + b.end - b.start, 0);
  return { rows, codeBytes, dataBytes, fileBytes: bytes.length, functions: bodies.length };
}

/** The largest single functions (name, raw bytes), to see which instantiation to cut next. */
export function largestFunctions(path, count = 30) {
  const bytes = readFileSync(path);
  const { bodies, names, importedFunctions } = readModule(bytes);
  return bodies.map((b, i) => ({ name: names.get(i + importedFunctions) ?? `#${i}`, bytes: b.end - b.start }))
    .sort((a, b) => b.bytes - a.bytes).slice(0, count);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2] ?? 'target/bundle/runledger_core_names_bg.wasm';
  const { rows, codeBytes, dataBytes, fileBytes, functions } = wasmParts(path);
  console.log(`${path}: ${fileBytes} bytes, ${functions} functions, code ${codeBytes}, data ${dataBytes}`);
  console.table(rows);
  if (process.argv.includes('--largest')) console.table(largestFunctions(path, 60));
}

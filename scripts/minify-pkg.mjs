// Minifies, in place, the ES modules a browser loads from pkg/ (the entry, the API and capture
// layer, the wasm-bindgen glue): esbuild's `transform`, one file at a time, so every module keeps
// its own file, its imports and its exports (a plain <script type="module"> and bundlers see the
// same module graph, only smaller). Node-only files (node.js, node-file.js, runledger_node.js)
// stay as written: Node does not download them, and their stack traces stay readable.
//
// Also points the glue's imports of `js/` snippets (js/values.js, js/capture/serialize.js) at
// their copies in pkg/, which the capture layer already imports: one module, one download,
// instead of two copies.
import { readFileSync, writeFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { transformSync } from 'esbuild';
import { execFileSync } from 'node:child_process';

const pkg = resolve(import.meta.dirname, '..', 'pkg');

function pointSnippetsAtPkg(glue) {
  const path = join(pkg, glue);
  const text = readFileSync(path, 'utf8');
  const snippet = /from '\.\/snippets\/[^']+\/js\/([^']+\.js)'/g;
  if (!snippet.test(text)) throw new Error(`${glue}: no import of a js/ snippet (js/values.js) to repoint`);
  writeFileSync(path, text.replace(snippet, (whole, file) => {
    // The copy in pkg/ (made by build.sh) is the module the capture layer already imports.
    if (!existsSync(join(pkg, file))) throw new Error(`${glue}: imports the snippet js/${file}, which build.sh does not copy into pkg/`);
    return `from './${file}'`;
  }));
}

/**
 * Shortens the browser wasm's import names, import module and export names (wasm-opt
 * `--minify-imports-and-exports-and-modules`: 3.4 KB less gzipped wasm, and a shorter glue) and
 * rewrites the glue to the new names. Every old name must be found in the glue exactly where
 * wasm-bindgen writes it (an import object key, a `wasm.` property), and none may be left: a
 * glue of another shape stops the build rather than shipping a wasm it cannot load.
 */
function minifyWasmNames(wasmFile, glue) {
  const wasmPath = join(pkg, wasmFile);
  const gluePath = join(pkg, glue);
  const out = execFileSync(join(pkg, '..', 'node_modules/.bin/wasm-opt'), [
    '--enable-bulk-memory', '--enable-sign-ext', '--enable-mutable-globals',
    '--enable-nontrapping-float-to-int', '--enable-reference-types', '--enable-multivalue',
    '--minify-imports-and-exports-and-modules', wasmPath, '-o', wasmPath,
  ], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const map = JSON.parse(out.slice(out.indexOf('{')));
  let text = readFileSync(gluePath, 'utf8');
  const replaceAll = (pattern, to, what) => {
    let n = 0;
    text = text.replace(pattern, (...m) => { n++; return to(...m); });
    if (n === 0) throw new Error(`${glue}: ${what} not found to rename`);
  };
  const modules = new Set();
  for (const [module, base, short] of map.imports) {
    modules.add(module);
    replaceAll(new RegExp(`(?<![\\w$.])${base}(?=: function\\b)`, 'g'), () => short, `import ${base}`);
  }
  const [module] = modules;
  if (modules.size !== 1) throw new Error(`${wasmFile}: imports from ${modules.size} modules, expected one`);
  // The module the wasm now imports from is named by the first import's new module name.
  const shortModule = readShortModule(wasmPath);
  replaceAll(new RegExp(`"${module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}": import0`, 'g'),
    () => `${JSON.stringify(shortModule)}: import0`, `import module ${module}`);
  for (const [name, short] of map.exports) {
    // An export the glue never names (`__abort_handler`, `__instance_terminated`) has no
    // caller to rewrite.
    if (!text.includes(name)) continue;
    replaceAll(new RegExp(`\\bwasm\\.${name}(?![\\w$])`, 'g'), () => `wasm.${short}`, `export ${name}`);
  }
  for (const [, base] of map.imports) {
    if (new RegExp(`(?<![\\w$])${base}(?![\\w$])`).test(text)) throw new Error(`${glue}: ${base} is still named after renaming`);
  }
  writeFileSync(gluePath, text);
}

/** The module name of the first import of a wasm file (read from its import section). */
function readShortModule(path) {
  const bytes = readFileSync(path);
  let at = 8;
  const u32 = () => { let r = 0, shift = 0, b; do { b = bytes[at++]; r += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80); return r; };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = u32();
    if (id === 2) {
      u32(); // import count
      const len = u32();
      return bytes.subarray(at, at + len).toString('utf8');
    }
    at += size;
  }
  throw new Error(`${path}: no import section`);
}

minifyWasmNames('runledger_core_bg.wasm', 'runledger_core.js');
pointSnippetsAtPkg('runledger_core.js');
// `RUNLEDGER_BUILD=start` (npm start) builds the browser glue only.
if (existsSync(join(pkg, 'runledger_node.js'))) pointSnippetsAtPkg('runledger_node.js');
if (existsSync(join(pkg, 'snippets'))) rmSync(join(pkg, 'snippets'), { recursive: true });

const browserModules = ['browser.js', 'api.js', 'values.js', 'runledger_core.js',
  ...readdirSync(join(pkg, 'capture')).filter((f) => f.endsWith('.js')).map((f) => `capture/${f}`)];
for (const file of browserModules) {
  const path = join(pkg, file);
  const { code } = transformSync(readFileSync(path, 'utf8'), {
    loader: 'js', format: 'esm', minify: true, legalComments: 'none', sourcefile: file,
  });
  writeFileSync(path, code);
}
console.error(`[build] minified ${browserModules.length} browser modules in pkg/`);

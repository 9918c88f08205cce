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

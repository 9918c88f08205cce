// The browser bundle section: what a page downloads from pkg/ (every module reachable from
// pkg/browser.js, plus the wasm it fetches), each file compressed alone (gzip -9 and brotli 11,
// as a server compresses them), against Dexie and OpenTelemetry; and what each part of the wasm
// costs (bench/wasm-parts.mjs on the browser build with its names, which scripts/build.sh keeps).
// `node bench/run.mjs --only bundle` runs it alone and rewrites the per-part table in
// docs/benchmarks.md between its markers.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { dirname, join, relative, resolve } from 'node:path';
import { wasmParts } from './wasm-parts.mjs';

const root = resolve(import.meta.dirname, '..');
const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length;
const brotli = (bytes) => brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;

/** The files a browser loads for `import … from 'runledger'`: the module graph of pkg/browser.js and the wasm. */
export function browserFiles() {
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s*(?:[^'"`;]*?from\s*)?["'](\.{1,2}\/[^"']+)["']/g)) {
      visit(resolve(dirname(path), m[1]));
    }
  };
  visit(join(root, 'pkg/browser.js'));
  const wasm = join(root, 'pkg/runledger_core_bg.wasm');
  if (!existsSync(wasm)) throw new Error('pkg/runledger_core_bg.wasm is missing: run scripts/build.sh first');
  return [...seen, wasm].map((p) => relative(root, p)).sort();
}

/** Sizes of the bundle (raw, gzip -9, brotli 11, each file alone) and of the anchors. */
export function bundleSizes() {
  const files = browserFiles().map((file) => {
    const bytes = readFileSync(join(root, file));
    return { file, raw: bytes.length, gzip: gzip(bytes), brotli: brotli(bytes) };
  });
  const sum = (key) => files.reduce((s, f) => s + f[key], 0);
  const dexie = readFileSync(join(root, 'node_modules/dexie/dist/dexie.min.js'));
  const otel = join(root, 'bench/otel.bundle.js');
  return {
    files, runledgerRaw: sum('raw'), runledgerGzip: sum('gzip'), runledgerBrotli: sum('brotli'),
    dexieGzip: gzip(dexie), dexieBrotli: brotli(dexie),
    otelGzip: existsSync(otel) ? gzip(readFileSync(otel)) : undefined,
  };
}

const START = '<!-- bench:bundle-parts:start (bench/run.mjs --only bundle writes this block) -->';
const END = '<!-- bench:bundle-parts:end -->';

/** The markdown block for docs/benchmarks.md: files and parts of the wasm. */
export function bundleMarkdown(sizes, parts) {
  const n = (v) => v.toLocaleString('en-US');
  const lines = [START, '',
    `Generated ${new Date().toISOString().slice(0, 10)} by \`node bench/run.mjs --only bundle\` after \`bash scripts/build.sh\`.`, '',
    `The files a browser loads (each compressed alone): **${n(sizes.runledgerGzip)} B gzip -9, ${n(sizes.runledgerBrotli)} B brotli**, ` +
    `${(sizes.runledgerGzip / sizes.dexieGzip).toFixed(1)}× Dexie's dexie.min.js (${n(sizes.dexieGzip)} B gzip, ${n(sizes.dexieBrotli)} B brotli).`, '',
    '| file | raw | gzip -9 | brotli |', '|---|---|---|---|',
    ...sizes.files.map((f) => `| ${f.file} | ${n(f.raw)} | ${n(f.gzip)} | ${n(f.brotli)} |`), '',
    `What each part of the browser wasm costs (${n(parts.fileBytes)} B with names, ${n(parts.functions)} functions; ` +
    'parts sorted by function name, gzip is of the part\'s bodies compressed together, so the column sums to more than the file):', '',
    '| part | functions | raw bytes | gzip -9 |', '|---|---|---|---|',
    ...parts.rows.map((r) => `| ${r.part} | ${n(r.functions)} | ${n(r.rawBytes)} | ${n(r.gzipBytes)} |`), '', END];
  return lines.join('\n');
}

/** The section: sizes, parts, and the table written into docs/benchmarks.md. */
export function bundleSection({ writeDocs = true } = {}) {
  const sizes = bundleSizes();
  const names = join(root, 'target/bundle/runledger_core_names_bg.wasm');
  const parts = wasmParts(names);
  if (writeDocs) {
    const docs = join(root, 'docs/benchmarks.md');
    const text = readFileSync(docs, 'utf8');
    const start = text.indexOf(START);
    const end = text.indexOf(END);
    if (start < 0 || end < start) throw new Error(`docs/benchmarks.md has no bundle-parts markers (${START})`);
    writeFileSync(docs, text.slice(0, start) + bundleMarkdown(sizes, parts) + text.slice(end + END.length));
  }
  const rows = [['bundle, every file a browser loads (bytes gzip -9)', sizes.runledgerGzip,
    { 'Dexie (dexie.min.js)': sizes.dexieGzip, ...(sizes.otelGzip ? { 'OpenTelemetry sdk-trace-base + api (esbuild, minified)': sizes.otelGzip } : {}) }, 'lower'],
  ['bundle, every file a browser loads (bytes brotli 11)', sizes.runledgerBrotli, { 'Dexie (dexie.min.js)': sizes.dexieBrotli }, 'lower']];
  return { sizes, parts, rows };
}

// The hand-written types (js/index.d.ts, shipped as pkg/index.d.ts) against the package as
// it runs: every export of both entries (pkg/node.js, pkg/browser.js) is typed, everything
// typed as a value exists in both, and the same holds for the Tracker's methods and
// properties. Read with the TypeScript compiler's own checker. Needs pkg/ (scripts/build.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../..');
const TYPES = join(ROOT, 'pkg/index.d.ts');

// Runtime members of Tracker.prototype that are not API: the capture layer's entry points
// into the core (js/capture/) and a trap hook for tests/node/trap.test.mjs. (wasm-bindgen's
// `free`, which releases the wasm object without closing, is removed: checked below.)
const INTERNAL = (name) => name.startsWith('__') || name === 'constructor';

/** Compiles index.d.ts alone under `strict` with these `lib`s; fails on any diagnostic. */
function compile(lib) {
  const program = ts.createProgram([TYPES], {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler, lib,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  assert.deepEqual(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), [],
    `index.d.ts compiles under strict with lib ${lib}`);
  return program;
}

test('the types compile under strict, with the newest lib and with an older one', () => {
  compile(['lib.esnext.d.ts', 'lib.dom.d.ts']);
  compile(['lib.es2022.d.ts']);
});

function typed() {
  const program = compile(['lib.esnext.d.ts', 'lib.dom.d.ts']);
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(TYPES));
  const exports = checker.getExportsOfModule(module);
  const values = exports.filter((s) => s.flags & ts.SymbolFlags.Value).map((s) => s.name).sort();
  const tracker = exports.find((s) => s.name === 'Tracker');
  const members = checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(tracker))
    .map((s) => s.name.replace(/^__@(\w+)@\d+$/, 'Symbol.$1')).sort();
  const statics = checker.getPropertiesOfType(checker.getTypeOfSymbolAtLocation(tracker, tracker.valueDeclaration))
    .map((s) => s.name).filter((n) => n !== 'prototype').sort();
  return { values, members, statics };
}

function runtimeMembers(Tracker) {
  const members = [];
  for (const key of Reflect.ownKeys(Tracker.prototype)) {
    if (key === Symbol.asyncDispose) members.push('Symbol.asyncDispose');
    else if (key === Symbol.dispose) members.push('Symbol.dispose');
    else if (typeof key === 'symbol') members.push(String(key));
    else if (!INTERNAL(key)) members.push(key);
  }
  return members.sort();
}

for (const entry of ['node.js', 'browser.js']) {
  test(`pkg/${entry}: every export is typed and everything typed exists`, async () => {
    assert.ok(existsSync(TYPES), 'pkg/ is missing: run scripts/build.sh first');
    const lib = await import(pathToFileURL(join(ROOT, 'pkg', entry)).href);
    const types = typed();
    assert.deepEqual(Object.keys(lib).sort(), types.values, 'the value exports agree (no initSync, no glue)');
    const members = runtimeMembers(lib.Tracker);
    assert.deepEqual(members, types.members,
      'Tracker members agree: no per-call wasm methods, no test hooks in the types');
    const statics = Object.getOwnPropertyNames(lib.Tracker)
      .filter((n) => typeof lib.Tracker[n] === 'function' && n !== 'openFile' && !INTERNAL(n)).sort();
    assert.deepEqual(statics, types.statics, 'static methods agree (openFile is the Node entry\'s inside)');
    for (const old of ['startRun', 'startNode', 'endNode', 'addOutput', 'setExternalId', 'finishRun', '__injectWriteFailure']) {
      assert.equal(lib.Tracker.prototype[old], undefined, `${old} is gone from the prototype`);
    }
    assert.equal(lib.Tracker.prototype[Symbol.dispose], undefined, 'no synchronous dispose that would free without closing');
    assert.equal(lib.Tracker.prototype.free, undefined, 'no free() that would release the wasm object without closing');
    assert.ok(!types.members.includes('free'), 'free is not typed either');
  });
}

test('await using closes the tracker: its store is released and a last sync is tried', async () => {
  const { Tracker } = await import(pathToFileURL(join(ROOT, 'pkg/node.js')).href);
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'runledger-dispose-'));
  try {
    let id;
    {
      // What `await using tracker = await Tracker.open(…)` runs at the end of its block.
      const tracker = await Tracker.open({ name: 'dispose', path: dir });
      const run = tracker.start({ workflowId: 'disposed' });
      run.succeed();
      id = run.id;
      await tracker[Symbol.asyncDispose]();
      assert.throws(() => tracker.start({}), (e) => /closed/i.test(e.message), 'closed: recording throws');
    }
    // The folder's lock was released, and what was recorded was flushed.
    const again = await Tracker.open({ name: 'dispose', path: dir });
    assert.equal((await again.get(id))?.status, 'success');
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

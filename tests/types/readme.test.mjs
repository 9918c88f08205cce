// Every ```js and ```ts block of README.md, type-checked under `strict` against the shipped
// types (pkg/index.d.ts) and run, as a user would, against the packed package (`npm pack`,
// installed into a fresh project) and the real server binary.
//
// A block that is a fragment names what it uses from earlier blocks in a marker comment on
// the line before it, which this file reads:
//
//   <!-- readme-check: given=tracker,render -->       names from PRELUDES below
//   <!-- readme-check: run=no (why it cannot run) -->  type-checked only; the reason is required
//
// Python and curl blocks are run by tests/server/readme-examples.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { sqlite, startServer } from '../server/engines.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const API_KEY = 'team-key';

/** What a fragment may be given: its declarations for the type check, its code for a run. */
const PRELUDES = {
  Tracker: {
    types: "import { Tracker } from 'runledger';",
    run: "import { Tracker } from 'runledger';",
  },
  tracker: {
    types: "import { Tracker } from 'runledger';\ndeclare const tracker: Tracker;",
    run: "import { Tracker } from 'runledger';\nconst tracker = await Tracker.open({ storage: 'memory' });",
    end: 'await tracker.close();',
  },
  run: {
    types: "import type { Run } from 'runledger';\ndeclare const run: Run;\ndeclare const more: string[];",
    run: "const run = tracker.start({ workflowId: 'readme' });\nconst more = ['second', 'third'];",
    needs: ['tracker'],
  },
  // Node's globals: the package has no dependency on @types/node, so the one used is declared.
  process: {
    types: 'declare const process: { env: Record<string, string | undefined> };',
    run: '',
  },
  render: {
    types: "import type { SyncState } from 'runledger';\ndeclare function render(state: SyncState): void;",
    run: 'const render = (state) => void state;',
  },
};

/** The README's js/ts blocks: their line, code and marker. */
function blocks() {
  const found = [];
  const lines = README.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(js|ts)\s*$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    const markerLine = lines[i - 1]?.match(/^<!-- readme-check: (.*) -->$/)?.[1] ?? '';
    const marker = Object.fromEntries(markerLine.split(/;\s*/).filter(Boolean).map((part) => {
      const at = part.indexOf('=');
      return [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    }));
    const given = marker.given ? marker.given.split(',').map((g) => g.trim()) : [];
    const withNeeds = [...new Set(given.flatMap((g) => [...(PRELUDES[g]?.needs ?? []), g]))];
    found.push({ line: i + 1, lang: open[1], code: lines.slice(i + 1, end).join('\n'), given: withNeeds, run: marker.run ?? 'node' });
    i = end;
  }
  return found;
}

const BLOCKS = blocks();
let project;
let server;
let db;

test('the README has its code blocks, each with a known marker', () => {
  assert.ok(BLOCKS.length >= 6, `found ${BLOCKS.length} js/ts blocks`);
  for (const b of BLOCKS) {
    for (const g of b.given) assert.ok(PRELUDES[g], `README.md:${b.line}: unknown given \`${g}\``);
    assert.ok(b.run === 'node' || /^no \(.{10,}\)$/.test(b.run), `README.md:${b.line}: run=${b.run}: 'node' or 'no (the reason)'`);
  }
});

test('every README block type-checks under strict against the shipped types', () => {
  assert.ok(existsSync(join(ROOT, 'pkg/index.d.ts')), 'pkg/ is missing: run scripts/build.sh first');
  const dir = mkdtempSync(join(tmpdir(), 'runledger-readme-types-'));
  try {
    const files = BLOCKS.map((b) => {
      const file = join(dir, `readme-${b.line}.ts`);
      const prelude = b.given.map((g) => PRELUDES[g].types).join('\n');
      writeFileSync(file, `${prelude}\n${b.code}\nexport {};\n`);
      return file;
    });
    const program = ts.createProgram(files, {
      strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022,
      moduleResolution: ts.ModuleResolutionKind.Bundler, lib: ['lib.esnext.d.ts', 'lib.dom.d.ts'],
      types: [], paths: { runledger: [join(ROOT, 'pkg/index.d.ts')] },
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(/.*readme-(\d+)\.ts$/, 'README.md block at line $1')}` : '';
      const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : null;
      return `${where}${at ? ` (its line ${at.line + 1})` : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    assert.deepEqual(problems, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describeRuns();

function describeRuns() {
  before(async () => {
    project = mkdtempSync(join(tmpdir(), 'runledger-readme-run-'));
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', project], { cwd: ROOT, encoding: 'utf8' })
      .trim().split('\n').pop();
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'readme-user', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', join(project, packed)], { cwd: project });
    db = sqlite();
    server = await startServer(['--db', db.url, '--api-key', API_KEY]);
  });
  after(async () => {
    await server?.stop();
    await db?.stop();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  for (const b of BLOCKS.filter((x) => x.run === 'node')) {
    test(`README.md block at line ${b.line} runs in Node against the packed package and the real server`, async () => {
      const prelude = b.given.map((g) => PRELUDES[g].run).join('\n');
      const end = b.given.map((g) => PRELUDES[g].end ?? '').join('\n');
      // The README's addresses are the user's; here they are the test server's.
      // A ts block runs as the JavaScript tsc makes of it (Node 20 runs no TypeScript).
      const body = b.lang === 'ts'
        ? ts.transpileModule(b.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
        : b.code;
      const code = `${prelude}\n${body}\n${end}\n`
        .replaceAll('http://127.0.0.1:8787', server.base)
        .replaceAll('https://ingest.example.com', server.base);
      const dir = mkdtempSync(join(project, 'block-'));
      writeFileSync(join(dir, 'block.mjs'), code);
      const ran = spawnSync(process.execPath, ['block.mjs'], {
        cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RUNLEDGER_KEY: API_KEY },
      });
      assert.equal(ran.status, 0, `README.md:${b.line} exited ${ran.status} (signal ${ran.signal}):\n${ran.stderr}\n${ran.stdout}`);
      for (const check of AFTER_RUN[b.line] ?? []) await check();
    });
  }
}

/** What a block that syncs must have left on the server, by the block's first line. */
const AFTER_RUN = {};
for (const b of BLOCKS) {
  if (b.code.includes("workflowId: 'export'")) {
    AFTER_RUN[b.line] = [async () => {
      const r = await fetch(`${server.base}/api/v1/executions?workflow_id=export`, { headers: { authorization: `Bearer ${API_KEY}` } });
      const page = await r.json();
      assert.equal(page.items?.length, 1, `the Node quick start's log() reached the server: ${JSON.stringify(page)}`);
      assert.equal(page.items[0].status, 'failed');
    }];
  }
}

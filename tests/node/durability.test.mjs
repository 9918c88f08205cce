// The Node file store's durability under real failures (issue 14): a disk that fills up
// (a real 2 MiB tmpfs), a byte flipped in the middle of a 1,000-record log, and several
// processes racing to take over a lock left by a dead process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker } from '../../pkg/node.js';

const fixture = (name) => join(import.meta.dirname, 'fixtures', name);

async function allIds(tracker) {
  const ids = new Set();
  let cursor;
  do {
    const page = await tracker.history({ limit: 1000, cursor });
    for (const e of page.items) ids.add(e.id);
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

/** Mounts a tmpfs of `size` on a fresh folder (we run as root; CI does too). */
function smallDisk(size) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`this test needs to mount a ${size} tmpfs (run it as root): ${e.stderr || e.message}`);
  }
  return {
    dir,
    unmount() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One finished run with a payload of about `bytes` bytes. */
function bigRun(tracker, i, bytes) {
  const run = tracker.start({ workflowId: 'fill', startedAt: Date.UTC(2026, 0, 1) + i * 1000 });
  run.node({ id: 'n', name: 'load' }, { i, blob: 'x'.repeat(bytes) }).succeed({ ok: true });
  run.succeed();
  return run.id;
}

test('a full disk (a real 2 MiB tmpfs): flush() rejects typed, nothing confirmed is lost, and writing resumes once there is room', async () => {
  const disk = smallDisk('2m');
  let tracker;
  try {
    const path = join(disk.dir, 'store');
    // Half the disk goes to a file we delete later, to make room again.
    writeFileSync(join(disk.dir, 'filler'), Buffer.alloc(1024 * 1024));
    tracker = await Tracker.open({ path, retention: false, maxValueBytes: 1 << 20 });
    const errors = [];
    tracker.on('error', (e) => errors.push(e));
    const confirmed = [];
    let failure = null;
    const unconfirmed = [];
    for (let i = 0; i < 200 && failure === null; i++) {
      const id = bigRun(tracker, i, 20_000);
      try {
        await tracker.flush();
        confirmed.push(id);
      } catch (e) {
        failure = e;
        unconfirmed.push(id);
      }
    }
    assert.ok(failure, 'the disk never filled up');
    assert.ok(confirmed.length > 10, `only ${confirmed.length} records fit`);
    assert.equal(failure.name, 'QuotaExceededError', `${failure.name}: ${failure.message}`);
    assert.match(failure.message, /ENOSPC/);
    assert.match(failure.message, /rolled back/);
    // Still full: another flush fails the same way, and the records stay queued.
    assert.ok(tracker.pending > 0);
    await assert.rejects(tracker.flush(), (e) => e.name === 'QuotaExceededError');

    rmSync(join(disk.dir, 'filler'));
    await tracker.flush(); // room again: the queued records go in
    assert.equal(tracker.pending, 0);
    for (let i = 1000; i < 1005; i++) confirmed.push(bigRun(tracker, i, 20_000));
    await tracker.flush();
    confirmed.push(...unconfirmed); // their flush resolved just above
    await tracker.close();
    tracker = null;

    const again = await Tracker.open({ path, retention: false });
    try {
      assert.deepEqual(again.warnings, [], 'the log reopens without damage');
      const stored = await allIds(again);
      for (const id of confirmed) {
        assert.ok(stored.has(id), `confirmed record ${id} is missing after reopening`);
        const full = await again.get(id);
        assert.equal(full.nodes[0].input.blob.length, 20_000);
      }
    } finally {
      await again.close();
    }
  } finally {
    await tracker?.close().catch(() => {});
    disk.unmount();
  }
});

/** Frame offsets of a log, by walking its length headers. */
function frameStarts(bytes) {
  const starts = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8 + bytes.readUInt32LE(at)) starts.push(at);
  return starts;
}

test('one flipped byte at 10% of a 1,000-record log costs one record, with a warning', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'runledger-middamage-')), 'store');
  const tracker = await Tracker.open({ path, retention: false });
  for (let i = 0; i < 1000; i++) {
    tracker.log({ workflowId: 'wf', status: 'success', startedAt: Date.UTC(2026, 0, 1) + i * 1000, completedAt: Date.UTC(2026, 0, 1) + i * 1000 + 5 });
  }
  await tracker.close();

  const log = join(path, 'runledger.log');
  const bytes = readFileSync(log);
  const starts = frameStarts(bytes);
  assert.equal(starts.length, 1001, 'a header and one frame per record');
  const at = starts[101] + 20; // inside the frame of the 101st record, 10% into the log
  bytes[at] ^= 0x5a;
  writeFileSync(log, bytes);

  const damaged = await Tracker.open({ path, retention: false });
  const events = [];
  damaged.on('warning', (w) => events.push(w));
  try {
    assert.equal((await allIds(damaged)).size, 999);
    assert.equal(damaged.warnings.length, 1);
    assert.match(damaged.warnings[0], /checksum mismatch/);
    assert.match(damaged.warnings[0], new RegExp(`at byte ${starts[101]}`));
    assert.match(damaged.warnings[0], /resumed at the next valid frame/);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, damaged.warnings);
    const saved = readdirSync(path).find((f) => f.startsWith(`runledger.log.damaged-`) && f.endsWith(`-at-${starts[101]}`));
    assert.ok(saved, 'the damaged bytes are kept beside the log');
    assert.deepEqual(readFileSync(join(path, saved)), bytes.subarray(starts[101], starts[102]));
  } finally {
    await damaged.close();
  }
  const again = await Tracker.open({ path, retention: false });
  assert.deepEqual(again.warnings, [], 'the log was rewritten without the damaged frame');
  assert.equal((await allIds(again)).size, 999);
  await again.close();
});

/** A child process that says "loaded", waits for "go", then tries to open the store. */
function racer(path) {
  const proc = spawn(process.execPath, [fixture('lock-racer.mjs'), path], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  let buffered = '';
  let stderr = '';
  proc.stdout.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, lines, exited, stderr: () => stderr };
}

async function until(predicate, what, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The pid of a process that has exited. */
async function deadPid() {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid;
}

test('processes racing to take over a lock naming a dead pid: exactly one owner, every trial', async () => {
  const TRIALS = 15;
  const RACERS = 4;
  for (let trial = 0; trial < TRIALS; trial++) {
    const path = join(mkdtempSync(join(tmpdir(), 'runledger-lockrace-')), 'store');
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'runledger.lock'), JSON.stringify({ pid: await deadPid(), startedAt: Date.now(), host: hostname() }));
    const racers = Array.from({ length: RACERS }, () => racer(path));
    try {
      await until(() => racers.every((r) => r.lines.includes('loaded')), `trial ${trial}: the racers to load`);
      for (const r of racers) r.proc.stdin.write('go\n');
      await until(() => racers.every((r) => r.lines.some((l) => l === 'owner' || l.startsWith('busy'))),
        `trial ${trial}: every racer to open or fail`);
      const owners = racers.filter((r) => r.lines.includes('owner'));
      assert.equal(owners.length, 1, `trial ${trial}: ${owners.length} processes own the store at once`);
      for (const r of racers.filter((x) => !x.lines.includes('owner'))) {
        const busy = r.lines.find((l) => l.startsWith('busy'));
        assert.match(busy, /^busy StoreError: .*in use by process/, `trial ${trial}: ${busy}`);
      }
      for (const r of owners) r.proc.stdin.write('release\n');
      for (const r of racers) assert.equal(await r.exited, 0, r.stderr());
    } finally {
      for (const r of racers) r.proc.kill();
    }
    const leftovers = readdirSync(path).filter((f) => f.includes('.lock'));
    assert.deepEqual(leftovers, [], `trial ${trial}: lock files left behind`);
  }
});

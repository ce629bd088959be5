import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveFile } from '../../batch/archive/index.js';
import { type BatchRunner, type BatchVersion, readManifest, versionLayout } from '../../batch/recompute/index.js';
import { isBraidError } from '../../shared/errors.js';
import { compileView } from '../../shared/views/index.js';
import { archivePosition, testArchive, writeTestArchive, type TestRecord } from '../support/recompute-archive.js';
import { tableDifferences } from '../support/recompute-compare.js';
import { TestEvents, valuesProfile } from '../support/events.js';
import { dedupeReference, equivalenceViews, foldReference } from '../support/recompute-events.js';
import { createTestRunner, currentFile, versionsDir, type TestRunnerSetup } from '../support/recompute-runner.js';

const views = equivalenceViews;
let root: string;
let records: TestRecord[];
let files: ArchiveFile[];
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'braid-recompute-runner-'));
  records = new TestEvents(99, { profile: valuesProfile }).records(3_000, 3);
  files = await writeTestArchive(path.join(root, 'archive'), records, 400);
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

function setup(): TestRunnerSetup {
  return { dataDir: path.join(root, `data-${++n}`), archiveDir: path.join(root, 'archive'), files };
}

/** The TypeScript fold of the archive below the setup's snapshot: what a version must hold. */
function expectedTables(s: TestRunnerSetup, windowMs = 60_000) {
  return foldReference(views, dedupeReference(records, s.snapshot ?? archivePosition(s.files), windowMs));
}

function expectTablesEqual(version: BatchVersion | undefined, expected: ReturnType<typeof expectedTables>) {
  expect(version).toBeDefined();
  for (const view of views) expect(tableDifferences(version!.tables.get(view.def.name)!, expected.get(view.def.name)!), view.def.name).toEqual([]);
}

/** A runner over a fresh data directory that has published version 1. */
async function publishedRunner() {
  const s = setup();
  const runner = await createTestRunner(s, views);
  await runOnce(runner);
  return { s, runner };
}

async function runOnce(runner: BatchRunner) {
  const info = await runner.wait(runner.start('api').id);
  expect(info.error).toBeUndefined();
  expect(info.state).toBe('succeeded');
  return info;
}

describe('batch runner', () => {
  it('publishes a version with its snapshot, the views loaded as ViewTables', async () => {
    const s = setup();
    s.snapshot = { 0: 500, 1: 700, 2: archivePosition(files)[2]! };
    const runner = await createTestRunner(s, views);
    const published: number[] = [];
    runner.onPublished((v) => published.push(v.version));
    expect(runner.current()).toBeUndefined();
    const info = await runOnce(runner);
    expect(info).toMatchObject({ version: 1, snapshot: s.snapshot, progress: { viewsDone: views.length, viewsTotal: views.length } });
    expect(info.progress.recordsRead).toBe(records.filter((r) => r.offset < s.snapshot![r.partition]!).length);

    const current = JSON.parse(await readFile(currentFile(s.dataDir), 'utf8'));
    expect(current).toMatchObject({ version: 1, snapshot: { 0: 500, 1: 700, 2: s.snapshot[2] } });
    const manifest = await readManifest(versionLayout(s.dataDir), 1);
    expect(Object.keys(manifest.views).sort()).toEqual(views.map((v) => v.def.name).sort());
    expect(await readdir(path.join(versionsDir(s.dataDir), '0000000001'))).toEqual(expect.arrayContaining(['version.json', 'pages.parquet', 'codes.parquet']));
    expect(runner.current()?.version).toBe(1);
    expectTablesEqual(runner.current(), expectedTables(s));
    expect(published).toEqual([1]);
    await runner.close();
  });

  it('publishes an empty version over an empty archive', async () => {
    const s = { ...setup(), files: [] };
    const runner = await createTestRunner(s, views);
    expect(await runOnce(runner)).toMatchObject({ version: 1, snapshot: {}, progress: { recordsRead: 0, duplicates: 0 } });
    expect([...runner.current()!.tables.values()].map((t) => t.size)).toEqual(views.map(() => 0));
    await runner.close();
  });

  it('keeps keepVersions versions and deletes older ones', async () => {
    const s = setup();
    const runner = await createTestRunner(s, views, { keepVersions: 2 });
    for (let i = 1; i <= 4; i++) {
      s.snapshot = { 0: 200 * i, 1: 200 * i };
      expect((await runOnce(runner)).version).toBe(i);
    }
    expect(await readdir(versionsDir(s.dataDir))).toEqual(['0000000003', '0000000004']);
    expect(JSON.parse(await readFile(currentFile(s.dataDir), 'utf8')).version).toBe(4);
    expectTablesEqual(runner.current(), expectedTables(s));
    await runner.close();
  });

  it('never overlaps runs: a second start is refused while one is going', async () => {
    const s = setup();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const archive = testArchive(s.archiveDir, () => s.files);
    const runner = await createTestRunner(s, views, { archive: { ...archive, lease: archive.lease, waitFor: () => gate } });
    const first = runner.start('schedule');
    await new Promise((r) => setTimeout(r, 20));
    expect(runner.getRun(first.id)?.state).toBe('waiting_for_archive');
    let refused: unknown;
    try {
      runner.start('api');
    } catch (err) {
      refused = err;
    }
    expect(isBraidError(refused, 'run_in_progress')).toBe(true);
    expect((refused as { status: number }).status).toBe(409);
    open();
    expect((await runner.wait(first.id)).state).toBe('succeeded');
    expect((await runOnce(runner)).version).toBe(2);
    expect(runner.runs().map((r) => r.trigger)).toEqual(['api', 'schedule']);
    await runner.close();
  });

  it('a failing run leaves the previous version serving', async () => {
    const { s, runner } = await publishedRunner();
    const before = await readFile(currentFile(s.dataDir), 'utf8');
    const served = runner.current();

    // A corrupt file in the snapshot, then a missing one.
    const corrupt = path.join(s.archiveDir, 'partition=9', 'corrupt.parquet');
    await mkdir(path.dirname(corrupt), { recursive: true });
    await writeFile(corrupt, 'PAR1 this is not parquet');
    for (const bad of [{ path: 'partition=9/corrupt.parquet' }, { path: 'partition=9/missing.parquet' }]) {
      s.files = [...files, { ...bad, partition: 9, from: 0, to: 10, records: 10, bytes: 24, sha256: '0'.repeat(64) }];
      const info = await runner.wait(runner.start('api').id);
      expect(info.state).toBe('failed');
      expect(info.error).toMatch(/parquet/i);
      expect(await readFile(currentFile(s.dataDir), 'utf8')).toBe(before);
      expect(runner.current()).toBe(served);
      expect(await readdir(versionsDir(s.dataDir))).toEqual(['0000000001']);
    }

    // A snapshot the archive does not cover fails too, and the next good run publishes.
    s.files = files;
    s.snapshot = { 0: 1_000_000 };
    expect((await runner.wait(runner.start('api').id)).error).toMatch(/archive reaches offset/);
    s.snapshot = undefined;
    expect((await runOnce(runner)).version).toBe(2);
    await runner.close();
  });

  it('reloads the published version from disk at create()', async () => {
    const { s, runner: first } = await publishedRunner();
    const before = first.current()!;
    await first.close();

    const second = await createTestRunner(s, views);
    const after = second.current()!;
    expect(after).toMatchObject({ version: before.version, snapshot: before.snapshot, createdAt: before.createdAt });
    for (const view of views) expect(tableDifferences(after.tables.get(view.def.name)!, before.tables.get(view.def.name)!)).toEqual([]);
    await second.close();

    // A view whose definition changed since is loaded with the definition the version
    // stored (view evolution: served until a run computes the new one), never decoded
    // with the new one.
    const changed = compileView({ ...views[0]!.def, granularity: 'hour' });
    const third = await createTestRunner(s, [changed, ...views.slice(1)]);
    const kept = third.current()!.tables.get(changed.def.name)!;
    expect(kept.view.version).toBe(views[0]!.version);
    expect(kept.view.version).not.toBe(changed.version);
    expect(tableDifferences(kept, before.tables.get(changed.def.name)!)).toEqual([]);
    expect(third.current()!.tables.size).toBe(views.length);
    await third.close();
  });

  it('removes what an interrupted run left at create()', async () => {
    const { s, runner } = await publishedRunner();
    await runner.close();
    const dir = versionsDir(s.dataDir);
    await mkdir(path.join(dir, '.tmp-0000000002'));
    await writeFile(path.join(dir, '.tmp-0000000002', 'pages.parquet'), 'half');
    await mkdir(path.join(dir, '0000000003')); // sealed but never published
    await mkdir(path.join(s.dataDir, 'batch', 'tmp'));
    const again = await createTestRunner(s, views);
    expect(await readdir(dir)).toEqual(['0000000001']);
    expect(await readdir(path.join(s.dataDir, 'batch'))).toEqual(expect.not.arrayContaining(['tmp']));
    expect((await runOnce(again)).version).toBe(2);
    await again.close();
  });

  it('close() stops a run; the published version stays', async () => {
    const { s, runner } = await publishedRunner();
    const archive = testArchive(s.archiveDir, () => s.files);
    const stuck = await createTestRunner(s, views, { archive: { ...archive, lease: archive.lease, waitFor: (_p, signal) => new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason))) } });
    await runner.close();
    const run = stuck.start('cli');
    await stuck.close();
    expect(stuck.getRun(run.id)).toMatchObject({ state: 'failed' });
    expect(stuck.current()?.version).toBe(1);
    expect(() => stuck.start('api')).toThrow(/closed/);
  });

  it('rejects a measure named like one of its dimensions at create()', async () => {
    // parseViews refuses it too (test/unit/views.test.ts); the runner guards views built in code.
    const clash = compileView({ name: 'clash', events: ['x'], where: {}, granularity: 'day', dimensions: ['key'], measures: { key: { kind: 'count' } } });
    await expect(createTestRunner(setup(), [clash])).rejects.toThrow(/measure "key" has the name of one of its dimensions/);
  });
});

describe('incremental batch runs', () => {
  /** Snapshots rising through the archive, some partitions standing still between two of them. */
  function chainOfSnapshots(): Array<Record<number, number>> {
    const end = archivePosition(files);
    const at = (f: number) => Object.fromEntries(Object.entries(end).map(([p, n]) => [p, Math.floor(n * f)]));
    return [at(0.2), { ...at(0.35), 1: at(0.2)[1]! }, at(0.5), at(0.51), at(0.8), at(0.8), end];
  }

  for (const windowMs of [60_000, 5_000, Infinity]) {
    it(`a chain of incremental runs equals a full run state for state (dedupe window ${windowMs === Infinity ? 'forever' : `${windowMs} ms`})`, async () => {
      const s = setup();
      const runner = await createTestRunner(s, views, { dedupeWindowMs: windowMs });
      const modes: string[] = [];
      let previous: Record<number, number> | undefined;
      for (const snapshot of chainOfSnapshots()) {
        s.snapshot = snapshot;
        const info = await runOnce(runner);
        modes.push(info.mode!);
        // An incremental run reads the records of its range, not the history before it.
        const inRange = records.filter((r) => r.offset < snapshot[r.partition]! && r.offset >= (previous?.[r.partition] ?? 0)).length;
        expect(info.progress.recordsRead).toBe(inRange);
        expectTablesEqual(runner.current(), expectedTables(s, windowMs));
        previous = snapshot;
      }
      expect(modes).toEqual(['full', ...Array(chainOfSnapshots().length - 1).fill('incremental')]);
      const manifest = await readManifest(versionLayout(s.dataDir), runner.current()!.version);
      expect(manifest.mode).toBe('incremental');
      // An empty range (the repeated snapshot) adds no delta.
      expect(manifest.views.pages!.deltas).toHaveLength(chainOfSnapshots().length - 2);
      const chained = runner.current()!;

      const full = await runner.wait(runner.start('api', { full: true }).id);
      expect(full).toMatchObject({ state: 'succeeded', mode: 'full', fullBecause: 'a full run was asked for' });
      expect(full.progress.recordsRead).toBe(records.length);
      expect(runner.current()!.snapshot).toEqual(chained.snapshot);
      for (const view of views) expect(tableDifferences(runner.current()!.tables.get(view.def.name)!, chained.tables.get(view.def.name)!), view.def.name).toEqual([]);
      await runner.close();

      // Loaded from disk, the chain (the full run's file and each delta merged in order) is what was served.
      const again = await createTestRunner(s, views, { dedupeWindowMs: windowMs });
      expectTablesEqual(again.current(), expectedTables(s, windowMs));
      await again.close();
    });
  }

  it('reads only the files the window reaches before its range', async () => {
    const s = setup();
    const runner = await createTestRunner(s, views, { dedupeWindowMs: 5_000 });
    const end = archivePosition(files);
    s.snapshot = Object.fromEntries(Object.entries(end).map(([p, n]) => [p, n - 10]));
    await runOnce(runner);
    s.snapshot = end;
    await runOnce(runner);
    // It read the earlier records in the window's reach: the last file of each partition
    // (400 records each here) or two where the range starts at a file's start, not the history.
    const info = runner.runs()[0]!;
    expect(info).toMatchObject({ mode: 'incremental', progress: { recordsRead: 30 } });
    expect(info.progress.windowRecords).toBeGreaterThan(0);
    expect(info.progress.windowRecords).toBeLessThanOrEqual(3 * 2 * 400);
    expect(info.progress.windowRecords).toBeLessThan(records.length / 2);
    expectTablesEqual(runner.current(), expectedTables(s, 5_000));
    await runner.close();
  });

  it('is full when asked, without a version, after a definition or window change, and after batch.maxDeltas deltas', async () => {
    const s = setup();
    const end = archivePosition(files);
    const step = (k: number) => Object.fromEntries(Object.entries(end).map(([p, n]) => [p, Math.min(n, 100 * k)]));
    const runner = await createTestRunner(s, views, { maxDeltas: 2 });
    const run = async (k: number, full = false) => {
      s.snapshot = step(k);
      const info = await runner.wait(runner.start('api', { full }).id);
      expect(info.state).toBe('succeeded');
      return [info.mode, info.fullBecause];
    };
    expect(await run(1)).toEqual(['full', 'there is no version yet']);
    expect(await run(2)).toEqual(['incremental', undefined]);
    expect(await run(3)).toEqual(['incremental', undefined]);
    expect(await run(4)).toEqual(['full', 'the version holds batch.maxDeltas (2) incremental runs']);
    expect(await run(5)).toEqual(['incremental', undefined]);
    expect(await run(6, true)).toEqual(['full', 'a full run was asked for']);
    await runner.close();

    const changed = compileView({ ...views[0]!.def, granularity: 'hour' });
    const evolved = await createTestRunner(s, [changed, ...views.slice(1)]);
    s.snapshot = step(7);
    expect(await evolved.wait(evolved.start('api').id)).toMatchObject({ state: 'succeeded', mode: 'full', fullBecause: `view "${changed.def.name}" changed` });
    await evolved.close();

    const rewindowed = await createTestRunner(s, [changed, ...views.slice(1)], { dedupeWindowMs: 30_000 });
    s.snapshot = step(8);
    expect(await rewindowed.wait(rewindowed.start('api').id)).toMatchObject({ state: 'succeeded', mode: 'full', fullBecause: 'the dedupe window changed' });
    await rewindowed.close();
  });
});

describe('batch runner over more data than its memory', () => {
  it('spills with a 64MB memory limit and computes what a roomy run computes', async () => {
    const big = new TestEvents(4, { profile: valuesProfile }).records(250_000, 2);
    const archiveDir = path.join(root, 'big-archive');
    const bigFiles = await writeTestArchive(archiveDir, big, 50_000);
    const small = { dataDir: path.join(root, 'big-small'), archiveDir, files: bigFiles };
    const roomy = { dataDir: path.join(root, 'big-roomy'), archiveDir, files: bigFiles };
    const tight = await createTestRunner(small, views, { memoryLimit: '64MB', threads: 2 });
    const loose = await createTestRunner(roomy, views, { memoryLimit: '2GB' });
    const tightRun = await runOnce(tight);
    await runOnce(loose);
    expect(tightRun.spilledBytes).toBeGreaterThan(0);
    for (const view of views) {
      const name = view.def.name;
      expect(tableDifferences(tight.current()!.tables.get(name)!, loose.current()!.tables.get(name)!), name).toEqual([]);
    }
    await tight.close();
    await loose.close();
  });
});

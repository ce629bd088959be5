import { copyFile, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ARCHIVE_COLUMNS, Archiver, fileName, MANIFEST_FILE, readManifest } from '../../batch/archive/index.js';
import type { ArchiverOptions, Manifest } from '../../batch/archive/index.js';
import { DemoGenerator } from '../../shared/demo/generator.js';
import { isBraidError } from '../../shared/errors.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { KafkaLog } from '../../shared/log/kafka/index.js';
import type { EventLog, Position } from '../../shared/log/types.js';
import { tempDirPerTest, topicsPerFile } from '../support/archive-fixtures.js';
import { expectArchived, expectContiguous, filesOnDisk, parquetColumns, readParquetRows } from '../support/archive-read.js';

const brokers = inject('kafkaBrokers').split(',');
const newTopic = topicsPerFile(brokers);
const PARTITIONS = 3;

/** A fresh, empty log of PARTITIONS partitions; closed by the test's cleanup. */
type OpenLog = (root: string) => Promise<EventLog>;

const openEmbedded: OpenLog = (root) => EmbeddedLog.open({ dir: path.join(root, 'log'), partitions: PARTITIONS });
// Each log with the default writer (rows made and written in a worker thread); the embedded
// log also with the files written on the event loop (archive.writeThreads: 0).
const logs: [string, OpenLog, Partial<ArchiverOptions>][] = [
  ['embedded log, files written in a thread', openEmbedded, {}],
  ['embedded log, files written on the event loop', openEmbedded, { writeThreads: 0 }],
  [
    'kafka log',
    () => KafkaLog.open({ brokers, topic: newTopic('braid-archive'), partitions: PARTITIONS, clientId: 'braid-archive-test' }),
    {},
  ],
];

describe.each(logs)('archive on the %s', (_, openLog, writerOptions) => {
  const root = tempDirPerTest('braid-archive-');
  let dir: string;
  let log: EventLog;
  let generator: DemoGenerator;
  const archivers: Archiver[] = [];

  beforeEach(async () => {
    dir = path.join(root(), 'archive');
    log = await openLog(root());
    generator = new DemoGenerator({ seed: 7 });
  });

  afterEach(async () => {
    await Promise.all(archivers.splice(0).map((a) => a.stop()));
    await log.close();
  });

  async function archiver(options: Partial<ArchiverOptions> = {}): Promise<Archiver> {
    const a = await Archiver.create({ log, dir, flushRecords: 200, flushIntervalMs: 50, compactMinFiles: 1_000, ...writerOptions, ...options });
    archivers.push(a);
    return a;
  }

  async function append(n: number): Promise<Position> {
    for (let i = 0; i < n; i += 250) await log.append(generator.records(Math.min(250, n - i), Date.now()));
    return log.endPosition();
  }

  /** Reads the snapshot's files and compares them with the log up to the snapshot's position. */
  async function expectArchiveMatchesLog(a: Archiver): Promise<void> {
    const snapshot = a.lease();
    try {
      await expectArchived(snapshot.paths, log, snapshot.position);
    } finally {
      snapshot.release();
    }
  }

  /** A first archiver that archives `n` new records and stops; returns the log's end. */
  async function archiveAndStop(n: number): Promise<Position> {
    const first = await archiver();
    first.start();
    const end = await append(n);
    await first.waitFor(end);
    await first.stop();
    return end;
  }

  async function manifest(): Promise<Manifest> {
    const m = await readManifest(dir);
    if (!m) throw new Error(`no ${MANIFEST_FILE} in ${dir}`);
    return m;
  }

  it('catches up with a growing log and holds exactly its records, in contiguous ranges', async () => {
    const a = await archiver();
    a.start();
    await append(1_000);
    const end = await append(2_000); // appended while the archiver reads
    await a.waitFor(end);

    const snapshot = a.lease();
    expect(snapshot.position).toEqual(end);
    expect(a.position()).toEqual(end);
    expect(snapshot.files.length).toBeGreaterThan(PARTITIONS); // flushRecords 200: several files per partition
    await expectArchived(snapshot.paths, log, end);
    expect(await parquetColumns(snapshot.paths)).toEqual(ARCHIVE_COLUMNS.map(([name, type]) => [name, type]));
    snapshot.release();

    const onDisk = await manifest();
    expect(expectContiguous(onDisk)).toEqual(end);
    expect(await filesOnDisk(dir)).toEqual(onDisk.files.map((f) => f.path).sort());
    expect(a.stats()).toMatchObject({ state: 'running', files: onDisk.files.length, records: 3_000, buffered: 0 });
  });

  it('resumes from the manifest after a restart, keeping the files it wrote', async () => {
    const end1 = await archiveAndStop(1_000);
    const before = await manifest();

    const end2 = await append(1_000);
    const second = await archiver();
    expect(second.position()).toEqual(end1);
    second.start();
    await second.waitFor(end2);

    const after = await manifest();
    expect(after.generation).toBeGreaterThan(before.generation);
    for (const file of before.files) expect(after.files).toContainEqual(file);
    for (let p = 0; p < PARTITIONS; p++) {
      const newFiles = after.files.filter((f) => f.partition === p && !before.files.some((b) => b.path === f.path));
      expect(newFiles[0]?.from).toBe(end1[p]);
    }
    expect(expectContiguous(after)).toEqual(end2);
    await expectArchiveMatchesLog(second);
  });

  it('ignores and removes files the manifest does not list, as a crash leaves them', async () => {
    const end1 = await archiveAndStop(600);
    const listed = (await manifest()).files;

    // A crash can leave: a torn file under the next range's name, a whole file with records
    // already archived under another name, a temp file, a half-written manifest.
    const p0 = path.join(dir, 'partition=0');
    await writeFile(path.join(dir, fileName(0, end1[0]!, end1[0]! + 5)), 'torn');
    await copyFile(path.join(dir, listed[0]!.path), path.join(dir, fileName(0, end1[0]!, end1[0]! + 1_000)));
    await writeFile(path.join(p0, `${path.basename(fileName(0, end1[0]!, end1[0]! + 7))}.tmp`), 'half');
    await mkdir(path.join(dir, 'partition=1'), { recursive: true });
    await writeFile(path.join(dir, `${MANIFEST_FILE}.12345.tmp`), '{"generation": 99, "files": [');

    const end2 = await append(600);
    const second = await archiver();
    second.start();
    await second.waitFor(end2);
    const after = await manifest();
    expect(await filesOnDisk(dir)).toEqual(after.files.map((f) => f.path).sort());
    expect(await readFile(path.join(dir, `${MANIFEST_FILE}.12345.tmp`)).catch(() => 'gone')).toBe('gone');
    expect(expectContiguous(after)).toEqual(end2);
    await expectArchiveMatchesLog(second);
  });

  it('compacts small files into one, and deletes them only once no snapshot holds them', async () => {
    // Files only when a waitFor asks: one per partition per step.
    const a = await archiver({ flushRecords: 1_000_000, flushIntervalMs: 600_000, compactMinFiles: 4, compactTargetRecords: 100_000 });
    a.start();
    const step = async () => a.waitFor(await append(150));

    for (let i = 0; i < 3; i++) await step();
    const held = a.lease();
    expect(held.files).toHaveLength(3 * PARTITIONS);
    const heldRows = await readParquetRows(held.paths);
    await expectArchived(held.paths, log, held.position);

    await step(); // the fourth file of each partition starts a compaction
    await expect.poll(() => a.stats().compactions, { timeout: 10_000 }).toBe(PARTITIONS);
    await step();
    await step();
    const current = await manifest();
    expect(a.stats().compactions).toBe(PARTITIONS);
    // Per partition: the four first files merged into one, then files 5 and 6.
    expect(current.files).toHaveLength(3 * PARTITIONS);
    for (let p = 0; p < PARTITIONS; p++) {
      const merged = current.files.find((f) => f.partition === p)!;
      const parts = held.files.filter((f) => f.partition === p);
      expect(merged.from).toBe(0);
      expect(merged.records).toBeGreaterThan(parts.reduce((sum, f) => sum + f.records, 0));
    }
    expect(expectContiguous(current)).toEqual(await log.endPosition());
    await expectArchiveMatchesLog(a);

    // The held snapshot still reads the same records from its (now replaced) files; the
    // replaced fourth files, which no snapshot holds, are gone already.
    const heldPaths = held.files.map((f) => f.path);
    expect(await filesOnDisk(dir)).toEqual([...new Set([...current.files.map((f) => f.path), ...heldPaths])].sort());
    expect(await readParquetRows(held.paths)).toEqual(heldRows);

    held.release();
    await expect.poll(() => filesOnDisk(dir)).toEqual(current.files.map((f) => f.path).sort());
    held.release(); // a second release changes nothing
  });

  it('flushes early for a waiter, and rejects waiters when stopped, aborted or given bad partitions', async () => {
    const a = await archiver({ flushIntervalMs: 600_000 });
    a.start();
    const end = await append(100);
    await a.waitFor(end); // 100 records per partition at most: below flushRecords, so only the waiter flushes
    expect(a.position()).toEqual(end);

    const abort = new AbortController();
    const aborted = a.waitFor({ 0: end[0]! + 1 }, abort.signal);
    abort.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });

    const bad = await a.waitFor({ [PARTITIONS]: 1 }).catch((e: unknown) => e);
    expect(isBraidError(bad, 'invalid_parameter')).toBe(true);

    // Handled from the start: stop() rejects it before it has closed the writing thread.
    const pending = a.waitFor({ 0: end[0]! + 1 }).catch((e: unknown) => e);
    await a.stop();
    const err = await pending;
    expect(isBraidError(err, 'not_ready')).toBe(true);
    expect(a.stats().state).toBe('stopped');
  });

  it.each([
    ['is not JSON', 'not json', /not JSON/],
    ['has data that is not JSON (found by DuckDB)', '{"id":"a","type":"t","time":1,"data":{"x":}}', /data is not a JSON object/],
  ])('stops with log_corrupt at a record that %s, archiving nothing from it on', async (_, value, problem) => {
    const a = await archiver();
    a.start();
    await append(300);
    const [bad] = await log.append([{ key: 'user-1', value: Buffer.from(value) }]);
    await append(50);
    const err = await a.waitFor(await log.endPosition()).catch((e: unknown) => e);
    expect(isBraidError(err, 'log_corrupt')).toBe(true);
    expect((err as Error).message).toMatch(problem);
    expect((err as Error).message).toContain(`offset ${bad!.offset} of partition ${bad!.partition}`);
    expect(a.stats().state).toBe('failed');
    await a.stop();
    expect(a.position()[bad!.partition]).toBeLessThanOrEqual(bad!.offset);
  });
});

describe('archive checks at start', () => {
  const tmp = tempDirPerTest('braid-archive-');

  async function archiveSome(logDir: string, archiveDir: string, partitions: number): Promise<void> {
    const log = await EmbeddedLog.open({ dir: logDir, partitions });
    const a = await Archiver.create({ log, dir: archiveDir, flushIntervalMs: 10 });
    a.start();
    await a.waitFor(await log.append(new DemoGenerator().records(100, Date.now())).then(() => log.endPosition()));
    await a.stop();
    await log.close();
  }

  it('refuses an archive made from another log: other partition count, or offsets the log lacks', async () => {
    const archiveDir = path.join(tmp(), 'archive');
    await archiveSome(path.join(tmp(), 'log-a'), archiveDir, 2);

    const other = await EmbeddedLog.open({ dir: path.join(tmp(), 'log-b'), partitions: 3 });
    const partitionsErr = await Archiver.create({ log: other, dir: archiveDir }).catch((e: unknown) => e);
    await other.close();
    expect(isBraidError(partitionsErr, 'invalid_config')).toBe(true);
    expect((partitionsErr as Error).message).toMatch(/has 2 partitions but the log has 3/);

    const empty = await EmbeddedLog.open({ dir: path.join(tmp(), 'log-c'), partitions: 2 });
    const aheadErr = await Archiver.create({ log: empty, dir: archiveDir }).catch((e: unknown) => e);
    await empty.close();
    expect(isBraidError(aheadErr, 'invalid_config')).toBe(true);
    expect((aheadErr as Error).message).toMatch(/covers offsets the log does not have/);
  });

  it.each([
    ['is missing', async (file: string) => rm(file)],
    ['has a flipped byte', async (file: string) => {
      const bytes = await readFile(file);
      bytes[bytes.length >> 1]! ^= 0x40;
      await writeFile(file, bytes);
    }],
    ['is cut short', async (file: string) => truncate(file, 100)],
  ])('archives a listed file that %s again from the log when it opens', async (_what, damage) => {
    const logDir = path.join(tmp(), 'log');
    const archiveDir = path.join(tmp(), 'archive');
    await archiveSome(logDir, archiveDir, 1);
    const listed = (await readManifest(archiveDir))!.files;
    await damage(path.join(archiveDir, listed[0]!.path));

    const log = await EmbeddedLog.open({ dir: logDir, partitions: 1 });
    try {
      const a = await Archiver.create({ log, dir: archiveDir });
      const lease = a.lease();
      try {
        expect(lease.files.map((f) => f.path)).toEqual(listed.map((f) => f.path));
        await expectArchived(lease.paths, log, lease.position);
      } finally {
        lease.release();
        await a.stop();
      }
    } finally {
      await log.close();
    }
  });

  it('refuses a damaged file the log can no longer give again, with archive_corrupt naming it', async () => {
    const logDir = path.join(tmp(), 'log');
    const archiveDir = path.join(tmp(), 'archive');
    await archiveSome(logDir, archiveDir, 1);
    const listed = (await readManifest(archiveDir))!.files;
    await rm(path.join(archiveDir, listed[0]!.path));
    // A log that lost its first records (what retention will allow): the file cannot be made again.
    const full = await EmbeddedLog.open({ dir: logDir, partitions: 1 });
    const shortened = Object.create(full, {
      read: { value: (options: Parameters<typeof full.read>[0]) => full.read({ ...options, from: { 0: (options?.from?.[0] ?? 0) + 1 } }) },
    }) as typeof full;
    const err = await Archiver.create({ log: shortened, dir: archiveDir }).catch((e: unknown) => e);
    await full.close();
    expect(isBraidError(err, 'archive_corrupt')).toBe(true);
    expect((err as Error).message).toContain(listed[0]!.path);
    expect((err as Error).message).toMatch(/no longer holds its \d+ records/);
  });

  it('rejects invalid options with invalid_config naming the option', async () => {
    const log = await EmbeddedLog.open({ dir: path.join(tmp(), 'log'), partitions: 1 });
    const err = await Archiver.create({ log, dir: path.join(tmp(), 'archive'), compactMinFiles: 1 }).catch((e: unknown) => e);
    await log.close();
    expect(isBraidError(err, 'invalid_config')).toBe(true);
    expect((err as Error).message).toContain('compactMinFiles');
  });
});

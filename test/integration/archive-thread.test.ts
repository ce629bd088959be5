import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadedWriter, packRecords, unpackRecords } from '../../batch/archive/write-thread.js';
import { ParquetWriter } from '../../batch/archive/parquet-writer.js';
import { isBraidError } from '../../shared/errors.js';
import { WorkerPool } from '../../shared/threads/pool.js';
import { tempDirPerTest } from '../support/archive-fixtures.js';
import { readParquetRows } from '../support/archive-read.js';

const pools: WorkerPool<string, string>[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('the archive writing thread (archive.writeThreads)', () => {
  const root = tempDirPerTest('braid-archive-thread-');

  it('packs records into transferable arrays and unpacks them unchanged', () => {
    const record = fc.record({
      partition: fc.integer({ min: 0, max: 1_000 }),
      offset: fc.maxSafeNat(),
      appendTime: fc.integer({ min: 0, max: 2 ** 45 }),
      value: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 40 }), fc.nat(), (records, cut) => {
        const count = records.length === 0 ? 0 : cut % (records.length + 1);
        const packed = packRecords(records, count);
        // Plain arrays the thread can take: nothing from Buffer's shared pool.
        expect(packed.bytes.byteOffset).toBe(0);
        expect(packed.bytes.buffer.byteLength).toBe(packed.bytes.byteLength);
        expect(unpackRecords(structuredClone(packed)).map((r) => ({ ...r, value: [...r.value] }))).toEqual(
          records.slice(0, count).map((r) => ({ ...r, value: [...r.value] })),
        );
      }),
    );
  });

  it('writes the same rows as the event loop writer, and keeps log_corrupt with its words', async () => {
    // An id with a quote (every fifth) takes row.ts' JSON.parse path; the others its scan.
    const stored = (i: number) => Buffer.from(JSON.stringify({ id: i % 5 ? `e${i}` : `e"${i}`, type: 'page_view', time: 1_000 + i, ...(i % 2 ? { key: `u${i % 3}` } : {}), data: { n: i, s: 'é\\' } }));
    const records = Array.from({ length: 3_000 }, (_, i) => ({ partition: 1, offset: 10 + i, appendTime: 5_000 + i, value: stored(i) }));
    const options = { tempDir: path.join(root(), 'tmp'), memoryLimit: '256MB', threads: 1 };
    const loop = await ParquetWriter.create(options);
    const thread = await ThreadedWriter.open(options);
    try {
      await loop.write(records, records.length, path.join(root(), 'loop.parquet'));
      await thread.write(records, records.length, path.join(root(), 'thread.parquet'));
      const rows = await readParquetRows([path.join(root(), 'thread.parquet')]);
      expect(rows).toHaveLength(3_000);
      expect(rows).toEqual(await readParquetRows([path.join(root(), 'loop.parquet')]));

      const bad = [...records.slice(0, 5), { partition: 1, offset: 15, appendTime: 1, value: Buffer.from('not json') }];
      const err = await thread.write(bad, bad.length, path.join(root(), 'bad.parquet')).catch((e: unknown) => e);
      expect(isBraidError(err, 'log_corrupt')).toBe(true);
      expect((err as Error).message).toContain('the record at offset 15 of partition 1 is not a braid event');
      // The thread goes on writing after a refused file.
      await thread.write(records, 10, path.join(root(), 'after.parquet'));
      expect(await readParquetRows([path.join(root(), 'after.parquet')])).toEqual(rows.slice(0, 10));
    } finally {
      loop.close();
      await thread.close();
      await thread.close(); // idempotent
    }
  });

  it('a thread that dies fails only its own job, and a new thread takes the next', async () => {
    const pool = new WorkerPool<string, string>({ file: new URL('../../shared/threads/bootstrap.mjs', import.meta.url), module: '../../test/support/exiting-worker.ts', size: 1, maxQueue: 4, name: 'test jobs' });
    pools.push(pool);
    expect(await pool.run('a')).toBe('done a');
    await expect(pool.run('exit')).rejects.toThrow(/test jobs: a worker thread exited/);
    expect(await pool.run('b')).toBe('done b');
    expect(pool.spawned).toBe(2);
  });
});

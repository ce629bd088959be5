import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBraidError } from '../../shared/errors.js';
import {
  defaultEmbeddedLogOptions,
  EmbeddedLog,
  type EmbeddedLogIo,
  type EmbeddedLogOpenOptions,
} from '../../shared/log/embedded/index.js';
import type { Appended, LogRecord, Position } from '../../shared/log/types.js';
import { collectBatches, fixtureFrom, json, logContract, parse, place, readAll, readRange, startTail, type LogFixture } from '../support/log-contract.js';

function embedded(options: Omit<EmbeddedLogOpenOptions, 'dir'>): () => Promise<LogFixture> {
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'braid-log-'));
    return fixtureFrom(
      () => EmbeddedLog.open({ dir, ...options }),
      () => rm(dir, { recursive: true, force: true }),
    );
  };
}

logContract('embedded, 1 partition', embedded({ partitions: 1 }));
logContract('embedded, 4 partitions', embedded({ partitions: 4 }));
// Tiny segments and index intervals: the same behaviour across many segment rolls.
logContract(
  'embedded, 4 partitions, 4 KiB segments',
  embedded({ partitions: 4, segmentBytes: 4096, indexIntervalBytes: 256, readChunkBytes: 1024 }),
);
// Every read from the files (no tail cache), and a cache of a few commits that reads cross in and out of.
logContract('embedded, 4 partitions, no tail cache', embedded({ partitions: 4, tailCacheBytes: 0 }));
logContract('embedded, 4 partitions, 2 KiB tail cache', embedded({ partitions: 4, segmentBytes: 4096, indexIntervalBytes: 256, readChunkBytes: 1024, tailCacheBytes: 2048 }));

describe('embedded log', () => {
  let dir: string;
  const logs: EmbeddedLog[] = [];
  const open = async (options: Omit<EmbeddedLogOpenOptions, 'dir'> = {}) => {
    const log = await EmbeddedLog.open({ dir, ...options });
    logs.push(log);
    return log;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'braid-log-'));
  });

  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to reopen a log with another partition count', async () => {
    await (await open({ partitions: 4 })).close();
    const err = await open({ partitions: 2 }).catch((e: unknown) => e);
    expect(isBraidError(err, 'invalid_config')).toBe(true);
    expect((err as Error).message).toContain('has 4 partitions');
    // The refused open released the lock: the right count still opens.
    expect((await open({ partitions: 4 })).partitions).toBe(4);
  });

  it('rejects invalid options with invalid_config naming the option', async () => {
    const err = await open({ segmentBytes: 10 }).catch((e: unknown) => e);
    expect(isBraidError(err, 'invalid_config')).toBe(true);
    expect((err as Error).message).toContain('segmentBytes');
  });

  it('rolls segments, indexes them, and reads from any offset, with or without the sidecar indexes', async () => {
    const options = { partitions: 1, segmentBytes: 2048, indexIntervalBytes: 256 };
    let log = await open(options);
    for (let call = 0; call < 50; call++) {
      await log.append(Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: json({ n: call * 10 + i }) })));
    }
    expect(log.segmentCounts()[0]).toBeGreaterThan(5);
    const files = await readdir(join(dir, 'partition-0'));
    const sealed = files.filter((f) => f.endsWith('.seg')).length - 1;
    expect(files.filter((f) => f.endsWith('.idx'))).toHaveLength(sealed);

    const checkReads = async () => {
      for (const from of [0, 1, 37, 199, 200, 201, 333, 499]) {
        const records = await readRange(log, { from: { 0: from }, until: { 0: Math.min(from + 25, 500) } });
        expect(records.map((r) => parse(r).n)).toEqual(range(from, Math.min(from + 25, 500)));
        expect(records.map((r) => r.offset)).toEqual(range(from, Math.min(from + 25, 500)));
      }
    };
    await checkReads();

    await log.close();
    log = await open(options); // loads the sealed segments from their sidecars
    await checkReads();
    await log.close();

    for (const f of files.filter((f) => f.endsWith('.idx'))) await rm(join(dir, 'partition-0', f));
    log = await open(options); // scans the sealed segments and writes the sidecars again
    await checkReads();
    expect((await readdir(join(dir, 'partition-0'))).filter((f) => f.endsWith('.idx'))).toHaveLength(sealed);
  });

  it('serves caught-up readers from the tail cache with exactly what the files hold, for any cache size and read pattern', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 25 }), // records per append call
        fc.integer({ min: 0, max: 8192 }), // tailCacheBytes
        fc.array(fc.record({ from: fc.nat(), span: fc.integer({ min: 1, max: 300 }), maxBatch: fc.integer({ min: 1, max: 64 }) }), { minLength: 1, maxLength: 6 }),
        async (calls, tailCacheBytes, reads) => {
          const sub = await mkdtemp(join(dir, 'p-'));
          const cached = await EmbeddedLog.open({ dir: join(sub, 'cached'), partitions: 2, segmentBytes: 4096, indexIntervalBytes: 256, readChunkBytes: 1024, tailCacheBytes });
          const files = await EmbeddedLog.open({ dir: join(sub, 'files'), partitions: 2, segmentBytes: 4096, indexIntervalBytes: 256, readChunkBytes: 1024, tailCacheBytes: 0 });
          try {
            let n = 0;
            for (const count of calls) {
              const batch = Array.from({ length: count }, () => ({ key: `k${n % 7}`, value: json({ n: n++, pad: 'x'.repeat(n % 50) }) }));
              await cached.append(batch);
              await files.append(batch);
            }
            const end = await cached.endPosition();
            expect(end).toEqual(await files.endPosition());
            const view = (r: LogRecord) => [r.partition, r.offset, r.key, r.value.toString('hex')];
            for (const { from, span, maxBatch } of reads) {
              const start = [from % (end[0]! + 1), from % (end[1]! + 1)] as const;
              const window = { from: { 0: start[0], 1: start[1] }, until: { 0: Math.min(end[0]!, start[0] + span), 1: Math.min(end[1]!, start[1] + span) }, maxBatch };
              const got = await collectBatches(cached.read(window));
              for (const batch of got) expect(batch.length).toBeLessThanOrEqual(maxBatch);
              expect(got.flat().map(view)).toEqual((await readRange(files, window)).map(view));
            }
            // A reader that tails from the end takes the next append from the cache, as the file has it.
            const next = { from: end, until: { 0: end[0]! + 3, 1: end[1]! + 3 } };
            const tailed = collectBatches(cached.read(next));
            const more = Array.from({ length: 12 }, (_, i) => ({ key: `k${i % 7}`, value: json({ n: n + i }) }));
            await cached.append(more);
            await files.append(more);
            // Partitions interleave in arrival order: compared in (partition, offset) order.
            const inOrder = (rs: LogRecord[]) => rs.map(view).sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
            expect(inOrder((await tailed).flat())).toEqual(inOrder(await readRange(files, next)));
          } finally {
            await cached.close();
            await files.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('drops erased and deleted records from the tail cache: an erasure reads as erased, a deletion as log_truncated', async () => {
    const log = await open({ partitions: 1, segmentBytes: 1024 });
    for (let call = 0; call < 20; call++) await log.append(Array.from({ length: 5 }, (_, i) => ({ key: i === 0 ? 'subject' : `k${call}`, value: json({ n: call * 5 + i, pad: 'p'.repeat(30) }) })));
    const before = await readAll(log);
    expect(before.filter((r) => r.key === 'subject')).toHaveLength(20);
    await log.erase('subject', await log.endPosition());
    const after = await readAll(log);
    expect(after).toHaveLength(100);
    expect(after.filter((r) => r.key === 'subject')).toHaveLength(0);
    expect(after.filter((r) => r.key.startsWith('k')).map((r) => parse(r).n)).toEqual(before.filter((r) => r.key.startsWith('k')).map((r) => parse(r).n));
    const start = (await log.deleteBefore({ 0: 90 }))[0]!;
    expect(start).toBeGreaterThan(0);
    const err = await readRange(log, { from: { 0: start - 1 }, until: { 0: 100 } }).catch((e: unknown) => e);
    expect(isBraidError(err, 'log_truncated')).toBe(true);
    expect((await readRange(log, { from: { 0: start }, until: { 0: 100 } })).map((r) => r.offset)).toEqual(range(start, 100));
  });

  it('group-commits the calls made while a write is in flight: one sync for many calls', async () => {
    let syncs = 0;
    const io: EmbeddedLogIo = { ...defaultEmbeddedLogOptions.io, sync: (file) => (syncs++, file.handle.datasync()) };
    const log = await open({ partitions: 1, io });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, call) => log.append([{ key: `k${call}`, value: json({ call }) }])),
    );
    expect(results.flat().map((a) => a.offset).sort((a, b) => a - b)).toEqual(range(0, 20));
    // Calls made in the same tick form one group.
    expect(syncs).toBe(1);
  });

  describe.each([
    ['a write fails halfway', 'write'],
    ['a sync fails', 'sync'],
  ] as const)('when %s', (_, failing) => {
    it('rejects the whole group with log_unavailable and leaves nothing of it, now or after reopening', async () => {
      // Fails one write or sync of partition 1; undoing it then succeeds.
      let armed = false;
      const io: EmbeddedLogIo = {
        write: async (file, data, position) => {
          const fail = armed && failing === 'write' && file.path.includes('partition-1');
          if (fail) armed = false;
          await defaultEmbeddedLogOptions.io.write(file, fail ? data.subarray(0, data.length >> 1) : data, position);
          if (fail) throw new Error('injected write failure');
        },
        sync: async (file) => {
          if (armed && failing === 'sync' && file.path.includes('partition-1')) {
            armed = false;
            throw new Error('injected sync failure');
          }
          await file.handle.datasync();
        },
      };
      const batch = (tag: string) => Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: json({ tag, i }) }));
      const log = await open({ partitions: 4, io });
      const first = await log.append(batch('first'));
      const end = await log.endPosition();

      armed = true;
      const failed = await Promise.allSettled([log.append(batch('failed-a')), log.append(batch('failed-b'))]);
      for (const f of failed) {
        expect(f.status).toBe('rejected');
        expect(isBraidError((f as PromiseRejectedResult).reason, 'log_unavailable')).toBe(true);
      }
      expect(await log.endPosition()).toEqual(end);
      expect((await readAll(log)).map((r) => parse(r).tag)).toEqual(batch('first').map(() => 'first'));

      expect(armed).toBe(false); // the failure did happen
      const after = await log.append(batch('after'));
      for (const a of after) expect(a.offset).toBeGreaterThanOrEqual(end[a.partition]!);
      await log.close();

      const reopened = await open({ partitions: 4 });
      expect(reopened.recovered).toEqual([]);
      const records = await readAll(reopened);
      expect(records.map(place).sort()).toEqual([...first, ...after].map(place).sort());
      expect(records.some((r) => String(parse(r).tag).startsWith('failed'))).toBe(false);
    });
  });

  it('stops appending with log_unavailable when a failed append cannot be undone', async () => {
    const io: EmbeddedLogIo = {
      ...defaultEmbeddedLogOptions.io,
      sync: () => Promise.reject(new Error('injected: the disk is gone')),
    };
    const log = await open({ partitions: 1, io });
    const first = await log.append([{ key: 'a', value: json({}) }]).catch((e: unknown) => e);
    expect(isBraidError(first, 'log_unavailable')).toBe(true);
    const second = await log.append([{ key: 'a', value: json({}) }]).catch((e: unknown) => e);
    expect(isBraidError(second, 'log_unavailable')).toBe(true);
    expect((second as Error).message).toContain('open it again');
  });

  it('refuses a second open of the same directory in this process with log_locked', async () => {
    const log = await open({ partitions: 1 });
    const err = await open({ partitions: 1 }).catch((e: unknown) => e);
    expect(isBraidError(err, 'log_locked')).toBe(true);
    expect((err as Error).message).toContain(String(process.pid));
    await log.close();
    expect((await open({ partitions: 1 })).partitions).toBe(1);
  });

  it('ends a bounded read that the close cuts short with log_closed, but a tail quietly', async () => {
    const log = await open({ partitions: 2 });
    await log.append([{ key: 'a', value: json({}) }]);
    const bounded = readRange(log, { until: { 0: 100, 1: 100 } }).catch((e: unknown) => e);
    const tail = startTail(log.read({ from: { 0: 0, 1: 0 } }));
    await tail.reached(1);
    await log.close();
    expect(isBraidError(await bounded, 'log_closed')).toBe(true);
    expect(await tail.done).toHaveLength(1);
    const err = await log.endPosition().catch((e: unknown) => e);
    expect(isBraidError(err, 'log_closed')).toBe(true);
  });

  it('finishes the appends accepted before close', async () => {
    const log = await open({ partitions: 2 });
    const pending = log.append([{ key: 'a', value: json({ n: 1 }) }]);
    await log.close();
    const [appended] = (await pending) as [Appended];
    const reopened = await open({ partitions: 2 });
    const records: LogRecord[] = await readAll(reopened);
    expect(records.map(place)).toEqual([place(appended)]);
  });

  it('rejects read positions outside the log with invalid_parameter', async () => {
    const log = await open({ partitions: 2 });
    for (const from of [{ 2: 0 }, { 0: -1 }, { 0: 1.5 }] as Position[]) {
      const err = await readRange(log, { from, until: { 0: 0, 1: 0 } }).catch((e: unknown) => e);
      expect(isBraidError(err, 'invalid_parameter')).toBe(true);
    }
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

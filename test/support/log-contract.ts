import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBraidError } from '../../shared/errors.js';
import { partitionFor } from '../../shared/log/partitioner.js';
import type { AppendInput, Appended, EventLog, LogRecord, Position } from '../../shared/log/types.js';

/**
 * What a log implementation hands the contract suite for each test.
 * `makeLog` must return a fresh, empty log (embedded: a new directory; Kafka: a new topic).
 */
export interface LogFixture {
  readonly log: EventLog;
  /**
   * Opens the same log again: embedded, the same directory (the test has closed `log`
   * first); Kafka, a new client on the same topic.
   */
  reopen(): Promise<EventLog>;
  /** Closes every log this fixture opened (close is idempotent) and removes its data. */
  cleanup(): Promise<void>;
}

/**
 * A fixture whose `reopen` calls `open` again and whose `cleanup` closes every log it
 * opened, then runs `remove` (delete the directory or topic).
 */
export async function fixtureFrom(open: () => Promise<EventLog>, remove: () => Promise<void> = async () => {}): Promise<LogFixture> {
  const opened: EventLog[] = [];
  const reopen = async () => {
    const log = await open();
    opened.push(log);
    return log;
  };
  return {
    log: await reopen(),
    reopen,
    cleanup: async () => {
      await Promise.all(opened.map((log) => log.close()));
      await remove();
    },
  };
}

/**
 * The behaviour every EventLog must show (docs/contract.md §2). Declares one `describe`
 * block; run it once per implementation and configuration.
 */
export function logContract(name: string, makeLog: () => Promise<LogFixture>): void {
  describe(`log contract: ${name}`, () => {
    let fx: LogFixture;
    let log: EventLog;

    beforeEach(async () => {
      fx = await makeLog();
      log = fx.log;
    });

    afterEach(async () => {
      await fx.cleanup();
    });

    it('starts empty, with an end position naming every partition', async () => {
      const end = await log.endPosition();
      expect(end).toEqual(positionOf(log.partitions, () => 0));
      expect(await readRange(log, { until: end })).toEqual([]);
    });

    it('places every record in partitionFor(key, partitions) and keeps each key in append order', async () => {
      const keys = ['user-1', 'user-2', 'device-ä-7', 'order-42', 'k', 'user-10', 'user-11', 'x'.repeat(200)];
      const appended: Appended[] = [];
      const inputs: AppendInput[] = [];
      for (let call = 0; call < 3; call++) {
        const batch = Array.from({ length: 60 }, (_, i) => {
          const key = keys[(i * 5 + call) % keys.length]!;
          return { key, value: json({ key, seq: call * 60 + i }) };
        });
        inputs.push(...batch);
        appended.push(...(await log.append(batch)));
      }
      inputs.forEach((input, i) => expect(appended[i]!.partition).toBe(partitionFor(input.key, log.partitions)));

      const records = await readAll(log);
      expect(records).toHaveLength(inputs.length);
      for (const key of keys) {
        const own = records.filter((r) => r.key === key);
        expect(new Set(own.map((r) => r.partition)).size).toBe(1);
        const seqs = own.map((r) => parse(r).seq as number);
        expect(seqs).toEqual(inputs.filter((r) => r.key === key).map((r) => parse(r).seq));
        expect(isIncreasing(own.map((r) => r.offset))).toBe(true);
      }
    });

    it('gives consecutive offsets per partition within one call and advances the end by the appended count', async () => {
      for (let call = 0; call < 2; call++) {
        const before = await log.endPosition();
        const batch = Array.from({ length: 50 }, (_, i) => ({ key: `key-${(i * 7) % 13}`, value: json({ call, i }) }));
        const appended = await log.append(batch);
        expect(appended).toHaveLength(batch.length);

        const expected = { ...before };
        appended.forEach((a) => {
          expect(a.offset).toBe(expected[a.partition]);
          expected[a.partition] = expected[a.partition]! + 1;
        });
        expect(await log.endPosition()).toEqual(expected);
      }
    });

    it('reads back exactly the bytes, keys, offsets and append times it acknowledged', async () => {
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = Buffer.alloc(200 * 1024, 0xab);
      big.write('tail', big.length - 4);
      const inputs: AppendInput[] = [
        { key: 'bin', value: allBytes },
        { key: 'empty', value: Buffer.alloc(0) },
        { key: 'big', value: big },
        { key: 'ünïcødé-🙂', value: Buffer.from('{"a":"ünïcødé-🙂"}') },
        ...Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 4}`, value: json({ i }) })),
      ];
      const appended = await log.append(inputs);
      const records = await readAll(log);

      expect(records).toHaveLength(inputs.length);
      const byPlace = new Map(records.map((r) => [place(r), r]));
      inputs.forEach((input, i) => {
        const record = byPlace.get(place(appended[i]!));
        expect(record, `record ${i}`).toBeDefined();
        expect(record!.key).toBe(input.key);
        expect(record!.appendTime).toBe(appended[i]!.appendTime);
        expect(Buffer.compare(record!.value, input.value)).toBe(0);
      });
    });

    it('stamps every record with an append time taken during the append', async () => {
      const before = Date.now();
      const appended = await log.append(Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: json({ i }) })));
      const after = Date.now();
      for (const a of appended) {
        expect(Number.isInteger(a.appendTime)).toBe(true);
        expect(a.appendTime).toBeGreaterThanOrEqual(before);
        expect(a.appendTime).toBeLessThanOrEqual(after);
      }
      const records = await readAll(log);
      expect(records.map((r) => r.appendTime).sort()).toEqual(appended.map((a) => a.appendTime).sort());
    });

    it('finds, per partition, the first offset appended at or after a time, or the end', async () => {
      const appended: Appended[] = [];
      for (let round = 0; round < 4; round++) {
        appended.push(...(await log.append(Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: json({ round, i }) })))));
        await new Promise((r) => setTimeout(r, 15)); // distinct append times between rounds
      }
      const end = await log.endPosition();
      const times = [...new Set(appended.map((a) => a.appendTime))].sort((a, b) => a - b);
      for (const time of [0, times[0]!, times[1]!, times[1]! + 1, times.at(-1)!, times.at(-1)! + 1]) {
        const at = await log.offsetsAt(Object.fromEntries(Array.from({ length: log.partitions }, (_, p) => [p, time])));
        for (let p = 0; p < log.partitions; p++) {
          // The records of p before the offset found were appended before the time, those from it not.
          const first = appended.filter((a) => a.partition === p && a.appendTime >= time).map((a) => a.offset);
          expect(at[p], `partition ${p} at ${time}`).toBe(first.length > 0 ? Math.min(...first) : end[p]);
        }
      }
      expect(await log.offsetsAt({})).toEqual({});
    });

    it('deletes records below a position and never one at or above it, and refuses reads from below its start', async () => {
      expect(await log.startPosition()).toEqual(positionOf(log.partitions, () => 0));
      const appended: Appended[] = [];
      for (let round = 0; round < 8; round++) {
        appended.push(...(await log.append(Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: json({ round, i, pad: 'x'.repeat(200) }) })))));
      }
      const end = await log.endPosition();
      const cut = positionOf(log.partitions, (p) => Math.floor((end[p] ?? 0) * 0.6));
      const start = await log.deleteBefore(cut);
      expect(await log.startPosition()).toEqual(start);
      for (let p = 0; p < log.partitions; p++) expect(start[p], `partition ${p}`).toBeLessThanOrEqual(cut[p]!);
      // Everything from the start on is there, byte for byte.
      const kept = await readRange(log, { from: start, until: end });
      const expected = appended.filter((a) => a.offset >= start[a.partition]!);
      expect(kept.map(place).sort()).toEqual(expected.map(place).sort());
      expect(kept.length).toBeGreaterThanOrEqual(appended.filter((a) => a.offset >= cut[a.partition]!).length);
      // Below the start: refused with log_truncated, not read from somewhere else.
      const below = Object.entries(start).find(([, o]) => o > 0);
      if (below) {
        const err = await readRange(log, { from: { ...start, [below[0]]: 0 }, until: end }).catch((e: unknown) => e);
        expect(isBraidError(err, 'log_truncated'), String(err)).toBe(true);
      }
      // Deleting less than is deleted already changes nothing; the end is unchanged.
      expect(await log.deleteBefore(positionOf(log.partitions, () => 0))).toEqual(start);
      expect(await log.endPosition()).toEqual(end);
      const reopened = await (async () => {
        await log.close();
        return fx.reopen();
      })();
      expect(await reopened.startPosition()).toEqual(start);
      expect(await readRange(reopened, { from: start, until: end })).toHaveLength(kept.length);
    });

    it('erases a key below a position: none of its records there can be read again, every other record it holds reads as before', async () => {
      const victim = 'victim-key';
      const originals = new Map<string, Buffer>();
      const keep = async (records: Array<{ key: string; value: Buffer }>) => {
        const appended = await log.append(records);
        appended.forEach((a, i) => originals.set(place(a), records[i]!.value));
        return appended;
      };
      for (let round = 0; round < 6; round++) {
        await keep(Array.from({ length: 30 }, (_, i) => (i % 7 === 3 ? { key: victim, value: json({ round, i, who: victim }) } : { key: `k${i}`, value: json({ round, i, pad: 'y'.repeat(100) }) })));
      }
      const until = await log.endPosition();
      const partition = partitionFor(victim, log.partitions);
      const victims = [...originals.values()].filter((v) => v.includes('victim-key')).length;
      // Appends while it erases, and the victim's records after `until`, stay.
      const [erased, later] = await Promise.all([log.erase(victim, until), keep(Array.from({ length: 20 }, (_, i) => ({ key: i % 2 ? victim : `k${i}`, value: json({ later: i }) })))]);
      expect(erased.partition).toBe(partition);
      expect(erased.records).toBe(victims);
      expect(victims).toBe(6 * 4);
      const check = async (l: EventLog) => {
        const start = await l.startPosition();
        const records = await readRange(l, { from: start, until: await l.endPosition() });
        for (const r of records) {
          if (r.key === victim || r.value.includes('victim-key')) {
            expect(r.offset, `${place(r)} of the erased key is at or after until`).toBeGreaterThanOrEqual(until[r.partition]!);
            continue;
          }
          if (r.partition === partition && r.offset < until[partition]! && parse(r).id === '') continue; // an erased event in place (embedded)
          expect(r.value.equals(originals.get(place(r))!), `${place(r)} reads as appended`).toBe(true);
        }
        for (const a of later) expect(records.some((r) => place(r) === place(a)), `${place(a)} appended meanwhile is there`).toBe(true);
        // Other partitions keep every record.
        for (let p = 0; p < l.partitions; p++) if (p !== partition) expect(start[p]).toBe(0);
        return records;
      };
      const records = await check(log);
      if (log.kind === 'embedded') {
        // Offsets and lengths kept: each erased record is an erased event of its original length.
        expect(records.filter((r) => r.partition === partition && r.offset < until[partition]!)).toHaveLength(until[partition]!);
        const gone = records.filter((r) => r.partition === partition && r.offset < until[partition]! && parse(r).type === '!');
        expect(gone).toHaveLength(erased.records);
        for (const r of gone) expect(r.value.length).toBe(originals.get(place(r))!.length);
      }
      // Idempotent, and the same after a reopen.
      expect((await log.erase(victim, until)).records).toBe(0);
      await log.close();
      const reopened = await fx.reopen();
      await check(reopened);
    });

    it('accepts an empty append and changes nothing', async () => {
      await log.append([{ key: 'a', value: json({ n: 1 }) }]);
      const before = await log.endPosition();
      expect(await log.append([])).toEqual([]);
      expect(await log.endPosition()).toEqual(before);
      expect(await readAll(log)).toHaveLength(1);
    });

    it('keeps everything across close and reopen, and appends after it', async () => {
      const inputs = Array.from({ length: 3 }, (_, call) =>
        Array.from({ length: 25 }, (_, i) => ({ key: `key-${i % 6}`, value: json({ call, i }) })),
      );
      const appended: Appended[] = [];
      for (const batch of inputs) appended.push(...(await log.append(batch)));
      const end = await log.endPosition();
      const before = await readAll(log);
      await log.close();

      const reopened = await fx.reopen();
      expect(reopened.partitions).toBe(log.partitions);
      expect(await reopened.endPosition()).toEqual(end);
      const after = await readAll(reopened);
      // Partitions may interleave differently from one read to the next: compare by place.
      expect(comparable(after)).toEqual(comparable(before));
      expect(after.map(place).sort()).toEqual(appended.map(place).sort());

      const more = await reopened.append([{ key: 'key-0', value: json({ call: 3 }) }]);
      expect(more[0]!.offset).toBe(end[more[0]!.partition]);
    });

    it('stores every record of concurrent appends exactly once, each call in its own order per key', async () => {
      const calls = Array.from({ length: 20 }, (_, call) =>
        Array.from({ length: 1 + ((call * 37) % 45) }, (_, i) => ({
          key: `key-${(call + i * 3) % 9}`,
          value: json({ call, i }),
        })),
      );
      const results = await Promise.all(calls.map((batch) => log.append(batch)));
      const total = calls.reduce((n, batch) => n + batch.length, 0);

      results.forEach((appended, call) => expect(appended).toHaveLength(calls[call]!.length));
      const end = await log.endPosition();
      expect(sum(end)).toBe(total);

      const records = await readAll(log);
      expect(records).toHaveLength(total);
      const byPlace = new Map(records.map((r) => [place(r), r]));
      expect(byPlace.size).toBe(total);
      const seen = new Set<string>();
      results.forEach((appended, call) => {
        appended.forEach((a, i) => {
          const record = byPlace.get(place(a));
          expect(parse(record!)).toEqual({ call, i });
          seen.add(`${call}/${i}`);
        });
        const keys = new Set(calls[call]!.map((r) => r.key));
        for (const key of keys) {
          const offsets = appended.filter((_, i) => calls[call]![i]!.key === key).map((a) => a.offset);
          expect(isIncreasing(offsets)).toBe(true);
        }
      });
      expect(seen.size).toBe(total);
    });

    it('reads from a position in the middle of the log', async () => {
      await log.append(Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: json({ part: 'a', i }) })));
      const middle = await log.endPosition();
      const later = await log.append(
        Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: json({ part: 'b', i }) })),
      );

      const records = await readRange(log, { from: middle, until: await log.endPosition() });
      expect(records.map(place).sort()).toEqual(later.map(place).sort());
      expect(records.every((r) => parse(r).part === 'b')).toBe(true);
    });

    it('ends a bounded read at `until`, in batches of at most maxBatch', async () => {
      await log.append(Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 7}`, value: json({ part: 'a', i }) })));
      const until = await log.endPosition();
      await log.append(Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 7}`, value: json({ part: 'b', i }) })));

      const batches = await collectBatches(log.read({ until, maxBatch: 7 }));
      expect(batches.every((b) => b.length >= 1 && b.length <= 7)).toBe(true);
      const records = batches.flat();
      expect(records).toHaveLength(40);
      expect(records.every((r) => parse(r).part === 'a')).toBe(true);
      assertOffsetOrder(records);

      expect(await readRange(log, { from: until, until })).toEqual([]);
    });

    it('waits in a bounded read until records up to `until` are appended', async () => {
      const start = await log.endPosition();
      const batch = Array.from({ length: 12 }, (_, i) => ({ key: `later-${i}`, value: json({ i }) }));
      const until = { ...start };
      for (const r of batch) until[partitionFor(r.key, log.partitions)]! += 1;

      const reading = readRange(log, { from: start, until });
      await log.append(batch.slice(0, 5));
      await log.append(batch.slice(5));
      const records = await reading;
      expect(records.map((r) => Number(parse(r).i)).sort((a, b) => a - b)).toEqual(batch.map((_, i) => i));
    });

    it('tails: a reader sees records appended after it started and ends when aborted', async () => {
      const from = await log.endPosition();
      const controller = new AbortController();
      const tail = startTail(log.read({ from, signal: controller.signal }));

      const appended: Appended[] = [];
      for (let call = 0; call < 3; call++) {
        appended.push(
          ...(await log.append(Array.from({ length: 10 }, (_, i) => ({ key: `t${i % 3}`, value: json({ call, i }) })))),
        );
      }
      await tail.reached(30);
      controller.abort();
      const records = await tail.done;

      expect(records.map(place).sort()).toEqual(appended.map(place).sort());
      assertOffsetOrder(records);
    });

    it('ends a read at once when its signal is already aborted', async () => {
      await log.append([{ key: 'a', value: json({}) }]);
      const controller = new AbortController();
      controller.abort();
      expect(await collectBatches(log.read({ signal: controller.signal }))).toEqual([]);
    });

    it('ends a tailing read when the log closes', async () => {
      const tail = startTail(log.read({ from: await log.endPosition() }));
      await log.append([{ key: 'a', value: json({ n: 1 }) }]);
      await tail.reached(1);
      await log.close();
      expect(await tail.done).toHaveLength(1);
    });

    it('rejects appends after close with log_closed, and close is idempotent', async () => {
      await log.close();
      await log.close();
      const err = await log.append([{ key: 'a', value: json({}) }]).catch((e: unknown) => e);
      expect(isBraidError(err, 'log_closed')).toBe(true);
    });
  });
}

// ---- helpers (exported for implementation-specific tests) ----

export function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function parse(record: { value: Buffer }): Record<string, unknown> & { i?: number } {
  return JSON.parse(record.value.toString('utf8')) as Record<string, unknown> & { i?: number };
}

/** "partition/offset", unique per record. */
export function place(r: { partition: number; offset: number }): string {
  return `${r.partition}/${r.offset}`;
}

export function positionOf(partitions: number, f: (p: number) => number): Position {
  const pos: Position = {};
  for (let p = 0; p < partitions; p++) pos[p] = f(p);
  return pos;
}

export async function collectBatches(iterable: AsyncIterable<LogRecord[]>): Promise<LogRecord[][]> {
  const batches: LogRecord[][] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

export async function readRange(
  log: EventLog,
  options: { from?: Position; until: Position; maxBatch?: number },
): Promise<LogRecord[]> {
  return (await collectBatches(log.read(options))).flat();
}

/** Every record from offset 0 up to the current end. */
export async function readAll(log: EventLog): Promise<LogRecord[]> {
  return readRange(log, { until: await log.endPosition() });
}

/** Within each partition, offsets strictly increase in read order. */
export function assertOffsetOrder(records: readonly LogRecord[]): void {
  const last = new Map<number, number>();
  for (const r of records) {
    expect(r.offset).toBeGreaterThan(last.get(r.partition) ?? -1);
    last.set(r.partition, r.offset);
  }
}

/** Consumes a tailing read in the background; `reached(n)` resolves once n records arrived. */
export function startTail(iterable: AsyncIterable<LogRecord[]>): {
  reached(n: number): Promise<void>;
  done: Promise<LogRecord[]>;
} {
  const records: LogRecord[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  const done = (async () => {
    for await (const batch of iterable) {
      records.push(...batch);
      for (const w of waiting.filter((w) => records.length >= w.n)) w.resolve();
    }
    return records;
  })();
  return {
    done,
    reached: (n) =>
      records.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiting.push({ n, resolve });
            // A read that ends or fails before n records must fail the test, not hang it.
            done.then(
              (all) => reject(new Error(`the read ended after ${all.length} of ${n} records`)),
              reject,
            );
          }),
  };
}

/** The records in (partition, offset) order, as plain values. */
function comparable(records: readonly LogRecord[]) {
  return [...records]
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset)
    .map((r) => ({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, key: r.key, value: r.value.toString('base64') }));
}

function isIncreasing(xs: readonly number[]): boolean {
  return xs.every((x, i) => i === 0 || x > xs[i - 1]!);
}

function sum(position: Position): number {
  return Object.values(position).reduce((a, b) => a + b, 0);
}

/**
 * The moving parts the interleaving test drives besides HTTP: a mirror of the log for the
 * reference, restarting the speed layer inside a running node, and damaging an archive
 * file so that a batch run fails the way it would on a bad disk.
 */
import { createHash } from 'node:crypto';
import { link, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { Archiver } from '../../batch/archive/index.js';
import { decodeEvent } from '../../shared/events/index.js';
import { createLogger } from '../../shared/logger.js';
import type { EventLog, Position } from '../../shared/log/types.js';
import type { BraidNode } from '../../lambda/index.js';
import { covers } from '../../shared/log/position.js';
import { SpeedLayer } from '../../speed/speed-layer.js';
import { expectRowsMatch, expectSameOrder, isOrdered, referenceAnswer, referenceRows, survivors, type RefQuery, type RefRecord, type RefView } from './reference.js';
import type { Rng } from './interleaving-schedule.js';

/** Every record of the log, kept by one tailing reader, as the reference's input. */
export class LogMirror {
  readonly records: RefRecord[] = [];
  readonly position: Position = {};
  readonly #partitions: number;
  readonly #windowMs: number;
  readonly #abort = new AbortController();
  readonly #done: Promise<void>;
  #error: unknown;
  readonly #survivors = new Map<string, RefRecord[]>();

  constructor(log: EventLog, windowMs: number) {
    this.#partitions = log.partitions;
    this.#windowMs = windowMs;
    for (let p = 0; p < log.partitions; p++) this.position[p] = 0;
    const signal = this.#abort.signal;
    this.#done = (async () => {
      try {
        for await (const batch of log.read({ from: {}, signal })) {
          for (const r of batch) {
            this.records.push({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, event: decodeEvent(r.value) as RefRecord['event'] });
            this.position[r.partition] = r.offset + 1;
          }
        }
      } catch (err) {
        if (!signal.aborted) this.#error = err;
      }
    })();
  }

  /** Resolves once every record below `target` has been read. */
  async covering(target: Position, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!covers(this.position, target)) {
      if (this.#error) throw this.#error;
      if (Date.now() > deadline) throw new Error(`the log mirror reached ${JSON.stringify(this.position)}, not ${JSON.stringify(target)}, within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * reference.ts's `survivors` below `position`, memoised per position: the records below a
   * position never change once read, so neither does the answer.
   */
  survivorsAt(position: Position): RefRecord[] {
    const key = JSON.stringify(Array.from({ length: this.#partitions }, (_, p) => position[p] ?? 0));
    let list = this.#survivors.get(key);
    if (!list) {
      list = survivors(this.records, position, this.#windowMs);
      this.#survivors.set(key, list);
    }
    return list;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}

/**
 * Restarts the speed layer of a running node the way a process restart would: the old one
 * is closed and forgotten, a new one rebuilds from the serving version's S (warming the
 * dedupe state from the log) and is paired with later publishes. Until it is ready, Lambda
 * queries answer 503 and runs take the log's end as S (node.ts), so a run may publish an S
 * the new layer never cut: the rebuild path.
 */
export class SpeedRestarter {
  readonly #node: BraidNode;
  readonly #log: EventLog;
  readonly #windowMs: number;
  #starting: Promise<void> = Promise.resolve();
  #pending = false;
  /** how often a restarted layer rebuilt to reach a snapshot it had not cut */
  rebuilds = 0;

  constructor(node: BraidNode, log: EventLog, windowMs: number) {
    this.#node = node;
    this.#log = log;
    this.#windowMs = windowMs;
  }

  get pending(): boolean {
    return this.#pending;
  }

  /** Closes the speed layer and starts a new one; resolves before it is ready (see `ready`). */
  async restart(): Promise<void> {
    await this.#starting;
    const node = this.#node;
    await node.speed?.close();
    const fresh = new SpeedLayer({
      log: this.#log,
      views: node.views,
      dedupeWindowMs: this.#windowMs,
      base: () => node.batch?.current(),
      logger: createLogger('info', {
        write: (line: string) => {
          if (line.includes('speed layer rebuilding')) this.rebuilds++;
        },
      }),
      maxBatch: 64, // small batches: more interleavings of reads with cuts and publishes
    });
    // The node's hand-off reads node.speed at each step: the fresh layer takes the next cut
    // and pairs with the next publish.
    node.speed = fresh;
    this.#pending = true;
    this.#starting = fresh.start().finally(() => {
      this.#pending = false;
    });
  }

  ready(): Promise<void> {
    return this.#starting;
  }
}

/**
 * Replaces one archived Parquet file by bytes that are not Parquet — what a bad disk or a
 * careless operator leaves — so that the next batch run finds it failing its hash and
 * archives it again from the log. The file is swapped atomically (a hard link keeps the
 * original while the run goes), and the archive lease taken here holds it, so compaction
 * cannot delete the original meanwhile. The file chosen starts at offset 0 of its partition,
 * so every later S covers part of it.
 */
export async function damageArchiveFile(archiver: Archiver, rng: Rng): Promise<{ file: string; restore(): Promise<void> } | undefined> {
  const lease = archiver.lease();
  const firsts = lease.files.flatMap((f, i) => (f.from === 0 ? [lease.paths[i]!] : []));
  if (firsts.length === 0) {
    lease.release();
    return undefined;
  }
  const file = rng.pick(firsts);
  const intact = `${file}.intact`;
  const garbage = `${file}.garbage`;
  await writeFile(garbage, Buffer.from('this is not a Parquet file\n'.repeat(20)));
  await rm(intact, { force: true });
  await link(file, intact);
  await rename(garbage, file);
  return {
    file,
    // The run archived the file again: only the link to the original is left to remove.
    async restore() {
      await rm(intact, { force: true });
      lease.release();
    },
  };
}

/**
 * Makes the next batch run fail: a file where the run's DuckDB scratch directory goes, so it
 * cannot start computing. The run removes its scratch space when it ends, the file with it.
 */
export async function blockRunScratch(dataDir: string): Promise<{ restore(): Promise<void> }> {
  const scratch = path.join(dataDir, 'batch', 'tmp');
  await rm(scratch, { recursive: true, force: true });
  await writeFile(scratch, 'not a directory');
  return { restore: () => rm(scratch, { recursive: true, force: true }) };
}

const HLL_REGISTERS = 2 ** 14;

/**
 * What braid's distinct count must answer for a set of values, exactly: contract §4
 * fixes the hash (the first 8 bytes of md5, little-endian; the register is the low 14
 * bits), and below a few thousand values the HyperLogLog estimate is linear counting over
 * the registers hit, m·ln(m / empty registers). So two values that share a register count
 * once, exactly as the sketch does — which a plain relative tolerance cannot express for
 * sets of 50 to 500 values, where such collisions are common.
 */
export function expectedDistinct(values: ReadonlySet<string>): number | undefined {
  if (values.size > 5_000) return undefined; // the raw estimator's range: use the tolerance
  const hit = new Set<number>();
  for (const v of values) hit.add(createHash('md5').update(v, 'utf8').digest().readUInt32LE(0) & (HLL_REGISTERS - 1));
  return Math.round(HLL_REGISTERS * Math.log(HLL_REGISTERS / (HLL_REGISTERS - hit.size)));
}

/**
 * reference.ts's `expectRowsMatch`, with distinct counts compared exactly to
 * `expectedDistinct` of the exact set of values (instead of within 2 %, or 1).
 */
export function expectAnswerMatches(view: RefView, rows: ReadonlyArray<Record<string, unknown>>, records: readonly RefRecord[], query: RefQuery, groupBy: readonly string[], context: string): void {
  let expected = referenceRows(view, records, query);
  if (isOrdered(query)) {
    // An exact top-N over batch + speed at every instant: the same rows, in the same order.
    expected = referenceAnswer(view, records, query).rows;
    expectSameOrder(rows, expected, groupBy, context);
  }
  const isDistinct = (spec: unknown) => typeof spec === 'object' && spec !== null && 'distinct' in spec;
  const withoutDistinct = { ...view, measures: Object.fromEntries(Object.entries(view.measures).filter(([, spec]) => !isDistinct(spec))) };
  expectRowsMatch(withoutDistinct, rows, expected, groupBy, context);
  const byKey = new Map(expected.map((r) => [JSON.stringify([r.bucket, r.dims]), r]));
  for (const row of rows) {
    const key = JSON.stringify([row.bucket, Object.fromEntries(groupBy.map((d) => [d, row[d]]))]);
    const ref = byKey.get(key)!;
    for (const [name, spec] of Object.entries(view.measures)) {
      if (!isDistinct(spec)) continue;
      const exact = new Set(ref.values[name] as string[] | undefined);
      const want = expectedDistinct(exact);
      const where = `${context}: ${view.name} ${key} ${name}`;
      if (want === undefined) expect(Math.abs((row[name] as number) - exact.size), `${where}: ${String(row[name])} vs exact ${exact.size}`).toBeLessThanOrEqual(0.02 * exact.size);
      else expect(row[name], `${where}: ${exact.size} distinct values in ${want} registers' estimate`).toBe(want);
    }
  }
}

import fc from 'fast-check';
import murmur from 'murmurhash3js-revisited';
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { DedupeState } from '../../speed/dedupe.js';
import { hashId, ID_HASH } from '../../speed/id-hash.js';
import { Rng } from '../../shared/random.js';

/** The rule as first written (a Map of ids per partition): the model the compact state must match. */
class MapDedupe {
  readonly #partitions = new Map<number, { seen: Map<string, number>; newest: number; sweptAt: number }>();
  constructor(
    readonly windowMs: number,
    readonly skewMs: number,
  ) {}

  check(partition: number, id: string, appendTime: number): boolean {
    let p = this.#partitions.get(partition);
    if (!p) this.#partitions.set(partition, (p = { seen: new Map(), newest: -Infinity, sweptAt: -Infinity }));
    const prev = p.seen.get(id);
    const duplicate = prev !== undefined && prev >= appendTime - this.windowMs;
    if (prev === undefined) p.seen.set(id, appendTime);
    else if (appendTime > prev) {
      p.seen.delete(id);
      p.seen.set(id, appendTime);
    }
    if (appendTime > p.newest) p.newest = appendTime;
    if (Number.isFinite(this.windowMs) && p.newest - p.sweptAt > this.windowMs / 16) {
      const horizon = p.newest - this.windowMs - this.skewMs;
      for (const [key, t] of p.seen) {
        if (t >= horizon) break;
        p.seen.delete(key);
      }
      p.sweptAt = p.newest;
    }
    return duplicate;
  }

  get entries(): number {
    let n = 0;
    for (const p of this.#partitions.values()) n += p.seen.size;
    return n;
  }
}

const hex = () => [...ID_HASH].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');

describe('id hash', () => {
  it('is MurmurHash3 x86_128 of the UTF-16LE bytes, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 70 }), (s) => {
        hashId(s);
        expect(hex()).toBe(murmur.x86.hash128(Buffer.from(s, 'utf16le')));
      }),
      { numRuns: 2_000 },
    );
    hashId('');
    expect(hex()).toBe('00000000000000000000000000000000');
  });

  it('gives 200 000 similar ids 200 000 different hashes', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      hashId(`evt-${i}`);
      seen.add(hex());
    }
    expect(seen.size).toBe(200_000);
  });
});

describe('DedupeState', () => {
  const op = (ids: number) => fc.record({ partition: fc.integer({ min: 0, max: 2 }), id: fc.integer({ min: 0, max: ids }), step: fc.integer({ min: -150, max: 400 }) });

  /** Every record's answer and the ids held after it, against the Map model. */
  function sameAsModel(windowMs: number, skewMs: number, initialCapacity: number, ops: Array<{ partition: number; id: number; step: number }>, start = 0): void {
    const state = new DedupeState({ windowMs, skewMs, initialCapacity });
    const model = new MapDedupe(windowMs, skewMs);
    const times = [start, start, start];
    for (const { partition, id, step } of ops) {
      // Append times mostly move on, sometimes step back (several producers' clocks).
      times[partition] = times[partition]! + step;
      const t = times[partition]!;
      expect(state.check(partition, `id-${id}`, t)).toBe(model.check(partition, `id-${id}`, t));
      expect(state.entries).toBe(model.entries);
    }
  }

  it('answers as the Map model does, record for record, and holds the same ids', () => {
    // Tiny starting tables (2, 4 slots) make the table grow, probe runs wrap its end,
    // deletions shift entries back across it, and the queue fill while wrapped.
    for (const ids of [40, 400, 4_000]) {
      fc.assert(
        fc.property(
          fc.constantFrom(0, 1_000, 5_000, 50_000, Infinity),
          fc.constantFrom(0, 100),
          fc.constantFrom(2, 4, 1_024),
          fc.integer({ min: -1_000_000, max: 1_000_000 }),
          fc.array(op(ids), { maxLength: 2_000, size: 'max' }),
          (windowMs, skewMs, capacity, start, ops) => sameAsModel(windowMs, skewMs, capacity, ops, start),
        ),
        { numRuns: 60 },
      );
    }
  });

  it('matches the model over long walks of many ids', () => {
    const rng = new Rng(11);
    for (const [windowMs, skewMs, ids] of [
      [10_000, 0, 50_000],
      [2_000, 500, 5_000],
      [Infinity, 0, 100_000],
    ] as const) {
      const ops = Array.from({ length: 100_000 }, () => ({ partition: rng.int(0, 1), id: rng.int(0, ids - 1), step: rng.int(-1, 3) }));
      sameAsModel(windowMs, skewMs, 4, ops, -1_000_000);
    }
  });

  it('keeps a window of ids through table growth and eviction, in typed arrays', () => {
    const state = new DedupeState({ windowMs: 10_000, skewMs: 0 });
    // 100 000 ids, one a millisecond; each retried 5 s later (a duplicate), and 20 s later
    // (outside the window: counted again).
    let duplicates = 0;
    let fresh = 0;
    for (let t = 0; t < 120_000; t++) {
      if (t < 100_000) (state.check(0, `evt-${t}`, t) ? duplicates++ : fresh++);
      if (t >= 5_000 && t - 5_000 < 100_000) (state.check(0, `evt-${t - 5_000}`, t) ? duplicates++ : fresh++);
      if (t >= 20_000 && t - 20_000 < 100_000) (state.check(0, `evt-${t - 20_000}`, t) ? duplicates++ : fresh++);
    }
    expect(duplicates).toBe(100_000);
    expect(fresh).toBe(200_000); // each id first, and again 20 s later

    // Only ids within the window (plus the sweep's slack of window/16) remain.
    expect(state.entries).toBeGreaterThanOrEqual(10_000);
    expect(state.entries).toBeLessThanOrEqual(10_000 + 625 + 2);
    // Bounded by the ids in the window, not by the 100 000 seen nor the records: at most
    // ~20 000 live at once (a new id each millisecond, and each again 20 s later, evicted
    // before, so new again): tables of 32 Ki and 64 Ki 24-byte slots. Keeping every id would
    // take a table of 256 Ki slots (6.3 MB) alone.
    expect(state.bytes).toBeLessThan(3 * 2 ** 20);
  });

  it('keeps one queue entry per id, not per record, when an id is re-sent over and over', () => {
    // One id re-sent every millisecond for an hour, inside an hour's window: each re-send
    // queues the id again; the queue drops those stale entries instead of growing.
    const state = new DedupeState({ windowMs: 3_600_000, skewMs: 0 });
    expect(state.check(0, 'first', 0)).toBe(false);
    let duplicates = 0;
    for (let t = 1; t <= 3_600_000; t++) if (state.check(0, 'hot', t)) duplicates++;
    expect(duplicates).toBe(3_600_000 - 1);
    expect(state.entries).toBe(2);
    expect(state.bytes).toBeLessThan(64 * 1024); // 86 MB if every re-send stayed queued
  });

  it('restored from its snapshot (through V8 serialization, as a replay checkpoint stores it), answers every later record as the original does', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1_000, 50_000, Infinity),
        fc.constantFrom(2, 1_024),
        fc.array(op(300), { maxLength: 1_500, size: 'max' }),
        fc.nat(),
        (windowMs, capacity, ops, cut) => {
          const original = new DedupeState({ windowMs, skewMs: 100, initialCapacity: capacity });
          let time = 0;
          const at = cut % (ops.length + 1);
          let restored: DedupeState | undefined;
          ops.forEach((o, i) => {
            if (i === at) restored = DedupeState.restore(deserialize(serialize(original.snapshot())));
            time += o.step;
            const expected = original.check(o.partition, `id-${o.id}`, time);
            if (restored) expect(restored.check(o.partition, `id-${o.id}`, time), `record ${i}`).toBe(expected);
          });
          if (restored) expect(restored.entries).toBe(original.entries);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('refuses an append time that is not a finite number', () => {
    const state = new DedupeState({ windowMs: 1_000 });
    expect(() => state.check(0, 'a', Number.NaN)).toThrow(/append time NaN of record a is not a finite number/);
    expect(state.entries).toBe(0);
    expect(() => new DedupeState({ windowMs: 1_000, initialCapacity: 3 })).toThrow(/power of two/);
  });
});

import fc from 'fast-check';
import murmur from 'murmurhash3js-revisited';
import { describe, expect, it } from 'vitest';
import { DedupeState } from '../../speed/dedupe.js';
import { hashId, ID_HASH } from '../../speed/id-hash.js';

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
  const op = fc.record({ partition: fc.integer({ min: 0, max: 2 }), id: fc.integer({ min: 0, max: 40 }), step: fc.integer({ min: -150, max: 400 }) });

  it('answers as the Map model does, record for record, and holds the same ids', () => {
    fc.assert(
      fc.property(fc.constantFrom(1_000, 5_000, Infinity), fc.array(op, { maxLength: 600 }), (windowMs, ops) => {
        const state = new DedupeState({ windowMs, skewMs: 100 });
        const model = new MapDedupe(windowMs, 100);
        const times = [0, 0, 0];
        for (const { partition, id, step } of ops) {
          // Append times mostly move on, sometimes step back (several producers' clocks).
          times[partition] = Math.max(0, times[partition]! + step);
          const t = times[partition]!;
          expect(state.check(partition, `id-${id}`, t)).toBe(model.check(partition, `id-${id}`, t));
          expect(state.entries).toBe(model.entries);
        }
      }),
      { numRuns: 300 },
    );
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
    // Bounded by the window, not by the 100 000 ids seen: a table of ~10 600 live ids
    // (32 Ki slots × 25 bytes) and a queue of the window's ~3 records a millisecond (64 Ki ×
    // 24 bytes); keeping every id would take a table of 256 Ki slots (6.4 MB) alone.
    expect(state.bytes).toBeLessThan(3 * 2 ** 20);
  });
});

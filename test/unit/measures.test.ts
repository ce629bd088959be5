import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  avg, count, distinct, hllEstimate, hllHash, hllRegisters, max, measureOf, min, quantile, sketchQuantile, sum,
  type HllState, type Measure, type MeasureSpec, type SketchState, SKETCH_ALPHA,
} from '../../shared/measures/index.js';

/** A form of a state that compares by value (maps sorted, sparse and dense HLL alike). */
function canonical(state: unknown): unknown {
  if (state && typeof state === 'object' && 'sparse' in state) return hllRegisters(state as HllState);
  if (state && typeof state === 'object' && 'pos' in state) {
    const s = state as SketchState;
    const sorted = (m: Map<number, number>) => [...m.entries()].filter(([, c]) => c !== 0).sort((a, b) => a[0] - b[0]);
    return { pos: sorted(s.pos), neg: sorted(s.neg), zero: s.zero, count: s.count };
  }
  return state;
}

// Integers keep float sums exact, so the laws can be checked with equality.
const value = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.constantFrom(null, 'x', true, 0),
  fc.string({ maxLength: 6 }),
);
const specs: MeasureSpec[] = [
  { kind: 'count' },
  { kind: 'sum', path: 'v' },
  { kind: 'min', path: 'v' },
  { kind: 'max', path: 'v' },
  { kind: 'avg', path: 'v' },
  { kind: 'distinct', path: 'v' },
  { kind: 'quantile', path: 'v', q: [0.5, 0.99] },
];

const fold = <S,>(m: Measure<S, any>, values: unknown[]): S => values.reduce<S>((s, v) => m.add(s, v), m.init());

describe.each(specs)('measure $kind is a monoid', (spec) => {
  const m = measureOf(spec);
  const values = fc.array(value, { maxLength: 60 });

  it('has init() as identity of merge', () => {
    fc.assert(fc.property(values, (vs) => {
      const s = fold(m, vs);
      expect(canonical(m.merge(s, m.init()))).toEqual(canonical(s));
      expect(canonical(m.merge(m.init(), s))).toEqual(canonical(s));
    }));
  });

  it('merges associatively and commutatively', () => {
    fc.assert(fc.property(values, values, values, (a, b, c) => {
      const [sa, sb, sc] = [fold(m, a), fold(m, b), fold(m, c)];
      expect(canonical(m.merge(m.merge(sa, sb), sc))).toEqual(canonical(m.merge(sa, m.merge(sb, sc))));
      expect(canonical(m.merge(sa, sb))).toEqual(canonical(m.merge(sb, sa)));
    }));
  });

  it('gives the same state for all values added as for a merge of adds over any split', () => {
    fc.assert(fc.property(values, fc.array(fc.nat(), { maxLength: 5 }), (vs, cuts) => {
      const points = [...new Set(cuts.map((c) => c % (vs.length + 1)))].sort((x, y) => x - y);
      const parts: unknown[][] = [];
      let from = 0;
      for (const p of [...points, vs.length]) {
        parts.push(vs.slice(from, p));
        from = p;
      }
      const merged = parts.map((p) => fold(m, p)).reduce((x, y) => m.merge(x, y), m.init());
      expect(canonical(merged)).toEqual(canonical(fold(m, vs)));
      expect(m.result(merged)).toEqual(m.result(fold(m, vs)));
    }));
  });

  it('absorbs into an owned state exactly as it merges, leaving the source unchanged', () => {
    fc.assert(fc.property(values, values, (a, b) => {
      const [sa, sb] = [fold(m, a), fold(m, b)];
      const cb = canonical(sb);
      const merged = canonical(m.merge(fold(m, a), sb));
      expect(canonical(m.absorb(sa, sb))).toEqual(merged);
      expect(canonical(sb)).toEqual(cb);
    }));
  });

  it('does not change its inputs when merging', () => {
    fc.assert(fc.property(values, values, (a, b) => {
      const [sa, sb] = [fold(m, a), fold(m, b)];
      const [ca, cb] = [canonical(sa), canonical(sb)];
      m.merge(sa, sb);
      expect(canonical(sa)).toEqual(ca);
      expect(canonical(sb)).toEqual(cb);
    }));
  });
});

describe('measure results', () => {
  it('ignores non-numbers in numeric measures and answers null over no values', () => {
    const vs = ['3', null, true, { a: 1 }, undefined];
    expect(sum.result(fold(sum, vs))).toBeNull();
    expect(min.result(fold(min, vs))).toBeNull();
    expect(avg.result(fold(avg, vs))).toBeNull();
    expect(quantile([0.5]).result(fold(quantile([0.5]), vs))).toBeNull();
    expect(count.result(fold(count, vs))).toBe(5);
    const mixed = [4, 'x', 2, 9, null];
    expect(sum.result(fold(sum, mixed))).toBe(15);
    expect(min.result(fold(min, mixed))).toBe(2);
    expect(max.result(fold(max, mixed))).toBe(9);
    expect(avg.result(fold(avg, mixed))).toBe(5);
  });

  it('hashes like DuckDB md5_number_upper: the first 8 bytes of md5, little-endian', () => {
    for (const s of ['a', '', 'user-42', 'ü日本', '19.99']) {
      const h = createHash('md5').update(s).digest().readBigUInt64LE(0);
      const idx = Number(h & 0x3fffn);
      const w = h >> 14n;
      let rank = 51;
      if (w !== 0n) {
        let tz = 0;
        while (((w >> BigInt(tz)) & 1n) === 0n) tz++;
        rank = tz + 1;
      }
      expect(hllHash(s)).toEqual({ idx, rank });
    }
  });

  it('estimates distinct counts within 2 % from 10 to 200 000, sparse and dense', () => {
    for (const n of [10, 1_000, 20_000, 200_000]) {
      let s = distinct.init();
      for (let i = 0; i < n; i++) s = distinct.add(s, `user-${i}`);
      for (let i = 0; i < n; i += 7) s = distinct.add(s, `user-${i}`); // repeats change nothing
      expect(Math.abs(hllEstimate(s) - n) / n).toBeLessThan(0.02);
    }
  });

  it('reports quantiles within 1 % of the exact value at that rank, negatives and zeros included', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constant(0)), { minLength: 1, maxLength: 300 }),
      fc.constantFrom(0, 0.1, 0.5, 0.9, 0.99, 1),
      (vs, q) => {
        const m = quantile([q]);
        const s = fold(m, vs) as SketchState;
        const sorted = [...vs].sort((a, b) => a - b);
        const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
        const got = sketchQuantile(s, q)!;
        if (Math.abs(exact) < 1e-9) expect(Math.abs(got)).toBeLessThan(1e-9 * 1.03);
        else expect(Math.abs(got - exact)).toBeLessThanOrEqual(SKETCH_ALPHA * Math.abs(exact) * (1 + 1e-9));
      },
    ), { numRuns: 300 });
  });
});

/**
 * Issue 17's measure kinds as monoids: latest, first and values have one state per set of
 * records however it is split and merged (so every engine holds the same state); topk's
 * Misra-Gries summary is commutative, counts `n` exactly and keeps every count within its
 * bound of the exact one, exact while the values fit its counters. compareText is UTF-8
 * byte order (DuckDB's).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareText, first, kindOf, latest, measureOf, topk, values, type Measure, type Place } from '../../shared/measures/index.js';
import { dimensionValue } from '../../shared/views/index.js';

interface Rec {
  readonly v: unknown;
  readonly at: Place;
}

/** Records with unique offsets, times that often tie, partitions 0–2, values of every JSON kind. */
const records = fc
  .array(
    fc.record({
      v: fc.oneof(fc.constantFrom(null, undefined, true, 0, 1.5, 'a', 'é', '𝄞', '\uffff', { o: 1 }, [1]), fc.string({ maxLength: 4 }), fc.integer({ min: -50, max: 50 })),
      time: fc.integer({ min: 0, max: 5 }),
      partition: fc.integer({ min: 0, max: 2 }),
    }),
    { maxLength: 60 },
  )
  .map((rs) => rs.map((r, i): Rec => ({ v: r.v, at: { time: r.time, partition: r.partition, offset: i } })));

const fold = <S,>(m: Measure<S, unknown>, rs: readonly Rec[]): S => rs.reduce<S>((s, r) => m.add(s, r.v, r.at), m.init());
const splits = fc.array(fc.nat(), { maxLength: 4 });
const split = (rs: readonly Rec[], cuts: readonly number[]): Rec[][] => {
  const points = [...new Set(cuts.map((c) => c % (rs.length + 1)))].sort((a, b) => a - b);
  return [0, ...points].map((p, i) => rs.slice(p, [...points, rs.length][i]));
};

describe.each([
  ['latest', latest, (rs: readonly Rec[]) => pick(rs, 1)],
  ['first', first, (rs: readonly Rec[]) => pick(rs, -1)],
  ['values', values(5), (rs: readonly Rec[]) => valuesOf(rs, 5)],
] as const)('%s has one state per set of records', (_name, m, reference) => {
  const measure = m as Measure<unknown, unknown>;
  it('equals the reference, however the records are split, ordered and merged', () => {
    fc.assert(
      fc.property(records, splits, fc.boolean(), (rs, cuts, reverse) => {
        const parts = split(rs, cuts).map((part) => fold(measure, reverse ? [...part].reverse() : part));
        const merged = (reverse ? parts.reverse() : parts).reduce((a, b) => measure.merge(a, b), measure.init());
        expect(merged).toEqual(reference(rs));
        expect(fold(measure, rs)).toEqual(reference(rs));
      }),
    );
  });
  it('merges associatively and commutatively, with init() as identity', () => {
    fc.assert(
      fc.property(records, records, records, (a, b, c) => {
        // Three sets of distinct records: a place names one record.
        const shift = (rs: Rec[], by: number) => rs.map((r) => ({ ...r, at: { ...r.at, offset: r.at.offset + by } }));
        const [sa, sb, sc] = [fold(measure, a), fold(measure, shift(b, 1_000)), fold(measure, shift(c, 2_000))];
        expect(measure.merge(measure.merge(sa, sb), sc)).toEqual(measure.merge(sa, measure.merge(sb, sc)));
        expect(measure.merge(sa, sb)).toEqual(measure.merge(sb, sa));
        expect(measure.merge(sa, measure.init())).toEqual(sa);
      }),
    );
  });
});

/** The value of the newest (dir 1) or oldest (-1) record by (time, partition, offset) with a scalar value. */
function pick(rs: readonly Rec[], dir: 1 | -1) {
  let best: Rec | undefined;
  for (const r of rs) {
    if (dimensionValue(r.v) === null) continue;
    const c = best === undefined ? dir : r.at.time - best.at.time || r.at.partition - best.at.partition || r.at.offset - best.at.offset;
    if (Math.sign(c) === dir) best = r;
  }
  return best === undefined ? null : { t: best.at.time, p: best.at.partition, o: best.at.offset, v: dimensionValue(best.v)! };
}

function valuesOf(rs: readonly Rec[], max: number) {
  const all = [...new Set(rs.map((r) => dimensionValue(r.v)).filter((v) => v !== null))].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return { values: all.slice(0, max), truncated: all.length > max };
}

describe('topk', () => {
  const m = topk(3, 4);
  const skewed = fc.array(fc.oneof(fc.constantFrom('a', 'a', 'a', 'b', 'b', 'c'), fc.string({ maxLength: 2 }), fc.integer({ min: 0, max: 9 })), { maxLength: 120 });

  it('counts n exactly and keeps each count within its bound of the exact count, whatever the merge order', () => {
    fc.assert(
      fc.property(skewed, splits, fc.boolean(), (vs, cuts, reverse) => {
        const rs = vs.map((v, i): Rec => ({ v, at: { time: 0, partition: 0, offset: i } }));
        const parts = split(rs, cuts).map((p) => fold(m, p));
        const state = (reverse ? parts.reverse() : parts).reduce((a, b) => m.merge(a, b), m.init());
        const exact = new Map<string, number>();
        for (const v of vs) exact.set(String(dimensionValue(v)), (exact.get(String(dimensionValue(v))) ?? 0) + 1);
        const result = m.result(state);
        expect(result.n).toBe(vs.length);
        for (const [value, count] of exact) {
          const i = state.values.indexOf(value);
          const estimate = i < 0 ? 0 : state.counts[i]!;
          expect(estimate).toBeLessThanOrEqual(count);
          expect(count - estimate).toBeLessThanOrEqual(result.error + 1e-9);
        }
        // The answer: by count, then value; at most k.
        expect(result.top.length).toBeLessThanOrEqual(3);
        for (let i = 1; i < result.top.length; i++) {
          const [a, b] = [result.top[i - 1]!, result.top[i]!];
          expect(a.count > b.count || (a.count === b.count && compareText(a.value, b.value) < 0)).toBe(true);
        }
      }),
    );
  });

  it('is exact while the distinct values fit its counters, and commutative always', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('x', 'y', 'z', 'w'), { maxLength: 50 }), fc.array(fc.constantFrom('x', 'y', 'q'), { maxLength: 50 }), (a, b) => {
        const rec = (vs: string[]) => vs.map((v, i): Rec => ({ v, at: { time: 0, partition: 0, offset: i } }));
        const [sa, sb] = [fold(m, rec(a)), fold(m, rec(b))];
        expect(m.merge(sa, sb)).toEqual(m.merge(sb, sa));
        const one = fold(m, rec(a));
        for (const v of new Set(a)) expect(one.counts[one.values.indexOf(v)]).toBe(a.filter((x) => x === v).length);
        expect(m.result(one).error).toBe(0);
      }),
    );
  });
});

describe('compareText', () => {
  it('orders strings as their UTF-8 bytes (DuckDB)', () => {
    // Well-formed text only (braid refuses lone surrogates), across the boundaries that matter: 1–4 UTF-8 bytes, E000–FFFF, astral.
    const unit = fc.constantFrom('a', 'z', '\u007f', '\u0080', 'é', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '𝄞', '😀', '\u{10ffff}');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 6 }), fc.string({ unit, maxLength: 6 }), (a, b) => {
        expect(Math.sign(compareText(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))));
      }),
    );
  });
});

describe('verification between engines', () => {
  const spec = { kind: 'topk', path: 'v', k: 2, capacity: 2 } as const;
  const kind = kindOf(spec);
  const m = measureOf(spec);
  it('accepts two top-k summaries within the sum of their bounds, and refuses more or another n', () => {
    // n 10, counters a:4 b:3 (bound (10-7)/3 = 1) against a:5 b:3 (bound (10-8)/3): within 1 + 2/3.
    expect(kind.difference(spec, m, { values: ['a', 'b'], counts: [4, 3], n: 10 }, { values: ['a', 'b'], counts: [5, 3], n: 10 })).toBeUndefined();
    expect(kind.difference(spec, m, { values: ['a', 'b'], counts: [2, 3], n: 10 }, { values: ['a', 'b'], counts: [5, 3], n: 10 })).toBeDefined();
    expect(kind.difference(spec, m, { values: ['a'], counts: [4], n: 10 }, { values: ['a'], counts: [4], n: 11 })).toBeDefined();
  });
  it('accepts latest, first and values only when identical', () => {
    const latestSpec = { kind: 'latest', path: 'v' } as const;
    const l = kindOf(latestSpec);
    const a = { t: 1, p: 0, o: 3, v: 'x' };
    expect(l.difference(latestSpec, measureOf(latestSpec), a, { ...a })).toBeUndefined();
    expect(l.difference(latestSpec, measureOf(latestSpec), a, { ...a, o: 4 })).toBeDefined();
    expect(l.difference(latestSpec, measureOf(latestSpec), a, null)).toBeDefined();
    const valuesSpec = { kind: 'values', path: 'v', max: 3 } as const;
    const v = kindOf(valuesSpec);
    expect(v.difference(valuesSpec, measureOf(valuesSpec), { values: ['a'], truncated: false }, { values: ['a'], truncated: true })).toBeDefined();
  });
});

import { hllAbsorb, hllAdd, hllEstimate, hllInit, hllMerge, type HllState } from './hll.js';
import { sketchAbsorb, sketchAdd, sketchInit, sketchMerge, sketchQuantile, type SketchState } from './sketch.js';

/**
 * Every measure is a monoid (design section 4): `init()` is the identity, `merge` is
 * associative and commutative, and `add(s, v)` folds one value in. Batch (reading states
 * computed in SQL), speed and Kappa replay all use these, so they agree by construction.
 *
 * `add` may update the state it is given and returns it (an accumulator owns its state;
 * copying 16 KiB of HLL registers per event would be absurd); `merge` never changes its
 * inputs.
 */
export interface Measure<S = unknown, R = unknown> {
  readonly kind: MeasureKind;
  init(): S;
  add(state: S, value: unknown): S;
  merge(a: S, b: S): S;
  /**
   * `merge` for an accumulator the caller owns: folds `from` into `into`, may update `into`
   * and returns it; never changes `from`. Queries and loads roll up thousands of groups
   * through this without copying sketches per row.
   */
  absorb(into: S, from: S): S;
  result(state: S): R;
}

export const MeasureKinds = ['count', 'sum', 'min', 'max', 'avg', 'distinct', 'quantile'] as const;
export type MeasureKind = (typeof MeasureKinds)[number];

export type MeasureSpec =
  | { readonly kind: 'count' }
  | { readonly kind: 'sum' | 'min' | 'max' | 'avg' | 'distinct'; readonly path: string }
  | { readonly kind: 'quantile'; readonly path: string; readonly q: readonly number[] };

/** A numeric measure reads JSON numbers only; anything else is ignored, like SQL NULL. */
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export const count: Measure<number, number> = {
  kind: 'count',
  init: () => 0,
  add: (s) => s + 1,
  merge: (a, b) => a + b,
  absorb: (a, b) => a + b,
  result: (s) => s,
};

export const sum: Measure<number | null, number | null> = {
  kind: 'sum',
  init: () => null,
  add: (s, v) => {
    const x = num(v);
    return x === undefined ? s : (s ?? 0) + x;
  },
  merge: (a, b) => (a === null ? b : b === null ? a : a + b),
  absorb: (a, b) => (a === null ? b : b === null ? a : a + b),
  result: (s) => s,
};

const extreme = (kind: 'min' | 'max', pick: (a: number, b: number) => number): Measure<number | null, number | null> => ({
  kind,
  init: () => null,
  add: (s, v) => {
    const x = num(v);
    return x === undefined ? s : s === null ? x : pick(s, x);
  },
  merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
  absorb: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
  result: (s) => s,
});
export const min = extreme('min', Math.min);
export const max = extreme('max', Math.max);

export interface AvgState {
  sum: number;
  count: number;
}
export const avg: Measure<AvgState, number | null> = {
  kind: 'avg',
  init: () => ({ sum: 0, count: 0 }),
  add: (s, v) => {
    const x = num(v);
    if (x !== undefined) {
      s.sum += x;
      s.count++;
    }
    return s;
  },
  merge: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
  absorb: (into, from) => {
    into.sum += from.sum;
    into.count += from.count;
    return into;
  },
  result: (s) => (s.count === 0 ? null : s.sum / s.count),
};

/**
 * The string form a distinct count hashes: strings as they are, other scalars as their
 * JSON text (what the stored event's JSON holds), null and missing values ignored.
 */
export function distinctForm(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return undefined;
}

export const distinct: Measure<HllState, number> = {
  kind: 'distinct',
  init: hllInit,
  add: (s, v) => {
    const form = distinctForm(v);
    return form === undefined ? s : hllAdd(s, form);
  },
  merge: hllMerge,
  absorb: hllAbsorb,
  result: hllEstimate,
};

export function quantile(q: readonly number[]): Measure<SketchState, Record<string, number | null> | null> {
  return {
    kind: 'quantile',
    init: sketchInit,
    add: (s, v) => {
      const x = num(v);
      return x === undefined ? s : sketchAdd(s, x);
    },
    merge: sketchMerge,
    absorb: sketchAbsorb,
    result: (s) => (s.count === 0 ? null : Object.fromEntries(q.map((p) => [String(p), sketchQuantile(s, p)]))),
  };
}

export function measureOf(spec: MeasureSpec): Measure<any, unknown> {
  switch (spec.kind) {
    case 'count':
      return count;
    case 'sum':
      return sum;
    case 'min':
      return min;
    case 'max':
      return max;
    case 'avg':
      return avg;
    case 'distinct':
      return distinct;
    case 'quantile':
      return quantile(spec.q);
  }
}

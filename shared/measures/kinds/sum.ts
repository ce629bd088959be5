import { numberColumns } from '../columns.js';
import { differenceOf, num, numberColumn, relativeDiff, type Measure, type MeasureKind } from '../kind.js';

export interface SumSpec {
  readonly kind: 'sum';
  readonly path: string;
}

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

const sumColumns = numberColumns((a, b) => a + b, true);

/**
 * `sum: <path>`: float64, merged by +; null over no numbers. Exact between engines for
 * integers below 2^53, else within 1e-9 relative (the order of additions differs; DuckDB
 * sums with `fsum`, compensated).
 */
export const sumKind: MeasureKind<SumSpec> = {
  name: 'sum',
  spec: (path) => (path === undefined ? undefined : { kind: 'sum', path }),
  monoid: () => sum,
  columns: () => sumColumns,
  isEmpty: (s: number | null) => s === null,
  sql: (spec, { m, number }) => ({
    input: `${number(spec.path)} AS ${m}`,
    aggregate: `CASE WHEN count(${m}) > 0 THEN fsum(${m}) END AS ${m}`,
    output: `agg.${m}`,
  }),
  decode: (_spec, c) => numberColumn(c),
  difference: (_spec, measure, a: number | null, b: number | null) => {
    const r = relativeDiff(a, b);
    return r <= 1e-9 ? undefined : differenceOf(measure, a, b, r);
  },
};

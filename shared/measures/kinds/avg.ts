import { differenceOf, num, relativeDiff, type Measure, type MeasureKind } from '../kind.js';

export interface AvgSpec {
  readonly kind: 'avg';
  readonly path: string;
}

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

/** `avg: <path>`: the state (sum, count), merged by +; the count exact, the sum as `sum`'s. */
export const avgKind: MeasureKind<AvgSpec> = {
  name: 'avg',
  spec: (path) => (path === undefined ? undefined : { kind: 'avg', path }),
  monoid: () => avg,
  isEmpty: (s: AvgState) => s.count === 0,
  sql: (spec, { m, number }) => ({
    input: `${number(spec.path)} AS ${m}`,
    aggregate: `{'sum': coalesce(fsum(${m}), 0), 'count': count(${m})} AS ${m}`,
    output: `agg.${m}`,
  }),
  decode: (_spec, c) => ({
    select: [`${c}.sum`, `CAST(${c}.count AS DOUBLE)`],
    read: (columns, row): AvgState => ({ sum: columns[0]!.getItem(row) as number, count: columns[1]!.getItem(row) as number }),
  }),
  difference: (_spec, measure, a: AvgState, b: AvgState) => {
    const r = a.count !== b.count ? Infinity : relativeDiff(a.sum, b.sum);
    return r <= 1e-9 ? undefined : differenceOf(measure, a, b, r);
  },
};

import { Float64Builder, type ColumnForm, type StateColumn } from '../columns.js';
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

/** Two Float64Arrays: the sums and the counts. */
const avgColumns: ColumnForm<AvgState> = {
  builder(capacity) {
    const sums = new Float64Builder(capacity);
    const counts = new Float64Builder(capacity);
    const push = (s: AvgState) => {
      sums.push(s.sum);
      counts.push(s.count);
    };
    return { push, pushFrom: (from, row) => push(from.state(row)), finish: () => avgColumn(sums.finish(), counts.finish()) };
  },
  fromParts: (parts) => avgColumn(parts.sums as Float64Array, parts.counts as Float64Array),
};

function avgColumn(sums: Float64Array, counts: Float64Array): StateColumn<AvgState> {
  return {
    length: sums.length,
    bytes: sums.byteLength + counts.byteLength,
    state: (row) => ({ sum: sums[row]!, count: counts[row]! }),
    absorbInto: (into, row) => {
      into.sum += sums[row]!;
      into.count += counts[row]!;
      return into;
    },
    result: (row) => (counts[row] === 0 ? null : sums[row]! / counts[row]!),
    accumulator: () => {
      let s = sums;
      let c = counts;
      let copied = false;
      return {
        absorb(slot, from, row) {
          if (!copied) {
            s = sums.slice();
            c = counts.slice();
            copied = true;
          }
          const x = from.state(row);
          s[slot]! += x.sum;
          c[slot]! += x.count;
        },
        result: (slot) => (c[slot] === 0 ? null : s[slot]! / c[slot]!),
        state: (slot) => ({ sum: s[slot]!, count: c[slot]! }),
      };
    },
    parts: () => ({ sums, counts }),
  };
}

/** `avg: <path>`: the state (sum, count), merged by +; the count exact, the sum as `sum`'s. */
export const avgKind: MeasureKind<AvgSpec> = {
  name: 'avg',
  spec: (path) => (path === undefined ? undefined : { kind: 'avg', path }),
  monoid: () => avg,
  columns: () => avgColumns,
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

import { DOUBLE, INTEGER, LIST, listValue } from '@duckdb/node-api';
import { differenceOf, listNumbers, num, relativeDiff, type Measure, type MeasureKind, type Statement } from '../kind.js';
import { sketchBounds } from '../sketch-bounds.js';
import { Float64Builder, Int32Builder, mapAccumulator, type ColumnForm, type StateColumn } from '../columns.js';
import { SKETCH_ALPHA, SKETCH_GAMMA, SKETCH_MIN_INDEXABLE, sketchAbsorb, sketchAdd, sketchInit, sketchMerge, sketchQuantile, type SketchState } from '../sketch.js';

export interface QuantileSpec {
  readonly kind: 'quantile';
  readonly path: string;
  readonly q: readonly number[];
}

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

/** The sketch's constants as a one-row table, `braid_sketch`, joined by quantile queries. */
export function sketchTableStatement(): Statement {
  const { first, lower } = sketchBounds();
  return {
    sql: `CREATE OR REPLACE TEMP TABLE braid_sketch AS
      SELECT $lower AS lower, $first AS first, $ln_gamma AS ln_gamma, $min_indexable AS min_indexable`,
    values: { lower: listValue([...lower]), first, ln_gamma: Math.log(SKETCH_GAMMA), min_indexable: SKETCH_MIN_INDEXABLE },
    types: { lower: LIST(DOUBLE), first: INTEGER, ln_gamma: DOUBLE, min_indexable: DOUBLE },
  };
}

/** One side of a sketch (pos or neg) packed: bucket indexes and counts, a row's run given by offsets. */
class PackedBuckets {
  readonly keys: Int32Builder;
  readonly counts: Float64Builder;
  readonly offsets: Int32Builder;

  constructor(capacity = 1_024) {
    this.keys = new Int32Builder(capacity);
    this.counts = new Float64Builder(capacity);
    this.offsets = new Int32Builder(capacity + 1);
    this.offsets.push(0);
  }

  push(buckets: ReadonlyMap<number, number>): void {
    for (const k of [...buckets.keys()].sort((a, b) => a - b)) {
      this.keys.push(k);
      this.counts.push(buckets.get(k)!);
    }
    this.offsets.push(this.keys.length);
  }

  finish() {
    return { keys: this.keys.finish(), counts: this.counts.finish(), offsets: this.offsets.finish() };
  }
}

type Packed = ReturnType<PackedBuckets['finish']>;

function bucketsOf(p: Packed, row: number, into = new Map<number, number>()): Map<number, number> {
  for (let i = p.offsets[row]!; i < p.offsets[row + 1]!; i++) into.set(p.keys[i]!, (into.get(p.keys[i]!) ?? 0) + p.counts[i]!);
  return into;
}

/** Buckets packed per row (pos and neg apart), with the zero and total counts in Float64Arrays. */
function quantileColumns(measure: Measure<SketchState, unknown>): ColumnForm<SketchState> {
  const column = (pos: Packed, neg: Packed, zero: Float64Array, count: Float64Array): StateColumn<SketchState> => {
    const self: StateColumn<SketchState> = {
      length: zero.length,
      bytes: [pos, neg].reduce((n, p) => n + p.keys.byteLength + p.counts.byteLength + p.offsets.byteLength, zero.byteLength + count.byteLength),
      state: (row) => ({ pos: bucketsOf(pos, row), neg: bucketsOf(neg, row), zero: zero[row]!, count: count[row]! }),
      absorbInto(into, row) {
        bucketsOf(pos, row, into.pos);
        bucketsOf(neg, row, into.neg);
        into.zero += zero[row]!;
        into.count += count[row]!;
        return into;
      },
      result: (row) => measure.result(self.state(row)),
      accumulator: () => mapAccumulator(measure, self),
      parts: () => ({ pos, neg, zero, count }),
    };
    return self;
  };
  return {
    builder(capacity) {
      const pos = new PackedBuckets(capacity);
      const neg = new PackedBuckets(capacity);
      const zero = new Float64Builder(capacity);
      const count = new Float64Builder(capacity);
      const push = (s: SketchState) => {
        pos.push(s.pos);
        neg.push(s.neg);
        zero.push(s.zero);
        count.push(s.count);
      };
      return { push, pushFrom: (from, row) => push(from.state(row)), finish: () => column(pos.finish(), neg.finish(), zero.finish(), count.finish()) };
    },
    fromParts: (parts) => column(parts.pos as Packed, parts.neg as Packed, parts.zero as Float64Array, parts.count as Float64Array),
  };
}

const EMPTY_BUCKETS = 'CAST([] AS STRUCT("index" INTEGER, count BIGINT)[])';

/**
 * `quantile: <path>, q: [...]`: counts per logarithmic bucket (sketch.ts), merged
 * bucket-wise by +. The buckets are identical in every engine (SQL corrects DuckDB's `ln`
 * against a table of exact boundaries); answers agree within the sketch's accuracy.
 */
export const quantileKind: MeasureKind<QuantileSpec> = {
  name: 'quantile',
  options: ['q'],
  spec: (path, options, problem) => {
    if (path === undefined) return undefined;
    const q = options.q;
    if (!Array.isArray(q) || q.length === 0 || q.some((x) => typeof x !== 'number' || x < 0 || x > 1)) {
      problem('quantile needs q: a list of quantiles between 0 and 1, e.g. q: [0.5, 0.95, 0.99]');
      return undefined;
    }
    return { kind: 'quantile', path, q: [...new Set(q as number[])] };
  },
  monoid: (spec) => quantile(spec.q),
  columns: (spec) => quantileColumns(quantile(spec.q)),
  isEmpty: (s: SketchState) => s.count === 0,
  setup: [
    // The bucket index of a >= min_indexable: k0 = ceil(ln(a) / ln(GAMMA)) from DuckDB's ln,
    // corrected to TypeScript's index with braid_sketch's table (sketch-bounds.ts).
    `CREATE OR REPLACE TEMP MACRO braid_sketch_fix(a, k0, lower, first) AS CASE
    WHEN a < lower[k0 - first + 1] THEN k0 - 1
    WHEN a >= lower[k0 - first + 2] THEN k0 + 1
    ELSE k0 END`,
    `CREATE OR REPLACE TEMP MACRO braid_sketch_index(a, s) AS braid_sketch_fix(a, CAST(ceil(ln(a) / s.ln_gamma) AS INTEGER), s.lower, s.first)`,
  ],
  setupStatements: () => [sketchTableStatement()],
  sql: (spec, { m, group, side, number }) => {
    const bucketList = (sign: number) => `list({'index': k, 'count': n}) FILTER (WHERE sign = ${sign})`;
    return {
      input: `${number(spec.path)} AS ${m}`,
      side: `${side} AS (
          SELECT ${group}, ${bucketList(1)} AS pos, ${bucketList(-1)} AS neg,
            CAST(coalesce(sum(n) FILTER (WHERE sign = 0), 0) AS BIGINT) AS zero, CAST(sum(n) AS BIGINT) AS count
          FROM (SELECT ${group}, sign, k, count(*) AS n
                FROM (SELECT ${group},
                        CASE WHEN a < s.min_indexable THEN 0 WHEN x > 0 THEN 1 ELSE -1 END AS sign,
                        CASE WHEN a < s.min_indexable THEN 0 ELSE braid_sketch_index(a, s) END AS k
                      FROM (SELECT ${group}, ${m} AS x, abs(${m}) AS a FROM base WHERE ${m} IS NOT NULL), braid_sketch s)
                GROUP BY ${group}, sign, k)
          GROUP BY ${group})`,
      output: `{'pos': coalesce(${side}.pos, ${EMPTY_BUCKETS}), 'neg': coalesce(${side}.neg, ${EMPTY_BUCKETS}),
          'zero': coalesce(${side}.zero, 0), 'count': coalesce(${side}.count, 0)}`,
    };
  },
  decode: (_spec, c) => {
    const side = (s: string) => [`list_transform(${c}.${s}, b -> b.index)`, `list_transform(${c}.${s}, b -> CAST(b.count AS DOUBLE))`];
    return {
      select: [...side('pos'), ...side('neg'), `CAST(${c}.zero AS DOUBLE)`, `CAST(${c}.count AS DOUBLE)`],
      read: (columns, row): SketchState => {
        const buckets = (i: number) => {
          const index = listNumbers(columns[i]!, row);
          const counts = listNumbers(columns[i + 1]!, row);
          return new Map(index.map((k, j) => [k, counts[j]!]));
        };
        return { pos: buckets(0), neg: buckets(2), zero: columns[4]!.getItem(row) as number, count: columns[5]!.getItem(row) as number };
      },
    };
  },
  difference: (spec, measure, a: SketchState, b: SketchState) => {
    if (a.count !== b.count) return differenceOf(measure, a, b, Infinity);
    const ra = measure.result(a) as Record<string, number | null> | null;
    const rb = measure.result(b) as Record<string, number | null> | null;
    let worst = 0;
    for (const q of spec.q) worst = Math.max(worst, relativeDiff(ra?.[String(q)] ?? null, rb?.[String(q)] ?? null));
    return worst <= SKETCH_ALPHA * 2 ? undefined : differenceOf(measure, a, b, worst);
  },
};

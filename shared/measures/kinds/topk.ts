import { objectColumns } from '../columns.js';
import { compareText, differenceOf, type Measure, type MeasureKind } from '../kind.js';
import { distinctForm } from './distinct.js';

export interface TopkSpec {
  readonly kind: 'topk';
  readonly path: string;
  /** how many values an answer lists */
  readonly k: number;
  /** counters the summary keeps (default 10·k, at least 64) */
  readonly capacity: number;
}

/**
 * A Misra-Gries summary: at most `capacity` counters, values in code point order (so a state
 * has one form), `n` every value counted. A counter underestimates its value's count by at
 * most `(n − Σ counters) / (capacity + 1)`, and a value missing from it has a count of at
 * most that.
 */
export interface TopkState {
  values: string[];
  counts: number[];
  n: number;
}

export interface TopkResult {
  /** the k largest counters, by count (descending), then value (code point order) */
  readonly top: ReadonlyArray<{ readonly value: string; readonly count: number }>;
  /** values counted */
  readonly n: number;
  /** the most any count shown is below the true count (and the most a value not shown can have) */
  readonly error: number;
}

export const MAX_TOPK_K = 1_000;
export const MAX_TOPK_CAPACITY = 100_000;

/** Subtracts the (capacity+1)-th largest count from every counter and drops those at or below 0. */
function prune(s: TopkState, capacity: number): TopkState {
  if (s.values.length <= capacity) return s;
  const delta = [...s.counts].sort((a, b) => b - a)[capacity]!;
  const values: string[] = [];
  const counts: number[] = [];
  for (let i = 0; i < s.values.length; i++) {
    if (s.counts[i]! > delta) {
      values.push(s.values[i]!);
      counts.push(s.counts[i]! - delta);
    }
  }
  return { values, counts, n: s.n };
}

export function topk(k: number, capacity: number): Measure<TopkState, TopkResult> {
  const union = (a: TopkState, b: TopkState): TopkState => {
    const values: string[] = [];
    const counts: number[] = [];
    let i = 0;
    let j = 0;
    while (i < a.values.length || j < b.values.length) {
      const c = i >= a.values.length ? 1 : j >= b.values.length ? -1 : compareText(a.values[i]!, b.values[j]!);
      if (c === 0) {
        values.push(a.values[i]!);
        counts.push(a.counts[i++]! + b.counts[j++]!);
      } else if (c < 0) {
        values.push(a.values[i]!);
        counts.push(a.counts[i++]!);
      } else {
        values.push(b.values[j]!);
        counts.push(b.counts[j++]!);
      }
    }
    return prune({ values, counts, n: a.n + b.n }, capacity);
  };
  return {
    kind: 'topk',
    init: () => ({ values: [], counts: [], n: 0 }),
    add: (s, v) => {
      const form = distinctForm(v);
      if (form === undefined) return s;
      s.n++;
      let lo = 0;
      let hi = s.values.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const c = compareText(s.values[mid]!, form);
        if (c === 0) {
          s.counts[mid]!++;
          return s;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
      }
      s.values.splice(lo, 0, form);
      s.counts.splice(lo, 0, 1);
      if (s.values.length <= capacity) return s;
      // Misra-Gries: capacity + 1 counters, so every one goes down by the smallest.
      const pruned = prune(s, capacity);
      s.values = pruned.values;
      s.counts = pruned.counts;
      return s;
    },
    merge: union,
    absorb: union,
    result: (s) => {
      const order = s.values.map((_, i) => i).sort((x, y) => s.counts[y]! - s.counts[x]! || compareText(s.values[x]!, s.values[y]!));
      const kept = s.counts.reduce((a, b) => a + b, 0);
      return { top: order.slice(0, k).map((i) => ({ value: s.values[i]!, count: s.counts[i]! })), n: s.n, error: (s.n - kept) / (capacity + 1) };
    },
  };
}

/**
 * `topk: <path>, k: N` (at most 1,000; `capacity` counters, default max(10·N, 64)): the N most
 * frequent values of a field and their counts, from a Misra-Gries summary. Mergeable and
 * deterministic, but not one state per multiset: a summary merged in another order can hold
 * other counters. So engines agree within the bound, not bit for bit: every count shown is
 * at most `error` = (n − Σ counters)/(capacity + 1) below the exact count, `n` is exact, and
 * verification compares two summaries value by value within the sum of their bounds. While a
 * group has at most `capacity` distinct values the counts are exact (error 0) everywhere.
 */
export const topkKind: MeasureKind<TopkSpec> = {
  name: 'topk',
  options: ['k', 'capacity'],
  spec: (path, options, problem) => {
    if (path === undefined) return undefined;
    const k = options.k;
    if (!Number.isInteger(k) || (k as number) < 1 || (k as number) > MAX_TOPK_K) {
      problem(`topk: k must be an integer from 1 to ${MAX_TOPK_K}, got ${JSON.stringify(k)}`);
      return undefined;
    }
    const capacity = options.capacity ?? Math.max(10 * (k as number), 64);
    if (!Number.isInteger(capacity) || (capacity as number) < (k as number) || (capacity as number) > MAX_TOPK_CAPACITY) {
      problem(`topk: capacity must be an integer from k (${String(k)}) to ${MAX_TOPK_CAPACITY}, got ${JSON.stringify(capacity)}`);
      return undefined;
    }
    return { kind: 'topk', path, k: k as number, capacity: capacity as number };
  },
  monoid: (spec) => topk(spec.k, spec.capacity),
  columns: (spec) =>
    objectColumns(topk(spec.k, spec.capacity), (s) => ({ values: s.values.slice(), counts: s.counts.slice(), n: s.n }), (s) => 24 + s.values.reduce((n, v) => n + 24 + 2 * v.length, 0)),
  isEmpty: (s: TopkState) => s.n === 0,
  // Exact counts per value and group, then the summary of that multiset in one step: the
  // (capacity+1)-th largest count taken off every counter (rank by count, ties by value).
  sql: (spec, { m, group, side, int, text }) => ({
    input: `${text(spec.path)} AS ${m}`,
    side: `${side} AS (
          SELECT ${group}, list(v ORDER BY v) FILTER (WHERE c > delta) AS vs, list(c - delta ORDER BY v) FILTER (WHERE c > delta) AS cs, sum(c) AS n
          FROM (SELECT *, coalesce(max(CASE WHEN r = ${int(spec.capacity + 1)} THEN c END) OVER (PARTITION BY ${group}), 0) AS delta
                FROM (SELECT *, row_number() OVER (PARTITION BY ${group} ORDER BY c DESC, v) AS r
                      FROM (SELECT ${group}, ${m} AS v, count(*) AS c FROM base WHERE ${m} IS NOT NULL GROUP BY ${group}, ${m})))
          GROUP BY ${group})`,
    output: `{'v': coalesce(${side}.vs, CAST([] AS VARCHAR[])), 'c': coalesce(${side}.cs, CAST([] AS BIGINT[])), 'n': coalesce(${side}.n, 0)}`,
  }),
  decode: (_spec, c) => ({
    select: [`${c}.v`, `list_transform(${c}.c, x -> CAST(x AS DOUBLE))`, `CAST(${c}.n AS DOUBLE)`],
    read: (columns, row): TopkState => {
      const vs = columns[0]!.getItem(row) as { items: string[] } | null;
      const cs = columns[1]!.getItem(row) as { items: number[] } | null;
      return { values: vs ? [...vs.items] : [], counts: cs ? [...cs.items] : [], n: (columns[2]!.getItem(row) as number | null) ?? 0 };
    },
  }),
  difference: (spec, measure, a: TopkState, b: TopkState) => {
    if (a.n !== b.n) return differenceOf(measure, a, b, Infinity);
    const bound = (s: TopkState) => (s.n - s.counts.reduce((x, y) => x + y, 0)) / (spec.capacity + 1);
    const slack = bound(a) + bound(b);
    const count = (s: TopkState, v: string) => {
      const i = s.values.indexOf(v);
      return i < 0 ? 0 : s.counts[i]!;
    };
    for (const v of new Set([...a.values, ...b.values])) {
      const d = Math.abs(count(a, v) - count(b, v));
      if (d > slack) return differenceOf(measure, a, b, d / Math.max(1, a.n));
    }
    return undefined;
  },
};

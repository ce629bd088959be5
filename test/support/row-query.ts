/**
 * The row-at-a-time answer of a query: what serving computed before the column engine
 * (serving/query/engine.ts), kept as an oracle for it — every source's rows merged group by
 * group into a map, then having, order and the cut.
 */
import { BraidError } from '../../shared/errors.js';
import { GroupTable, bucketOf, Granularities, type CompiledView, type Granularity, type ViewRow } from '../../shared/views/index.js';
import type { Answered, AnswerRow, DimFilter, HavingOp, OrderKey, QueryBudget, ViewQuery } from '../../serving/query/query.js';

/** The groups of a query shape, and (for granularity `all`) the first bucket that held data. */
interface Rolled {
  readonly table: GroupTable;
  readonly first: number;
}

/**
 * Answers a query (contract §10) in its order of steps: select the rows of every source (a
 * batch version, the speed layer's segments, a replay) by range and filters; merge them
 * group by group into the asked granularity and dimensions by merging measure states — so
 * distinct counts and quantiles stay right when rolled up; and only then filter on results
 * (`having`), order, and cut (`offset`, `limit`). So a top-N over batch + speed is exact.
 */
export function answerQuery(view: CompiledView, sources: ReadonlyArray<Iterable<ViewRow>>, q: ViewQuery): Answered {
  const rolled = aggregate(view, sources, q);
  return present(view, rolled.table.rows, q, rolled.first);
}

function matches(filter: DimFilter, value: string | null | undefined): boolean {
  return value === null || value === undefined ? filter.null : filter.values.has(value);
}

/** The rows of `sources` in range and filters, rolled up to the query's bucket and dimensions. */
function aggregate(view: CompiledView, sources: ReadonlyArray<Iterable<ViewRow>>, q: ViewQuery): Rolled {
  const { def } = view;
  const groups = new GroupTable(view.measures);
  const all = q.granularity === 'all';
  const same = !all && Granularities[q.granularity as Granularity] === Granularities[def.granularity];
  const budget = q.budget;
  let first = Infinity;
  let scanned = 0;
  let touched = 0;
  for (const source of sources) {
    rows: for (const row of source) {
      // The budget bounds how long one query holds the event loop, which ingest shares.
      if (budget && (++scanned & 4_095) === 0) checkBudget(budget, touched);
      // A coarser bucket wholly inside [from, to) is what a half-open range means here:
      // rows are filtered on their own (finest) bucket, then rolled up.
      if (q.from !== undefined && row.bucket < q.from) continue;
      if (q.to !== undefined && row.bucket >= q.to) continue;
      for (const [i, filter] of q.where) if (!matches(filter, row.dims[i])) continue rows;
      for (const [i, filter] of q.whereNot) {
        // A missing (null) dimension equals none of the listed values: it is kept, unless null is listed.
        if (matches(filter, row.dims[i])) continue rows;
      }
      if (budget && ++touched > budget.maxGroups) checkBudget(budget, touched);
      if (row.bucket < first) first = row.bucket;
      const bucket = all ? 0 : same ? row.bucket : bucketOf(row.bucket, q.granularity as Granularity);
      // The group's states start from init(): they are this query's own, absorbed in place.
      groups.mergeRow(bucket, q.groupBy.map((i) => row.dims[i] ?? null), row.states);
    }
  }
  return { table: groups, first };
}

function checkBudget(budget: QueryBudget, touched: number): void {
  const narrow = 'narrow it with from/to, where.<dimension> or fewer group_by dimensions, or ask a coarser granularity';
  if (touched > budget.maxGroups) {
    throw new BraidError('query_too_large', `the query merges more than ${budget.maxGroups} groups (query.maxGroups); ${narrow}`);
  }
  if (Date.now() > budget.deadline) {
    throw new BraidError('query_too_large', `the query ran longer than ${budget.timeoutMs} ms (query.timeoutMs) and was stopped; ${narrow}`);
  }
}

/** One group on its way out: its results are computed once, and only those the query reads. */
interface Candidate {
  readonly row: ViewRow;
  readonly results: unknown[];
}

function resultOf(view: CompiledView, c: Candidate, measure: number, q?: string): number | null {
  if (c.results[measure] === undefined) c.results[measure] = view.measures[measure]!.result(c.row.states[measure]);
  const r = c.results[measure] as number | Record<string, number | null> | null;
  if (q !== undefined) return r === null ? null : ((r as Record<string, number | null>)[q] ?? null);
  return typeof r === 'number' ? r : null;
}

const OPS: Record<HavingOp, (a: number, b: number) => boolean> = {
  gt: (a, b) => a > b,
  gte: (a, b) => a >= b,
  lt: (a, b) => a < b,
  lte: (a, b) => a <= b,
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
};

/** Compares two values of a key: nulls last whichever the direction. */
function compareValues(a: string | number | null, b: string | number | null, desc: boolean): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const c = a < b ? -1 : 1;
  return desc ? -c : c;
}

function present(view: CompiledView, groups: ReadonlyMap<string, ViewRow>, q: ViewQuery, first: number): Answered {
  const { measures, measureNames, def } = view;
  // `having` on the merged results; a null result compares as SQL's NULL does: it is dropped.
  let candidates: Candidate[] = [];
  for (const row of groups.values()) {
    const c: Candidate = { row, results: new Array(measures.length) };
    let keep = true;
    for (const h of q.having) {
      const v = resultOf(view, c, h.measure, h.q);
      if (v === null || !OPS[h.op](v, h.value)) {
        keep = false;
        break;
      }
    }
    if (keep) candidates.push(c);
  }
  const valueOf = (c: Candidate, key: OrderKey): string | number | null =>
    key.kind === 'bucket' ? c.row.bucket : key.kind === 'dimension' ? (c.row.dims[key.index] ?? null) : resultOf(view, c, key.index, key.q);
  const compare = (a: Candidate, b: Candidate): number => {
    for (const key of q.orderBy) {
      const c = compareValues(valueOf(a, key), valueOf(b, key), key.desc);
      if (c !== 0) return c;
    }
    // Ties (and the default order): bucket, then the dimensions, ascending, nulls last.
    if (a.row.bucket !== b.row.bucket) return a.row.bucket - b.row.bucket;
    for (let i = 0; i < a.row.dims.length; i++) {
      const c = compareValues(a.row.dims[i] ?? null, b.row.dims[i] ?? null, false);
      if (c !== 0) return c;
    }
    return 0;
  };
  const total = candidates.length;
  const wanted = q.offset + q.limit;
  // A top-N of a large answer keeps a bounded heap instead of sorting every group.
  candidates = wanted * 8 < total ? smallest(candidates, wanted, compare) : candidates.sort(compare);
  const page = candidates.slice(q.offset, wanted);
  const all = q.granularity === 'all';
  const allBucket = q.from ?? (Number.isFinite(first) ? first : 0);
  const rows = page.map((c) => {
    const out: AnswerRow = { bucket: new Date(all ? allBucket : c.row.bucket).toISOString() };
    q.groupBy.forEach((dimIndex, j) => {
      out[def.dimensions[dimIndex]!] = c.row.dims[j];
    });
    measureNames.forEach((name, i) => {
      out[name] = c.results[i] !== undefined ? c.results[i] : measures[i]!.result(c.row.states[i]);
    });
    return out;
  });
  return { rows, groups: total, truncated: wanted < total };
}

/** The `k` smallest items by `compare`, in order: a max-heap of `k`, one pass. */
function smallest<T>(items: readonly T[], k: number, compare: (a: T, b: T) => number): T[] {
  const heap: T[] = [];
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compare(heap[i]!, heap[parent]!) <= 0) return;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && compare(heap[l]!, heap[top]!) > 0) top = l;
      if (r < heap.length && compare(heap[r]!, heap[top]!) > 0) top = r;
      if (top === i) return;
      [heap[i], heap[top]] = [heap[top]!, heap[i]!];
      i = top;
    }
  };
  for (const item of items) {
    if (heap.length < k) {
      heap.push(item);
      up(heap.length - 1);
    } else if (k > 0 && compare(item, heap[0]!) < 0) {
      heap[0] = item;
      down(0);
    }
  }
  return heap.sort(compare);
}

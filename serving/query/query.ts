import { BraidError } from '../../shared/errors.js';
import { GroupTable, absorbStates, bucketOf, Granularities, type CompiledView, type Granularity, type ViewRow, type ViewTable } from '../../shared/views/index.js';

/** A query on one view (contract §8), parsed and checked against the view. */
export interface ViewQuery {
  /** inclusive, epoch ms */
  readonly from?: number;
  /** exclusive, epoch ms */
  readonly to?: number;
  readonly granularity: Granularity;
  /** indexes into the view's dimensions, in answer order */
  readonly groupBy: readonly number[];
  /** dimension index → allowed values */
  readonly where: ReadonlyMap<number, ReadonlySet<string>>;
  readonly limit: number;
  /** what the query may cost: groups read from its sources, and until when it may run (epoch ms) */
  readonly budget?: QueryBudget;
}

export interface QueryBudget {
  readonly maxGroups: number;
  readonly deadline: number;
  /** the settings to name in the error */
  readonly timeoutMs: number;
}

export type AnswerRow = Record<string, unknown> & { bucket: string };

type Groups = ReadonlyMap<string, ViewRow>;

/**
 * Merges the rows of every source (a batch version, the speed layer's accumulators, a
 * replay) group by group, rolling up to the asked granularity and dimensions by merging
 * measure states — so distinct counts and quantiles stay correct when rolled up — and
 * only then turns states into results.
 */
export function answerQuery(view: CompiledView, sources: ReadonlyArray<Iterable<ViewRow>>, q: ViewQuery): AnswerRow[] {
  return present(view, aggregate(view, sources, q).rows, q);
}

// A batch table never changes once loaded, so its roll-up for a query shape is kept (per
// table, dropped with it) and only the speed layer's recent rows are merged per request.
// Only real roll-ups are kept (coarser buckets or fewer dimensions: a query at the view's
// own shape would copy the table for nothing), and all kept roll-ups of a table together
// hold at most as many groups as the table itself.
const rollups = new WeakMap<ViewTable, { entries: Map<string, GroupTable>; groups: number }>();

/** answerQuery for an immutable base table plus live sources, reusing the base's roll-up. */
export function answerQueryOver(view: CompiledView, base: ViewTable, live: ReadonlyArray<Iterable<ViewRow>>, q: ViewQuery): AnswerRow[] {
  const rollsUp = q.granularity !== view.def.granularity || q.groupBy.length < view.def.dimensions.length;
  if (!rollsUp) return answerQuery(view, [base.rows.values(), ...live], q);
  let cache = rollups.get(base);
  if (!cache) {
    cache = { entries: new Map(), groups: 0 };
    rollups.set(base, cache);
  }
  const key = JSON.stringify([q.from, q.to, q.granularity, q.groupBy, [...q.where].map(([i, v]) => [i, [...v].sort()]).sort()]);
  let baseGroups = cache.entries.get(key);
  if (!baseGroups) {
    baseGroups = aggregate(view, [base.rows.values()], q);
    const limit = Math.max(base.size, 1_000);
    for (const [oldest, groups] of cache.entries) {
      if (cache.groups + baseGroups.size <= limit) break;
      cache.entries.delete(oldest);
      cache.groups -= groups.size;
    }
    if (cache.groups + baseGroups.size <= limit) {
      cache.entries.set(key, baseGroups);
      cache.groups += baseGroups.size;
    }
  }
  // The live groups are this request's own: the cached base states are absorbed into them,
  // never the other way round.
  const merged = new Map(baseGroups.rows);
  for (const [k, g] of aggregate(view, live, q).rows) {
    const b = baseGroups.rows.get(k);
    if (b) absorbStates(view.measures, g.states, b.states);
    merged.set(k, g);
  }
  return present(view, merged, q);
}

/** The rows of `sources` in range and filter, rolled up to the query's bucket and dimensions. */
function aggregate(view: CompiledView, sources: ReadonlyArray<Iterable<ViewRow>>, q: ViewQuery): GroupTable {
  const { def } = view;
  const groups = new GroupTable(view.measures);
  const size = Granularities[q.granularity];
  const budget = q.budget;
  let scanned = 0;
  let touched = 0;
  for (const source of sources) {
    for (const row of source) {
      // The budget bounds how long one query holds the event loop, which ingest shares.
      if (budget && (++scanned & 4_095) === 0) checkBudget(budget, touched);
      // A coarser bucket wholly inside [from, to) is what a half-open range means here:
      // rows are filtered on their own (finest) bucket, then rolled up.
      if (q.from !== undefined && row.bucket < q.from) continue;
      if (q.to !== undefined && row.bucket >= q.to) continue;
      let keep = true;
      for (const [i, values] of q.where) {
        const v = row.dims[i];
        if (v === null || v === undefined || !values.has(v)) {
          keep = false;
          break;
        }
      }
      if (!keep) continue;
      if (budget && ++touched > budget.maxGroups) checkBudget(budget, touched);
      const bucket = size === Granularities[def.granularity] ? row.bucket : bucketOf(row.bucket, q.granularity);
      // The group's states start from init(): they are this query's own, absorbed in place.
      groups.mergeRow(bucket, q.groupBy.map((i) => row.dims[i] ?? null), row.states);
    }
  }
  return groups;
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

function present(view: CompiledView, groups: Groups, q: ViewQuery): AnswerRow[] {
  const { measures, measureNames, def } = view;
  const ordered = [...groups.values()].sort((a, b) => a.bucket - b.bucket || compareDims(a.dims, b.dims));
  return ordered.slice(0, q.limit).map((g) => {
    const out: AnswerRow = { bucket: new Date(g.bucket).toISOString() };
    q.groupBy.forEach((dimIndex, j) => {
      out[def.dimensions[dimIndex]!] = g.dims[j];
    });
    measureNames.forEach((name, i) => {
      out[name] = measures[i]!.result(g.states[i]);
    });
    return out;
  });
}

function compareDims(a: readonly (string | null)[], b: readonly (string | null)[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null) return 1; // nulls last, as in SQL's default for ascending order
    if (y === null) return -1;
    return x < y ? -1 : 1;
  }
  return 0;
}

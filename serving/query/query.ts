import { bucketOf, Granularities, type CompiledView, type Granularity, type ViewRow } from '../../shared/views/index.js';

/** A query on one view (design section 8), parsed and checked against the view. */
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
}

export type AnswerRow = Record<string, unknown> & { bucket: string };

/**
 * Merges the rows of every source (a batch version, the speed layer's accumulators, a
 * replay) group by group, rolling up to the asked granularity and dimensions by merging
 * measure states — so distinct counts and quantiles stay correct when rolled up — and
 * only then turns states into results.
 */
export function answerQuery(view: CompiledView, sources: ReadonlyArray<Iterable<ViewRow>>, q: ViewQuery): AnswerRow[] {
  const { measures, measureNames, def } = view;
  const groups = new Map<string, { bucket: number; dims: (string | null)[]; states: unknown[] }>();
  const size = Granularities[q.granularity];
  for (const source of sources) {
    for (const row of source) {
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
      const bucket = size === Granularities[def.granularity] ? row.bucket : bucketOf(row.bucket, q.granularity);
      const dims = q.groupBy.map((i) => row.dims[i] ?? null);
      const key = `${bucket}\u0000${JSON.stringify(dims)}`;
      let group = groups.get(key);
      if (!group) {
        group = { bucket, dims, states: measures.map((m) => m.init()) };
        groups.set(key, group);
      }
      // The group's states start from init(): they are this query's own, absorbed in place.
      for (let i = 0; i < measures.length; i++) group.states[i] = measures[i]!.absorb(group.states[i], row.states[i]);
    }
  }
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

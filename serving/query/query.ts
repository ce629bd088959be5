import type { Granularity } from '../../shared/views/index.js';

/** A dimension filter: the values it lists, and whether it lists null (a missing value) too. */
export interface DimFilter {
  readonly values: ReadonlySet<string>;
  readonly null: boolean;
}

export type HavingOp = 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'ne';

/** One key of `order_by`: the bucket, a dimension (its place in `groupBy`), or a measure (a quantile's `q`). */
export interface OrderKey {
  readonly kind: 'bucket' | 'dimension' | 'measure';
  readonly index: number;
  readonly q?: string;
  readonly desc: boolean;
}

/** A query on one view (contract §10), parsed and checked against the view. */
export interface ViewQuery {
  /** inclusive, epoch ms */
  readonly from?: number;
  /** exclusive, epoch ms */
  readonly to?: number;
  /** `all`: one bucket for the whole range */
  readonly granularity: Granularity | 'all';
  /** indexes into the view's dimensions, in answer order */
  readonly groupBy: readonly number[];
  /** dimension index → the values it must equal one of */
  readonly where: ReadonlyMap<number, DimFilter>;
  /** dimension index → the values it must equal none of */
  readonly whereNot: ReadonlyMap<number, DimFilter>;
  /** on the merged results */
  readonly having: ReadonlyArray<{ readonly measure: number; readonly q?: string; readonly op: HavingOp; readonly value: number }>;
  readonly orderBy: readonly OrderKey[];
  readonly limit: number;
  readonly offset: number;
  /** what the query may cost: groups merged, and until when it may run (epoch ms) */
  readonly budget?: QueryBudget;
}

export interface QueryBudget {
  readonly maxGroups: number;
  readonly deadline: number;
  /** the settings to name in the error */
  readonly timeoutMs: number;
}

/** `bucket` is null in a view without time buckets (granularity none). */
export type AnswerRow = Record<string, unknown> & { bucket: string | null };

/** The rows of an answer, how many groups there were before offset and limit, and whether limit cut some. */
export interface Answered {
  readonly rows: AnswerRow[];
  readonly groups: number;
  readonly truncated: boolean;
}

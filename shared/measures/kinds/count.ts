import { numberColumns } from '../columns.js';
import { differenceOf, numberColumn, relativeDiff, type Measure, type MeasureKind } from '../kind.js';

export interface CountSpec {
  readonly kind: 'count';
}

export const count: Measure<number, number> = {
  kind: 'count',
  init: () => 0,
  add: (s) => s + 1,
  merge: (a, b) => a + b,
  absorb: (a, b) => a + b,
  result: (s) => s,
};

const countColumns = numberColumns((a, b) => a + b, false);

/** `count`: the events of the group. State: an integer, merged by +; exact in every engine. */
export const countKind: MeasureKind<CountSpec> = {
  name: 'count',
  spec: (path, _options, problem) => {
    if (path === undefined) return { kind: 'count' };
    problem('count takes no path; write it as: count');
    return undefined;
  },
  monoid: () => count,
  columns: () => countColumns,
  isEmpty: (s: number) => s === 0,
  sql: (_spec, { m }) => ({ aggregate: `count(*) AS ${m}`, output: `agg.${m}` }),
  decode: (_spec, c) => numberColumn(`CAST(${c} AS DOUBLE)`),
  difference: (_spec, measure, a: number, b: number) => (a === b ? undefined : differenceOf(measure, a, b, relativeDiff(a, b))),
};

import { numberColumns } from '../columns.js';
import { differenceOf, num, numberColumn, relativeDiff, type Measure, type MeasureKind } from '../kind.js';

export interface ExtremeSpec<K extends 'min' | 'max'> {
  readonly kind: K;
  readonly path: string;
}

const extreme = <K extends 'min' | 'max'>(kind: K, pick: (a: number, b: number) => number): Measure<number | null, number | null> => ({
  kind,
  init: () => null,
  add: (s, v) => {
    const x = num(v);
    return x === undefined ? s : s === null ? x : pick(s, x);
  },
  merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
  absorb: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
  result: (s) => s,
});

export const min = extreme('min', Math.min);
export const max = extreme('max', Math.max);

/** `min: <path>` and `max: <path>`: float64 or null, merged by min / max; exact in every engine. */
function extremeKind<K extends 'min' | 'max'>(name: K, monoid: Measure<number | null, number | null>, pick: (a: number, b: number) => number): MeasureKind<ExtremeSpec<K>> {
  const columns = numberColumns(pick, true);
  return {
    name,
    spec: (path) => (path === undefined ? undefined : { kind: name, path }),
    monoid: () => monoid,
    columns: () => columns,
    isEmpty: (s: number | null) => s === null,
    sql: (spec, { m, number }) => ({ input: `${number(spec.path)} AS ${m}`, aggregate: `${name}(${m}) AS ${m}`, output: `agg.${m}` }),
    decode: (_spec, c) => numberColumn(c),
    difference: (_spec, measure, a: number | null, b: number | null) => (a === b ? undefined : differenceOf(measure, a, b, relativeDiff(a, b))),
  };
}

export const minKind = extremeKind('min', min, Math.min);
export const maxKind = extremeKind('max', max, Math.max);

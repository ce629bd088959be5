import { objectColumns } from '../columns.js';
import { compareText, differenceOf, type Measure, type MeasureKind } from '../kind.js';
import { distinctForm } from './distinct.js';

export interface ValuesSpec {
  readonly kind: 'values';
  readonly path: string;
  /** the most values kept */
  readonly max: number;
}

/** Distinct values (string forms) in code point order, at most `max`; `truncated` when there were more. */
export interface ValuesState {
  values: string[];
  truncated: boolean;
}

export interface ValuesResult {
  readonly values: readonly string[];
  readonly truncated: boolean;
}

export const DEFAULT_VALUES_MAX = 100;
export const MAX_VALUES_MAX = 10_000;

/**
 * The set of distinct values, and when it holds more than `max`, its `max` smallest in code
 * point order (DuckDB's binary order): the smallest of a union are among the smallest of each
 * part, so the state of a set is one and the same however it was merged.
 */
export function values(max: number): Measure<ValuesState, ValuesResult> {
  const mergeInto = (into: ValuesState, from: ValuesState): ValuesState => {
    if (from.values.length === 0) {
      into.truncated ||= from.truncated;
      return into;
    }
    const out: string[] = [];
    const a = into.values;
    const b = from.values;
    let i = 0;
    let j = 0;
    while ((i < a.length || j < b.length) && out.length <= max) {
      const c = i >= a.length ? 1 : j >= b.length ? -1 : compareText(a[i]!, b[j]!);
      if (c <= 0) out.push(a[i++]!);
      else out.push(b[j++]!);
      if (c === 0) j++;
    }
    const truncated = into.truncated || from.truncated || out.length > max || i < a.length || j < b.length;
    if (out.length > max) out.length = max;
    into.values = out;
    into.truncated = truncated;
    return into;
  };
  return {
    kind: 'values',
    init: () => ({ values: [], truncated: false }),
    add: (s, v) => {
      const form = distinctForm(v);
      if (form === undefined) return s;
      // Binary search for the place; the list is at most `max` long.
      let lo = 0;
      let hi = s.values.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const c = compareText(s.values[mid]!, form);
        if (c === 0) return s;
        if (c < 0) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= max) {
        s.truncated = true;
        return s;
      }
      s.values.splice(lo, 0, form);
      if (s.values.length > max) {
        s.values.length = max;
        s.truncated = true;
      }
      return s;
    },
    merge: (a, b) => mergeInto({ values: a.values.slice(), truncated: a.truncated }, b),
    absorb: mergeInto,
    result: (s) => ({ values: s.values.slice(), truncated: s.truncated }),
  };
}

/**
 * `values: <path>, max: N` (default 100, at most 10,000): the distinct values of a field (as
 * dimension strings), e.g. a customer's order ids, in code point order, with `truncated` when
 * there were more than N (then the N smallest). Identical in every engine.
 */
export const valuesKind: MeasureKind<ValuesSpec> = {
  name: 'values',
  options: ['max'],
  spec: (path, options, problem) => {
    if (path === undefined) return undefined;
    const max = options.max ?? DEFAULT_VALUES_MAX;
    if (!Number.isInteger(max) || (max as number) < 1 || (max as number) > MAX_VALUES_MAX) {
      problem(`values: max must be an integer from 1 to ${MAX_VALUES_MAX}, got ${JSON.stringify(max)}`);
      return undefined;
    }
    return { kind: 'values', path, max: max as number };
  },
  monoid: (spec) => values(spec.max),
  columns: (spec) => objectColumns(values(spec.max), (s) => ({ values: s.values.slice(), truncated: s.truncated }), (s) => 16 + s.values.reduce((n, v) => n + 16 + 2 * v.length, 0)),
  isEmpty: (s: ValuesState) => s.values.length === 0 && !s.truncated,
  sql: (spec, { m, text, int }) => ({
    input: `${text(spec.path)} AS ${m}`,
    aggregate: `{'v': coalesce(list_slice(list(DISTINCT ${m} ORDER BY ${m}) FILTER (WHERE ${m} IS NOT NULL), 1, ${int(spec.max)}), CAST([] AS VARCHAR[])), 'x': count(DISTINCT ${m}) > ${int(spec.max)}} AS ${m}`,
    output: `agg.${m}`,
  }),
  decode: (_spec, c) => ({
    select: [`${c}.v`, `${c}.x`],
    read: (columns, row): ValuesState => {
      const list = columns[0]!.getItem(row) as { items: string[] } | null;
      return { values: list ? [...list.items] : [], truncated: columns[1]!.getItem(row) === true };
    },
  }),
  difference: (_spec, measure, a: ValuesState, b: ValuesState) =>
    a.truncated === b.truncated && a.values.length === b.values.length && a.values.every((v, i) => v === b.values[i]) ? undefined : differenceOf(measure, a, b, Infinity),
};

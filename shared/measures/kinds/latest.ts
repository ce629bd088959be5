import { objectColumns } from '../columns.js';
import { differenceOf, type Measure, type MeasureKind, type Place } from '../kind.js';
import { distinctForm } from './distinct.js';

export interface PlacedSpec<K extends 'latest' | 'first'> {
  readonly kind: K;
  readonly path: string;
}

/** The value of one record and where it is: `t` event time, `p` partition, `o` offset, `v` the value's string form. */
export interface PlacedValue {
  readonly t: number;
  readonly p: number;
  readonly o: number;
  readonly v: string;
}

/** Records in event time, then (partition, offset): the order in which `latest` is the last and `first` the first. */
export function comparePlaces(a: PlacedValue, b: PlacedValue): number {
  return a.t - b.t || a.p - b.p || a.o - b.o;
}

const placed = <K extends 'latest' | 'first'>(kind: K, keepsLater: boolean): Measure<PlacedValue | null, string | null> => {
  const pick = (a: PlacedValue | null, b: PlacedValue | null): PlacedValue | null => {
    if (a === null) return b;
    if (b === null) return a;
    return comparePlaces(a, b) > 0 === keepsLater ? a : b;
  };
  return {
    kind,
    init: () => null,
    add: (s, v, at?: Place) => {
      const form = distinctForm(v);
      if (form === undefined) return s;
      if (at === undefined) throw new Error(`${kind}: a value needs its record's place (time, partition, offset)`);
      // The state stays when it wins (most events of an entity are not its newest in a
      // catch-up of late events, and every event is in `first`): no object for a loser.
      if (s !== null && (s.t - at.time || s.p - at.partition || s.o - at.offset) > 0 === keepsLater) return s;
      return { t: at.time, p: at.partition, o: at.offset, v: form };
    },
    merge: pick,
    absorb: pick,
    result: (s) => (s === null ? null : s.v),
  };
};

export const latest = placed('latest', true);
export const first = placed('first', false);

/**
 * `latest: <path>` and `first: <path>`: the value at the path (its string form, as a
 * dimension's; missing, null, objects and lists skipped like SQL NULL) of the view's newest /
 * oldest record by event time, ties broken by partition, then offset — one record in every
 * engine, so the state (time, partition, offset, value) is identical everywhere. SQL takes
 * max / min of the struct, which DuckDB orders field by field.
 */
function placedKind<K extends 'latest' | 'first'>(name: K, monoid: Measure<PlacedValue | null, string | null>): MeasureKind<PlacedSpec<K>> {
  const columns = objectColumns(monoid, (s) => s, (s) => (s === null ? 8 : 32 + 2 * s.v.length));
  return {
    name,
    spec: (path) => (path === undefined ? undefined : { kind: name, path }),
    monoid: () => monoid,
    columns: () => columns,
    isEmpty: (s: PlacedValue | null) => s === null,
    sql: (spec, { m, text, place }) => ({
      input: `{'t': ${place.time}, 'p': ${place.partition}, 'o': ${place.offset}, 'v': ${text(spec.path)}} AS ${m}`,
      aggregate: `${name === 'latest' ? 'max' : 'min'}(${m}) FILTER (WHERE ${m}.v IS NOT NULL) AS ${m}`,
      output: `agg.${m}`,
    }),
    decode: (_spec, c) => ({
      select: [`${c}.t`, `${c}.p`, `${c}.o`, `${c}.v`],
      read: (columns, row): PlacedValue | null => {
        const v = columns[3]!.getItem(row) as string | null;
        if (v === null) return null;
        return { t: Number(columns[0]!.getItem(row) as bigint), p: columns[1]!.getItem(row) as number, o: Number(columns[2]!.getItem(row) as bigint), v };
      },
    }),
    difference: (_spec, measure, a: PlacedValue | null, b: PlacedValue | null) =>
      (a === null && b === null) || (a !== null && b !== null && comparePlaces(a, b) === 0 && a.v === b.v) ? undefined : differenceOf(measure, a, b, Infinity),
  };
}

export const latestKind = placedKind('latest', latest);
export const firstKind = placedKind('first', first);

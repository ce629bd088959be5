import type { DuckDBListVector, DuckDBType, DuckDBValue, DuckDBVector } from '@duckdb/node-api';
import type { ColumnForm } from './columns.js';

/**
 * Every measure is a monoid (contract §4): `init()` is the identity, `merge` is
 * associative and commutative, and `add(s, v)` folds one value in. Batch (reading states
 * computed in SQL), speed and Kappa replay all use these, so they agree by construction.
 *
 * `add` may update the state it is given and returns it (an accumulator owns its state;
 * copying 16 KiB of HLL registers per event would be absurd); `merge` never changes its
 * inputs.
 */
export interface Measure<S = unknown, R = unknown> {
  readonly kind: string;
  init(): S;
  /** `at`: the record's place, for the kinds that order records (latest, first) */
  add(state: S, value: unknown, at?: Place): S;
  merge(a: S, b: S): S;
  /**
   * `merge` for an accumulator the caller owns: folds `from` into `into`, may update `into`
   * and returns it; never changes `from`. Queries and loads roll up thousands of groups
   * through this without copying sketches per row.
   */
  absorb(into: S, from: S): S;
  result(state: S): R;
}

/**
 * Where a record is, in the order every engine agrees on: event time, then partition, then
 * offset (unique per record), so "the newest" is one record wherever it is computed.
 */
export interface Place {
  readonly time: number;
  readonly partition: number;
  readonly offset: number;
}

/**
 * Strings in code point order, which is UTF-8 byte order: DuckDB's (binary collation).
 * JavaScript's `<` compares UTF-16 code units, which puts U+10000 and above (surrogates,
 * 0xD800–0xDFFF) before U+E000–U+FFFF; mapped here to where their code points sort.
 */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

const codePointRank = (unit: number): number => (unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit);

/** A statement with bound parameters: nothing from the config reaches SQL as text. */
export interface Statement {
  readonly sql: string;
  readonly values: Record<string, DuckDBValue>;
  readonly types?: Record<string, DuckDBType>;
}

/**
 * What a measure's SQL may use of the batch layer's view statement. Paths are checked
 * against the path pattern before they get here, and become bound parameters.
 */
export interface SqlContext {
  /** this measure's column alias inside the statement (e.g. `m3`) */
  readonly m: string;
  /** the group columns, `bucket, d0, d1` */
  readonly group: string;
  /** the alias to give a side aggregation, joined back on the group */
  readonly side: string;
  /** a path's value as DOUBLE: NULL unless a JSON number */
  number(path: string): string;
  /** a path's value in its string form (the dimension form): NULL unless a scalar */
  text(path: string): string;
  /** a whole number as a bound parameter (a spec's option, e.g. values' max) */
  int(n: number): string;
  /** the record's place columns, `time`, `partition` and `"offset"` (see Place) */
  readonly place: { readonly time: string; readonly partition: string; readonly offset: string };
}

/**
 * A measure's state as DuckDB computes it over the deduplicated records of a view:
 * `input` per record (a column `m` of the `base` CTE), `aggregate` per group (a column `m`
 * of `agg`), or a `side` CTE named `ctx.side` joined back on the group; `output` is the
 * state column of the version's Parquet file.
 */
export interface MeasureSql {
  readonly input?: string;
  readonly aggregate?: string;
  readonly side?: string;
  readonly output: string;
}

/** Reads a measure's state back from a version's Parquet: the columns selected, then per row. */
export interface StateDecoder {
  readonly select: readonly string[];
  read(columns: readonly DuckDBVector[], row: number): unknown;
}

/** How far the two sides of a verification are apart, where they are further than the kind allows. */
export interface Difference {
  readonly lambda: unknown;
  readonly kappa: unknown;
  /** relative; Infinity for states that must be identical and are not */
  readonly relative: number;
}

/**
 * One kind of measure, whole (the way ClickHouse defines an aggregate function): how the
 * config spells it, its monoid, its DuckDB SQL and the decoding of its stored state, its
 * tolerance between engines. A new kind is one such module and one line in `registry.ts`.
 */
export interface MeasureKind<Spec extends { readonly kind: string } = { readonly kind: string }> {
  readonly name: Spec['kind'];
  /** the keys it takes beside its path, e.g. quantile's `q` */
  readonly options?: readonly string[];
  /**
   * The spec from the config's form: `count` (no path) or `{ <name>: <path>, ...options }`.
   * `options` holds the keys beside the path, only those the kind lists; the path is checked.
   */
  spec(path: string | undefined, options: Readonly<Record<string, unknown>>, problem: (message: string) => void): Spec | undefined;
  monoid(spec: Spec): Measure<any, unknown>;
  /** how an immutable table stores the kind's states (typed arrays, packed sketches) */
  columns(spec: Spec): ColumnForm<any>;
  /** whether a state is the identity: a group holding only such states holds nothing */
  isEmpty(state: any): boolean;
  sql(spec: Spec, ctx: SqlContext): MeasureSql;
  /** SQL macros the kind's statements call, created once per connection */
  readonly setup?: readonly string[];
  /** tables the kind's statements join, created once per connection after `setup` */
  setupStatements?(): Statement[];
  decode(spec: Spec, column: string): StateDecoder;
  /** undefined when `a` and `b` agree within the kind's tolerance between engines (contract §4) */
  difference(spec: Spec, measure: Measure<any, unknown>, a: any, b: any): Difference | undefined;
}

/** A numeric measure reads JSON numbers only; anything else is ignored, like SQL NULL. */
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function relativeDiff(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null || b === null) return Infinity;
  return Math.abs(a - b) / Math.max(1, Math.abs(a), Math.abs(b));
}

/** A difference of the results, for a kind's `difference`. */
export function differenceOf(measure: Measure<any, unknown>, a: unknown, b: unknown, relative: number): Difference {
  return { lambda: measure.result(a), kappa: measure.result(b), relative };
}

/** Decodes one numeric column (`CAST` in `select` where the stored type is not DOUBLE). */
export function numberColumn(select: string): StateDecoder {
  return { select: [select], read: (columns, row) => columns[0]!.getItem(row) as number | null };
}

/** A row's list of numbers, read from the list vector's flat child without per-row slices. */
export function listNumbers(vector: DuckDBVector, row: number): number[] {
  const list = vector as DuckDBListVector;
  const from = list.getEntryOffset(row);
  const length = list.getEntryLength(row);
  const child = list.childVector;
  const out = new Array<number>(length);
  for (let i = 0; i < length; i++) out[i] = child.getItem(from + i) as number;
  return out;
}

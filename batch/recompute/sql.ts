import { BIGINT, INTEGER, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import type { DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/types.js';
import { kindOf, measureKinds, type MeasureSpec, type Statement } from '../../shared/measures/index.js';
import { Granularities, PATH_PATTERN, type CompiledView } from '../../shared/views/index.js';

/**
 * The batch layer's SQL: the dedupe rule over the archive below a snapshot S, then one
 * query per view producing, per (bucket, dimension values), each measure's *state* — the
 * same states shared/measures folds in TypeScript, so a loaded version merges with the
 * speed layer's. Every value that comes from the config (event types, where values, JSON
 * paths, the dedupe window, the granularity) is a bound parameter; view, measure and
 * dimension names become quoted identifiers only after the regex checks below. Each measure
 * kind's own SQL (its state per group, its macros) is in its module under shared/measures/kinds.
 */
export type { Statement } from '../../shared/measures/index.js';

const NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** A quoted identifier, checked first: names and paths can hold no quote by construction. */
function ident(name: string, pattern: RegExp = NAME): string {
  if (!pattern.test(name)) throw new BraidError('invalid_config', `"${name}" cannot name a column of a batch view (it must match ${pattern})`);
  return `"${name}"`;
}

/** What a column of a version's Parquet file holds. */
export type VersionColumn =
  | { readonly name: string; readonly role: 'bucket' }
  | { readonly name: string; readonly role: 'dimension'; readonly index: number }
  | { readonly name: string; readonly role: 'measure'; readonly index: number; readonly spec: MeasureSpec };

/**
 * The columns of a view's Parquet file in a version: `bucket` (epoch ms), one VARCHAR per
 * dimension named by its path, one column per measure named by the measure, holding its
 * state (count BIGINT; sum, min, max DOUBLE; avg STRUCT(sum, count); distinct the non-zero
 * HLL registers as a list of STRUCT(idx, rank); quantile STRUCT(pos, neg, zero, count) with
 * the sketch's buckets as lists of STRUCT(index, count)).
 */
export function versionColumns(view: CompiledView): VersionColumn[] {
  const { def } = view;
  const columns: VersionColumn[] = [{ name: 'bucket', role: 'bucket' }];
  def.dimensions.forEach((path, index) => columns.push({ name: path, role: 'dimension', index }));
  view.measureNames.forEach((name, index) => {
    if (def.dimensions.includes(name)) {
      throw new BraidError('invalid_config', `view "${def.name}": measure "${name}" has the name of one of its dimensions; rename the measure`);
    }
    columns.push({ name, role: 'measure', index, spec: def.measures[name]! });
  });
  return columns;
}

/**
 * Helpers every statement uses, created once per connection. `j` is a JSON value as
 * json_extract returns it: the text DuckDB's JSON writer (yyjson) makes of it.
 * - braid_text(j): the value's string form as JavaScript writes it (dimensionValue,
 *   distinctForm): strings as they are, numbers and booleans as their JSON text, NULL
 *   otherwise. yyjson prints a double with the shortest round-trip digits and the same
 *   notation thresholds as ECMAScript's Number::toString, except that it omits the "+" of
 *   a positive exponent (1e21 where JavaScript writes 1e+21): put back. Integers print as
 *   stored, and the stored text was written by JSON.stringify, so it is JavaScript's form
 *   already. A string without escapes is its text between the quotes (it cannot hold a
 *   quote); only one with escapes is parsed.
 * - braid_num(j): a JSON number as DOUBLE; NULL for anything else ("3" is not a number).
 *   A string's text starts with a quote, so it never casts.
 * - and every measure kind's own macros (its `setup`).
 * (test/integration/recompute-equivalence.test.ts checks all of them against TypeScript.)
 */
export const SETUP_SQL = [
  String.raw`CREATE OR REPLACE TEMP MACRO braid_text(j) AS CASE
    WHEN starts_with(j, '"') THEN CASE WHEN contains(j, '\') THEN j ->> '$' ELSE trim(j, '"') END
    WHEN j IN ('true', 'false') THEN CAST(j AS VARCHAR)
    WHEN j = 'null' OR starts_with(j, '{') OR starts_with(j, '[') THEN NULL
    WHEN contains(j, 'e') AND NOT contains(j, 'e-') THEN replace(CAST(j AS VARCHAR), 'e', 'e+')
    ELSE CAST(j AS VARCHAR)
  END`,
  `CREATE OR REPLACE TEMP MACRO braid_num(j) AS TRY_CAST(CAST(j AS VARCHAR) AS DOUBLE)`,
  ...measureKinds().flatMap((k) => k.setup ?? []),
];

/** The tables measure kinds join (the quantile sketch's bounds), created after SETUP_SQL. */
export function setupStatements(): Statement[] {
  return measureKinds().flatMap((k) => k.setupStatements?.() ?? []);
}

export interface SurvivorsInput {
  /** absolute paths of the archive's Parquet files that hold the run's range (at least one) */
  readonly files: readonly string[];
  /** S: records with offset < S[partition] count; partitions not listed count nothing */
  readonly snapshot: Position;
  /**
   * An incremental run's lower end, the previous version's S: only records at or above it
   * are the run's (the records below it are in the previous version already). Absent: 0.
   */
  readonly after?: Position;
  /**
   * For an incremental run, the records before `after` that the dedupe rule can reach from
   * the run's range, per partition: those of its `files` (absolute paths) appended at or
   * after `since` (the range's earliest append time less the window; -Infinity with a window
   * of forever).
   */
  readonly earlier?: ReadonlyArray<{ readonly partition: number; readonly files: readonly string[]; readonly since: number }>;
  /** ms; Infinity for forever */
  readonly dedupeWindowMs: number;
  /** the event types any view reads; survivors of other types are not kept */
  readonly types: readonly string[];
}

/** `braid_snapshot (partition, lo, upto)`: the run's range [lo, upto) per partition, made first. */
export function rangeStatement(snapshot: Position, after: Position = {}): Statement {
  const partitions = Object.keys(snapshot).map(Number);
  return {
    sql: `CREATE OR REPLACE TEMP TABLE braid_snapshot AS SELECT unnest($partitions) AS partition, unnest($lo) AS lo, unnest($upto) AS upto`,
    values: {
      partitions: listValue(partitions),
      lo: listValue(partitions.map((p) => BigInt(Math.min(after[p] ?? 0, snapshot[p]!)))),
      upto: listValue(partitions.map((p) => BigInt(snapshot[p]!))),
    },
    types: { partitions: LIST(INTEGER), lo: LIST(BIGINT), upto: LIST(BIGINT) },
  };
}

/** The run's records: `files` read within braid_snapshot's range. */
const inRange = `(SELECT r.partition, r."offset", r.append_time, r.id, r.type, r.time, r.key, r.data
      FROM read_parquet($files, hive_partitioning = false) r
      JOIN braid_snapshot s ON r.partition = s.partition AND r."offset" >= s.lo AND r."offset" < s.upto)`;

/** Per partition, the earliest append time of the run's records (what an incremental run's `since` starts from). */
export function earliestAppendStatement(files: readonly string[]): Statement {
  return {
    sql: `SELECT partition, min(append_time) FROM ${inRange} GROUP BY partition`,
    values: { files: listValue([...files]) },
    types: { files: LIST(VARCHAR) },
  };
}

/**
 * The records of the run's range that survive the dedupe rule (contract §3), as the temp
 * table `braid_records (id, type, time, key, data)` with key = coalesce(key, id). Two
 * steps after rangeStatement: `braid_duplicates` (partition, offset of every duplicate in the
 * range, an incremental run's reach before it taken into account) and `braid_records`.
 */
export function survivorsStatements(input: SurvivorsInput): Statement[] {
  if (input.files.length === 0) throw new Error('survivorsStatements needs at least one file');
  const files = { files: listValue([...input.files]) };
  const fileTypes = { files: LIST(VARCHAR) };
  const forever = input.dedupeWindowMs === Infinity;
  if (!forever && !(Number.isSafeInteger(input.dedupeWindowMs) && input.dedupeWindowMs >= 0)) {
    throw new BraidError('invalid_config', `dedupe window ${input.dedupeWindowMs} ms: use a whole number of ms, or forever`);
  }
  const earlier = (input.earlier ?? []).filter((e) => e.files.length > 0);
  // Records before the range within the window's reach: they can make a record of the range
  // a duplicate and are not counted themselves (they are in the previous version). One read
  // per partition with constant bounds, so DuckDB skips row groups by their statistics.
  const earlierValues: Record<string, DuckDBValue> = {};
  const earlierTypes: Record<string, DuckDBType> = {};
  const reach = earlier
    .map((e, i) => {
      earlierValues[`earlier${i}`] = listValue([...e.files]);
      earlierTypes[`earlier${i}`] = LIST(VARCHAR);
      earlierValues[`partition${i}`] = e.partition;
      earlierTypes[`partition${i}`] = INTEGER;
      earlierValues[`since${i}`] = Number.isFinite(e.since) ? BigInt(e.since) : -(2n ** 63n); // forever: every earlier record
      earlierTypes[`since${i}`] = BIGINT;
      return `UNION ALL SELECT r.partition, r."offset", r.append_time, r.id, false AS counted
        FROM read_parquet($earlier${i}, hive_partitioning = false) r
        JOIN braid_snapshot s ON r.partition = s.partition AND r."offset" < s.lo
        WHERE r.partition = $partition${i} AND r.append_time >= $since${i}`;
    })
    .join('\n');
  return [
    {
      // The dedupe rule, the same in every engine: a record is a duplicate when an earlier
      // record (by offset) of its partition has the same id and was appended at most the
      // window before it — whatever its type, and whether or not that earlier record was
      // itself a duplicate. The first occurrence survives, with its content. Erased records
      // (id '', which no client id can be) take no part: they are no records. Only ids seen
      // more than once in a partition need the window function. An incremental run sees the
      // records of its range and those before it in reach of the window: an earlier record
      // out of reach was appended more than the window before every record of the range.
      sql: `CREATE OR REPLACE TEMP TABLE braid_duplicates AS
        WITH scope AS (SELECT * FROM (SELECT partition, "offset", append_time, id, true AS counted FROM ${inRange} ${reach}) WHERE id <> ''),
        repeated AS (SELECT partition, id FROM scope GROUP BY partition, id HAVING count(*) > 1),
        candidates AS (
          SELECT b.partition, b."offset", b.append_time, b.counted,
            max(b.append_time) OVER (PARTITION BY b.partition, b.id ORDER BY b."offset"
              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier
          FROM scope b SEMI JOIN repeated USING (partition, id))
        SELECT partition, "offset" FROM candidates
        WHERE counted AND ${forever ? 'earlier IS NOT NULL' : 'earlier >= append_time - $window'}`,
      values: forever ? { ...files, ...earlierValues } : { ...files, ...earlierValues, window: BigInt(input.dedupeWindowMs) },
      types: forever ? { ...fileTypes, ...earlierTypes } : { ...fileTypes, ...earlierTypes, window: BIGINT },
    },
    {
      sql: `CREATE OR REPLACE TEMP TABLE braid_records AS
        SELECT partition, "offset", id, type, time, coalesce(key, id) AS key, ${wellFormed('data')} AS data
        FROM ${inRange} b
        ANTI JOIN braid_duplicates d USING (partition, "offset")
        WHERE list_contains($types, type)`,
      values: { ...files, types: listValue([...input.types]) },
      types: { ...fileTypes, types: LIST(VARCHAR) },
    },
  ];
}

/** The empty `braid_records`, for a snapshot with no records. */
export const EMPTY_RECORDS_SQL = 'CREATE OR REPLACE TEMP TABLE braid_records (partition INTEGER, "offset" BIGINT, id VARCHAR, type VARCHAR, time BIGINT, key VARCHAR, data VARCHAR)';

/**
 * JSON.stringify writes a string's lone surrogate as an escape (\ud800), which DuckDB's
 * JSON parser rejects, and one such event would fail every run. Such escapes become
 * U+FFFD, which is also what Node hashes for a lone surrogate (UTF-8 encoding replaces
 * it), so distinct counts agree; as a dimension value it reads U+FFFD in batch results.
 * Splitting on escaped backslashes first keeps a literal "\\ud800" text intact. Only
 * stored JSON with a \u escape at all pays for this.
 */
function wellFormed(column: string): string {
  const fixed = String.raw`array_to_string(list_transform(string_split(${column}, '\\'),
      part -> regexp_replace(part, '\\u[dD][89a-fA-F][0-9a-fA-F]{2}', '\\ufffd', 'g')), '\\')`;
  return String.raw`CASE WHEN contains(${column}, '\u') THEN ${fixed} ELSE ${column} END`;
}

/** `data.a.b` → `$."a"."b"`: segments are [A-Za-z_][A-Za-z0-9_-]*, so quoting is safe. */
export function jsonPath(path: string): string {
  return `$${path.split('.').slice(1).map((s) => `."${s}"`).join('')}`;
}

/**
 * One view's query over `braid_records`: a row per (bucket, dimension values) with every
 * measure's state, in the columns of versionColumns(view), ordered by bucket and dimensions.
 */
export function viewStatement(view: CompiledView): Statement {
  const { def } = view;
  const columns = versionColumns(view);
  const values: Record<string, DuckDBValue> = {};
  const types: Record<string, DuckDBType> = {};
  const bind = (name: string, value: DuckDBValue, type: DuckDBType): string => {
    values[name] = value;
    types[name] = type;
    return `$${name}`;
  };

  // Every data path the view reads, extracted by one json_extract (one parse per record).
  const dataPaths: string[] = [];
  const jsonOf = (path: string): string => {
    if (!dataPaths.includes(path)) dataPaths.push(path);
    return `j[${dataPaths.indexOf(path) + 1}]`;
  };
  const textOf = (path: string): string => {
    if (!PATH_PATTERN.test(path)) throw new BraidError('invalid_config', `view "${def.name}": bad path "${path}"`);
    return path === 'id' || path === 'type' || path === 'key' ? path : `braid_text(${jsonOf(path)})`;
  };
  const numberOf = (path: string): string => (path.startsWith('data.') ? `braid_num(${jsonOf(path)})` : 'CAST(NULL AS DOUBLE)');

  const dims = def.dimensions.map((_, i) => `d${i}`);
  const dimSelect = def.dimensions.map((path, i) => `${textOf(path)} AS d${i}`);
  const where = Object.entries(def.where).map(([path, allowed], i) => `list_contains(${bind(`where${i}`, listValue([...allowed]), LIST(VARCHAR))}, ${textOf(path)})`);
  const inputs: string[] = [];
  const aggregates: string[] = [];
  const sides: Array<{ alias: string; sql: string }> = [];
  const finals: string[] = [];
  const group = ['bucket', ...dims].join(', ');
  const joinOn = (alias: string) => ['bucket', ...dims].map((c) => `agg.${c} IS NOT DISTINCT FROM ${alias}.${c}`).join(' AND ');

  for (const column of columns) {
    if (column.role !== 'measure') continue;
    const { spec, index: i } = column;
    const side = `s${i}`;
    const int = (n: number) => bind(`m${i}_n${Object.keys(values).length}`, BigInt(n), BIGINT);
    const place = { time: 'time', partition: 'partition', offset: '"offset"' };
    const part = kindOf(spec).sql(spec, { m: `m${i}`, group, side, number: numberOf, text: textOf, int, place });
    if (part.input) inputs.push(part.input);
    if (part.aggregate) aggregates.push(part.aggregate);
    if (part.side) sides.push({ alias: side, sql: part.side });
    finals.push(`${part.output} AS ${ident(column.name)}`);
  }

  // granularity none: one bucket (0) for all time, an entity view.
  const granularity = def.granularity === 'none' ? undefined : bind('granularity', BigInt(Granularities[def.granularity]), BIGINT);
  const typeList = bind('types', listValue([...def.events]), LIST(VARCHAR));
  const extract = dataPaths.length > 0 ? `json_extract(data, ${bind('paths', listValue(dataPaths.map(jsonPath)), LIST(VARCHAR))})` : 'CAST(NULL AS JSON[])';
  const dimOut = def.dimensions.map((path, i) => `agg.d${i} AS ${ident(path, PATH_PATTERN)}`);

  const sql = `WITH parsed AS (
      SELECT time, partition, "offset", id, type, key, ${extract} AS j FROM braid_records WHERE list_contains(${typeList}, type)
    ),
    base AS MATERIALIZED (
      SELECT ${granularity ? `CAST(floor(time / ${granularity}) * ${granularity} AS BIGINT)` : 'CAST(0 AS BIGINT)'} AS bucket
        ${[...dimSelect, ...inputs].map((e) => `, ${e}`).join('')}
      FROM parsed
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ),
    agg AS (SELECT ${[group, ...aggregates].join(', ')} FROM base GROUP BY ${group})
    ${sides.map((side) => `, ${side.sql}`).join('\n')}
    SELECT agg.bucket AS bucket${[...dimOut, ...finals].map((e) => `, ${e}`).join('')}
    FROM agg ${sides.map(({ alias }) => `LEFT JOIN ${alias} ON ${joinOn(alias)}`).join(' ')}
    ORDER BY ${['agg.bucket', ...dims.map((d) => `agg.${d}`)].join(', ')}`;
  return { sql, values, types };
}

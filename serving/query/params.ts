import { BraidError } from '../../shared/errors.js';
import { parseEventTime } from '../../shared/events/index.js';
import { canRollUp, Granularities, type CompiledView, type Granularity } from '../../shared/views/index.js';
import { Sources, type Source } from '../../lambda/index.js';
import type { DimFilter, HavingOp, OrderKey, ViewQuery } from './query.js';

export { Sources, type Source };

export const MAX_LIMIT = 100_000;
export const DEFAULT_LIMIT = 10_000;
export const Formats = ['json', 'csv'] as const;
export type Format = (typeof Formats)[number];
export const HavingOps = ['gt', 'gte', 'lt', 'lte', 'eq', 'ne'] as const;

/**
 * A query as a JSON body (POST /v1/views/:name/query) — the one form every query is checked
 * in; the query string is read into it first (`fromQueryString`).
 */
export interface QueryRequest {
  readonly from?: string | number;
  readonly to?: string | number;
  readonly granularity?: string;
  readonly groupBy?: readonly string[];
  readonly where?: Readonly<Record<string, ReadonlyArray<string | null>>>;
  readonly whereNot?: Readonly<Record<string, ReadonlyArray<string | null>>>;
  readonly having?: ReadonlyArray<{ readonly measure: string; readonly op: string; readonly value: number }>;
  readonly orderBy?: ReadonlyArray<{ readonly key: string; readonly desc?: boolean }>;
  readonly limit?: number;
  readonly offset?: number;
  readonly source?: string;
  readonly format?: string;
}

/** Kinds whose answers are values or lists, not numbers: no order_by or having on them. */
const NOT_NUMERIC = new Set(['latest', 'first', 'values', 'topk']);
const KNOWN = new Set(['from', 'to', 'granularity', 'group_by', 'source', 'limit', 'offset', 'order_by', 'format']);
const PREFIXES = ['where.', 'where_not.', 'having.'];
const bad = (param: string, msg: string) => new BraidError('invalid_parameter', `${param}: ${msg}`);

/**
 * Query-string parameters → the query's JSON form. `where.<dim>` and `where_not.<dim>` given
 * once are split on commas (`where.x=a,b`); repeated, each value is taken whole, so that a
 * value can hold a comma (`where.x=a,b&where.x=c` is the two values `a,b` and `c`).
 * `having.<measure>` is `op:N`; `order_by` a comma-separated list of keys, `-` for descending.
 */
export function fromQueryString(params: Record<string, unknown>): QueryRequest {
  for (const name of Object.keys(params)) {
    if (!KNOWN.has(name) && !PREFIXES.some((p) => name.startsWith(p))) {
      throw bad(name, 'unknown parameter; use from, to, granularity, group_by, where.<dimension>, where_not.<dimension>, having.<measure>, order_by, offset, limit, source or format');
    }
  }
  const one = (name: string): string | undefined => {
    const v = params[name];
    if (v === undefined) return undefined;
    if (Array.isArray(v)) throw bad(name, 'give it once');
    return String(v);
  };
  const values = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : String(value).split(','));
  const filters = (prefix: string) => {
    const out: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(params)) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = values(value);
    return out;
  };
  const having: Array<{ measure: string; op: string; value: number }> = [];
  for (const [name, value] of Object.entries(params)) {
    if (!name.startsWith('having.')) continue;
    for (const text of Array.isArray(value) ? value.map(String) : [String(value)]) {
      const m = /^([a-z]+):(.+)$/.exec(text);
      if (!m) throw bad(name, `"${text}" is not op:N; write e.g. having.revenue=gt:100 with one of ${HavingOps.join(', ')}`);
      having.push({ measure: name.slice('having.'.length), op: m[1]!, value: numberParam(name, m[2]!) });
    }
  }
  const orderText = one('order_by');
  const groupBy = one('group_by');
  const limit = one('limit');
  const offset = one('offset');
  const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));
  return {
    ...optional('from', one('from')),
    ...optional('to', one('to')),
    ...optional('granularity', one('granularity')),
    ...optional('groupBy', groupBy === undefined ? undefined : groupBy === '' ? [] : groupBy.split(',').map((d) => d.trim())),
    where: filters('where.'),
    whereNot: filters('where_not.'),
    having,
    ...optional('orderBy', orderText === undefined ? undefined : orderText.split(',').map((k) => k.trim()).map((k) => (k.startsWith('-') ? { key: k.slice(1), desc: true } : { key: k }))),
    ...optional('limit', limit === undefined ? undefined : numberParam('limit', limit)),
    ...optional('offset', offset === undefined ? undefined : numberParam('offset', offset)),
    ...optional('source', one('source')),
    ...optional('format', one('format')),
  };
}

function numberParam(name: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw bad(name, `"${text}" is not a number`);
  return n;
}

/** The query-string form of a query, checked against the view. */
export function parseViewQuery(view: CompiledView, params: Record<string, unknown>): { query: ViewQuery; source: Source; format: Format } {
  return checkQuery(view, fromQueryString(params));
}

/**
 * A query's JSON form → a ViewQuery, with a 400 naming the parameter and the fix for every
 * mistake. Names are checked against the view's own dimensions and measures, so nothing a
 * client writes reaches SQL or any other interpreter as text.
 */
export function checkQuery(view: CompiledView, raw: QueryRequest): { query: ViewQuery; source: Source; format: Format } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('body', 'must be a JSON object: {"groupBy": [...], "orderBy": [...], ...}');
  const def = view.def;
  const time = (name: 'from' | 'to'): number | undefined => {
    const v = raw[name];
    if (v === undefined) return undefined;
    const parsed = parseEventTime(typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v);
    if (!parsed.ok) throw bad(name, parsed.reason);
    return parsed.ms;
  };
  const from = time('from');
  const to = time('to');
  if (def.granularity === 'none' && (from !== undefined || to !== undefined)) {
    throw bad(from !== undefined ? 'from' : 'to', `view "${def.name}" has no time buckets (granularity none: one row per ${def.dimensions.join(', ') || 'view'} for all time); ask without from and to`);
  }
  if (from !== undefined && to !== undefined && to <= from) throw bad('to', 'must be after from (the range is half-open, [from, to))');

  const granularity = (raw.granularity ?? def.granularity) as Granularity | 'all';
  if (granularity !== 'all') {
    if (typeof granularity !== 'string' || !Object.hasOwn(Granularities, granularity)) throw bad('granularity', `"${String(granularity)}" is unknown; use minute, hour, day, none or all`);
    if (!canRollUp(def.granularity, granularity)) {
      throw bad(
        'granularity',
        def.granularity === 'none' ? `view "${def.name}" has no time buckets; ask for none (the default) or all` : `the view is kept per ${def.granularity}; ask for ${def.granularity}, a coarser one, or all`,
      );
    }
  }

  const dimensionIndex = (name: unknown, param: string): number => {
    const i = def.dimensions.indexOf(name as string);
    if (i < 0) throw bad(param, `"${String(name)}" is not a dimension of view "${def.name}"; its dimensions are ${def.dimensions.join(', ') || 'none'}`);
    return i;
  };
  if (raw.groupBy !== undefined && !Array.isArray(raw.groupBy)) throw bad('group_by', 'must be a list of dimensions');
  const groupBy = raw.groupBy === undefined ? def.dimensions.map((_, i) => i) : raw.groupBy.map((d) => dimensionIndex(d, 'group_by'));
  if (new Set(groupBy).size !== groupBy.length) throw bad('group_by', 'a dimension is listed twice');

  const filters = (which: 'where' | 'whereNot', param: string): Map<number, DimFilter> => {
    const out = new Map<number, DimFilter>();
    const given = raw[which];
    if (given === undefined) return out;
    if (given === null || typeof given !== 'object' || Array.isArray(given)) throw bad(param, 'must map a dimension to a list of values');
    for (const [dim, list] of Object.entries(given)) {
      const at = `${param}.${dim}`;
      const i = dimensionIndex(dim, at);
      if (!Array.isArray(list) || list.length === 0) throw bad(at, 'give one or more values');
      const values = new Set<string>();
      let includesNull = false;
      for (const v of list) {
        if (v === null) includesNull = true;
        else if (typeof v === 'string') values.add(v);
        else throw bad(at, `${JSON.stringify(v)} is not a value a dimension holds: give strings (numbers as their text) or null`);
      }
      out.set(i, { values, null: includesNull });
    }
    return out;
  };
  const where = filters('where', 'where');
  const whereNot = filters('whereNot', 'where_not');

  /** A measure key: `revenue`, or `amount_q.0.99` for one quantile of a quantile measure. */
  const measureKey = (key: string, param: string): { measure: number; q?: string } => {
    const dot = key.indexOf('.');
    const name = dot < 0 ? key : key.slice(0, dot);
    const q = dot < 0 ? undefined : key.slice(dot + 1);
    const i = view.measureNames.indexOf(name);
    if (i < 0) throw bad(param, `"${key}" is not a measure of view "${def.name}"; its measures are ${view.measureNames.join(', ')}`);
    const spec = def.measures[name]!;
    if (spec.kind === 'quantile') {
      const qs = spec.q.map(String);
      if (q === undefined || !qs.includes(q)) throw bad(param, `"${name}" is a quantile measure: name one of its quantiles, ${qs.map((x) => `${name}.${x}`).join(', ')}`);
      return { measure: i, q };
    }
    if (q !== undefined) throw bad(param, `"${name}" is a ${spec.kind}, not a quantile: write ${name} alone`);
    if (NOT_NUMERIC.has(spec.kind)) throw bad(param, `"${name}" is a ${spec.kind} measure, whose answer is not a number; order and filter by a count, sum, min, max, avg, distinct or quantile`);
    return { measure: i };
  };

  if (raw.having !== undefined && !Array.isArray(raw.having)) throw bad('having', 'must be a list of {measure, op, value}');
  const having = (raw.having ?? []).map((h) => {
    const param = `having.${h?.measure}`;
    if (h === null || typeof h !== 'object' || typeof h.measure !== 'string') throw bad('having', 'each item is {measure, op, value}');
    if (!(HavingOps as readonly string[]).includes(h.op)) throw bad(param, `"${h.op}" is not an operator; use one of ${HavingOps.join(', ')} (e.g. gt:100)`);
    if (typeof h.value !== 'number' || !Number.isFinite(h.value)) throw bad(param, `${JSON.stringify(h.value)} is not a finite number`);
    return { ...measureKey(h.measure, param), op: h.op as HavingOp, value: h.value };
  });

  if (raw.orderBy !== undefined && !Array.isArray(raw.orderBy)) throw bad('order_by', 'must be a list of keys');
  const orderBy: OrderKey[] = (raw.orderBy ?? []).map((o) => {
    if (o === null || typeof o !== 'object' || typeof o.key !== 'string' || o.key === '') throw bad('order_by', 'each key is a measure, a quantile as name.q, a dimension or bucket, with - (or desc: true) for descending');
    const desc = o.desc === true;
    if (o.key === 'bucket') return { kind: 'bucket', index: 0, desc };
    const dim = def.dimensions.indexOf(o.key);
    if (dim >= 0) {
      const at = groupBy.indexOf(dim);
      if (at < 0) throw bad('order_by', `"${o.key}" is not in group_by; answers hold only the dimensions they are grouped by`);
      return { kind: 'dimension', index: at, desc };
    }
    const m = measureKey(o.key, 'order_by');
    return { kind: 'measure', index: m.measure, ...(m.q !== undefined ? { q: m.q } : {}), desc };
  });

  const limit = raw.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw bad('limit', `must be an integer from 1 to ${MAX_LIMIT}`);
  const offset = raw.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset > 10_000_000) throw bad('offset', 'must be an integer from 0 to 10000000');

  const source = (raw.source ?? 'lambda') as Source;
  if (!Sources.includes(source)) throw bad('source', `"${String(source)}" is unknown; use ${Sources.join(', ')}`);
  const format = (raw.format ?? 'json') as Format;
  if (!Formats.includes(format)) throw bad('format', `"${String(format)}" is unknown; use json or csv`);

  return {
    query: {
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      granularity,
      groupBy,
      where,
      whereNot,
      having,
      orderBy,
      limit,
      offset,
    },
    source,
    format,
  };
}

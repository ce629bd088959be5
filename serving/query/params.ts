import { BraidError } from '../../shared/errors.js';
import { parseEventTime } from '../../shared/events/index.js';
import { canRollUp, Granularities, type CompiledView, type Granularity } from '../../shared/views/index.js';
import { Sources, type Source } from '../../lambda/index.js';
import type { ViewQuery } from './query.js';

export { Sources, type Source };

export const MAX_LIMIT = 100_000;
export const DEFAULT_LIMIT = 10_000;

const KNOWN = new Set(['from', 'to', 'granularity', 'group_by', 'source', 'limit']);

/**
 * Query-string parameters → a ViewQuery, with a 400 naming the parameter for every
 * mistake. Names are checked against the view's own dimensions, so nothing a client
 * writes reaches SQL or any other interpreter as text.
 */
export function parseViewQuery(view: CompiledView, params: Record<string, unknown>): { query: ViewQuery; source: Source } {
  const bad = (param: string, msg: string) => new BraidError('invalid_parameter', `${param}: ${msg}`);
  const one = (name: string): string | undefined => {
    const v = params[name];
    if (v === undefined) return undefined;
    if (Array.isArray(v)) throw bad(name, 'give it once');
    return String(v);
  };
  for (const name of Object.keys(params)) {
    if (!KNOWN.has(name) && !name.startsWith('where.')) {
      throw bad(name, `unknown parameter; use from, to, granularity, group_by, where.<dimension>, source or limit`);
    }
  }
  const time = (name: string): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    const parsed = parseEventTime(/^\d+$/.test(v) ? Number(v) : v);
    if (!parsed.ok) throw bad(name, parsed.reason);
    return parsed.ms;
  };
  const from = time('from');
  const to = time('to');
  if (from !== undefined && to !== undefined && to <= from) throw bad('to', 'must be after from (the range is half-open, [from, to))');

  const def = view.def;
  const granularity = (one('granularity') ?? def.granularity) as Granularity;
  if (!Object.hasOwn(Granularities, granularity)) throw bad('granularity', `"${granularity}" is unknown; use minute, hour or day`);
  if (!canRollUp(def.granularity, granularity)) {
    throw bad('granularity', `the view is kept per ${def.granularity}; ask for ${def.granularity} or coarser`);
  }

  const dimensionIndex = (name: string, param: string): number => {
    const i = def.dimensions.indexOf(name);
    if (i < 0) throw bad(param, `"${name}" is not a dimension of view "${def.name}"; its dimensions are ${def.dimensions.join(', ') || 'none'}`);
    return i;
  };
  const groupByText = one('group_by');
  const groupBy =
    groupByText === undefined
      ? def.dimensions.map((_, i) => i)
      : groupByText === ''
        ? []
        : groupByText.split(',').map((d) => dimensionIndex(d.trim(), 'group_by'));
  if (new Set(groupBy).size !== groupBy.length) throw bad('group_by', 'a dimension is listed twice');

  const where = new Map<number, Set<string>>();
  for (const [name, value] of Object.entries(params)) {
    if (!name.startsWith('where.')) continue;
    const dim = name.slice('where.'.length);
    const values = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(','));
    where.set(dimensionIndex(dim, name), new Set(values));
  }

  const limitText = one('limit');
  const limit = limitText === undefined ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw bad('limit', `must be an integer from 1 to ${MAX_LIMIT}`);

  const source = (one('source') ?? 'lambda') as Source;
  if (!Sources.includes(source)) throw bad('source', `"${source}" is unknown; use ${Sources.join(', ')}`);

  return {
    query: { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}), granularity, groupBy, where, limit },
    source,
  };
}

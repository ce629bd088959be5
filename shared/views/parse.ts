import { BraidError } from '../errors.js';
import { MeasureKinds, kindOf, measureKinds, type MeasureSpec } from '../measures/index.js';
import { Granularities, type Granularity, type ViewDefinition } from './definition.js';
import { PATH_PATTERN, dimensionValue } from './paths.js';

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const TYPE = /^[A-Za-z0-9_.:-]{1,64}$/;
const VIEW_KEYS = ['name', 'events', 'where', 'granularity', 'dimensions', 'measures'];
const PATH_HINT = 'use id, type, key or data.<field>[.<field>…]';

/**
 * Validates the `views:` section of braid.yaml. Every mistake is reported at once, each
 * naming the view, the field and the fix, e.g.
 *   view "revenue": measure "total": unknown aggregation "summ"; use one of count, sum, …
 */
export function parseViews(raw: unknown): ViewDefinition[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new BraidError('invalid_config', 'views: must be a list of views (each item starts with "- name: ...")');
  const problems: string[] = [];
  const views: ViewDefinition[] = [];
  const seen = new Set<string>();
  raw.forEach((item, i) => {
    const label = item && typeof item === 'object' && typeof (item as { name?: unknown }).name === 'string' ? `view "${(item as { name: string }).name}"` : `views[${i}]`;
    const before = problems.length;
    const p = (msg: string) => problems.push(`${label}: ${msg}`);
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      p('must be a mapping with name, events, granularity, dimensions and measures');
      return;
    }
    const v = item as Record<string, unknown>;
    for (const k of Object.keys(v)) if (!VIEW_KEYS.includes(k)) p(`unknown field "${k}"; a view has ${VIEW_KEYS.join(', ')}`);

    const name = v.name;
    if (typeof name !== 'string' || !NAME.test(name)) p(`name: ${JSON.stringify(name)} must match [a-z][a-z0-9_]{0,62} (lower case, digits, underscores)`);
    else if (seen.has(name)) p('name: duplicate view name; each view needs its own name');
    else seen.add(name);

    const events = v.events;
    if (!Array.isArray(events) || events.length === 0) p('events: list the event types the view includes, e.g. events: [purchase]');
    else events.forEach((t, j) => {
      if (typeof t !== 'string' || !TYPE.test(t)) p(`events[${j}]: ${JSON.stringify(t)} is not an event type (1–64 characters of [A-Za-z0-9_.:-])`);
    });

    const where: Record<string, string[]> = {};
    if (v.where !== undefined) {
      if (v.where === null || typeof v.where !== 'object' || Array.isArray(v.where)) p('where: must map a path to the values it may equal, e.g. where: { data.channel: [web, app] }');
      else for (const [path, values] of Object.entries(v.where)) {
        if (!PATH_PATTERN.test(path)) p(`where: bad path "${path}"; ${PATH_HINT}`);
        const list = Array.isArray(values) ? values : [values];
        const strings = list.map(dimensionValue);
        if (list.length === 0 || strings.some((s) => s === null)) p(`where.${path}: give one or more scalar values, e.g. [web, app]`);
        else where[path] = strings as string[];
      }
    }

    const granularity = v.granularity;
    if (typeof granularity !== 'string' || !Object.hasOwn(Granularities, granularity)) {
      p(`granularity: ${JSON.stringify(granularity)} is unknown; use one of ${Object.keys(Granularities).join(', ')}`);
    }

    const dimensions = v.dimensions ?? [];
    if (!Array.isArray(dimensions)) p('dimensions: must be a list of paths, e.g. [data.country]');
    else {
      dimensions.forEach((d, j) => {
        if (typeof d !== 'string' || !PATH_PATTERN.test(d)) p(`dimensions[${j}]: bad path ${JSON.stringify(d)}; ${PATH_HINT}`);
      });
      if (new Set(dimensions).size !== dimensions.length) p('dimensions: a path is listed twice');
    }

    const measures: Record<string, MeasureSpec> = {};
    if (v.measures === null || typeof v.measures !== 'object' || Array.isArray(v.measures) || Object.keys(v.measures).length === 0) {
      p('measures: declare at least one, e.g. measures: { orders: count, revenue: { sum: data.amount } }');
    } else {
      for (const [mname, spec] of Object.entries(v.measures)) {
        const problem = (msg: string) => p(`measure "${mname}": ${msg}`);
        if (!NAME.test(mname)) problem('the name must match [a-z][a-z0-9_]{0,62}');
        if (mname === 'bucket') problem('"bucket" is the time column of every answer; pick another name');
        if (Array.isArray(dimensions) && dimensions.includes(mname)) problem(`"${mname}" is also a dimension of this view, and answers name columns by both; rename the measure`);
        const parsed = parseMeasure(spec, problem);
        if (parsed) measures[mname] = parsed;
      }
    }
    if (problems.length === before) {
      views.push({
        name: name as string,
        events: events as string[],
        where,
        granularity: granularity as Granularity,
        dimensions: dimensions as string[],
        measures,
      });
    }
  });
  if (problems.length > 0) {
    throw new BraidError('invalid_config', `invalid views:\n  - ${problems.join('\n  - ')}`, { details: problems });
  }
  return views;
}

function parseMeasure(spec: unknown, problem: (msg: string) => void): MeasureSpec | undefined {
  const kinds = MeasureKinds.join(', ');
  if (typeof spec === 'string') {
    const kind = kindOf(spec);
    if (kind) {
      const parsed = kind.spec(undefined, {}, problem);
      if (parsed === undefined) problem(`"${spec}" needs a path, e.g. { ${spec}: data.amount }`);
      return parsed;
    }
    problem(`unknown aggregation "${spec}"; use one of ${kinds}`);
    return undefined;
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    problem(`must be count or { <aggregation>: <path> }, with one of ${kinds}`);
    return undefined;
  }
  // The aggregation is the one key naming a kind whose other keys are all that kind's options
  // (`{ max: data.amount }` is max; `{ values: data.id, max: 20 }` is values with its max).
  const entries = Object.entries(spec as Record<string, unknown>);
  const fits = (k: string) => {
    const kind = kindOf(k);
    return kind !== undefined && entries.every(([other]) => other === k || (kind.options ?? []).includes(other));
  };
  const optionKeys = new Set(measureKinds().flatMap((k) => k.options ?? []));
  const candidates = entries.filter(([k]) => fits(k));
  const aggs = candidates.length === 1 ? candidates : entries.filter(([k]) => !optionKeys.has(k));
  if (aggs.length !== 1) {
    problem(`give exactly one aggregation, e.g. { sum: data.amount }; got ${aggs.map(([k]) => k).join(', ') || 'none'}`);
    return undefined;
  }
  const [name, path] = aggs[0]!;
  const kind = kindOf(name);
  if (!kind) {
    problem(`unknown aggregation "${name}"; use one of ${kinds}`);
    return undefined;
  }
  if (typeof path !== 'string' || !PATH_PATTERN.test(path)) {
    problem(name === 'count' ? 'count takes no path; write it as: count' : `${name}: bad path ${JSON.stringify(path)}; ${PATH_HINT}`);
    return undefined;
  }
  const options: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (key === name) continue;
    if (!(kind.options ?? []).includes(key)) {
      const owners = measureKinds().filter((k) => k.options?.includes(key)).map((k) => k.name);
      problem(`${key} applies to ${owners.join(', ')} only; remove it from this ${name}`);
      return undefined;
    }
    options[key] = value;
  }
  return kind.spec(path, options, problem);
}

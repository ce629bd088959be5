import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { bucketOf, canRollUp, definitionVersion, dimensionValue, parseViews, pathReader } from '../../shared/views/index.js';
import { isBraidError } from '../../shared/errors.js';

const good = parseYaml(`
- name: revenue_by_country
  events: [purchase]
  where: { data.channel: [web, app] }
  granularity: hour
  dimensions: [data.country]
  measures:
    orders: count
    revenue: { sum: data.amount }
    biggest: { max: data.amount }
    smallest: { min: data.amount }
    basket: { avg: data.amount }
    buyers: { distinct: key }
    amount_q: { quantile: data.amount, q: [0.5, 0.95, 0.99] }
`);

function problems(yamlText: string): string {
  try {
    parseViews(parseYaml(yamlText));
  } catch (err) {
    if (isBraidError(err, 'invalid_config')) return err.message;
    throw err;
  }
  throw new Error('expected invalid_config');
}

describe('view definitions', () => {
  it('parses the design example', () => {
    const [v] = parseViews(good);
    expect(v).toEqual({
      name: 'revenue_by_country',
      events: ['purchase'],
      where: { 'data.channel': ['web', 'app'] },
      granularity: 'hour',
      dimensions: ['data.country'],
      measures: {
        orders: { kind: 'count' },
        revenue: { kind: 'sum', path: 'data.amount' },
        biggest: { kind: 'max', path: 'data.amount' },
        smallest: { kind: 'min', path: 'data.amount' },
        basket: { kind: 'avg', path: 'data.amount' },
        buyers: { kind: 'distinct', path: 'key' },
        amount_q: { kind: 'quantile', path: 'data.amount', q: [0.5, 0.95, 0.99] },
      },
    });
  });

  it.each([
    ['an unknown aggregation', 'measures: { total: { summ: data.amount } }', /view "v": measure "total": unknown aggregation "summ"; use one of count, sum/],
    ['a bad path', 'measures: { total: { sum: amount } }', /measure "total": sum: bad path "amount"; use id, type, key or data/],
    ['a quantile without q', 'measures: { lat: { quantile: data.ms } }', /measure "lat": quantile needs q/],
    ['q out of range', 'measures: { lat: { quantile: data.ms, q: [1.5] } }', /between 0 and 1/],
    ['an unknown granularity', 'granularity: week', /view "v": granularity: "week" is unknown; use one of minute, hour, day/],
    ['a bad dimension', 'dimensions: [country]', /dimensions\[0\]: bad path "country"/],
    ['no measures', 'measures: {}', /measures: declare at least one/],
    ['no events', 'events: []', /events: list the event types/],
    ['an unknown field', 'colour: blue', /unknown field "colour"/],
    ['a sum without path', 'measures: { s: sum }', /"sum" needs a path/],
  ])('names the view, field and fix for %s', (_name, override, message) => {
    const base: Record<string, string> = {
      name: 'name: v',
      events: 'events: [purchase]',
      granularity: 'granularity: hour',
      dimensions: 'dimensions: [data.country]',
      measures: 'measures: { n: count }',
    };
    const key = override.split(':')[0]!;
    const lines = Object.entries(base).filter(([k]) => k !== key).map(([, l]) => l);
    lines.push(override);
    expect(problems(`- ${lines.join('\n  ')}`)).toMatch(message);
  });

  it('rejects a measure named like a dimension', () => {
    expect(problems('- name: v\n  events: [a]\n  granularity: day\n  dimensions: [key]\n  measures: { key: count }')).toMatch(
      /measure "key": "key" is also a dimension of this view/,
    );
  });

  it('rejects a duplicate view name and a bad view name', () => {
    const v = 'events: [a]\n  granularity: day\n  measures: { n: count }';
    expect(problems(`- name: a\n  ${v}\n- name: a\n  ${v}`)).toMatch(/view "a": name: duplicate view name/);
    expect(problems(`- name: Bad-Name\n  ${v}`)).toMatch(/name: "Bad-Name" must match/);
  });

  it('changes the definition version when what the view computes changes, and only then', () => {
    const [v] = parseViews(good);
    expect(definitionVersion(v!)).toBe(definitionVersion({ ...v!, name: 'renamed' }));
    expect(definitionVersion(v!)).not.toBe(definitionVersion({ ...v!, granularity: 'day' }));
  });
});

describe('paths, dimensions and buckets', () => {
  const event = { id: 'e1', type: 't', time: 0, data: { a: { b: 7 }, s: 'x', t: true, o: { x: 1 }, n: null } };
  it('reads id, type, key (defaulting to id) and nested data', () => {
    expect(pathReader('id')(event)).toBe('e1');
    expect(pathReader('key')(event)).toBe('e1');
    expect(pathReader('key')({ ...event, key: 'k' })).toBe('k');
    expect(pathReader('data.a.b')(event)).toBe(7);
    expect(pathReader('data.a.zz')(event)).toBeUndefined();
    expect(pathReader('data.s.length')(event)).toBeUndefined();
  });
  it('turns scalars into dimension strings and everything else into null', () => {
    expect([7, 'x', true, 1.5, null, undefined, { x: 1 }, [1]].map(dimensionValue)).toEqual(['7', 'x', 'true', '1.5', null, null, null, null]);
  });
  it('buckets event time in UTC', () => {
    const t = Date.parse('2026-11-27T10:15:42.123Z');
    expect(new Date(bucketOf(t, 'minute')).toISOString()).toBe('2026-11-27T10:15:00.000Z');
    expect(new Date(bucketOf(t, 'hour')).toISOString()).toBe('2026-11-27T10:00:00.000Z');
    expect(new Date(bucketOf(t, 'day')).toISOString()).toBe('2026-11-27T00:00:00.000Z');
    expect(canRollUp('minute', 'day')).toBe(true);
    expect(canRollUp('day', 'hour')).toBe(false);
  });
});

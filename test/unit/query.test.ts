import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { answerQuery, answerQueryOver } from '../../serving/query/index.js';
import { parseViewQuery } from '../../serving/query/params.js';
import { compileView, parseViews, ViewTable } from '../../shared/views/index.js';

const [def] = parseViews([
  {
    name: 'v',
    events: ['e'],
    granularity: 'minute',
    dimensions: ['data.c', 'key'],
    measures: { n: 'count', s: { sum: 'data.x' }, d: { distinct: 'key' }, q: { quantile: 'data.x', q: [0.5, 0.9] } },
  },
]);
const view = compileView(def!);
const T0 = Date.parse('2026-11-20T00:00:00Z');

const event = fc.record({
  minute: fc.integer({ min: 0, max: 180 }),
  c: fc.constantFrom('DE', 'FR', 'ES'),
  key: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5'),
  x: fc.integer({ min: -50, max: 500 }),
});
const tableOf = (events: Array<{ minute: number; c: string; key: string; x: number }>) => {
  const t = new ViewTable(view);
  events.forEach((e, i) => t.add({ id: `e${i}`, type: 'e', time: T0 + e.minute * 60_000, key: e.key, data: { c: e.c, x: e.x } }));
  return t;
};
const queries = fc.constantFrom(
  {},
  { granularity: 'hour' },
  { granularity: 'day', group_by: 'data.c' },
  { group_by: '' },
  { 'where.data.c': 'DE,FR', group_by: 'key', granularity: 'hour' },
  { from: new Date(T0 + 30 * 60_000).toISOString(), to: new Date(T0 + 90 * 60_000).toISOString(), granularity: 'hour' },
);

describe('answers over a cached batch roll-up', () => {
  it('equal answers merging every source from scratch, query after query, and leave the base unchanged', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), fc.array(fc.tuple(fc.array(event, { maxLength: 20 }), queries), { minLength: 1, maxLength: 5 }), (baseEvents, rounds) => {
        const base = tableOf(baseEvents);
        const before = answerQuery(view, [base.rows.values()], parseViewQuery(view, {}).query);
        for (const [liveEvents, params] of rounds) {
          const live = tableOf(liveEvents);
          const { query } = parseViewQuery(view, params);
          expect(answerQueryOver(view, base, [live.rows.values()], query)).toEqual(answerQuery(view, [base.rows.values(), live.rows.values()], query));
        }
        expect(answerQuery(view, [base.rows.values()], parseViewQuery(view, {}).query)).toEqual(before);
      }),
      { numRuns: 150 },
    );
  });
});

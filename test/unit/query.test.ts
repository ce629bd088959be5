import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { QueryCache, QueryEngine } from '../../serving/query/index.js';
import { parseViewQuery } from '../../serving/query/params.js';
import { compileView, freezeRows, parseViews, ViewTable, type ColumnTable } from '../../shared/views/index.js';
import { answerQuery } from '../support/row-query.js';

const [def] = parseViews([
  {
    name: 'v',
    events: ['e'],
    granularity: 'minute',
    dimensions: ['data.c', 'key'],
    measures: { n: 'count', s: { sum: 'data.x' }, lo: { min: 'data.x' }, a: { avg: 'data.x' }, d: { distinct: 'key' }, q: { quantile: 'data.x', q: [0.5, 0.9] } },
  },
]);
const view = compileView(def!);
const T0 = Date.parse('2026-11-20T00:00:00Z');

const event = fc.record({
  minute: fc.integer({ min: 0, max: 180 }),
  c: fc.option(fc.constantFrom('DE', 'FR', 'ES', 'é'), { nil: undefined }),
  key: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u10'),
  x: fc.option(fc.integer({ min: -50, max: 500 }), { nil: undefined }),
});
type Ev = { minute: number; c: string | undefined; key: string; x: number | undefined };
const foldedOf = (events: Ev[], from = 0) => {
  const t = new ViewTable(view);
  events.forEach((e, i) => t.add({ id: `e${from + i}`, type: 'e', time: T0 + e.minute * 60_000, key: e.key, data: { ...(e.c === undefined ? {} : { c: e.c }), ...(e.x === undefined ? {} : { x: e.x }) } }, { partition: 0, offset: from + i }));
  return t;
};
const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();
const queries = fc.constantFrom<Record<string, string>[]>(
  {},
  { granularity: 'hour' },
  { granularity: 'day', group_by: 'data.c' },
  { group_by: '' },
  { group_by: 'key,data.c' },
  { 'where.data.c': 'DE,FR', group_by: 'key', granularity: 'hour' },
  { 'where_not.key': 'u1', order_by: '-n,key', limit: '3' },
  { from: at(30), to: at(90), granularity: 'hour' },
  { granularity: 'all', order_by: '-s', limit: '4', offset: '1' },
  { granularity: 'all', group_by: 'data.c', 'having.n': 'gte:2', order_by: 'q.0.9' },
  { order_by: '-a,bucket', limit: '5' },
  { 'having.s': 'gt:100', offset: '2', limit: '3' },
  { 'where.key': 'u3', granularity: 'all' },
  { granularity: 'hour', order_by: '-d', limit: '2' },
  { order_by: 'data.c,-lo', limit: '6' },
);

/** The engine over `tables`, with every table (however small) cached, as large ones are. */
const engine = (cache = new QueryCache(1 << 30)) => new QueryEngine({ cache, pause: () => undefined, cacheMinRows: 0 });

describe('the query engine', () => {
  it('answers over a base and segments exactly as the row-at-a-time merge of every group, query after query, its caches warm', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 80 }), fc.array(fc.array(event, { maxLength: 25 }), { maxLength: 4 }), fc.array(queries, { minLength: 1, maxLength: 6 }), async (baseEvents, segmentEvents, asked) => {
        const folded = [foldedOf(baseEvents), ...segmentEvents.map((e, i) => foldedOf(e, 1_000 * (i + 1)))];
        const tables: ColumnTable[] = folded.map((t) => freezeRows(view, t.rows.values()));
        const e = engine();
        for (const params of [...asked, ...asked]) {
          const { query } = parseViewQuery(view, params);
          const expected = answerQuery(view, folded.map((t) => t.rows.values()), query);
          expect(await e.answer(view, tables, query), JSON.stringify(params)).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('answers the same within a small cache (entries evicted as it fills) and without one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 60 }), fc.array(event, { maxLength: 30 }), fc.array(queries, { minLength: 2, maxLength: 8 }), async (a, b, asked) => {
        const tables = [freezeRows(view, foldedOf(a).rows.values()), freezeRows(view, foldedOf(b, 500).rows.values())];
        const small = new QueryCache(2_000);
        const roomy = engine();
        const tight = engine(small);
        for (const params of asked) {
          const { query } = parseViewQuery(view, params);
          expect(await tight.answer(view, tables, query)).toEqual(await roomy.answer(view, tables, query));
          expect(small.bytes).toBeLessThanOrEqual(2_000 + 4 * 200);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('stops a query past its group budget or its deadline with query_too_large', async () => {
    const table = freezeRows(view, foldedOf(Array.from({ length: 500 }, (_, i) => ({ minute: i % 180, c: 'DE', key: `u${i % 5}`, x: i }))).rows.values());
    const { query } = parseViewQuery(view, {});
    await expect(engine().answer(view, [table], { ...query, budget: { maxGroups: 10, timeoutMs: 1_000, deadline: Date.now() + 1_000 } })).rejects.toMatchObject({ code: 'query_too_large', message: expect.stringContaining('query.maxGroups') });
    const slow = new QueryEngine({ cache: new QueryCache(1 << 20), pause: () => new Promise((r) => setTimeout(r, 5)), cacheMinRows: 0, step: 16 });
    await expect(slow.answer(view, [table, table], { ...query, budget: { maxGroups: 1e9, timeoutMs: 10, deadline: Date.now() + 10 } })).rejects.toMatchObject({ code: 'query_too_large', message: expect.stringContaining('query.timeoutMs') });
  });
});

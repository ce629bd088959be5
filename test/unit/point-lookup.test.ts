/**
 * Issue 17: a lookup by every dimension of an entity view (granularity none) is found by
 * binary search in each table (the batch version's, the speed segments'), not by a scan, and
 * merges them: the order summary read model, with a late "shipped" older than "delivered"
 * not overwriting it.
 */
import { describe, expect, it } from 'vitest';
import { QueryCache, QueryEngine } from '../../serving/query/index.js';
import { parseViewQuery } from '../../serving/query/params.js';
import { compileView, freezeRows, parseViews, ViewTable } from '../../shared/views/index.js';

const [def] = parseViews([
  {
    name: 'orders',
    events: ['order'],
    granularity: 'none',
    dimensions: ['data.order_id'],
    measures: { status: { latest: 'data.status' }, total: { latest: 'data.total' }, events: 'count', statuses: { values: 'data.status', max: 10 } },
  },
]);
const view = compileView(def!);
const T0 = Date.UTC(2026, 11, 1);

function table(events: Array<{ order: string; status: string; total?: number; minute: number }>, offset: number) {
  const t = new ViewTable(view);
  events.forEach((e, i) =>
    t.add({ id: `${e.order}-${offset + i}`, type: 'order', time: T0 + e.minute * 60_000, data: { order_id: e.order, status: e.status, ...(e.total === undefined ? {} : { total: e.total }) } }, { partition: 0, offset: offset + i }),
  );
  return freezeRows(view, t.rows.values());
}

describe('point lookups on an entity view', () => {
  const batch = table(
    Array.from({ length: 20_000 }, (_, i) => ({ order: `o${i}`, status: 'placed', total: i, minute: i % 100 })),
    0,
  );
  const speed = table(
    [
      { order: 'o7', status: 'delivered', minute: 500 },
      { order: 'o7', status: 'shipped', minute: 400 }, // late: older than delivered
      { order: 'o19999', status: 'shipped', total: 5, minute: 300 },
      { order: 'new-1', status: 'placed', total: 1, minute: 600 },
    ],
    100_000,
  );
  const engine = new QueryEngine({ cache: new QueryCache(1 << 26), pause: () => undefined, cacheMinRows: 0 });
  const ask = (params: Record<string, string>) => engine.answer(view, [batch, speed], parseViewQuery(view, params).query);

  it('answers from the index of each table, merged, with the newest value by event time', async () => {
    const before = { ...engine.stats };
    const answer = await ask({ 'where.data.order_id': 'o7' });
    expect(answer.rows).toEqual([{ bucket: null, 'data.order_id': 'o7', status: 'delivered', total: '7', events: 3, statuses: { values: ['delivered', 'placed', 'shipped'], truncated: false } }]);
    expect(engine.stats.pointLookups - before.pointLookups, 'one binary search per table').toBe(2);
    expect(engine.stats.rowsScanned, 'no row tested one by one').toBe(before.rowsScanned);
  });

  it('finds several ids, ids in one table only, and none for an unknown one', async () => {
    const two = await engine.answer(view, [batch, speed], parseViewQuery(view, { 'where.data.order_id': 'o19999,new-1,o3' }).query);
    expect(two.rows.map((r) => [r['data.order_id'], r.status, r.total])).toEqual([
      ['new-1', 'placed', '1'],
      ['o19999', 'shipped', '5'],
      ['o3', 'placed', '3'],
    ]);
    expect((await ask({ 'where.data.order_id': 'nope' })).rows).toEqual([]);
  });

  it('answers a filter that is not a lookup by scanning, and the same as a lookup would', async () => {
    const scanned = engine.stats.rowsScanned;
    const answer = await ask({ 'where_not.data.order_id': 'o1', limit: '3' });
    expect(engine.stats.rowsScanned).toBeGreaterThan(scanned);
    expect(answer.groups).toBe(20_000);
    expect((await ask({ granularity: 'all', 'where.data.order_id': 'o7' })).rows[0]).toMatchObject({ bucket: null, status: 'delivered' });
  });

  it('refuses a time range and a granularity with buckets on a view without them', () => {
    expect(() => parseViewQuery(view, { from: '2026-12-01T00:00:00Z' })).toThrow(/no time buckets/);
    expect(() => parseViewQuery(view, { granularity: 'hour' })).toThrow(/no time buckets/);
    expect(() => parseViewQuery(view, { order_by: 'status' })).toThrow(/not a number/);
  });
});

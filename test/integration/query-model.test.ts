import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from '../support/app.js';

/**
 * The query model's surface (contract §10): the JSON body form with null among where
 * values, CSV, the answer's groups and truncated, and a 400 naming the parameter and the
 * fix for each mistake. (Exactness of ordered answers against the independent reference is
 * the ground-truth and interleaving tests'.)
 */
const T0 = Date.parse('2026-11-20T10:00:00Z');
const view = {
  name: 'sales',
  events: ['purchase'],
  granularity: 'hour',
  dimensions: ['data.country', 'data.channel'],
  measures: { orders: 'count', revenue: { sum: 'data.amount' }, amount_q: { quantile: 'data.amount', q: [0.5, 0.9] } },
};

describe('the query model', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ views: [view] }, { roles: true });
    const events = [
      ...Array.from({ length: 5 }, (_, i) => ({ country: 'DE', channel: 'web', amount: 10 + i })),
      ...Array.from({ length: 3 }, (_, i) => ({ country: 'FR', channel: 'app', amount: 1 + i })),
      ...Array.from({ length: 2 }, () => ({ country: 'Zürich, "ZH"', channel: 'web', amount: 5 })),
      { country: undefined, channel: 'web', amount: 7 },
    ].map((e, i) => ({ id: `q${i}`, type: 'purchase', time: T0 + i * 60_000, data: { ...(e.country !== undefined ? { country: e.country } : {}), channel: e.channel, amount: e.amount } }));
    const res = await t.app.inject({ method: 'POST', url: '/v1/events', payload: events });
    expect(res.statusCode).toBe(202);
    await t.node!.speed!.waitFor(await t.log().endPosition());
  });
  afterAll(() => t.close());

  const get = (query: string) => t.app.inject({ url: `/v1/views/sales?${query}` });
  const post = (body: unknown, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url: '/v1/views/sales/query', payload: body as object, headers });

  it('answers a top-N with groups and truncated', async () => {
    const res = await get('granularity=all&group_by=data.country&order_by=-orders&limit=2');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.rows.map((r: Record<string, unknown>) => [r['data.country'], r.orders])).toEqual([['DE', 5], ['FR', 3]]);
    expect(body).toMatchObject({ groups: 4, truncated: true, granularity: 'all' });
    expect(body.rows[0].bucket).toBe(new Date(T0).toISOString()); // the first bucket that holds data
  });

  it('takes the same query as a JSON body, with null among the where values', async () => {
    const res = await post({ granularity: 'all', groupBy: ['data.country'], where: { 'data.country': ['FR', null] }, orderBy: [{ key: 'orders', desc: true }] });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().rows.map((r: Record<string, unknown>) => [r['data.country'], r.orders])).toEqual([['FR', 3], [null, 1]]);
    const not = await post({ granularity: 'all', groupBy: ['data.country'], whereNot: { 'data.country': ['DE', 'FR'] } });
    // where_not keeps a missing (null) dimension unless null is listed.
    expect(not.json().rows.map((r: Record<string, unknown>) => r['data.country'])).toEqual(['Zürich, "ZH"', null]);
  });

  it('keeps a value holding a comma whole when the parameter is repeated', async () => {
    const res = await get(`granularity=all&group_by=data.country&where.data.country=${encodeURIComponent('Zürich, "ZH"')}&where.data.country=DE`);
    expect(res.json().rows.map((r: Record<string, unknown>) => r['data.country'])).toEqual(['DE', 'Zürich, "ZH"']);
  });

  it('filters on merged results with having, quantiles as name.q', async () => {
    const res = await get('granularity=all&group_by=data.country&having.orders=gte:2&having.amount_q.0.5=lt:10&order_by=data.country');
    expect(res.json().rows.map((r: Record<string, unknown>) => r['data.country'])).toEqual(['FR', 'Zürich, "ZH"']);
  });

  it('answers CSV for format=csv and for Accept: text/csv, quoting what needs it', async () => {
    for (const res of [await get('granularity=all&group_by=data.country&order_by=data.country&format=csv'), await post({ granularity: 'all', groupBy: ['data.country'], orderBy: [{ key: 'data.country' }] }, { accept: 'text/csv' })]) {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      const lines = res.body.trimEnd().split('\r\n');
      expect(lines[0]).toBe('bucket,data.country,orders,revenue,amount_q.0.5,amount_q.0.9');
      expect(lines[1]).toMatch(/^2026-11-20T10:00:00\.000Z,DE,5,60,/);
      expect(lines[3]).toMatch(/^2026-11-20T10:00:00\.000Z,"Zürich, ""ZH""",2,10,/);
      expect(lines[4]).toMatch(/^2026-11-20T10:00:00\.000Z,,1,7,/);
    }
  });

  it.each([
    ['order_by=nope', 'order_by', /"nope" is not a measure of view "sales"/],
    ['order_by=amount_q', 'order_by', /quantile measure: name one of its quantiles, amount_q\.0\.5, amount_q\.0\.9/],
    ['order_by=revenue.0.5', 'order_by', /is a sum, not a quantile/],
    ['group_by=data.channel&order_by=data.country', 'order_by', /"data.country" is not in group_by/],
    ['having.orders=gt', 'having.orders', /is not op:N/],
    ['having.orders=more:3', 'having.orders', /is not an operator; use one of gt, gte, lt, lte, eq, ne/],
    ['having.orders=gt:x', 'having.orders', /"x" is not a number/],
    ['where_not.data.city=a', 'where_not.data.city', /not a dimension/],
    ['offset=-1', 'offset', /integer from 0/],
    ['granularity=week', 'granularity', /use minute, hour, day, none or all/],
    ['format=xml', 'format', /use json or csv/],
    ['sort=orders', 'sort', /unknown parameter/],
  ])('refuses %s with a 400 naming %s', async (query, param, message) => {
    const res = await get(query);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_parameter');
    expect(res.json().message.startsWith(`${param}:`), res.json().message).toBe(true);
    expect(res.json().message).toMatch(message);
  });

  it('refuses a JSON body of the wrong shape with a 400 naming the field', async () => {
    expect((await post({ where: { 'data.country': [3] } })).json().message).toMatch(/^where\.data\.country: 3 is not a value/);
    expect((await post({ having: [{ measure: 'orders', op: 'gt', value: 'x' }] })).json().message).toMatch(/^having\.orders: "x" is not a finite number/);
    expect((await post({ orderBy: ['orders'] })).json().message).toMatch(/^order_by: each key is/);
  });
});

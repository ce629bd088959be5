/**
 * Issue 17 through the API: the order summary read model (an entity view) over events that
 * arrive out of order, before and after a batch run, from every source; a point lookup, CSV,
 * and the errors a view without buckets gives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from '../support/app.js';

const T0 = Date.UTC(2026, 11, 1, 12);
const view = {
  name: 'order_status',
  events: ['order'],
  granularity: 'none',
  dimensions: ['data.order_id'],
  measures: {
    status: { latest: 'data.status' },
    total: { latest: 'data.total' },
    placed: { first: 'data.status' },
    statuses: { values: 'data.status', max: 2 },
    top_status: { topk: 'data.status', k: 1 },
    events: 'count',
  },
};

describe('an entity view through the API', () => {
  let t: TestApp;
  const post = async (events: object[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(events) });
    expect(res.statusCode, res.body).toBe(202);
  };
  const order = (id: string, n: number, status: string, minutes: number, total?: number) => ({
    id: `${id}-${n}`,
    type: 'order',
    time: T0 + minutes * 60_000,
    key: `customer-${id}`,
    data: { order_id: id, status, ...(total === undefined ? {} : { total }) },
  });
  const get = async (query: string) => {
    const res = await t.app.inject({ url: `/v1/views/order_status?${query}` });
    return { status: res.statusCode, body: res.json() as { rows: Array<Record<string, unknown>>; error?: string; message?: string } };
  };

  beforeAll(async () => {
    t = await makeTestApp({ views: [view] }, { roles: true });
    await t.handle.ready;
  });
  afterAll(async () => t?.close());

  it('answers the newest status by event time, however the events arrive, from every source', async () => {
    await post([order('7f3a', 1, 'placed', 0, 40), order('7f3a', 2, 'delivered', 30), order('b2', 1, 'placed', 5, 10)]);
    // A run's S is the speed layer's cut (contract §6): wait until it has folded the first post,
    // or S may fall below it and the batch version rightly hold none of it.
    await t.node!.speed!.waitFor(await t.log().endPosition());
    const run = await t.app.inject({ method: 'POST', url: '/v1/batch/runs' });
    expect((await t.node!.batch!.wait(run.json().id)).state).toBe('succeeded');
    // After the run, into the speed layer: a late "shipped" older than "delivered", a retry, and a new total.
    await post([order('7f3a', 3, 'shipped', 20), order('7f3a', 2, 'delivered', 30), order('b2', 2, 'paid', 6, 12)]);
    await t.node!.speed!.waitFor(await t.log().endPosition());
    const replay = await t.node!.replayer!.start();
    expect((await t.node!.replayer!.wait(replay.id)).info.state).toBe('succeeded');
    const want = {
      bucket: null,
      'data.order_id': '7f3a',
      status: 'delivered',
      total: '40',
      placed: 'placed',
      statuses: { values: ['delivered', 'placed'], truncated: true },
      top_status: { top: [{ value: 'delivered', count: 1 }], n: 3, error: 0 },
      events: 3,
    };
    for (const source of ['lambda', 'kappa']) {
      const { status, body } = await get(`where.data.order_id=7f3a&source=${source}`);
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body.rows, source).toEqual([want]);
    }
    // The batch version alone holds what was sent before the run; the speed layer what came after.
    expect((await get('where.data.order_id=7f3a&source=batch')).body.rows[0]).toMatchObject({ status: 'delivered', events: 2 });
    expect((await get('where.data.order_id=7f3a&source=speed')).body.rows[0]).toMatchObject({ status: 'shipped', events: 1 });
    expect((await get('where.data.order_id=b2')).body.rows[0]).toMatchObject({ status: 'paid', total: '12', placed: 'placed', events: 2 });
    expect((await get('where.data.order_id=nope')).body.rows).toEqual([]);
    const v = await t.node!.verifier!.start('api').done;
    expect(v.ok, JSON.stringify(v.views)).toBe(true);
  });

  it('writes values and top-k answers as JSON in one CSV field', async () => {
    const res = await t.app.inject({ url: '/v1/views/order_status?where.data.order_id=b2&format=csv' });
    expect(res.statusCode).toBe(200);
    const [header, line] = res.body.trim().split('\r\n');
    expect(header).toBe('bucket,data.order_id,status,total,placed,statuses,top_status,events');
    // The bucket of a view without buckets is empty (null).
    expect(line).toBe(',b2,paid,12,placed,"{""values"":[""paid"",""placed""],""truncated"":false}","{""top"":[{""value"":""paid"",""count"":1}],""n"":2,""error"":0}",2');
  });

  it('refuses a time range, bucketed granularities and ordering by a value, naming the fix', async () => {
    for (const [query, param, message] of [
      ['from=2026-12-01T00:00:00Z', 'from', /no time buckets.*without from and to/],
      ['granularity=hour', 'granularity', /none \(the default\) or all/],
      ['order_by=status', 'order_by', /not a number/],
      ['having.total=gt:3', 'having.total', /not a number/],
    ] as const) {
      const { status, body } = await get(query);
      expect(status, query).toBe(400);
      expect(body.message, query).toMatch(new RegExp(`^${param.replace('.', '\\.')}`));
      expect(body.message, query).toMatch(message);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, total, type TestApp } from '../support/app.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');
const views = [
  {
    name: 'sales',
    events: ['purchase'],
    granularity: 'minute',
    dimensions: ['data.country', 'data.channel'],
    measures: { orders: 'count', revenue: { sum: 'data.amount' }, buyers: { distinct: 'key' } },
  },
];

describe('GET /v1/views/:name', () => {
  let t: TestApp;
  const get = (url: string) => t.app.inject({ url });
  const post = (events: object[]) =>
    t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(events) });
  const purchase = (id: string, minute: number, country: string, channel: string, amount: unknown, key = `u-${id}`) => ({
    id, type: 'purchase', time: T0 + minute * 60_000, key, data: { country, channel, amount },
  });
  async function settle() {
    const end = await t.log().endPosition();
    await t.node!.speed!.waitFor(end);
    return end;
  }

  beforeAll(async () => {
    t = await makeTestApp({ views, archive: { flushIntervalMs: 50 } }, { roles: true });
    await t.handle.ready;
    expect((await post([
      purchase('a', 0, 'DE', 'web', 10),
      purchase('b', 0, 'DE', 'app', 5, 'u-a'),
      purchase('c', 1, 'FR', 'web', 2.5),
      purchase('d', 61, 'DE', 'web', 'n/a'),
      { id: 'x', type: 'page_view', time: T0, data: { country: 'DE' } },
      purchase('a', 0, 'DE', 'web', 10), // a retry: counted once
    ])).statusCode).toBe(202);
    await settle();
  });
  afterAll(() => t.close());

  it('answers from the speed layer alone before any batch run, naming source and position', async () => {
    const res = await get('/v1/views/sales?group_by=data.country&granularity=hour');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ view: 'sales', source: 'lambda', granularity: 'hour', position: { 0: 6 }, batch: null });
    expect(body.rows).toEqual([
      { bucket: '2026-11-20T10:00:00.000Z', 'data.country': 'DE', orders: 2, revenue: 15, buyers: 1 },
      { bucket: '2026-11-20T10:00:00.000Z', 'data.country': 'FR', orders: 1, revenue: 2.5, buyers: 1 },
      { bucket: '2026-11-20T11:00:00.000Z', 'data.country': 'DE', orders: 1, revenue: null, buyers: 1 },
    ]);
  });

  it('gives the same answer after a batch run, now split between batch and speed', async () => {
    const before = (await get('/v1/views/sales')).json().rows;
    const started = await t.app.inject({ method: 'POST', url: '/v1/batch/runs' });
    expect(started.statusCode).toBe(202);
    const run = await t.node!.batch!.wait(started.json().id);
    expect(run.state).toBe('succeeded');
    expect(run.snapshot).toEqual({ 0: 6 });
    // More events after the cut: they are the speed layer's.
    expect((await post([purchase('e', 1, 'FR', 'web', 1)])).statusCode).toBe(202);
    const end = await settle();
    expect(total(end)).toBe(7);
    const lambda = (await get('/v1/views/sales')).json();
    expect(lambda.batch).toEqual({ version: 1, snapshot: { 0: 6 } });
    expect(lambda.position).toEqual({ 0: 7 });
    const fr = before.find((r: any) => r['data.country'] === 'FR');
    expect(lambda.rows).toContainEqual({ ...fr, orders: 2, revenue: 3.5, buyers: 2 });
    expect(lambda.rows.filter((r: any) => r['data.country'] === 'DE')).toEqual(before.filter((r: any) => r['data.country'] === 'DE'));
    const batch = (await get('/v1/views/sales?source=batch')).json();
    expect(batch.position).toEqual({ 0: 6 });
    expect(batch.rows).toEqual(before);
    const speed = (await get('/v1/views/sales?source=speed')).json();
    expect(speed.rows).toEqual([{ bucket: '2026-11-20T10:01:00.000Z', 'data.country': 'FR', 'data.channel': 'web', orders: 1, revenue: 1, buyers: 1 }]);
  });

  it('filters with where, from and to, and limits', async () => {
    const rows = (await get('/v1/views/sales?where.data.channel=web&from=2026-11-20T10:00:00Z&to=2026-11-20T10:01:00Z&group_by=')).json().rows;
    expect(rows).toEqual([{ bucket: '2026-11-20T10:00:00.000Z', orders: 1, revenue: 10, buyers: 1 }]);
    expect((await get('/v1/views/sales?limit=1')).json().rows).toHaveLength(1);
  });

  it('lists the views with their definitions and batch freshness', async () => {
    const body = (await get('/v1/views')).json();
    expect(body.views).toHaveLength(1);
    expect(body.views[0]).toMatchObject({ name: 'sales', definition: { granularity: 'minute' }, batch: { version: 1, snapshot: { 0: 6 } } });
  });

  it.each([
    ['/v1/views/nope', 404, 'not_found', /no view "nope"; the views are sales/],
    ['/v1/views/sales?granularity=week', 400, 'invalid_parameter', /^granularity: "week" is unknown/],
    ['/v1/views/sales?group_by=data.city', 400, 'invalid_parameter', /^group_by: "data.city" is not a dimension of view "sales"/],
    ['/v1/views/sales?where.data.city=x', 400, 'invalid_parameter', /^where\.data\.city:/],
    ['/v1/views/sales?from=yesterday', 400, 'invalid_parameter', /^from: /],
    ['/v1/views/sales?from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z', 400, 'invalid_parameter', /^to: must be after from/],
    ['/v1/views/sales?limit=0', 400, 'invalid_parameter', /^limit: /],
    ['/v1/views/sales?colour=red', 400, 'invalid_parameter', /^colour: unknown parameter/],
    ['/v1/views/sales?source=kappa', 503, 'not_ready', /replay/],
  ])('%s → %i %s', async (url, status, code, message) => {
    const res = await get(url);
    expect(res.statusCode).toBe(status);
    expect(res.json().error).toBe(code);
    expect(res.json().message).toMatch(message);
  });

  it("does not run a second batch run while one is going", async () => {
    const first = await t.app.inject({ method: 'POST', url: '/v1/batch/runs' });
    const second = await t.app.inject({ method: 'POST', url: '/v1/batch/runs' });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(409);
    expect(second.json().error).toBe('run_in_progress');
    await t.node!.batch!.wait(first.json().id);
    const info = (await get(`/v1/batch/runs/${first.json().id}`)).json();
    expect(info.state).toBe('succeeded');
    expect((await get('/v1/batch/runs/none')).statusCode).toBe(404);
  });
});

describe('the speed layer at start', () => {
  it('refuses a dedupe window that needs more memory than speed.maxDedupeMemory, naming both', async () => {
    const events = Array.from({ length: 2_000 }, (_, i) => ({ id: `e-${i}`, type: 'purchase', time: T0, data: { country: 'DE', channel: 'web', amount: 1 } }));
    const roomy = await makeTestApp({ views, dedupe: { window: 'forever' } }, { roles: true });
    const dataDir = roomy.config.dataDir;
    await roomy.handle.ready;
    const res = await roomy.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(events) });
    expect(res.statusCode).toBe(202);
    await roomy.app.close();
    await roomy.node!.close();
    await roomy.handle.close();
    const tight = await makeTestApp({ dataDir, views, dedupe: { window: 'forever' }, speed: { maxDedupeMemory: '64KB' } }).catch((e: unknown) => e);
    // makeTestApp without roles does not start the node; start one by hand to see it refuse.
    const { BraidNode } = await import('../../lambda/index.js');
    const { createLogger } = await import('../../shared/logger.js');
    const t = tight as TestApp;
    const node = new BraidNode(t.config, createLogger('silent'));
    const err = await node.start(t.handle).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('invalid_config');
    expect((err as Error).message).toMatch(/dedupe\.window \(forever\) holds 2000 ids .* more than speed\.maxDedupeMemory \(64 KB\); shorten dedupe\.window or raise speed\.maxDedupeMemory/);
    await node.close();
    await t.close();
    await roomy.close();
  });

  it('refuses the speed role without the batch role in mode lambda, saying what to do', async () => {
    const t = await makeTestApp({ views, roles: { batch: false, archive: false } });
    const { BraidNode } = await import('../../lambda/index.js');
    const { createLogger } = await import('../../shared/logger.js');
    const node = new BraidNode(t.config, createLogger('silent'));
    const err = await node.start(t.handle).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('invalid_config');
    expect((err as Error).message).toMatch(/roles\.speed without roles\.batch .* use mode kappa/);
    await node.close();
    await t.close();
  });
});

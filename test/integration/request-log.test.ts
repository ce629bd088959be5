import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from '../support/app.js';

const event = (id: string) => ({ id, type: 'purchase', time: new Date().toISOString(), key: 'user-secret-42', data: { amount: 1 } });

describe('the request log', () => {
  const lines: string[] = [];
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ views: [{ name: 'v', events: ['purchase'], granularity: 'hour', dimensions: ['key'], measures: { n: 'count' } }] }, { roles: true, logLines: lines });
  });
  afterAll(() => t.close());
  const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes nothing at info for a request that succeeds quickly', async () => {
    const before = lines.length;
    for (let i = 0; i < 20; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/events', payload: [event(`ok-${i}`)] });
      expect(res.statusCode).toBe(202);
    }
    expect((await t.app.inject({ url: '/v1/views/v?where.key=user-secret-42' })).statusCode).toBe(200);
    expect(lines.slice(before).filter((l) => /request/.test(l))).toEqual([]);
  });

  it('logs a refused request at info with its route and status, never its query values', async () => {
    expect((await t.app.inject({ url: '/v1/views/v?where.key=user-secret-42&limit=0' })).statusCode).toBe(400);
    const refused = logged().filter((l) => l.msg === 'request refused');
    expect(refused).toContainEqual(expect.objectContaining({ level: 30, method: 'GET', route: '/v1/views/:name', status: 400 }));
    expect(lines.join('\n')).not.toContain('user-secret-42');
  });
});

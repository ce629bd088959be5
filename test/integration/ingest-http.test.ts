import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../shared/events/index.js';
import { makeTestApp, total, type TestApp } from '../support/app.js';

const KEY = 'test-key-0123456789abcdef';
const now = () => new Date().toISOString();
const ev = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'purchase', time: now(), key: 'user-1', data: { amount: 1.5 }, ...extra });

describe('POST /v1/events', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ ingest: { maxBodyBytes: 200_000, maxBatchEvents: 50, maxEventBytes: 2_048 } });
    await t.handle.ready;
  });
  afterAll(() => t.close());

  const post = (payload: string | object, contentType = 'application/json') =>
    t.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': contentType },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  let endBefore = 0;
  beforeEach(async () => {
    endBefore = total(await t.log().endPosition());
  });
  const appended = async () => total(await t.log().endPosition()) - endBefore;

  it('accepts a JSON array, durable in the log when answered', async () => {
    const res = await post([ev('a1'), ev('a2', { key: undefined })]);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 2 });
    expect(await appended()).toBe(2);
    const records = [];
    for await (const batch of t.log().read({ until: await t.log().endPosition() })) records.push(...batch);
    const stored = records.map((r) => decodeEvent(r.value));
    const a2 = stored.find((e) => e.id === 'a2')!;
    expect(a2.time).toBeTypeOf('number');
    expect(records.find((r) => decodeEvent(r.value).id === 'a2')?.key).toBe('a2'); // key defaults to id
    expect(records.find((r) => decodeEvent(r.value).id === 'a1')?.key).toBe('user-1');
  });

  it('accepts {"events": [...]}', async () => {
    const res = await post({ events: [ev('b1'), ev('b2'), ev('b3')] });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 3 });
    expect(await appended()).toBe(3);
  });

  it('accepts NDJSON, blank lines ignored', async () => {
    const body = `${JSON.stringify(ev('c1'))}\n\n${JSON.stringify(ev('c2'))}\n`;
    const res = await post(body, 'application/x-ndjson');
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 2 });
    expect(await appended()).toBe(2);
  });

  describe('rejects, appending nothing', () => {
    const cases: Array<[string, () => Promise<{ statusCode: number; json(): any }>, number, string, RegExp]> = [
      ['malformed JSON', () => post('[{"id": "x",'), 400, 'invalid_body', /not valid JSON/],
      ['malformed NDJSON line', () => post(`${JSON.stringify(ev('n1'))}\n{oops\n`, 'application/x-ndjson'), 400, 'invalid_body', /line 2/],
      ['a body that is not a batch', () => post({ event: ev('x') }), 400, 'invalid_body', /JSON array of events/],
      ['an unknown top-level field beside events', () => post({ events: [ev('x')], extra: 1 }), 400, 'invalid_body', /"extra"/],
      ['an empty batch', () => post([]), 400, 'invalid_body', /no events/],
      ['wrong types', () => post([ev('ok'), { id: 5, type: 'purchase', time: now() }]), 400, 'invalid_events', /1 of 2 events are invalid/],
      ['a missing field', () => post([{ id: 'm', time: now() }]), 400, 'invalid_events', /nothing was appended/],
      ['an unknown field', () => post([ev('u', { user: 'x' })]), 400, 'invalid_events', /invalid/],
      ['a __proto__ key', () => post('[{"id":"p","type":"t","time":0,"data":{"__proto__":{"admin":true}}}]'), 400, 'invalid_events', /invalid/],
      ['an oversized event', () => post([ev('big', { data: { s: 'x'.repeat(3_000) } })]), 400, 'invalid_events', /invalid/],
      ['an unparseable time', () => post([ev('t1', { time: 'tomorrow' })]), 400, 'invalid_events', /invalid/],
      ['a far-future time', () => post([ev('t2', { time: Date.now() + 86_400_000 })]), 400, 'invalid_events', /invalid/],
      ['too many events', () => post(Array.from({ length: 51 }, (_, i) => ev(`many-${i}`))), 413, 'too_many_events', /51 events, over the limit of 50/],
      ['an oversized body', () => post([ev('huge', { data: { s: 'x'.repeat(250_000) } })]), 413, 'body_too_large', /maxBodyBytes/],
      ['a wrong content type', () => post('id=1', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type', /application\/json/],
      ['text/plain', () => post(JSON.stringify([ev('tp')]), 'text/plain'), 415, 'unsupported_media_type', /x-ndjson/],
    ];
    it.each(cases)('%s', async (_name, send, status, code, message) => {
      const res = await send();
      expect(res.statusCode).toBe(status);
      expect(res.json().error).toBe(code);
      expect(res.json().message).toMatch(message);
      expect(await appended()).toBe(0);
    });

    it('lists every invalid event by index, JSON path and reason', async () => {
      const res = await post([
        ev('fine'),
        { id: 5, type: 'purchase', time: now() },
        ev('proto', { data: JSON.parse('{"nested":{"__proto__":1}}') }),
        ev('future', { time: Date.now() + 86_400_000 }),
        ev('extra', { color: 'red' }),
      ]);
      expect(res.statusCode).toBe(400);
      const problems = res.json().problems as Array<{ index: number; path: string; reason: string }>;
      expect(problems.map((p) => [p.index, p.path])).toEqual([
        [1, '$.id'],
        [2, '$.data.nested.__proto__'],
        [3, '$.time'],
        [4, '$.color'],
      ]);
      expect(problems[2]!.reason).toMatch(/maxFutureMs/);
      expect(await appended()).toBe(0);
    });
  });

  it('serves an OpenAPI document that describes the route', async () => {
    const res = await t.app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/v1/events'].post.responses['202']).toBeDefined();
    const ui = await t.app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toMatch(/swagger/i);
  });

  it('counts accepted and rejected events in /metrics', async () => {
    await post([ev('m1')]);
    await post([{ id: 'bad' }]);
    await post([ev('huge-m', { data: { s: 'x'.repeat(250_000) } })]);
    const res = await t.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/braid_ingest_events_total\{outcome="accepted"\} [1-9]/);
    expect(res.body).toMatch(/braid_ingest_rejections_total\{reason="invalid_events"\} [1-9]/);
    expect(res.body).toMatch(/braid_ingest_rejections_total\{reason="body_too_large"\} [1-9]/);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await t.app.inject({ url: '/v1/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
  });
});

describe('API keys on writes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ auth: { apiKeys: [KEY] } });
    await t.handle.ready;
  });
  afterAll(() => t.close());
  const post = (headers: Record<string, string>) =>
    t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify([ev('k1')]) });

  it('answers 401 without a key and 403 with a wrong one, appending nothing', async () => {
    const before = total(await t.log().endPosition());
    const none = await post({});
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ error: 'unauthorized' });
    expect(none.json().message).toMatch(/X-API-Key/);
    const wrong = await post({ 'x-api-key': 'not-the-key-at-all-000' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().error).toBe('forbidden');
    const wrongBearer = await post({ authorization: `Bearer ${KEY}x` });
    expect(wrongBearer.statusCode).toBe(403);
    expect(total(await t.log().endPosition())).toBe(before);
  });

  it('accepts the key as X-API-Key or as a bearer token', async () => {
    expect((await post({ 'x-api-key': KEY })).statusCode).toBe(202);
    expect((await post({ authorization: `Bearer ${KEY}` })).statusCode).toBe(202);
  });

  it('leaves reads and probes open', async () => {
    expect((await t.app.inject({ url: '/v1/status' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('probes and status', () => {
  it('is live at once, ready (and ingesting) only once the log is open', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = await makeTestApp({}, { gate });
    try {
      expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
      const notReady = await t.app.inject({ url: '/readyz' });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.json().error).toBe('not_ready');
      const early = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify([ev('early')]) });
      expect(early.statusCode).toBe(503);
      expect((await t.app.inject({ url: '/v1/status' })).json().ready).toBe(false);
      release();
      await t.handle.ready;
      expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200);
      const late = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify([ev('late1'), ev('late2')]) });
      expect(late.statusCode).toBe(202);
      const status = (await t.app.inject({ url: '/v1/status' })).json();
      expect(status).toMatchObject({ ready: true, log: { kind: 'embedded', partitions: 1, end: { 0: 2 }, endTotal: 2 } });
    } finally {
      await t.close();
    }
  });
});

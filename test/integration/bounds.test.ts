import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../shared/config/index.js';
import { isBraidError } from '../../shared/errors.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { shopProfile, TestEvents } from '../support/events.js';
import { makeTestApp, type TestApp } from '../support/app.js';

/**
 * Nothing unbounded: jobs of one kind one at a time (and only the replay a query can still
 * use kept), reads behind a key when asked, a budget per query, and the small edges of the
 * API — each answered with a clear status and message.
 */
const ADMIN = 'admin-key-0123456789';
const INGEST = 'ingest-key-0123456789';
const READ = 'read-key-01234567890';
const view = { name: 'big', events: ['page_view', 'purchase', 'signup'], granularity: 'minute', dimensions: ['id'], measures: { n: 'count', users: { distinct: 'key' } } } as const;

async function fill(t: TestApp, requests: number, seed = 5): Promise<void> {
  const events = new TestEvents(seed, { profile: shopProfile, prefix: `b${seed}` });
  for (let i = 0; i < requests; i++) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': INGEST }, payload: Array.from({ length: 50 }, () => events.next(Date.now())) });
    expect(res.statusCode, res.body).toBe(202);
  }
}

describe('jobs, one of a kind at a time', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ views: [view], auth: { apiKeys: [{ name: 'ops', key: ADMIN, scopes: ['admin', 'read'] }, { name: 'shop', key: INGEST, scopes: ['ingest'] }] } }, { roles: true });
    await fill(t, 40);
  });
  afterAll(() => t.close());
  const admin = { 'x-api-key': ADMIN };

  it('starts one of 20 replays asked at once; the others get 409 naming the running one', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => t.app.inject({ method: 'POST', url: '/v1/replays', headers: admin })));
    const started = answers.filter((a) => a.statusCode === 202);
    expect(started).toHaveLength(1);
    const id = started[0]!.json().id as string;
    for (const refused of answers.filter((a) => a.statusCode !== 202)) {
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({ error: 'run_in_progress', message: expect.stringContaining(id) });
    }
    // A verification needs a replay of its own: refused too, and nothing is cut for it.
    const verification = await t.app.inject({ method: 'POST', url: '/v1/verification', headers: admin });
    expect(verification.statusCode).toBe(409);
    expect(verification.json().message).toContain(id);
    expect((await t.node!.replayer!.wait(id)).info.state).toBe('succeeded');
  });

  it('keeps the tables of the latest replay only: the one source=kappa answers from', async () => {
    const first = (await t.app.inject({ method: 'POST', url: '/v1/replays', headers: admin })).json().id as string;
    await t.node!.replayer!.wait(first);
    const second = (await t.app.inject({ method: 'POST', url: '/v1/replays', headers: admin })).json().id as string;
    const done = await t.node!.replayer!.wait(second);
    expect(done.tables).toBeDefined();
    expect((await t.node!.replayer!.wait(first)).tables, 'an older replay still holds its tables').toBeUndefined();
    expect(t.node!.replayer!.latest()!.info.id).toBe(second);
    expect((await t.app.inject({ url: '/v1/views/big?source=kappa', headers: admin })).statusCode).toBe(200);
  });

  it('runs one verification at a time', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => t.app.inject({ method: 'POST', url: '/v1/verification', headers: admin })));
    expect(answers.filter((a) => a.statusCode === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.statusCode === 409)).toHaveLength(5);
    const id = answers.find((a) => a.statusCode === 202)!.json().id as string;
    let v = t.node!.verifier!.get(id)!;
    while (!v.finishedAt) {
      await new Promise((r) => setTimeout(r, 20));
      v = t.node!.verifier!.get(id)!;
    }
    expect(v.ok).toBe(true);
  });
});

describe('API keys with scopes, and reads behind a key', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(
      {
        views: [view],
        auth: { reads: 'key', apiKeys: [{ name: 'ops', key: ADMIN, scopes: ['admin'] }, { name: 'shop', key: INGEST, scopes: ['ingest'] }, { name: 'dash', key: READ, scopes: ['read'] }] },
      },
      { roles: true },
    );
    await fill(t, 2);
  });
  afterAll(() => t.close());

  it('asks a key with the read scope for queries, job and status reads; probes, metrics and docs stay open', async () => {
    for (const url of ['/v1/views/big', '/v1/views', '/v1/status', '/v1/batch/runs', '/v1/replays']) {
      const none = await t.app.inject({ url });
      expect(none.statusCode, url).toBe(401);
      expect(none.json().message).toMatch(/read scope/);
      const wrong = await t.app.inject({ url, headers: { 'x-api-key': INGEST } });
      expect(wrong.statusCode, url).toBe(403);
      expect(wrong.json().message).toMatch(/"shop" has the scopes ingest, not read/);
      expect((await t.app.inject({ url, headers: { 'x-api-key': READ } })).statusCode, url).toBe(200);
    }
    for (const url of ['/healthz', '/readyz', '/metrics', '/docs/json']) expect((await t.app.inject({ url })).statusCode, url).toBe(200);
  });

  it('asks the ingest scope to ingest and the admin scope for runs, replays and verification', async () => {
    const post = (url: string, key: string) => t.app.inject({ method: 'POST', url, headers: { 'x-api-key': key, 'content-type': 'application/json' }, payload: url === '/v1/events' ? '[]' : '{}' });
    expect((await post('/v1/events', READ)).statusCode).toBe(403);
    expect((await post('/v1/events', INGEST)).statusCode).toBe(400); // past the key: an empty batch
    for (const url of ['/v1/batch/runs', '/v1/replays', '/v1/verification']) {
      const refused = await post(url, INGEST);
      expect(refused.statusCode, url).toBe(403);
      expect(refused.json().message, url).toMatch(/not admin/);
    }
    const run = await post('/v1/batch/runs', ADMIN);
    expect(run.statusCode, run.body).toBe(202);
    await t.node!.batch!.wait(run.json().id);
  });

  it('refuses keys no client can send, a read policy no key can meet, and a key listed twice', () => {
    for (const auth of [
      { apiKeys: ['                    '] },
      { apiKeys: [' padded-key-0123456789 '] },
      { apiKeys: ['key with spaces 0123456'] },
      { reads: 'key', apiKeys: [{ name: 'x', key: 'only-ingest-0123456789', scopes: ['ingest'] }] },
      { apiKeys: [{ name: 'a', key: ADMIN, scopes: ['admin'] }, { name: 'b', key: ADMIN, scopes: ['read'] }] },
    ]) {
      let err: unknown;
      try {
        resolveConfig({ auth });
      } catch (e) {
        err = e;
      }
      expect(isBraidError(err, 'invalid_config'), JSON.stringify(auth)).toBe(true);
      expect((err as Error).message).toMatch(/auth/);
    }
  });
});

describe('a budget per query', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ views: [view], query: { maxGroups: 1_000, timeoutMs: 200 }, auth: { apiKeys: [{ name: 'shop', key: INGEST, scopes: ['ingest'] }, ADMIN] } }, { roles: true });
    await fill(t, 60); // 3,000 groups: one per id
  });
  afterAll(() => t.close());

  it('refuses a query that merges more groups than query.maxGroups with 413 naming the limit and the fix', async () => {
    const res = await t.app.inject({ url: '/v1/views/big' });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'query_too_large', message: expect.stringMatching(/merges more than 1000 groups \(query\.maxGroups\); narrow it/) });
    const narrow = await t.app.inject({ url: `/v1/views/big?from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}` });
    expect(narrow.statusCode, narrow.body).toBe(200);
  });

  it('keeps ingest answering while heavy readers loop', async () => {
    let reading = true;
    const readers = Array.from({ length: 4 }, async () => {
      let refused = 0;
      while (reading) {
        const res = await t.app.inject({ url: '/v1/views/big' });
        if (res.statusCode === 413) refused++;
        await new Promise((r) => setImmediate(r));
      }
      return refused;
    });
    const events = new TestEvents(9, { profile: shopProfile, prefix: 'heavy' });
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': INGEST }, payload: [events.next(Date.now())] });
      latencies.push(performance.now() - started);
      expect(res.statusCode).toBe(202);
    }
    reading = false;
    const refused = await Promise.all(readers);
    expect(refused.every((n) => n > 0)).toBe(true);
    // A query holds the event loop for at most its budget: ingest waits for a few of them, not for minutes.
    latencies.sort((a, b) => a - b);
    expect(latencies[98]!, `ingest p99 ${latencies[98]} ms`).toBeLessThan(5_000);
  });
});

describe('the small edges of the API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ views: [view] }, { roles: true });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  it('starts a replay with no body, and a batch run with an empty JSON body', async () => {
    const replay = await t.app.inject({ method: 'POST', url: '/v1/replays' });
    expect(replay.statusCode, replay.body).toBe(202);
    await t.node!.replayer!.wait(replay.json().id);
    const run = await t.app.inject({ method: 'POST', url: '/v1/batch/runs', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(run.statusCode, run.body).toBe(202);
    await t.node!.batch!.wait(run.json().id);
    const bad = await t.app.inject({ method: 'POST', url: '/v1/replays', headers: { 'content-type': 'application/json' }, payload: '{"until":' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).not.toMatch(/events/);
  });

  it("answers a bad % escape, a path segment that is too long and headers that are too large in braid's shape", async () => {
    const badEscape = await t.app.inject({ url: '/v1/views/%zz' });
    expect(badEscape.statusCode).toBe(400);
    expect(badEscape.json()).toMatchObject({ error: 'invalid_parameter', message: expect.stringMatching(/percent-encoding/) });
    const long = await t.app.inject({ url: `/v1/views/${'x'.repeat(200)}` });
    expect(long.statusCode).toBe(414);
    expect(long.json()).toMatchObject({ error: 'uri_too_long' });
    const { port } = t.app.server.address() as { port: number };
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
      socket.write(`GET /v1/views HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'headers_too_large' });
  });
});

describe('the embedded log lock', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('removes the temp lock files that dead processes left', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'braid-lock-'));
    dirs.push(dir);
    await (await EmbeddedLog.open({ dir, partitions: 1 })).close();
    const dead = 2 ** 22 + 12_345; // above the default pid_max: no such process
    await writeFile(path.join(dir, `lock.${dead}.0a1b2c3d.tmp`), '');
    await writeFile(path.join(dir, `lock.${process.pid}.0a1b2c3d.tmp`), '');
    await (await EmbeddedLog.open({ dir, partitions: 1 })).close();
    const left = (await readdir(dir)).filter((n) => n.endsWith('.tmp'));
    expect(left).toEqual([`lock.${process.pid}.0a1b2c3d.tmp`]);
  });
});

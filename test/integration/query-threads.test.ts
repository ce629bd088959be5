/**
 * Queries executed in worker threads (query.threads, issue 12): the same answers as on the
 * event loop for every query form and measure kind, tables sent once and forgotten when no
 * query uses them, and a budget error that keeps its code across the thread.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { QueryService, type ViewSources } from '../../serving/query/service.js';
import { QueryThreads } from '../../serving/query/threads.js';
import { compileView, freezeRows, mergeTables, parseViews, ViewTable, type ColumnTable } from '../../shared/views/index.js';
import { QueryCache, QueryEngine } from '../../serving/query/index.js';
import { everyMeasure } from '../support/views.js';
import { makeTestApp } from '../support/app.js';
import { shopProfile, TestEvents } from '../support/events.js';

const [def] = parseViews([{ name: 'v', events: ['e'], granularity: 'minute', dimensions: ['data.c', 'key'], measures: everyMeasure('data.x', [0.5, 0.99]) }]);
const view = compileView(def!);
const T0 = Date.UTC(2026, 10, 1);

/** A table of `n` events from `seed`: 5 countries (one missing), 40 keys, minutes 0–90. */
function table(seed: number, n: number): ColumnTable {
  const t = new ViewTable(view);
  let x = seed;
  // The high bits of a linear congruential generator: its low bits repeat in short cycles.
  const next = () => Math.floor((x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 256);
  for (let i = 0; i < n; i++) {
    const c = ['DE', 'FR', 'US', 'JP', undefined][next() % 5];
    t.add({ id: `s${seed}-${i}`, type: 'e', time: T0 + (next() % 90) * 60_000, key: `u${next() % 40}`, data: { ...(c ? { c } : {}), x: (next() % 2_000) / 10 - 50 } }, { partition: 0, offset: i });
  }
  return freezeRows(view, t.rows.values());
}

// A batch version's table and two speed segments: groups in one, two or all three of them.
const tables = [table(1, 6_000), table(2, 1_500), table(3, 300)];
const sources: ViewSources = { mode: 'lambda', views: () => [view], source: () => ({ view, position: { 0: 1 }, batch: null, tables }) };
const service = (threads: number, maxGroups = 1e6) =>
  new QueryService(sources, { maxGroups, timeoutMs: 10_000, cacheBytes: 64 << 20, concurrency: 4, maxQueued: 64, pause: () => new Promise((r) => setImmediate(r)), threads });

const QUERIES: Array<Record<string, unknown>> = [
  {},
  { granularity: 'hour' },
  { granularity: 'all', order_by: '-revenue', limit: '10' },
  { granularity: 'all', order_by: '-buyers,data.c', limit: '7' },
  { granularity: 'all', order_by: 'amount_q.0.99', group_by: 'key', limit: '5' },
  { granularity: 'day', group_by: 'data.c', order_by: '-orders' },
  { 'where.data.c': ['DE', 'FR'], order_by: '-basket', limit: '20', offset: '5' },
  { 'where_not.data.c': 'US', 'having.orders': 'gte:3', order_by: 'smallest', limit: '50' },
  { 'where.key': 'u7', 'where.data.c': 'JP' },
  { offset: '100', limit: '100' },
  { from: new Date(T0 + 30 * 60_000).toISOString(), to: new Date(T0 + 60 * 60_000).toISOString(), granularity: 'all', group_by: 'data.c', 'having.biggest': 'gt:100' },
];

describe('queries in worker threads', () => {
  const inLoop = service(0);
  const threaded = service(1);
  afterAll(() => Promise.all([inLoop.close(), threaded.close()]));

  it('answer every query form exactly as the engine on the event loop does, every measure kind included', async () => {
    await threaded.ready();
    for (const q of QUERIES) {
      const [a, b] = await Promise.all([inLoop.answer('v', q), threaded.answer('v', q)]);
      expect(b.rows.length, JSON.stringify(q)).toBeGreaterThan(0);
      expect({ rows: b.rows, groups: b.groups, truncated: b.truncated }, JSON.stringify(q)).toEqual({ rows: a.rows, groups: a.groups, truncated: a.truncated });
    }
    // Asked together, they share the thread and still each get their own answer.
    const together = await Promise.all(QUERIES.map((q) => threaded.answer('v', q)));
    const alone = await Promise.all(QUERIES.map((q) => inLoop.answer('v', q)));
    expect(together.map((a) => a.rows)).toEqual(alone.map((a) => a.rows));
  });

  it('keeps a budget error\'s code and message across the thread', async () => {
    const small = service(1, 1_000);
    try {
      await expect(small.answer('v', {})).rejects.toMatchObject({ code: 'query_too_large', status: 413, message: expect.stringContaining('query.maxGroups') });
    } finally {
      await small.close();
    }
  });

  it('sends each table once, drops what no query used within keepMs, and sends it again when asked', async () => {
    const threads = new QueryThreads({ threads: 1, cacheBytes: 16 << 20, maxQueue: 4, keepMs: 0 });
    try {
      const q = { granularity: 'all', groupBy: [0], where: new Map(), whereNot: new Map(), having: [], orderBy: [], limit: 100, offset: 0 } as const;
      const both = await threads.answer(view, tables, q);
      expect(threads.tablesHeld).toBe(3);
      // Only the first: the other two are forgotten (on both sides).
      const first = await threads.answer(view, [tables[0]!], q);
      expect(threads.tablesHeld).toBe(1);
      expect(first.rows).not.toEqual(both.rows);
      expect(await threads.answer(view, tables, q)).toEqual(both);
      expect(threads.tablesHeld).toBe(3);
      expect(threads.stats).toEqual({ sent: 5, merged: 0 });
      // A compaction's table of two the thread holds is made there, not sent, and answers the same.
      const merged = await mergeTables(tables[1]!, tables[2]!);
      const ordered = { ...q, orderBy: [{ kind: 'measure', index: 1, desc: true }], limit: 20 } as const;
      const inLoop = new QueryEngine({ cache: new QueryCache(1 << 20), pause: () => undefined });
      expect(await threads.answer(view, [tables[0]!, merged], ordered)).toEqual(await inLoop.answer(view, [tables[0]!, merged], ordered));
      expect(threads.stats).toEqual({ sent: 5, merged: 1 });
    } finally {
      await threads.close();
    }
  });

  it('serve the API with query.threads: 1, batch and speed merged, the same answer as with 0, and close with the app', async () => {
    const views = [{ name: 'all', events: ['page_view', 'signup', 'purchase'], granularity: 'minute', dimensions: ['type'], measures: { n: 'count', users: { distinct: 'key' } } }];
    const answers: unknown[] = [];
    for (const threads of [1, 0]) {
      const app = await makeTestApp({ views, query: { threads } }, { roles: true });
      try {
        await app.handle.ready;
        const events = new TestEvents(9, { profile: shopProfile, prefix: 'qt' });
        const post = async (at: number) => {
          const res = await app.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(events.batch(at)) });
          expect(res.statusCode, res.body).toBe(202);
        };
        for (let i = 0; i < 4; i++) await post(T0 + i * 60_000);
        await app.node!.speed!.waitFor(await app.log().endPosition());
        const run = await app.app.inject({ method: 'POST', url: '/v1/batch/runs' });
        expect((await app.node!.batch!.wait(run.json().id)).state).toBe('succeeded');
        for (let i = 4; i < 7; i++) await post(T0 + i * 60_000);
        await app.node!.speed!.waitFor(await app.log().endPosition());
        const res = await app.app.inject({ url: '/v1/views/all?granularity=hour&order_by=-n' });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json() as { rows: unknown[]; batch: unknown };
        expect(body.batch, 'the answer merges a batch version').not.toBeNull();
        answers.push(body.rows);
      } finally {
        await app.close();
      }
    }
    expect(answers[0]).toEqual(answers[1]);
    expect((answers[0] as unknown[]).length).toBeGreaterThan(0);
  }, 60_000);
});

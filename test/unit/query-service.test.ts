import { describe, expect, it } from 'vitest';
import { QueryService, type ViewSources } from '../../serving/query/service.js';
import { compileView, freezeRows, parseViews, ViewTable } from '../../shared/views/index.js';

const [def] = parseViews([{ name: 'v', events: ['e'], granularity: 'minute', dimensions: ['data.c'], measures: { n: 'count' } }]);
const view = compileView(def!);
const folded = new ViewTable(view);
for (let i = 0; i < 50; i++) folded.add({ id: `e${i}`, type: 'e', time: Date.UTC(2026, 10, 1, 0, i % 7), data: { c: `c${i % 3}` } }, { partition: 0, offset: i });
const table = freezeRows(view, folded.rows.values());

/** Sources that count how often a query took its tables: once per computation. */
function sources(): ViewSources & { taken: number } {
  const s = {
    mode: 'lambda' as const,
    taken: 0,
    views: () => [view],
    source: () => {
      s.taken++;
      return { view, position: { 0: s.taken }, batch: null, tables: [table] };
    },
  };
  return s;
}

const service = (s: ViewSources, concurrency = 4, maxQueued = 16) =>
  new QueryService(s, { maxGroups: 1e6, timeoutMs: 5_000, cacheBytes: 1 << 20, concurrency, maxQueued, pause: () => new Promise((r) => setImmediate(r)) });

describe('the query service', () => {
  it('lets identical queries asked during a computation share the next one, which starts after all of them arrived', async () => {
    const s = sources();
    const q = service(s);
    const asked = Array.from({ length: 5 }, () => q.answer('v', { granularity: 'hour' }));
    const answers = await Promise.all(asked);
    // the first computed alone; the four asked while it ran shared one more
    expect(s.taken).toBe(2);
    expect(answers[0]!.position).toEqual({ 0: 1 });
    for (const a of answers.slice(1)) expect(a.position).toEqual({ 0: 2 });
    for (const a of answers) expect(a.rows).toEqual(answers[0]!.rows);
    // a different query is not joined to them, and once idle the next asks afresh
    await Promise.all([q.answer('v', {}), q.answer('v', { granularity: 'hour' })]);
    expect(s.taken).toBe(4);
  });

  it('runs query.concurrency queries at once, queues query.maxQueued more, and refuses the next with 503 overloaded', async () => {
    const s = sources();
    const q = service(s, 1, 1);
    const first = q.answer('v', {});
    const second = q.answer('v', { group_by: '' });
    const third = q.answer('v', { granularity: 'day' });
    expect(q.load).toEqual({ running: 1, waiting: 1 });
    await expect(third).rejects.toMatchObject({ code: 'overloaded', status: 503, message: expect.stringContaining('query.maxQueued') });
    await Promise.all([first, second]);
    expect(q.load).toEqual({ running: 0, waiting: 0 });
    await expect(q.answer('v', { granularity: 'day' })).resolves.toMatchObject({ groups: 3 });
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../shared/events/index.js';
import { makeTestApp, type TestApp } from '../support/app.js';
import { expectRowsMatch, referenceRows, survivors, type RefRecord } from '../support/reference.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');
const before = { name: 'sales', events: ['purchase'], granularity: 'hour', dimensions: ['data.country'], measures: { orders: 'count' } } as const;
// The same view, changed: finer buckets and two more measures.
const after = { ...before, granularity: 'minute', measures: { orders: 'count', revenue: { sum: 'data.amount' }, buyers: { distinct: 'key' } } } as const;

describe('view evolution', () => {
  let dataDir: string;
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const t of apps) await t.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });
  const open = async (view: object) => {
    const t = await makeTestApp({ dataDir, views: [view], archive: { flushIntervalMs: 20 }, verify: { schedule: 'off' } }, { roles: true });
    apps.push(t);
    return t;
  };

  it('serves the old definition while the new one is built, then the new one, without a gap', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'braid-evolution-'));
    let t = await open(before);
    await t.handle.ready;
    const events = Array.from({ length: 3_000 }, (_, i) => ({
      id: `o-${i}`,
      type: 'purchase',
      time: T0 + (i % 180) * 60_000,
      key: `u-${i % 97}`,
      data: { country: ['DE', 'FR', 'ES'][i % 3], amount: (i % 50) + 0.5 },
    }));
    for (let i = 0; i < events.length; i += 1_000) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(events.slice(i, i + 1_000)) });
      expect(res.statusCode).toBe(202);
    }
    const run = await t.node!.batch!.wait(t.node!.batch!.start('api').id);
    expect(run.state).toBe('succeeded');
    const old = (await t.app.inject({ url: '/v1/views/sales' })).json();
    expect(old.definitionVersion).toBe(t.node!.views[0]!.version);
    await t.close();

    // Restart with the changed definition.
    t = await open(after);
    await t.node!.start(t.handle);
    const oldVersion = old.definitionVersion as string;
    const newVersion = t.node!.views[0]!.version;
    expect(newVersion).not.toBe(oldVersion);
    const startup = t.node!.batch!.runs().find((r) => r.trigger === 'startup');
    expect(startup).toBeDefined();

    // Until the startup run publishes: the old definition, whole. Then: the new one.
    const seen: string[] = [];
    for (;;) {
      const published = t.node!.batch!.getRun(startup!.id)!.state === 'succeeded';
      const res = await t.app.inject({ url: '/v1/views/sales' });
      expect(res.statusCode).toBe(200);
      const answer = res.json();
      seen.push(answer.definitionVersion);
      if (answer.definitionVersion === oldVersion) {
        expect(published).toBe(false);
        expect(answer.granularity).toBe('hour');
        expect(answer.rows).toEqual(old.rows);
      } else {
        expect(answer.definitionVersion).toBe(newVersion);
        expect(answer.granularity).toBe('minute');
        const records: RefRecord[] = [];
        for await (const batch of t.log().read({ until: answer.position })) {
          for (const r of batch) records.push({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, event: decodeEvent(r.value) });
        }
        expectRowsMatch(after as never, answer.rows, referenceRows(after as never, survivors(records, answer.position, 86_400_000)));
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(seen[0]).toBe(oldVersion);
    expect(seen.at(-1)).toBe(newVersion);
    // The new version is what the batch layer now holds, and it stays after a restart.
    expect((await t.app.inject({ url: '/v1/views/sales?source=batch' })).json().definitionVersion).toBe(newVersion);
  });
});

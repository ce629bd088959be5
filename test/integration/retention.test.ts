/**
 * Issue 14, part 4: log retention with the archive as the system of record. With a short
 * `log.retention`, braid deletes archived records from the log (never one the archive lacks
 * or the speed layer may still read); a Kappa replay then reads the archive for them and the
 * log for the rest, and verification, a restarted speed layer and the answers stay exact.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { resolveConfig } from '../../shared/config/index.js';
import { decodeEvent } from '../../shared/events/index.js';
import { isBraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/types.js';
import { SpeedLayer } from '../../speed/speed-layer.js';
import { makeTestApp } from '../support/app.js';
import { topicsPerFile } from '../support/archive-fixtures.js';
import { TestEvents, shopProfile } from '../support/events.js';
import { interleavingViews } from '../support/interleaving-schedule.js';
import { readAll, readRange } from '../support/log-contract.js';
import { survivors } from '../support/reference.js';

const brokers = inject('kafkaBrokers').split(',');
const newTopic = topicsPerFile(brokers);
const WINDOW = '300ms';

describe.each(['embedded', 'kafka'] as const)('log retention on the %s log', (kind) => {
  it('deletes archived records past the retention, and replays, verification, a restart and the answers stay exact', async () => {
    const t = await makeTestApp(
      {
        views: interleavingViews,
        dedupe: { window: WINDOW, skew: '0ms' },
        log: { retention: '4s', segmentSize: '8KB', partitions: 2, ...(kind === 'kafka' ? { kafka: { brokers, topic: newTopic('braid-retention'), clientId: 'braid-retention' } } : {}) },
        archive: { flushIntervalMs: 20 },
      },
      { roles: true },
    );
    try {
      await t.handle.ready;
      const node = t.node!;
      const batch = node.batch!;
      expect(node.retention, 'a finite retention starts the retention job').toBeDefined();
      // Only the passes this test makes: the job's own pass every second would otherwise delete
      // the old records at a moment the test does not choose (it reads them all first, below).
      await node.retention!.stop();
      const events = new TestEvents(3, { profile: shopProfile, prefix: 'ret' });
      const post = async (retries = false) => {
        const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(events.batch(Date.now(), retries)) });
        expect(res.statusCode, res.body).toBe(202);
      };
      const run = async () => {
        const info = await batch.wait(batch.start('api').id);
        expect(info.state, info.error).toBe('succeeded');
      };
      // Old records: several rounds, retries among them, then a run; then time past the retention.
      for (let round = 0; round < 8; round++) await post(round % 3 === 2);
      await run();
      expect(await node.retention!.once(), 'nothing may go while every record is recent').toMatchObject({ deletedRecords: 0 });
      // (4 s: the first phase, a batch run on Kafka included, must end before its records age
      // past the retention, or the pass above rightly deletes some; it took over 1 s in CI.)
      await sleep(4_300);
      for (let round = 0; round < 3; round++) await post(round === 1);
      await node.speed!.waitFor(await t.log().endPosition());
      await run();

      const log = t.log();
      const end = await log.endPosition();
      const all = (await readAll(log)).map((r) => ({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, event: decodeEvent(r.value) }));
      const pass = await node.retention!.once();
      expect(pass!.deletedRecords, JSON.stringify(pass)).toBeGreaterThan(0);
      const start: Position = await log.startPosition();
      expect(start).toEqual(pass!.start);
      // Gone from the log, and never past what the archive holds or the speed layer reads from.
      const below = Object.entries(start).find(([, o]) => o > 0)!;
      const err = await readRange(log, { from: { [below[0]]: 0 }, until: end }).catch((e: unknown) => e);
      expect(isBraidError(err, 'log_truncated'), String(err)).toBe(true);
      const archived = node.archiver!.position();
      for (const [p, o] of Object.entries(start)) expect(o).toBeLessThanOrEqual(archived[Number(p)]!);
      // The metrics say so.
      const metrics = (await t.app.inject({ url: '/metrics' })).body;
      for (const [p, o] of Object.entries(start)) expect(metrics).toContain(`braid_log_start_offset{partition="${p}"} ${o}`);
      expect(metrics).toContain(`braid_log_deleted_records ${pass!.deletedRecords}`);

      // A replay reads the archive below the log's start: verification still compares Lambda with it, exactly.
      const v = await node.verifier!.start('api').done;
      expect(v.state, v.error).toBe('succeeded');
      expect(v.views.filter((x) => !x.ok)).toEqual([]);
      const replay = node.replayer!.latest()!;
      expect(replay.info.progress.folded).toBe(survivors(all, end, 300).length);
      expect(replay.info.progress.folded + replay.info.progress.duplicates).toBe(all.length);

      // Every answer counts each event once, as before any deletion.
      // (`totals` counts every event of its three types, per day.)
      const totals = interleavingViews.find((v) => v.name === 'totals')!;
      const res = await t.app.inject({ url: '/v1/views/totals?granularity=all' });
      expect(res.statusCode, res.body).toBe(200);
      const counted = survivors(all, end, 300).filter((r) => (totals.events as readonly string[]).includes(r.event.type)).length;
      expect((res.json().rows as Array<{ events: number }>).reduce((n, r) => n + r.events, 0)).toBe(counted);

      // A speed layer started now over the serving version reads only what the log still holds.
      const config = resolveConfig({ dedupe: { window: WINDOW, skew: '0ms' } });
      const fresh = new SpeedLayer({ log, views: node.views, dedupeWindowMs: config.dedupeWindowMs, dedupeSkewMs: config.dedupeSkewMs, base: () => batch.current(), logger: pino({ level: 'silent' }) });
      await fresh.start();
      expect(fresh.stats().position).toEqual(end);
      await fresh.close();
    } finally {
      await t.close();
    }
  });
});

describe('log retention settings', () => {
  it('refuses a finite retention with a window of forever, or in kappa mode', () => {
    expect(() => resolveConfig({ log: { retention: '7d' }, dedupe: { window: 'forever' } })).toThrow(/dedupe.window is forever/);
    expect(() => resolveConfig({ log: { retention: '7d' }, mode: 'kappa' })).toThrow(/kappa mode/);
    expect(resolveConfig({ log: { retention: '7d' } }).retentionMs).toBe(7 * 86_400_000);
    expect(resolveConfig({}).retentionMs).toBe(Infinity);
  });
});

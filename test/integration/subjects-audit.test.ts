/**
 * Issue 15: a subject's export, the audit trail as the app writes it, and the scopes that
 * guard both, on both logs. The export equals the subject's events in the log exactly (the
 * archive's and the log tail's), each with whether it counted by the dedupe rule; the trail
 * holds every write and rejected key with the key's name, never its secret, and the subject
 * only as a pseudonym; an ingest key can neither export nor read the trail.
 */
import { describe, expect, inject, it } from 'vitest';
import { decodeEvent } from '../../shared/events/index.js';
import { partitionFor } from '../../shared/log/partitioner.js';
import { makeTestApp } from '../support/app.js';
import { topicsPerFile } from '../support/archive-fixtures.js';
import { shopProfile, TestEvents } from '../support/events.js';
import { interleavingViews } from '../support/interleaving-schedule.js';
import { readAll } from '../support/log-contract.js';
import { survivors } from '../support/reference.js';

const brokers = inject('kafkaBrokers').split(',');
const newTopic = topicsPerFile(brokers);
const INGEST = 'ingest-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const WINDOW_MS = 3_600_000;

describe.each(['embedded', 'kafka'] as const)('subjects and the audit trail on the %s log', (kind) => {
  it('exports a subject exactly, audits every write by key name, and keeps subjects and secrets out of the trail', async () => {
    const t = await makeTestApp(
      {
        views: interleavingViews,
        dedupe: { window: '1h' },
        auth: { apiKeys: [{ name: 'shop', key: INGEST, scopes: ['ingest'] }, { name: 'ops', key: ADMIN, scopes: ['admin'] }] },
        audit: { anomalies: { failedAuthPerMinute: 3, exportsPerHour: 2 } },
        // The archive writes only what a batch run waits for: later events stay in the log's tail.
        archive: { flushIntervalMs: 3_600_000, flushRecords: 10_000_000 },
        ...(kind === 'kafka' ? { log: { partitions: 3, kafka: { brokers, topic: newTopic('braid-subjects'), clientId: 'braid-subjects' } } } : { log: { partitions: 3 } }),
      },
      { roles: true },
    );
    try {
      await t.handle.ready;
      const events = new TestEvents(21, { profile: shopProfile, prefix: 'subj', users: 6 });
      const post = async (key: string | undefined, body: object[]) =>
        t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}), 'user-agent': 'subjects-test/1' }, payload: JSON.stringify(body) });
      for (let i = 0; i < 12; i++) expect((await post(INGEST, events.batch(Date.now(), i % 4 === 3))).statusCode).toBe(202);
      // An id sent under one key, archived by the run, then again under another key of the same
      // partition after it: that retry is a duplicate, and the second subject's export says so.
      const bob = 'bob-subject';
      const alice = Array.from({ length: 100 }, (_, i) => `alice-${i}`).find((k) => partitionFor(k, 3) === partitionFor(bob, 3))!;
      expect((await post(INGEST, [{ id: 'shared-id-1', type: 'signup', time: Date.now(), key: bob }])).statusCode).toBe(202);
      const run = await t.app.inject({ method: 'POST', url: '/v1/batch/runs', headers: { 'x-api-key': ADMIN } });
      expect(run.statusCode, run.body).toBe(202);
      expect((await t.node!.batch!.wait(run.json().id)).state).toBe('succeeded');
      for (let i = 0; i < 6; i++) expect((await post(INGEST, events.batch(Date.now(), i % 3 === 2))).statusCode).toBe(202);
      expect((await post(INGEST, [{ id: 'shared-id-1', type: 'signup', time: Date.now(), key: alice }])).statusCode).toBe(202);
      // Bad input that must not make the trail hold a subject or spoof a trigger.
      expect((await t.app.inject({ method: 'DELETE', url: '/v1/subjects/carol-secret-subject/events', headers: { 'x-api-key': ADMIN } })).statusCode).toBe(404);
      expect((await t.app.inject({ url: '/v1/subjects/dave-secret-subject', headers: { 'x-api-key': ADMIN } })).statusCode).toBe(404);
      expect((await t.app.inject({ method: 'POST', url: '/v1/batch/runs?trigger=schedule', headers: { 'x-api-key': ADMIN } })).statusCode).toBe(400);
      expect((await post(undefined, events.batch(Date.now()))).statusCode).toBe(401);
      expect((await post('not-a-key-0123456789', events.batch(Date.now()))).statusCode).toBe(403);

      const log = t.log();
      const all = (await readAll(log)).map((r) => ({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, key: r.key, event: decodeEvent(r.value) }));
      const archived = t.node!.archiver!.position();
      const counted = new Set(survivors(all, await log.endPosition(), WINDOW_MS).map((r) => `${r.partition}:${r.offset}`));
      let sawTail = false;
      for (const subject of ['user-2', 'user-5', all.find((r) => r.event.key === undefined)!.event.id, alice]) {
        const res = await t.app.inject({ url: `/v1/subjects/${encodeURIComponent(subject)}/events`, headers: { 'x-api-key': ADMIN } });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['content-type']).toMatch(/ndjson/);
        const lines = res.body.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
        const expected = all
          .filter((r) => r.key === subject)
          .map((r) => ({ ...r.event, partition: r.partition, offset: r.offset, appendTime: r.appendTime, counted: counted.has(`${r.partition}:${r.offset}`) }));
        expect(lines, subject).toEqual(expected);
        expect(expected.some((e) => !e.counted) || subject !== 'user-2', 'user-2 has a duplicate to report').toBe(true);
        if (expected.some((e) => e.offset >= (archived[e.partition] ?? 0))) sawTail = true;
      }
      expect(sawTail, 'some exported events came from the log after the archive').toBe(true);
      const aliceExport = (await t.app.inject({ url: `/v1/subjects/${alice}/events`, headers: { 'x-api-key': ADMIN } })).body.trim().split('\n').map((l) => JSON.parse(l) as { id: string; counted: boolean });
      expect(aliceExport).toMatchObject([{ id: 'shared-id-1', counted: false }]);

      // Scopes: an ingest key cannot export or read the trail.
      expect((await t.app.inject({ url: '/v1/subjects/user-2/events', headers: { 'x-api-key': INGEST } })).statusCode).toBe(403);
      expect((await t.app.inject({ url: '/v1/audit', headers: { 'x-api-key': INGEST } })).statusCode).toBe(403);

      const trail = await t.app.inject({ url: '/v1/audit?limit=1000', headers: { 'x-api-key': ADMIN } });
      expect(trail.statusCode, trail.body).toBe(200);
      const entries = trail.json().entries as Array<{ action: string; actor: string; outcome: string; details: Record<string, unknown> }>;
      expect(entries[0]).toMatchObject({ action: 'start', actor: 'system' });
      const ingests = entries.filter((e) => e.action === 'ingest');
      expect(ingests).toHaveLength(20);
      expect(ingests.every((e) => e.actor === 'shop' && e.outcome === 'ok' && typeof e.details.events === 'number' && e.details.userAgent === 'subjects-test/1' && e.details.client === '127.0.0.1')).toBe(true);
      // No key, an unknown key, then the ingest key refused twice for its scope (named, not its secret).
      expect(entries.filter((e) => e.action === 'auth_rejected').map((e) => [e.actor, e.details.status])).toEqual([
        ['anonymous', 401],
        ['anonymous', 403],
        ['shop', 403],
        ['shop', 403],
      ]);
      expect(entries.find((e) => e.action === 'admin' && e.details.route === '/v1/batch/runs')).toMatchObject({ actor: 'ops', details: { job: run.json().id } });
      expect(entries.find((e) => e.action === 'batch_run')).toMatchObject({ outcome: 'ok', details: { id: run.json().id } });
      const exports = entries.filter((e) => e.action === 'export');
      expect(exports).toHaveLength(5);
      expect(exports[0]!.details.subject).toMatch(/^[0-9a-f]{64}$/);

      // Filters and paging.
      const page = (await t.app.inject({ url: '/v1/audit?action=ingest&actor=shop&limit=5&offset=5', headers: { 'x-api-key': ADMIN } })).json();
      expect(page.total).toBe(20);
      expect(page.entries.map((e: { seq: number }) => e.seq)).toEqual(ingests.slice(5, 10).map((e) => (e as unknown as { seq: number }).seq));

      // Anomalies: four rejected keys from one address within a minute (threshold 3), three exports (threshold 2).
      const anomalies = (await t.app.inject({ url: '/v1/audit/anomalies', headers: { 'x-api-key': ADMIN } })).json().active as Array<{ kind: string; about: string; count: number }>;
      expect(anomalies.map((a) => [a.kind, a.about, a.count]).sort()).toEqual([
        ['exports', 'all', 5],
        ['failed_auth', '127.0.0.1', 4],
      ]);
      const metrics = (await t.app.inject({ url: '/metrics' })).body;
      expect(metrics).toContain('braid_audit_anomalies{kind="failed_auth"} 1');
      expect(metrics).toContain('braid_audit_anomalies{kind="key_addresses"} 0');

      // Secrets and subjects are not in the trail's bytes; the chain holds.
      const bytes = (await readAll(t.node!.audit!.log)).map((r) => r.value.toString('utf8')).join('\n');
      for (const secret of [INGEST, ADMIN, 'user-2"', 'user-5"', alice, 'carol-secret-subject', 'dave-secret-subject']) expect(bytes).not.toContain(secret);
      const verified = (await t.app.inject({ url: '/v1/audit/verify', headers: { 'x-api-key': ADMIN } })).json();
      // It walked every entry before its own (the verify request is audited once answered).
      expect(verified.ok).toBe(true);
      expect(verified.entries).toBe(t.node!.audit!.head().seq - 1);
      expect(verified.entries).toBeGreaterThanOrEqual(entries.length);
    } finally {
      await t.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectDefaultMetrics } from 'prom-client';
import { makeTestApp, total as totalOf, type TestApp } from '../support/app.js';
import { matching, parseMetrics, total, value, type Sample } from '../support/metrics-text.js';
import { dashboards } from '../../infra/grafana/src/generate.js';
import { metricNames, promQueries, variableQueries } from '../../infra/grafana/src/inspect.js';
import { loadRules } from '../../infra/prometheus/rules.js';
import { partitionFor } from '../../shared/log/partitioner.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');
const views = [
  {
    name: 'sales',
    events: ['purchase'],
    granularity: 'minute',
    dimensions: ['data.country'],
    measures: { orders: 'count', revenue: { sum: 'data.amount' }, buyers: { distinct: 'key' } },
  },
];

const purchase = (id: string, minute: number, country: string, amount: number, key = `u-${id}`) => ({
  id,
  type: 'purchase',
  time: T0 + minute * 60_000,
  key,
  data: { country, amount },
});

describe('metrics at GET /metrics', () => {
  let t: TestApp;
  let n = 0;
  /** fresh events, spread over keys (so over both partitions) */
  const fresh = (count: number) => Array.from({ length: count }, () => purchase(`e${++n}`, n % 5, n % 2 ? 'DE' : 'FR', n));

  const scrape = async (): Promise<Sample[]> => {
    const res = await t.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return parseMetrics(res.body);
  };
  const post = (body: string, contentType = 'application/json') =>
    t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': contentType }, payload: body });
  const send = async (events: object[]) => expect((await post(JSON.stringify(events))).statusCode).toBe(202);
  async function settle() {
    const end = await t.log().endPosition();
    await t.node!.speed!.waitFor(end);
    return end;
  }
  async function batchRun() {
    const res = await t.app.inject({ method: 'POST', url: '/v1/batch/runs' });
    expect(res.statusCode).toBe(202);
    const run = await t.node!.batch!.wait(res.json().id);
    expect(run.state).toBe('succeeded');
    return run;
  }

  beforeAll(async () => {
    // A long flush interval: the archive writes only when a batch run waits for it, so
    // its lag and buffer are what this test leaves them.
    t = await makeTestApp(
      { views, log: { partitions: 2 }, archive: { flushIntervalMs: 600_000, compactMinFiles: 2 }, verify: { schedule: 'off' } },
      { roles: true },
    );
    collectDefaultMetrics({ register: t.registry, prefix: 'braid_' });
    await t.handle.ready;
  });
  afterAll(() => t.close());

  it('counts ingest requests and events by outcome, rejections by reason, bytes and append time', async () => {
    const before = await scrape();
    await send(fresh(3));
    expect((await post(JSON.stringify([{ id: 'bad', type: 'no spaces allowed', time: T0 }]))).statusCode).toBe(400);
    expect((await post('{"events": []}')).statusCode).toBe(400);
    expect((await post('id,type', 'text/csv')).statusCode).toBe(415);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);

    expect(delta('braid_ingest_requests_total', { outcome: 'accepted' })).toBe(1);
    expect(delta('braid_ingest_requests_total', { outcome: 'rejected' })).toBe(3);
    expect(delta('braid_ingest_events_total', { outcome: 'accepted' })).toBe(3);
    expect(delta('braid_ingest_events_total', { outcome: 'rejected' })).toBe(1);
    expect(delta('braid_ingest_rejections_total', { reason: 'invalid_events' })).toBe(1);
    expect(delta('braid_ingest_rejections_total', { reason: 'invalid_body' })).toBe(1);
    expect(delta('braid_ingest_rejections_total', { reason: 'unsupported_media_type' })).toBe(1);
    // Three stored events of roughly 100 bytes each; one durable append.
    expect(delta('braid_ingest_bytes_total')).toBeGreaterThan(3 * 50);
    expect(delta('braid_log_append_seconds_count')).toBe(1);
    expect(delta('braid_log_append_seconds_sum')).toBeGreaterThan(0);
  });

  it('shows the log end and, per consumer and partition, its offset and lag', async () => {
    await send(fresh(5));
    const end = await settle();
    expect(Object.keys(end)).toHaveLength(2);
    const m = await scrape();
    for (const [p, offset] of Object.entries(end)) {
      const partition = String(p);
      expect(value(m, 'braid_log_end_offset', { partition })).toBe(offset);
      // The speed layer has folded everything; the archive holds it unwritten (no flush yet).
      expect(value(m, 'braid_consumer_offset', { consumer: 'speed', partition })).toBe(offset);
      expect(value(m, 'braid_consumer_lag', { consumer: 'speed', partition })).toBe(0);
      expect(value(m, 'braid_consumer_offset', { consumer: 'archive', partition })).toBe(0);
      expect(value(m, 'braid_consumer_lag', { consumer: 'archive', partition })).toBe(offset);
    }
    expect(value(m, 'braid_archive_buffered_records')).toBe(totalOf(end));
    expect(value(m, 'braid_archive_files')).toBe(0);
  });

  it('counts the speed layer folding, dropping duplicates, its groups and dedupe state', async () => {
    const before = await scrape();
    expect(value(before, 'braid_speed_ready_seconds')).toBeGreaterThan(0);
    expect(value(before, 'braid_speed_rebuilding')).toBe(0);
    // Two new records in a new minute bucket, and a retry of one of them.
    const a = purchase('speed-a', 30, 'NL', 5, 'k-1');
    const b = purchase('speed-b', 30, 'NL', 7, 'k-1');
    await send([a, b]);
    await send([a]);
    await settle();
    const after = await scrape();
    const delta = (name: string) => value(after, name) - value(before, name);
    expect(delta('braid_speed_records_folded_total')).toBe(2);
    expect(delta('braid_speed_duplicates_dropped_total')).toBe(1);
    expect(delta('braid_speed_groups')).toBe(1); // one view, one new (minute, country) group
    expect(delta('braid_speed_dedupe_entries')).toBe(2);
    // Each id remembered takes at least one 24-byte slot of the dedupe tables.
    expect(value(after, 'braid_speed_dedupe_bytes')).toBeGreaterThanOrEqual(24 * value(after, 'braid_speed_dedupe_entries'));
  });

  it('counts a batch run by outcome, times it, counts what it read, and shows the version it publishes', async () => {
    const before = await scrape();
    expect(value(before, 'braid_batch_serving_version')).toBe(0);
    expect(value(before, 'braid_batch_last_success_timestamp_seconds')).toBe(0);
    expect(value(before, 'braid_batch_snapshot_age_seconds')).toBeGreaterThan(0); // since start: nothing published
    expect(value(before, 'braid_batch_run_in_progress')).toBe(0);
    expect(value(before, 'braid_speed_segments')).toBe(1);

    const end = await settle();
    const run = t.node!.batch!.start('api');
    // Read in the same tick as the start: the run is going and the speed layer has cut.
    const during = parseMetrics(
      (await Promise.all(['braid_batch_run_in_progress', 'braid_speed_segments'].map((name) => t.registry.getSingleMetricAsString(name)))).join('\n'),
    );
    expect(value(during, 'braid_batch_run_in_progress')).toBe(1);
    expect(value(during, 'braid_speed_segments')).toBe(2);
    const done = await t.node!.batch!.wait(run.id);
    expect(done.state).toBe('succeeded');
    expect(done.snapshot).toEqual(end);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);
    expect(delta('braid_batch_runs_total', { outcome: 'succeeded', trigger: 'api' })).toBe(1);
    expect(delta('braid_batch_runs_total', { outcome: 'failed' })).toBe(0);
    expect(delta('braid_batch_run_duration_seconds_count', { outcome: 'succeeded' })).toBe(1);
    expect(delta('braid_batch_run_duration_seconds_sum', { outcome: 'succeeded' })).toBeGreaterThan(0);
    expect(delta('braid_batch_records_read_total')).toBe(totalOf(end));
    const version = t.node!.batch!.current()!;
    expect(value(after, 'braid_batch_serving_version')).toBe(1);
    expect(value(after, 'braid_batch_last_success_timestamp_seconds')).toBe(Date.parse(version.createdAt) / 1000);
    // The age now counts from the publish, no longer from the start.
    expect(value(after, 'braid_batch_snapshot_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(after, 'braid_batch_snapshot_age_seconds')).toBeLessThanOrEqual((Date.now() - Date.parse(version.createdAt)) / 1000);
    expect(value(after, 'braid_batch_run_in_progress')).toBe(0);
    expect(value(after, 'braid_speed_segments')).toBe(1); // the before-cut segment was dropped at publish

    // The run made the archive write what it buffered: one file per partition.
    expect(value(after, 'braid_archive_files')).toBe(Object.values(end).filter((o) => o > 0).length);
    expect(value(after, 'braid_archive_records')).toBe(totalOf(end));
    expect(value(after, 'braid_archive_bytes')).toBeGreaterThan(0);
    expect(value(after, 'braid_archive_buffered_records')).toBe(0);
    expect(total(after, 'braid_consumer_lag', { consumer: 'archive' })).toBe(0);
  });

  it('counts archive compactions', async () => {
    const before = await scrape();
    expect(value(before, 'braid_archive_compactions_total')).toBe(0);
    // Compaction merges no file holding more than half of the result (batch/archive/compaction.ts):
    // two more files of 12 records per partition, each at least as large as the first,
    // make each partition's three files one.
    const perPartition = (count: number) =>
      [0, 1].flatMap((p) => {
        const keys: string[] = [];
        for (let i = 0; keys.length < count; i++) if (partitionFor(`c-${i}`, 2) === p) keys.push(`c-${i}`);
        return keys.map((key) => purchase(`c${++n}`, 0, 'DE', 1, key));
      });
    for (let flush = 0; flush < 2; flush++) {
      await send(perPartition(12));
      await settle();
      await batchRun();
    }
    const end = await t.log().endPosition();
    let after = await scrape();
    for (let i = 0; i < 200 && value(after, 'braid_archive_compactions_total') < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await scrape();
    }
    expect(value(after, 'braid_archive_compactions_total') - value(before, 'braid_archive_compactions_total')).toBe(2);
    expect(value(after, 'braid_archive_files')).toBe(2); // one per partition again
    expect(value(after, 'braid_archive_records')).toBe(totalOf(end));
    expect(value(after, 'braid_archive_failed')).toBe(0);
  });

  it('times view answers by view and source, and counts answers by status', async () => {
    const before = await scrape();
    const get = async (url: string, status: number) => expect((await t.app.inject({ url })).statusCode).toBe(status);
    await get('/v1/views/sales', 200);
    await get('/v1/views/sales?source=speed', 200);
    await get('/v1/views/sales?source=batch&group_by=', 200);
    await get('/v1/views/nope', 404);
    await get('/v1/views/sales?source=bogus', 400);
    await get('/v1/views/sales?granularity=second', 400);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => total(after, name, labels) - total(before, name, labels);

    for (const source of ['lambda', 'speed', 'batch']) {
      expect(delta('braid_query_answers_total', { view: 'sales', source, status: '200' })).toBe(1);
      expect(delta('braid_query_duration_seconds_count', { view: 'sales', source })).toBe(1);
      expect(delta('braid_query_duration_seconds_bucket', { view: 'sales', source, le: '+Inf' })).toBe(1);
    }
    // A client's typo does not become a label value.
    expect(delta('braid_query_answers_total', { view: 'unknown', source: 'lambda', status: '404' })).toBe(1);
    expect(delta('braid_query_answers_total', { view: 'sales', source: 'unknown', status: '400' })).toBe(1);
    expect(delta('braid_query_answers_total', { view: 'sales', source: 'lambda', status: '400' })).toBe(1);
    expect(matching(after, 'braid_query_answers_total').map((s) => s.labels.view)).not.toContain('nope');
    expect(matching(after, 'braid_query_answers_total').map((s) => s.labels.source)).not.toContain('bogus');
    // Latency is of successful answers only.
    expect(delta('braid_query_duration_seconds_count', { view: 'unknown' }) + delta('braid_query_duration_seconds_count', { source: 'unknown' })).toBe(0);
  });

  it('shows Kappa replay progress and the outcome of a verification', async () => {
    const end = await settle();
    const replay = await t.app.inject({ method: 'POST', url: '/v1/replays', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(replay.statusCode).toBe(202);
    await t.node!.replayer!.wait(replay.json().id);
    const afterReplay = await scrape();
    expect(value(afterReplay, 'braid_replay_records')).toBe(totalOf(end));
    expect(value(afterReplay, 'braid_replay_target_records')).toBe(totalOf(end));
    expect(value(afterReplay, 'braid_replay_running')).toBe(0);
    expect(value(afterReplay, 'braid_replay_records_per_second')).toBeGreaterThan(0);

    const before = afterReplay;
    expect(value(before, 'braid_verification_last_timestamp_seconds')).toBe(0);
    expect(matching(before, 'braid_verification_last_outcome')).toEqual([]);
    const started = await t.app.inject({ method: 'POST', url: '/v1/verification' });
    expect(started.statusCode).toBe(202);
    const id: string = started.json().id;
    let v = t.node!.verifier!.get(id)!;
    for (let i = 0; i < 600 && v.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      v = t.node!.verifier!.get(id)!;
    }
    expect(v).toMatchObject({ state: 'succeeded', ok: true });

    const after = await scrape();
    expect(value(after, 'braid_verifications_total', { outcome: 'match' }) - value(before, 'braid_verifications_total', { outcome: 'match' })).toBe(1);
    expect(value(after, 'braid_verifications_total', { outcome: 'mismatch' })).toBe(0);
    expect(value(after, 'braid_verification_last_outcome', { outcome: 'match' })).toBe(1);
    expect(value(after, 'braid_verification_last_outcome', { outcome: 'mismatch' })).toBe(0);
    expect(value(after, 'braid_verification_last_outcome', { outcome: 'failed' })).toBe(0);
    expect(value(after, 'braid_verification_last_timestamp_seconds')).toBe(Date.parse(v.finishedAt!) / 1000);
    expect(value(after, 'braid_verification_last_rows_compared', { view: 'sales' })).toBe(v.rowsCompared);
    expect(value(after, 'braid_verification_last_rows_compared', { view: 'sales' })).toBeGreaterThan(0);
    expect(value(after, 'braid_verification_last_mismatching_rows', { view: 'sales' })).toBe(0);
  });

  it('exposes every metric that the dashboards and the Prometheus rules read', async () => {
    const exposed = new Set((await scrape()).map((s) => s.name));
    const rules = await loadRules();
    const read = new Set([
      ...Object.values(dashboards()).flatMap((d) => [...promQueries(d).map((q) => q.expr), ...variableQueries(d)]),
      ...[...rules.recording, ...rules.alerting].map((r) => r.expr),
    ].flatMap(metricNames));
    expect(read.size).toBeGreaterThan(30);
    expect([...read].filter((name) => !exposed.has(name))).toEqual([]);
  });

  it('counts a run that fails as failed (the runner closing aborts it)', async () => {
    const before = await scrape();
    const run = t.node!.batch!.start('api');
    await t.node!.batch!.close();
    expect(t.node!.batch!.getRun(run.id)!.state).toBe('failed');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => total(after, name, labels) - total(before, name, labels);
    expect(delta('braid_batch_runs_total', { outcome: 'failed', trigger: 'api' })).toBe(1);
    expect(delta('braid_batch_runs_total', { outcome: 'succeeded' })).toBe(0);
    expect(delta('braid_batch_run_duration_seconds_count', { outcome: 'failed' })).toBe(1);
    expect(value(after, 'braid_batch_serving_version')).toBe(value(before, 'braid_batch_serving_version'));
  });
});

describe('braid_ready', () => {
  it('is 0 with no log end while the log is not open, and 1 once it is', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const t = await makeTestApp({}, { gate });
    try {
      const scrape = async () => parseMetrics((await t.app.inject({ url: '/metrics' })).body);
      const closed = await scrape();
      expect(value(closed, 'braid_ready')).toBe(0);
      expect(matching(closed, 'braid_log_end_offset')).toEqual([]);
      open();
      await t.handle.ready;
      const opened = await scrape();
      expect(value(opened, 'braid_ready')).toBe(1);
      expect(value(opened, 'braid_log_end_offset', { partition: '0' })).toBe(0);
    } finally {
      open();
      await t.close();
    }
  });
});

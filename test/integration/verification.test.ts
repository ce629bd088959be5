import { afterEach, describe, expect, inject, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Manifest } from '../../batch/archive/index.js';
import { DemoGenerator } from '../../shared/demo/generator.js';
import { sealJson, sha256File } from '../../shared/files.js';
import { makeTestApp, type TestApp } from '../support/app.js';
import type { Verification } from '../../lambda/index.js';
import { freezeRows, viewKey, type ColumnTable } from '../../shared/views/index.js';

/** `table` with one more event counted in the first measure of row `index`: a corrupted copy. */
function countedTwice(table: ColumnTable, index: number): { table: ColumnTable; row: ReturnType<ColumnTable['rows']> extends IterableIterator<infer R> ? R : never } {
  const rows = [...table.rows()];
  rows[index]!.states[0] = (rows[index]!.states[0] as number) + 1;
  return { table: freezeRows(table.view, rows), row: rows[index]! };
}

const views = [
  {
    name: 'pages',
    events: ['page_view'],
    granularity: 'minute',
    dimensions: ['data.path'],
    measures: { views: 'count', visitors: { distinct: 'key' }, latency: { quantile: 'data.latency_ms', q: [0.5, 0.99] }, slowest: { max: 'data.latency_ms' } },
  },
  {
    name: 'revenue',
    events: ['purchase'],
    granularity: 'hour',
    dimensions: ['data.country'],
    measures: { orders: 'count', revenue: { sum: 'data.amount' }, basket: { avg: 'data.amount' }, smallest: { min: 'data.amount' }, buyers: { distinct: 'key' } },
  },
];

const apps: TestApp[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setUp(settings: Record<string, unknown> = {}) {
  const t = await makeTestApp({ views, archive: { flushIntervalMs: 20, compactMinFiles: 1000 }, verify: { schedule: 'off' }, ...settings }, { roles: true });
  apps.push(t);
  await t.handle.ready;
  return t;
}

async function ingest(t: TestApp, n: number, seed: number) {
  const generator = new DemoGenerator({ seed, users: 300, duplicateRate: 0.05, lateRate: 0.1 });
  for (let i = 0; i < n; i += 500) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(generator.batch(Math.min(500, n - i), Date.now())) });
    expect(res.statusCode).toBe(202);
  }
  await t.node!.speed!.waitFor(await t.log().endPosition());
}

async function batchRun(t: TestApp) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/batch/runs' });
  expect(res.statusCode).toBe(202);
  const run = await t.node!.batch!.wait(res.json().id);
  expect(run.state, run.error).toBe('succeeded');
}

async function verify(t: TestApp): Promise<Verification> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/verification' });
  expect(res.statusCode).toBe(202);
  let v: Verification;
  do {
    await new Promise((r) => setTimeout(r, 20));
    v = (await t.app.inject({ url: `/v1/verification/${res.json().id}` })).json();
  } while (v.state === 'running');
  expect(v.state, v.error).toBe('succeeded');
  expect((await t.app.inject({ url: '/v1/verification' })).json().id).toBe(v.id);
  return v;
}

const kafkaSettings = () => ({ log: { partitions: 4, kafka: { brokers: inject('kafkaBrokers').split(','), topic: `braid-verify-${randomUUID()}` } } });

describe.each([
  ['the embedded log', () => ({})],
  ['Kafka', kafkaSettings],
])('verification on %s', (_name, settings) => {
  it('finds Lambda equal to Kappa across batch runs, with events on both sides of the cut', async () => {
    const t = await setUp(settings());
    await ingest(t, 2_000, 1);
    const before = await verify(t); // speed only: no batch version yet
    expect(before).toMatchObject({ ok: true, mismatchingRows: 0, viewsChecked: 2, batch: null });
    expect(before.rowsCompared).toBeGreaterThan(50);
    await batchRun(t);
    await ingest(t, 1_000, 2);
    const after = await verify(t);
    expect(after.ok).toBe(true);
    expect(after.batch?.version).toBe(1);
    expect(after.rowsCompared).toBeGreaterThan(before.rowsCompared);
    // Ingestion did not pause: the capture's position is the speed layer's, and events
    // posted while the replay runs are accepted.
    expect(Object.values(after.position!).reduce((a, b) => a + b, 0)).toBe(3_000);
  });
});

describe('segments of the speed layer', () => {
  it('do not pile up over verifications while no batch run publishes, and the answers stay exact', async () => {
    const t = await setUp();
    await ingest(t, 500, 7);
    await batchRun(t);
    for (let i = 0; i < 6; i++) {
      await ingest(t, 200, 10 + i);
      const v = await verify(t);
      expect(v.ok, `verification ${i}`).toBe(true);
      // Verification cuts are merged away as they come (each segment at least half the
      // groups of the one before it): about log2(groups) segments, not one per cut.
      await t.node!.speed!.compacted();
      const stats = t.node!.speed!.stats();
      expect(stats.segments).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(stats.groups + 1)));
    }
    // Fewer than one segment per cut (six verifications, plus the live segment).
    expect(t.node!.speed!.stats().segments).toBeLessThan(7);
    // A batch run in flight keeps its boundary through later cuts, and publishes onto it.
    const started = t.node!.batch!.start('api');
    await ingest(t, 200, 20);
    expect((await verify(t)).ok).toBe(true);
    const run = await t.node!.batch!.wait(started.id);
    expect(run.state).toBe('succeeded');
    expect(t.node!.speed!.pair()!.base?.version).toBe(run.version);
    expect((await verify(t)).ok).toBe(true);
  });
});

describe('verification can fail', () => {
  it('reports a corrupted batch-view row with its view, bucket and group', async () => {
    const t = await setUp();
    await ingest(t, 1_500, 3);
    await batchRun(t);
    const version = t.node!.batch!.current()!;
    // One more order than there were, in the published version's table.
    const { table, row } = countedTwice(version.tables.get('revenue')!, 3);
    (version.tables as Map<string, ColumnTable>).set('revenue', table);
    const v = await verify(t);
    expect(v.ok).toBe(false);
    const revenue = v.views.find((x) => x.view === 'revenue')!;
    expect(revenue).toMatchObject({ ok: false, measureMismatches: 1, mismatchingRows: 1, missingInKappa: 0, missingInLambda: 0 });
    expect(revenue.examples[0]).toMatchObject({
      kind: 'measure',
      measure: 'orders',
      bucket: new Date(row.bucket).toISOString(),
      dims: { 'data.country': row.dims[0] },
    });
    expect(revenue.examples[0]!.lambda).toBe((revenue.examples[0]!.kappa as number) + 1);
    expect(v.views.find((x) => x.view === 'pages')!.ok).toBe(true);
  });

  it('reports a record dropped from the archive as a difference in its view, bucket and group', async () => {
    // A file damaged on disk fails its hash and is archived again from the log; what only
    // verification can catch is an archive that lists a wrong file as whole (a writer's bug):
    // the file rewritten without one record, and the manifest made to agree, while braid is down.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'braid-dropped-'));
    dirs.push(dataDir);
    const first = await setUp({ dataDir });
    await ingest(first, 1_500, 4);
    await first.node!.archiver!.waitFor(await first.log().endPosition());
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    const archiveRoot = path.join(dataDir, 'archive');
    const archiveDir = path.join(archiveRoot, 'partition=0');
    const name = (await readdir(archiveDir)).find((f) => f.endsWith('.parquet'))!;
    const file = path.join(archiveDir, name);
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const victim = (await c.runAndReadAll(
      `SELECT "offset", id, time, data FROM read_parquet($1, hive_partitioning = false) WHERE type = 'purchase' AND json_extract_string(data, '$.channel') IS NOT NULL ORDER BY "offset" LIMIT 1`,
      [file],
    )).getRowObjects()[0]!;
    await c.run(`COPY (SELECT * FROM read_parquet($1, hive_partitioning = false) WHERE "offset" <> $2) TO '${file}.new' (FORMAT parquet)`, [file, victim.offset as bigint]);
    const { rename } = await import('node:fs/promises');
    await rename(`${file}.new`, file);
    c.closeSync();
    const manifest = JSON.parse(await readFile(path.join(archiveRoot, 'manifest.json'), 'utf8')) as Manifest & { sha256?: string };
    delete manifest.sha256;
    const files = manifest.files.map((f) => (f.path === `partition=0/${name}` ? { ...f, bytes: 0, sha256: '' } : f));
    for (const f of files) if (f.path === `partition=0/${name}`) Object.assign(f, { bytes: (await stat(file)).size, sha256: await sha256File(file), records: f.records - 1 });
    await writeFile(path.join(archiveRoot, 'manifest.json'), sealJson({ ...manifest, files }));
    const t = await setUp({ dataDir });
    await batchRun(t);
    const v = await verify(t);
    expect(v.ok).toBe(false);
    const revenue = v.views.find((x) => x.view === 'revenue')!;
    expect(revenue.mismatchingRows).toBe(1);
    const country = JSON.parse(victim.data as string).country as string;
    const bucket = new Date(Math.floor(Number(victim.time) / 3_600_000) * 3_600_000).toISOString();
    expect(revenue.examples[0]).toMatchObject({ bucket, dims: { 'data.country': country } });
    expect(['measure', 'missing_in_lambda']).toContain(revenue.examples[0]!.kind);
  });

  it('reports a speed-layer row that counts one event twice, with its view, bucket and group', async () => {
    const t = await setUp();
    await ingest(t, 1_000, 5);
    await batchRun(t);
    await ingest(t, 500, 6);
    // Fold one row's contribution in again, as a hand-off bug that counts a record twice would.
    const view = t.node!.views.find((v) => v.def.name === 'pages')!;
    // Sealed and compacted first, so the corrupted segment is the one verification reads.
    t.node!.speed!.pair();
    await t.node!.speed!.compacted();
    const segment = t.node!.speed!.pair()!.segments.at(-1)! as Map<string, ColumnTable>;
    const { table, row } = countedTwice(segment.get(viewKey(view))!, 0);
    segment.set(viewKey(view), table);
    const v = await verify(t);
    const pages = v.views.find((x) => x.view === 'pages')!;
    expect(pages).toMatchObject({ ok: false, mismatchingRows: 1 });
    expect(pages.examples[0]).toMatchObject({ kind: 'measure', measure: 'views', bucket: new Date(row.bucket).toISOString(), dims: { 'data.path': row.dims[0] } });
    expect(view.measureNames[0]).toBe('views');
  });
});

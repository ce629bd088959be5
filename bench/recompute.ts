/**
 * Batch recomputation throughput:
 *
 *   node --import tsx bench/recompute.ts [--events 1000000] [--partitions 4] [--threads 2] [--memory 2GB] [--dir DIR]
 *
 * Builds an archive of N demo events (shared/demo, retries and late events included) in
 * the archive's Parquet format (kept under --dir, default $TMPDIR/braid-bench-recompute, and
 * reused), then measures, each in a fresh process so that peak RSS is its own:
 *   batch   BatchRunner: dedupe, the views' states in SQL, Parquet, load into ViewTables, publish
 *   direct  the same view SQL straight over the Parquet: no dedupe, no version, no decoding
 *   native  DuckDB's own aggregates (approx_count_distinct, approx_quantile) over the Parquet
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ArchiveFile } from '../batch/archive/index.js';
import { SETUP_SQL, sketchTableStatement, viewStatement } from '../batch/recompute/index.js';
import { DemoGenerator } from '../shared/demo/generator.js';
import { parseEventTime } from '../shared/events/index.js';
import { partitionFor } from '../shared/log/partitioner.js';
import { compileView, parseViews } from '../shared/views/index.js';
import { TestArchiveWriter, archivePosition } from '../test/support/recompute-archive.js';
import { createTestRunner } from '../test/support/recompute-runner.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '4' },
    threads: { type: 'string', default: '2' },
    memory: { type: 'string', default: '2GB' },
    dir: { type: 'string', default: path.join(tmpdir(), 'braid-bench-recompute') }, // the archive is kept for the next run
    phase: { type: 'string' },
  },
});
const events = Number(args.events);
const partitions = Number(args.partitions);
const threads = Number(args.threads);
const root = path.resolve(args.dir!, `${events}`);
const archiveDir = path.join(root, 'archive');
const filesJson = path.join(root, 'files.json');

const demoViews = parseViews([
  {
    name: 'page_views_by_path',
    events: ['page_view'],
    granularity: 'minute',
    dimensions: ['data.path'],
    measures: { views: 'count', visitors: { distinct: 'key' }, latency: { quantile: 'data.latency_ms', q: [0.5, 0.95, 0.99] } },
  },
  {
    name: 'revenue_by_country',
    events: ['purchase'],
    granularity: 'hour',
    dimensions: ['data.country'],
    measures: {
      orders: 'count',
      revenue: { sum: 'data.amount' },
      basket: { avg: 'data.amount' },
      smallest: { min: 'data.amount' },
      biggest: { max: 'data.amount' },
      buyers: { distinct: 'key' },
      amount_q: { quantile: 'data.amount', q: [0.5, 0.95, 0.99] },
    },
  },
]).map(compileView);

/** N demo events over one day, placed like the log places them, appended in order. */
async function build(): Promise<void> {
  await rm(root, { recursive: true, force: true });
  const writer = await TestArchiveWriter.create(archiveDir, 500_000);
  const generator = new DemoGenerator({ seed: 7 });
  const start = Date.UTC(2026, 10, 27);
  const step = 86_400_000 / events;
  const next = Array.from({ length: partitions }, () => 0);
  for (let i = 0; i < events; i++) {
    const now = Math.floor(start + i * step);
    const raw = generator.next(now);
    const time = parseEventTime(raw.time);
    if (!time.ok) throw new Error(time.reason);
    const event = { id: raw.id, type: raw.type, time: time.ms, key: raw.key, data: raw.data };
    const partition = partitionFor(raw.key ?? raw.id, partitions);
    await writer.add({ partition, offset: next[partition]!++, appendTime: now, event });
  }
  await writeFile(filesJson, JSON.stringify(await writer.close()));
}

async function phaseBatch(files: ArchiveFile[]): Promise<Record<string, unknown>> {
  const dataDir = path.join(root, 'data');
  await rm(dataDir, { recursive: true, force: true });
  const runner = await createTestRunner({ dataDir, archiveDir, files }, demoViews, { threads, memoryLimit: args.memory!, dedupeWindowMs: 86_400_000 });
  const started = performance.now();
  const { id } = runner.start('cli');
  let computed = 0;
  const timer = setInterval(() => {
    if (!computed && runner.getRun(id)?.state === 'publishing') computed = performance.now();
  }, 2);
  const info = await runner.wait(id);
  clearInterval(timer);
  const total = performance.now() - started;
  await runner.close();
  if (info.state !== 'succeeded') throw new Error(`run failed: ${info.error}`);
  const rows = Object.fromEntries([...runner.current()!.tables].map(([name, t]) => [name, t.size]));
  return { seconds: total / 1000, computeSeconds: (computed - started) / 1000, duplicates: info.progress.duplicates, spilledBytes: info.spilledBytes, rows };
}

/** Runs SQL over the raw archive in one DuckDB instance set up like a run's. */
async function overRawArchive(files: ArchiveFile[], work: (run: (sql: string, values?: Record<string, unknown>, types?: Record<string, unknown>) => Promise<number>) => Promise<void>) {
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: args.memory!, threads: String(threads), temp_directory: path.join(root, 'tmp'), preserve_insertion_order: 'false' });
  const c = await instance.connect();
  const list = files.map((f) => `'${path.join(archiveDir, f.path).replaceAll("'", "''")}'`).join(', ');
  await c.run(`CREATE TEMP VIEW braid_records AS SELECT id, type, time, coalesce(key, id) AS key, data FROM read_parquet([${list}], hive_partitioning = false)`);
  const started = performance.now();
  await work(async (sql, values, types) => Number((await c.runAndReadAll(sql, values as never, types as never)).getRows()[0]?.[0] ?? 0));
  const seconds = (performance.now() - started) / 1000;
  c.closeSync();
  instance.closeSync();
  return seconds;
}

async function phaseDirect(files: ArchiveFile[]): Promise<Record<string, unknown>> {
  const rows: Record<string, number> = {};
  const seconds = await overRawArchive(files, async (run) => {
    for (const sql of SETUP_SQL) await run(sql);
    const sketch = sketchTableStatement();
    await run(sketch.sql, sketch.values, sketch.types);
    for (const view of demoViews) {
      const s = viewStatement(view);
      rows[view.def.name] = await run(`COPY (${s.sql}) TO '${path.join(root, `direct-${view.def.name}.parquet`)}' (FORMAT parquet)`, s.values, s.types);
    }
  });
  return { seconds, rows };
}

async function phaseNative(files: ArchiveFile[]): Promise<Record<string, unknown>> {
  const rows: Record<string, number> = {};
  const seconds = await overRawArchive(files, async (run) => {
    rows.page_views_by_path = await run(`SELECT count(*) FROM (
      SELECT time // 60000 * 60000 AS bucket, data ->> '$.path' AS path, count(*), approx_count_distinct(key),
        approx_quantile(TRY_CAST(data -> '$.latency_ms' AS DOUBLE), [0.5, 0.95, 0.99])
      FROM braid_records WHERE type = 'page_view' GROUP BY ALL)`);
    rows.revenue_by_country = await run(`SELECT count(*) FROM (
      SELECT time // 3600000 * 3600000 AS bucket, data ->> '$.country' AS country, count(*), sum(a), avg(a), min(a), max(a),
        approx_count_distinct(key), approx_quantile(a, [0.5, 0.95, 0.99])
      FROM (SELECT *, TRY_CAST(data -> '$.amount' AS DOUBLE) AS a FROM braid_records WHERE type = 'purchase') GROUP BY ALL)`);
  });
  return { seconds, rows };
}

const here = fileURLToPath(import.meta.url);
const peakMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

if (args.phase) {
  const files = JSON.parse(await readFile(filesJson, 'utf8')) as ArchiveFile[];
  const phases = { batch: phaseBatch, direct: phaseDirect, native: phaseNative } as const;
  const result = await phases[args.phase as keyof typeof phases](files);
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: peakMb() })}\n`);
} else {
  await mkdir(root, { recursive: true });
  if (!existsSync(filesJson)) {
    const t = performance.now();
    await build();
    console.log(`archive of ${events.toLocaleString('en')} events built in ${((performance.now() - t) / 1000).toFixed(1)} s (peak RSS ${peakMb()} MB)`);
  }
  const files = JSON.parse(await readFile(filesJson, 'utf8')) as ArchiveFile[];
  const records = Object.values(archivePosition(files)).reduce((a, b) => a + b, 0);
  console.log(`${records.toLocaleString('en')} records in ${files.length} files; threads ${threads}, memory limit ${args.memory}`);
  for (const phase of ['batch', 'direct', 'native']) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', here, ...process.argv.slice(2), '--phase', phase], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (child.status !== 0) throw new Error(`${phase} failed:\n${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { seconds: number; computeSeconds?: number; peakRssMb: number };
    const rate = (s: number) => `${Math.round(records / s).toLocaleString('en')} events/s`;
    const compute = r.computeSeconds ? `, compute ${r.computeSeconds.toFixed(2)} s (${rate(r.computeSeconds)})` : '';
    console.log(`${phase.padEnd(7)} ${r.seconds.toFixed(2)} s  ${rate(r.seconds)}${compute}  peak RSS ${r.peakRssMb} MB  ${JSON.stringify(r)}`);
  }
}

/**
 * Batch recomputation vs DuckDB alone (issue 7, item 3):
 *
 *   node --import tsx bench/recompute.ts [--events 1000000] [--partitions 4] [--threads 2] [--memory 2GB] [--dir DIR] [--json]
 *
 * Builds an archive of N demo events (shared/demo, retries and late events included) in
 * the archive's Parquet format (kept under --dir, default $TMPDIR/braid-bench-recompute, and
 * reused), then measures, each in a fresh process so that peak RSS is its own:
 *   batch   BatchRunner: dedupe, the views' states in SQL, Parquet, load into ViewTables, publish
 *   direct  DuckDB alone: the first record per id (plain SQL), then the same view SQL, to Parquet
 *   native  DuckDB alone: the same dedupe, then its own aggregates (approx_count_distinct,
 *           approx_quantile), to Parquet
 * then checks that the batch's published states equal direct's, group for group and state
 * for state, before it reports a rate (a fast wrong answer is not a result). With --json it
 * prints one comparison for bench/report.ts; exit code 1 when the answers differ.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import type { ArchiveFile } from '../batch/archive/index.js';
import { SETUP_SQL, readCurrent, readManifest, sketchTableStatement, versionColumns, versionDirName, versionLayout, viewStatement } from '../batch/recompute/index.js';
import { DemoGenerator } from '../shared/demo/generator.js';
import { parseEventTime } from '../shared/events/index.js';
import { partitionFor } from '../shared/log/partitioner.js';
import type { MeasureSpec } from '../shared/measures/index.js';
import type { CompiledView } from '../shared/views/index.js';
import { TestArchiveWriter, archivePosition } from '../test/support/recompute-archive.js';
import { createTestRunner } from '../test/support/recompute-runner.js';
import { demoViews } from './demo-views.js';
import { runPhaseProcess } from './processes.js';
import { emit, ownPeakRssMB, round, type Check, type Measured } from './report.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '4' },
    threads: { type: 'string', default: '2' },
    memory: { type: 'string', default: '2GB' },
    dir: { type: 'string', default: path.join(tmpdir(), 'braid-bench-recompute') }, // the archive is kept for the next run
    json: { type: 'boolean', default: false },
    phase: { type: 'string' },
  },
});
const events = Number(args.events);
const partitions = Number(args.partitions);
const threads = Number(args.threads);
const root = path.resolve(args.dir!, `${events}`);
const archiveDir = path.join(root, 'archive');
const dataDir = path.join(root, 'data');
const filesJson = path.join(root, 'files.json');
/** The archive spans one day of append times, so a one-day window dedupes every retry. */
const DEDUPE_WINDOW_MS = 86_400_000;
/** Sums agree within this relative tolerance (contract §4); everything else exactly. */
const SUM_TOLERANCE = 1e-9;

/**
 * The demo views as a DuckDB user would write them with DuckDB's own aggregates. Columns
 * are named like the batch's (versionColumns) so that the check can match them by name.
 */
const NATIVE_SQL: Record<string, string> = {
  page_views_by_path: `SELECT time // 60000 * 60000 AS bucket, data ->> '$.path' AS "data.path", count(*) AS views,
      approx_count_distinct(key) AS visitors, approx_quantile(TRY_CAST(data -> '$.latency_ms' AS DOUBLE), [0.5, 0.95, 0.99]) AS latency
    FROM braid_records WHERE type = 'page_view' GROUP BY ALL`,
  revenue_by_country: `SELECT time // 3600000 * 3600000 AS bucket, data ->> '$.country' AS "data.country", count(*) AS orders,
      sum(a) AS revenue, avg(a) AS basket, min(a) AS smallest, max(a) AS biggest,
      approx_count_distinct(key) AS buyers, approx_quantile(a, [0.5, 0.95, 0.99]) AS amount_q
    FROM (SELECT *, TRY_CAST(data -> '$.amount' AS DOUBLE) AS a FROM braid_records WHERE type = 'purchase') GROUP BY ALL`,
};

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

/** What a phase's process prints: its timing, its output's rows per view, its peak RSS. */
interface PhaseResult {
  seconds: number;
  rows: Record<string, number>;
  /** records the phase's dedupe dropped */
  duplicates: number;
  computeSeconds?: number;
  spilledBytes?: number;
  peakRssMb: number;
}

async function phaseBatch(files: ArchiveFile[]): Promise<Omit<PhaseResult, 'peakRssMb'>> {
  await rm(dataDir, { recursive: true, force: true });
  const runner = await createTestRunner({ dataDir, archiveDir, files }, demoViews, { threads, memoryLimit: args.memory!, dedupeWindowMs: DEDUPE_WINDOW_MS });
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
  return { seconds: total / 1000, computeSeconds: (computed - started) / 1000, duplicates: info.progress.duplicates ?? 0, spilledBytes: info.spilledBytes ?? 0, rows };
}

type Run = (sql: string, values?: Record<string, unknown>, types?: Record<string, unknown>) => Promise<number>;

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
const archiveList = (files: readonly ArchiveFile[]) => `[${files.map((f) => quote(path.join(archiveDir, f.path))).join(', ')}]`;
const outputFile = (phase: string, view: string) => path.join(root, phase, `${view}.parquet`);

/**
 * The dedupe a DuckDB user would write: the first record of each id, by (partition,
 * offset), whatever its type. The batch's rule is narrower (an earlier record of the same
 * id in the same partition, appended at most the window before), but over this archive
 * they keep the same records: a retry carries its original's key, so the log places it in
 * the same partition, and the archive spans less than the window. The check verifies it.
 */
// partition and offset too: the view SQL orders the entity measures (latest, first) by them.
const dedupedRecordsSql = (files: readonly ArchiveFile[]) => `CREATE TEMP TABLE braid_records AS
  SELECT partition, "offset", id, type, time, coalesce(key, id) AS key, data
  FROM read_parquet(${archiveList(files)}, hive_partitioning = false)
  QUALIFY row_number() OVER (PARTITION BY id ORDER BY partition, "offset") = 1`;

/**
 * Dedupes the archive into `braid_records` and runs `work` over it, in one DuckDB
 * instance set up like a run's; times both (a DuckDB user has to dedupe too).
 */
async function overDedupedArchive(files: ArchiveFile[], work: (run: Run) => Promise<void>): Promise<{ seconds: number; survivors: number }> {
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: args.memory!, threads: String(threads), temp_directory: path.join(root, 'tmp'), preserve_insertion_order: 'false' });
  const c = await instance.connect();
  const run: Run = async (sql, values, types) => Number((await c.runAndReadAll(sql, values as never, types as never)).getRows()[0]?.[0] ?? 0);
  try {
    const started = performance.now();
    await run(dedupedRecordsSql(files));
    await work(run);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, survivors: await run('SELECT count(*) FROM braid_records') };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

/** Copies each view's query to `<root>/<phase>/<view>.parquet` like the batch does; rows per view. */
async function copyViews(phase: string, files: ArchiveFile[], setup: (run: Run) => Promise<void>, query: (view: CompiledView) => { sql: string; values?: Record<string, DuckDBValue>; types?: Record<string, unknown> }) {
  await rm(path.join(root, phase), { recursive: true, force: true });
  await mkdir(path.join(root, phase), { recursive: true });
  const rows: Record<string, number> = {};
  const { seconds, survivors } = await overDedupedArchive(files, async (run) => {
    await setup(run);
    for (const view of demoViews) {
      const q = query(view);
      rows[view.def.name] = await run(`COPY (${q.sql}) TO ${quote(outputFile(phase, view.def.name))} (FORMAT parquet, COMPRESSION zstd)`, q.values, q.types);
    }
  });
  return { seconds, rows, duplicates: recordCount(files) - survivors };
}

/** The batch's own view SQL (with its macros and sketch constants) after the plain dedupe. */
function phaseDirect(files: ArchiveFile[]) {
  const setup = async (run: Run) => {
    for (const sql of SETUP_SQL) await run(sql);
    const sketch = sketchTableStatement();
    await run(sketch.sql, sketch.values, sketch.types);
  };
  return copyViews('direct', files, setup, viewStatement);
}

function phaseNative(files: ArchiveFile[]) {
  return copyViews('native', files, async () => undefined, (view) => ({ sql: NATIVE_SQL[view.def.name]! }));
}

const recordCount = (files: readonly ArchiveFile[]) => Object.values(archivePosition(files)).reduce((a, b) => a + b, 0);

// ---- the check: the same answer on both sides, before any rate --------------------------

/** SQL that is true when a batch state `b` and another side's value `o` differ, per measure kind. */
type Differ = (spec: MeasureSpec, b: string, o: string) => string | undefined;

const CLOSE_MACRO = `CREATE OR REPLACE TEMP MACRO braid_close(x, y) AS CASE
    WHEN x IS NULL OR y IS NULL THEN x IS NULL AND y IS NULL
    ELSE abs(x - y) <= ${SUM_TOLERANCE} * greatest(1, abs(x), abs(y)) END`;

/**
 * Batch vs direct: every state. The list() aggregates that build HLL registers and sketch
 * buckets give no order, so lists compare sorted (as multisets: a doubled register still
 * differs). Sums are fsum's, whose last bits depend on the order threads add in.
 */
const statesDiffer: Differ = (spec, b, o) => {
  switch (spec.kind) {
    case 'sum':
      return `NOT braid_close(${b}, ${o})`;
    case 'avg':
      return `${b}.count IS DISTINCT FROM ${o}.count OR NOT braid_close(${b}.sum, ${o}.sum)`;
    case 'distinct':
      return `list_sort(${b}) IS DISTINCT FROM list_sort(${o})`;
    case 'quantile':
      return [`list_sort(${b}.pos) IS DISTINCT FROM list_sort(${o}.pos)`, `list_sort(${b}.neg) IS DISTINCT FROM list_sort(${o}.neg)`, `${b}.zero IS DISTINCT FROM ${o}.zero`, `${b}.count IS DISTINCT FROM ${o}.count`].join(' OR ');
    default:
      return `${b} IS DISTINCT FROM ${o}`;
  }
};

/**
 * Batch vs native: only what both compute exactly. approx_count_distinct and
 * approx_quantile are other approximations than braid's HLL and sketch: not compared.
 */
const exactDiffer: Differ = (spec, b, o) => {
  switch (spec.kind) {
    case 'count':
    case 'min':
    case 'max':
      return `${b} IS DISTINCT FROM ${o}`;
    case 'sum':
      return `NOT braid_close(${b}, ${o})`;
    case 'avg':
      return `NOT braid_close(CASE WHEN ${b}.count > 0 THEN ${b}.sum / ${b}.count END, ${o})`;
    default:
      return undefined;
  }
};

const ident = (name: string) => `"${name}"`;

/**
 * Joins the batch's file and another side's on the group (bucket, dimension values) and
 * lists what differs: groups on one side only, duplicate groups, measures that differ.
 */
async function fileDifferences(c: DuckDBConnection, view: CompiledView, batchFile: string, otherFile: string, side: string, differ: Differ): Promise<string[]> {
  const keys = ['bucket', ...view.def.dimensions].map(ident);
  const on = keys.map((k) => `b.${k} IS NOT DISTINCT FROM o.${k}`).join(' AND ');
  const dims = keys.length > 1 ? `[${keys.slice(1).map((k) => `coalesce(b.${k}, o.${k})`).join(', ')}]` : 'CAST([] AS VARCHAR[])';
  const measures = versionColumns(view).flatMap((col) => {
    const e = col.role === 'measure' ? differ(col.spec, `b.${ident(col.name)}`, `o.${ident(col.name)}`) : undefined;
    return e ? [`CASE WHEN ${e} THEN ${quote(col.name)} END`] : [];
  });
  await c.run(
    `CREATE OR REPLACE TEMP TABLE braid_diff AS
      SELECT coalesce(b.bucket, o.bucket) AS bucket, ${dims} AS dims,
        CASE WHEN b.bucket IS NULL THEN ${quote(`only in ${side}`)} WHEN o.bucket IS NULL THEN 'only in batch'
          ELSE concat_ws(', ', ${measures.join(', ')}) END AS problem
      FROM read_parquet($batch) b FULL OUTER JOIN read_parquet($other) o ON ${on}`,
    { batch: batchFile, other: otherFile },
  );
  // A group twice in one file would match twice in the join, unseen: counted apart.
  const twice = (file: string) => `(SELECT count(*) - count(DISTINCT (${keys.join(', ')})) FROM read_parquet(${quote(file)}))`;
  const [joined, bad, batchTwice, otherTwice] = (
    await c.runAndReadAll(`SELECT count(*), count(*) FILTER (WHERE problem <> ''), ${twice(batchFile)}, ${twice(otherFile)} FROM braid_diff`)
  ).getRows()[0]!.map(Number);
  const out: string[] = [];
  const label = `${view.def.name}, batch vs ${side}`;
  if (batchTwice! > 0 || otherTwice! > 0) out.push(`${label}: groups that appear more than once: ${batchTwice} in the batch's file, ${otherTwice} in ${side}'s`);
  if (bad! > 0) {
    const examples = (await c.runAndReadAll(`SELECT bucket, dims, problem FROM braid_diff WHERE problem <> '' ORDER BY bucket, dims LIMIT 5`)).getRows();
    const shown = examples.map(([bucket, d, problem]) => `${new Date(Number(bucket)).toISOString()} ${String(d)}: ${String(problem)}`);
    out.push(`${label}: ${bad} of ${joined} groups differ, e.g. ${shown.join('; ')}`);
  }
  return out;
}

/** The view files of the version CURRENT.json names: what the batch run published. */
async function publishedFiles(): Promise<Record<string, { file: string; rows: number }>> {
  const layout = versionLayout(dataDir);
  const pointer = await readCurrent(layout);
  if (!pointer) throw new Error(`the batch run published no version in ${dataDir}`);
  const manifest = await readManifest(layout, pointer.version);
  const dir = path.join(layout.versionsDir, versionDirName(pointer.version));
  return Object.fromEntries(Object.entries(manifest.views).map(([name, v]) => [name, { file: path.join(dir, v.file), rows: v.rows }]));
}

/**
 * Counts that need neither side's dedupe nor view SQL: distinct ids over the raw archive,
 * in all and per view's event types, against the duplicates each side dropped and the sum
 * of each view's count measure. Valid because every retry falls inside the window (checked).
 */
async function independentCounts(c: DuckDBConnection, files: readonly ArchiveFile[], published: Record<string, { file: string }>, dropped: Record<string, number>): Promise<string[]> {
  const counted = demoViews.filter((v) => Object.keys(v.def.where).length === 0 && v.measureNames.some((m) => v.def.measures[m]!.kind === 'count'));
  const perView = counted.map((v) => `count(DISTINCT id) FILTER (WHERE type IN (${v.def.events.map(quote).join(', ')}))`);
  const [records, ids, span, ...distinct] = (
    await c.runAndReadAll(`SELECT count(*), count(DISTINCT id), max(append_time) - min(append_time)${perView.map((e) => `, ${e}`).join('')}
      FROM read_parquet(${archiveList(files)}, hive_partitioning = false)`)
  ).getRows()[0]!.map(Number);
  const out: string[] = [];
  if (span! > DEDUPE_WINDOW_MS) out.push(`the archive spans ${span} ms of append time, more than the ${DEDUPE_WINDOW_MS} ms dedupe window: a per-id dedupe is not the batch's rule here`);
  for (const [side, n] of Object.entries(dropped)) {
    if (n !== records! - ids!) out.push(`${side} dropped ${n} duplicates; the archive holds ${records} records of ${ids} distinct ids (${records! - ids!} duplicates)`);
  }
  for (const [i, view] of counted.entries()) {
    const measure = view.measureNames.find((m) => view.def.measures[m]!.kind === 'count')!;
    const file = published[view.def.name]?.file;
    const total = file ? Number((await c.runAndReadAll(`SELECT coalesce(sum(${ident(measure)}), 0) FROM read_parquet($file)`, { file })).getRows()[0]![0]) : undefined;
    if (total !== distinct[i]) out.push(`${view.def.name}: the batch counts ${total} ${view.def.events.join('/')} events in all; the archive holds ${distinct[i]} distinct ids of them`);
  }
  return out;
}

const CHECKED = [
  `batch vs direct (the same view SQL after a plain first-per-id dedupe in DuckDB): the same groups and every state equal — counts, min, max and avg counts exactly, sums and avg sums within ${SUM_TOLERANCE} relative, HLL registers and quantile-sketch buckets equal as sets`,
  'row counts equal in the manifest, the loaded tables and direct’s output',
  'the duplicates each side dropped and each view’s total count equal to distinct ids counted over the raw archive',
  'native (DuckDB’s own aggregates): only its groups and what it computes exactly (count, sum, avg, min, max) against the batch’s; its approx_count_distinct and approx_quantile are approximations of another kind than braid’s HLL and sketch, not compared',
].join('; ');

async function checkAnswers(files: readonly ArchiveFile[], batch: PhaseResult, direct: PhaseResult, native: PhaseResult): Promise<Check> {
  const problems: string[] = [];
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: args.memory!, threads: String(threads), temp_directory: path.join(root, 'tmp') });
  const c = await instance.connect();
  try {
    await c.run(CLOSE_MACRO);
    const published = await publishedFiles();
    for (const view of demoViews) {
      const name = view.def.name;
      const batchFile = published[name];
      if (!batchFile) {
        problems.push(`${name}: the published version has no file for it`);
        continue;
      }
      const rows = { manifest: batchFile.rows, loaded: batch.rows[name], direct: direct.rows[name] };
      if (new Set(Object.values(rows)).size !== 1) problems.push(`${name}: row counts differ ${JSON.stringify(rows)}`);
      problems.push(...(await fileDifferences(c, view, batchFile.file, outputFile('direct', name), 'direct', statesDiffer)));
      problems.push(...(await fileDifferences(c, view, batchFile.file, outputFile('native', name), 'native', exactDiffer)));
    }
    const dropped = { batch: batch.duplicates, direct: direct.duplicates, native: native.duplicates };
    problems.push(...(await independentCounts(c, files, published, dropped)));
  } finally {
    c.closeSync();
    instance.closeSync();
  }
  return { same: problems.length === 0, what: CHECKED, problems };
}

// ---- running the phases and reporting ---------------------------------------------------

const here = fileURLToPath(import.meta.url);
/** With --json, stdout carries the comparison; the readable lines go to stderr. */
const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);

function runPhase(phase: string): PhaseResult {
  return runPhaseProcess<PhaseResult>(here, [...process.argv.slice(2).filter((a) => a !== '--json'), '--phase', phase]);
}

/** batch events/s ÷ direct events/s: above 1, braid's run is faster than DuckDB alone. */
const batchOverDuckDb = (records: number, r: Record<'batch' | 'direct', PhaseResult>) => round(records / r.batch.seconds / (records / r.direct.seconds));

function measured(name: string, side: Measured['side'], records: number, r: PhaseResult, extra: Record<string, unknown>): Measured {
  return { name, side, eventsPerSecond: Math.round(records / r.seconds), seconds: round(r.seconds), peakRssMB: r.peakRssMb, extra };
}

function report(files: readonly ArchiveFile[], records: number, r: Record<'batch' | 'direct' | 'native', PhaseResult>, check: Check): void {
  const results = [
    measured('braid BatchRunner: dedupe, view states in DuckDB, Parquet, load, publish', 'braid', records, r.batch, {
      computeSeconds: round(r.batch.computeSeconds ?? 0),
      spilledBytes: r.batch.spilledBytes,
      duplicates: r.batch.duplicates,
      rows: r.batch.rows,
    }),
    measured('DuckDB alone: first record per id, then the same view SQL, to Parquet', 'peer', records, r.direct, { duplicates: r.direct.duplicates, rows: r.direct.rows }),
    measured('DuckDB alone, native aggregates (approx_count_distinct, approx_quantile) after the same dedupe, to Parquet', 'peer', records, r.native, {
      duplicates: r.native.duplicates,
      rows: r.native.rows,
      note: 'its distinct and quantile answers are approximations of a different kind (not braid’s mergeable HLL registers and sketches); only its groups and exact aggregates are checked',
    }),
  ];
  emit({
    item: 3,
    title: 'Batch recomputation vs DuckDB alone',
    size: `${records.toLocaleString('en')} events`,
    check,
    results,
    ratios: { batchOverDuckDb: batchOverDuckDb(records, r) },
    extra: { partitions, threads, memoryLimit: args.memory, archiveFiles: files.length, dedupeWindowMs: DEDUPE_WINDOW_MS, directDedupe: 'QUALIFY row_number() OVER (PARTITION BY id ORDER BY partition, "offset") = 1' },
  });
}

function printCheck(check: Check): void {
  if (!check.same) {
    say(`The answers differ (${check.problems.length} problems); no rate counts:\n${check.problems.map((p) => `- ${p}`).join('\n')}`);
    return;
  }
  say(`Same answer. Checked: ${check.what}.`);
}

async function main(): Promise<void> {
  await mkdir(root, { recursive: true });
  if (!existsSync(filesJson)) {
    const t = performance.now();
    await build();
    say(`archive of ${events.toLocaleString('en')} events built in ${((performance.now() - t) / 1000).toFixed(1)} s (peak RSS ${ownPeakRssMB()} MB)`);
  }
  const files = JSON.parse(await readFile(filesJson, 'utf8')) as ArchiveFile[];
  const records = recordCount(files);
  say(`${records.toLocaleString('en')} records in ${files.length} files; threads ${threads}, memory limit ${args.memory}`);
  const rate = (s: number) => `${Math.round(records / s).toLocaleString('en')} events/s`;
  const r = {} as Record<'batch' | 'direct' | 'native', PhaseResult>;
  for (const phase of ['batch', 'direct', 'native'] as const) {
    r[phase] = runPhase(phase);
    const { seconds, computeSeconds, peakRssMb, ...rest } = r[phase];
    const compute = computeSeconds ? `, compute ${computeSeconds.toFixed(2)} s (${rate(computeSeconds)})` : '';
    say(`${phase.padEnd(7)} ${seconds.toFixed(2)} s  ${rate(seconds)}${compute}  peak RSS ${peakRssMb} MB  ${JSON.stringify(rest)}`);
  }
  const check = await checkAnswers(files, r.batch, r.direct, r.native);
  printCheck(check);
  if (check.same) say(`batch ÷ DuckDB alone (direct), events/s: ${batchOverDuckDb(records, r)}`);
  if (args.json) report(files, records, r, check);
  if (!check.same) process.exitCode = 1;
}

if (args.phase) {
  const files = JSON.parse(await readFile(filesJson, 'utf8')) as ArchiveFile[];
  const phases = { batch: phaseBatch, direct: phaseDirect, native: phaseNative } as const;
  const result = await phases[args.phase as keyof typeof phases](files);
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: ownPeakRssMB() })}\n`);
} else {
  await main();
}

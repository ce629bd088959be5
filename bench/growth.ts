/**
 * Cost that grows with new data, not with history (issue 14, item 6):
 *
 *   node --import tsx bench/growth.ts [--histories 1000000,10000000] [--new 100000] [--partitions 4]
 *     [--rate 5000] [--window 60000] [--dir DIR] [--json]
 *
 * For each history H: an embedded log and its archive holding H demo events and then N new
 * ones (retries and late events included; the log's clock replays a timeline of `rate`
 * events a second, so the dedupe window covers `window × rate` records), kept under --dir and
 * reused. Then, with the batch version computed fully at S_H (the end of the history):
 *   incremental  a batch run to S_{H+N}: the N new records, deduplicated against the window before them
 *   full         the same run with {full: true}: every record below S_{H+N} again
 *   start-up     a speed layer started over that version: the window's records warm its
 *                dedupe state, then the N new records fold
 *   start-up (forever)  the same with a window of forever: every record before S is read,
 *                which is what every start-up did before this issue
 *   whole replay a Kappa replay of the log from offset 0 (no checkpoint)
 *   resumed replay  a replay killed right after its checkpoint at 90 % (a replay to the 90 %
 *                position, which checkpoints at its end), then a replay to the end from it
 * and checks that the incremental version equals the full one state for state and that the
 * resumed replay equals the whole one before it reports a figure. Ratios: incremental at the
 * largest history ÷ at the smallest, incremental ÷ full at the largest, start-up at the
 * largest ÷ at the smallest, resumed ÷ whole at the largest.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { ArchiveFile } from '../batch/archive/index.js';
import type { BatchRunner, BatchVersion } from '../batch/recompute/index.js';
import { DemoGenerator } from '../shared/demo/generator.js';
import { encodeEvent, recordKey } from '../shared/events/index.js';
import { EmbeddedLog } from '../shared/log/embedded/index.js';
import type { Position } from '../shared/log/types.js';
import { viewKey } from '../shared/views/index.js';
import { demoViews } from './demo-views.js';
import { Replayer, type Replay } from '../speed/replay.js';
import { SpeedLayer } from '../speed/speed-layer.js';
import { TestArchiveWriter } from '../test/support/recompute-archive.js';
import { tableDifferences } from '../test/support/recompute-compare.js';
import { createTestRunner } from '../test/support/recompute-runner.js';
import { emit, ownPeakRssMB, round, type Measured } from './report.js';

const { values: args } = parseArgs({
  options: {
    histories: { type: 'string', default: '1000000,10000000' },
    new: { type: 'string', default: '100000' },
    partitions: { type: 'string', default: '4' },
    rate: { type: 'string', default: '1000' },
    window: { type: 'string', default: '60000' },
    dir: { type: 'string', default: path.join(tmpdir(), 'braid-bench-growth') },
    json: { type: 'boolean', default: false },
  },
});
const histories = args.histories!.split(',').map(Number);
const fresh = Number(args.new);
const partitions = Number(args.partitions);
const rate = Number(args.rate);
const windowMs = Number(args.window);
const silent = pino({ level: 'silent' });

const views = demoViews;

const say = (s: string) => process.stderr.write(`${s}\n`);
const seconds = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const started = performance.now();
  const out = await work();
  return [out, (performance.now() - started) / 1000];
};

interface Built {
  readonly root: string;
  readonly logDir: string;
  readonly archiveDir: string;
  readonly files: ArchiveFile[];
  /** the end of the history and of the whole log */
  readonly history: Position;
  readonly end: Position;
}

/** The log and its archive for history `h` plus the new events, built once and reused. */
async function build(h: number): Promise<Built> {
  const root = path.resolve(args.dir!, `${h}-${fresh}-${partitions}-${rate}`);
  const logDir = path.join(root, 'log');
  const archiveDir = path.join(root, 'archive');
  const meta = path.join(root, 'built.json');
  if (existsSync(meta)) return { root, logDir, archiveDir, ...(JSON.parse(await readFile(meta, 'utf8')) as Omit<Built, 'root' | 'logDir' | 'archiveDir'>) };
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  say(`growth: building ${h.toLocaleString('en-US')} + ${fresh.toLocaleString('en-US')} events (once; kept in ${root})`);
  const start = Date.UTC(2026, 10, 27);
  let now = start;
  const log = await EmbeddedLog.open({ dir: logDir, partitions, clock: () => now });
  const writer = await TestArchiveWriter.create(archiveDir, 500_000);
  const generator = new DemoGenerator({ seed: 11 });
  const BATCH = 1_000;
  let history: Position = {};
  for (let i = 0; i < h + fresh; i += BATCH) {
    if (i === h) history = await log.endPosition();
    now = start + Math.floor((i / rate) * 1_000);
    const events = generator.stored(Math.min(BATCH, h + fresh - i), now);
    const appended = await log.append(events.map((e) => ({ key: recordKey(e), value: encodeEvent(e) })));
    for (const [k, a] of appended.entries()) await writer.add({ partition: a.partition, offset: a.offset, appendTime: a.appendTime, event: events[k]! });
  }
  const end = await log.endPosition();
  await log.close();
  const files = await writer.close();
  await writeFile(meta, JSON.stringify({ files, history, end }));
  return { root, logDir, archiveDir, files, history, end };
}

const at = (end: Position, f: number): Position => Object.fromEntries(Object.entries(end).map(([p, n]) => [p, Math.round(n * f)]));

function versionDifferences(a: BatchVersion, b: BatchVersion): string[] {
  return views.flatMap((v) => tableDifferences(a.tables.get(v.def.name)!, b.tables.get(v.def.name)!, 3).map((d) => `${v.def.name}: ${d}`));
}

function replayDifferences(a: Replay, b: Replay): string[] {
  return views.flatMap((v) => tableDifferences(a.tables!.get(viewKey(v))!, b.tables!.get(viewKey(v))!, 3).map((d) => `${v.def.name}: ${d}`));
}

interface SizeResult {
  readonly h: number;
  readonly incremental: number;
  readonly full: number;
  readonly startup: number;
  readonly startupForever: number;
  readonly whole: number;
  readonly resumed: number;
  readonly windowRecords: number;
  readonly warmed: number;
  readonly problems: string[];
}

async function measureSize(h: number): Promise<SizeResult> {
  const b = await build(h);
  const problems: string[] = [];
  const dataDir = path.join(b.root, 'data');
  await rm(dataDir, { recursive: true, force: true });
  const setup = { dataDir, archiveDir: b.archiveDir, files: b.files, snapshot: b.history };
  const runner: BatchRunner = await createTestRunner(setup, views, { dedupeWindowMs: windowMs, threads: 2, memoryLimit: '4GB' });
  const run = async (full: boolean) => {
    const info = await runner.wait(runner.start('cli', { full }).id);
    if (info.state !== 'succeeded') throw new Error(`batch run failed: ${info.error}`);
    return info;
  };
  say(`growth ${h}: full run over the history`);
  await run(true);
  const base = runner.current()!;
  setup.snapshot = b.end;
  const [inc, incremental] = await seconds(() => run(false));
  if (inc.mode !== 'incremental') problems.push(`the run after the history was ${inc.mode} (${inc.fullBecause}), not incremental`);
  const chained = runner.current()!;
  const [, full] = await seconds(() => run(true));
  problems.push(...versionDifferences(chained, runner.current()!).map((d) => `incremental vs full: ${d}`));
  await runner.close();
  say(`growth ${h}: incremental ${round(incremental)} s, full ${round(full)} s`);

  const log = await EmbeddedLog.open({ dir: b.logDir, partitions });
  try {
    const startSpeed = async (window: number) => {
      const speed = new SpeedLayer({ log, views, dedupeWindowMs: window, base: () => base, logger: silent });
      const [, s] = await seconds(() => speed.start());
      const stats = speed.stats();
      await speed.close();
      return { s, stats };
    };
    const bounded = await startSpeed(windowMs);
    const forever = await startSpeed(Infinity);
    say(`growth ${h}: start-up ${round(bounded.s)} s (${bounded.stats.warmed} records warmed), with forever ${round(forever.s)} s`);

    const replayDir = path.join(b.root, 'replay');
    await rm(replayDir, { recursive: true, force: true });
    const replay = async (target: Position, checkpoints: boolean): Promise<Replay> => {
      const replayer = new Replayer({ log, views, dedupeWindowMs: windowMs, logger: silent, ...(checkpoints ? { checkpointDir: replayDir, checkpointRecords: 1_000_000_000 } : {}) });
      const done = await replayer.wait((await replayer.start(target)).id);
      await replayer.close();
      if (done.info.state !== 'succeeded') throw new Error(`replay failed: ${done.info.error}`);
      return done;
    };
    const [wholeReplay, whole] = await seconds(() => replay(b.end, false));
    await replay(at(b.end, 0.9), true); // the replay that is "killed" right after its checkpoint at 90 %
    const [resumedReplay, resumed] = await seconds(() => replay(b.end, true));
    if (!resumedReplay.info.progress.resumedFrom) problems.push('the replay after the 90 % checkpoint did not resume from it');
    problems.push(...replayDifferences(resumedReplay, wholeReplay).map((d) => `resumed vs whole replay: ${d}`));
    say(`growth ${h}: whole replay ${round(whole)} s, resumed from 90 % ${round(resumed)} s`);
    return { h, incremental, full, startup: bounded.s, startupForever: forever.s, whole, resumed, windowRecords: inc.progress.windowRecords ?? 0, warmed: bounded.stats.warmed, problems };
  } finally {
    await log.close();
  }
}

async function main(): Promise<void> {
  const results: SizeResult[] = [];
  for (const h of histories) results.push(await measureSize(h));
  const small = results[0]!;
  const large = results.at(-1)!;
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.h.toLocaleString('en-US')} events: ${p}`));
  const measured = (name: string, side: Measured['side'], s: number, extra: Record<string, unknown> = {}): Measured => ({ name, side, seconds: round(s), extra });
  const results_: Measured[] = results.flatMap((r) => {
    const label = `${r.h.toLocaleString('en-US')} history + ${fresh.toLocaleString('en-US')} new`;
    return [
      measured(`${label}: incremental batch run`, 'braid', r.incremental, { windowRecords: r.windowRecords }),
      measured(`${label}: full batch run`, 'peer', r.full),
      measured(`${label}: speed start-up (window before S)`, 'braid', r.startup, { warmed: r.warmed }),
      measured(`${label}: speed start-up, window forever (reads all before S, as before)`, 'peer', r.startupForever),
      measured(`${label}: replay resumed from its 90 % checkpoint`, 'braid', r.resumed),
      measured(`${label}: whole replay`, 'peer', r.whole),
    ];
  });
  const ratios = {
    incrementalLargeOverSmall: round(large.incremental / small.incremental),
    incrementalOverFullLarge: round(large.incremental / large.full),
    startupLargeOverSmall: round(large.startup / small.startup),
    startupForeverLargeOverSmall: round(large.startupForever / small.startupForever),
    resumedOverWholeLarge: round(large.resumed / large.whole),
  };
  const comparison = {
    item: 6,
    title: 'Cost growth: incremental runs, start-up, resumed replays',
    size: `${histories.map((h) => h.toLocaleString('en-US')).join(' and ')} events of history, ${fresh.toLocaleString('en-US')} new`,
    check: {
      same: problems.length === 0,
      what: `the incremental version equals the full run state for state, and the resumed replay equals the whole one (window ${windowMs} ms at ${rate} events/s of timeline)`,
      problems,
    },
    results: results_,
    ratios,
    extra: { peakRssMB: ownPeakRssMB(), windowMs, rate, partitions },
  };
  if (args.json) emit(comparison);
  for (const m of results_) process.stdout.write(`${m.name}: ${m.seconds} s\n`);
  process.stdout.write(`ratios: ${JSON.stringify(ratios)}${problems.length ? `\nproblems: ${problems.slice(0, 5).join('; ')}` : ''}\n`);
  if (problems.length > 0) process.exitCode = 1;
}

await main();

/**
 * Stream aggregation, braid's speed layer vs Kafka Streams (issue 7, item 1):
 *
 *   node --import tsx bench/streams.ts [events=1000000] [--partitions 4] [--threads 1,2] [--brokers 127.0.0.1:9092] [--keep]
 *
 * One view, computed three ways over the same topic of the same broker:
 *
 *   view     page_view events, per minute and data.country: count, sum of data.latency_ms,
 *            distinct key (braid's HyperLogLog, p = 14)
 *
 * Steps:
 *   build    the Kafka Streams peer (bench/peers/kafka-streams, `mvn -q -B package`)
 *   fill     a fresh topic with N demo events (shared/demo, duplicateRate 0: every id is
 *            unique, so braid's dedupe drops nothing and the peer needs no dedupe of its own;
 *            late events stay in). The exact answer is computed from the same events here.
 *   read     raw kafkajs read of the whole topic (braid's KafkaLog reader, nothing done per
 *            record): the ceiling for the speed layer. Fresh process.
 *   braid    SpeedLayer.start() over the topic with the view: read, decode, dedupe, fold,
 *            until the end. Fresh process; its groups are written to a file.
 *   streams  the peer (one JVM per entry of --threads: that many stream threads; braid's speed
 *            layer folds on one) from the beginning with a fresh
 *            application.id until it has consumed the end offsets; its groups to a file.
 *
 * Before any rate is printed, every group is compared: braid against the peer (count
 * exact, sum within 1e-9 relative, HyperLogLog registers equal by checksum and estimates
 * equal) and both against the exact answer (count, sum; braid's distinct estimate within
 * HyperLogLog's error of the exact distinct count — four standard errors, or for small sets
 * the register collisions linear counting loses — and its largest error reported). If
 * anything differs, the differences are printed instead and the bench exits 1.
 *
 * Writes bench/results/streams-<date>.json (streams-<date>-mismatch.json when the answers differ). The topic is deleted afterwards (--keep keeps it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { rawRead } from './raw-read.js';
import { DemoGenerator } from '../shared/demo/generator.js';
import { runPhaseProcess } from './processes.js';
import { emit, ownPeakRssMB, round, type Comparison } from './report.js';
import { renderComparisons } from './table.js';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { encodeEvent, recordKey } from '../shared/events/index.js';
import { KafkaLog } from '../shared/log/kafka/index.js';
import type { Position } from '../shared/log/types.js';
import { hllEstimate, hllRegisters, HLL_M, type HllState } from '../shared/measures/hll.js';
import { bucketOf, compileView, GroupTable, parseViews, viewKey, type CompiledView } from '../shared/views/index.js';
import { SpeedLayer } from '../speed/speed-layer.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    partitions: { type: 'string', default: '4' },
    brokers: { type: 'string', default: process.env.BRAID_KAFKA_BROKERS ?? '127.0.0.1:9092' },
    threads: { type: 'string', default: '1,2' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'skip-build': { type: 'boolean', default: false },
    phase: { type: 'string' },
    topic: { type: 'string' },
    out: { type: 'string' },
  },
});
const events = Number(positionals[0] ?? '1000000');
const partitions = Number(args.partitions);
const brokers = args.brokers!.split(',');
const threadCounts = args.threads!.split(',').map(Number);
const WINDOW_MS = 86_400_000; // the demo config's dedupe window, 24 h
const silent = pino({ level: 'silent' });
const here = fileURLToPath(new URL('.', import.meta.url));
const peerDir = join(here, 'peers', 'kafka-streams');

/** The view on both sides; the peer takes the same three choices as arguments. */
const VIEW = { type: 'page_view', dimension: 'country', sum: 'latency_ms' } as const;

function view(): CompiledView {
  const [def] = parseViews([
    {
      name: 'pv_country_minute',
      events: [VIEW.type],
      granularity: 'minute',
      dimensions: [`data.${VIEW.dimension}`],
      measures: { n: 'count', total: { sum: `data.${VIEW.sum}` }, users: { distinct: 'key' } },
    },
  ]);
  return compileView(def!);
}

/** One group as both sides report it. */
interface Row {
  bucket: number;
  dim: string | null;
  count: number;
  sum: number | null;
  distinct: number;
  registers: number;
  checksum: number;
}

const CHECKSUM_MOD = 1_000_000_007;

/** Over the sorted non-zero registers: c = (c * 31 + idx * 64 + rank) mod 1e9+7, as StreamsAgg.java. */
function registerChecksum(state: HllState): { registers: number; checksum: number } {
  const pairs = hllRegisters(state);
  let c = 0;
  for (const [i, r] of pairs) c = (c * 31 + i * 64 + r) % CHECKSUM_MOD;
  return { registers: pairs.length, checksum: c };
}

const rowKey = (bucket: number, dim: string | null) => `${bucket}|${dim ?? '\u0001null'}`;

function openLog(topic: string) {
  return KafkaLog.open({ brokers, topic, partitions, clientId: 'braid-bench-streams', logger: silent });
}

interface Truth {
  count: number;
  sum: number | null;
  users: Set<string>;
}

/** Appends the events and computes the exact answer from them on the way. */
async function fill(topic: string): Promise<{ end: Position; seconds: number; truth: Map<string, Truth> }> {
  const truth = new Map<string, Truth>();
  const log = await openLog(topic);
  try {
    const have = Object.values(await log.endPosition()).reduce((a, b) => a + b, 0);
    if (have > 0) throw new Error(`topic ${topic} is not empty`);
    const started = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    let batch: { key: string; value: Buffer }[] = [];
    // duplicateRate 0: every id is unique, so braid's dedupe drops nothing (late events stay in).
    for (const event of new DemoGenerator({ seed: 7, duplicateRate: 0 }).day(events)) {
      batch.push({ key: recordKey(event), value: encodeEvent(event) });
      if (event.type === VIEW.type) {
        const d = event.data?.[VIEW.dimension];
        const dim = typeof d === 'string' ? d : typeof d === 'number' || typeof d === 'boolean' ? JSON.stringify(d) : null;
        const k = rowKey(bucketOf(event.time, 'minute'), dim);
        let t = truth.get(k);
        if (!t) truth.set(k, (t = { count: 0, sum: null, users: new Set() }));
        t.count++;
        const x = event.data?.[VIEW.sum];
        if (typeof x === 'number') t.sum = (t.sum ?? 0) + x;
        t.users.add(event.key ?? event.id);
      }
      if (batch.length === 5_000) {
        const p = log.append(batch).finally(() => inFlight.delete(p));
        inFlight.add(p);
        batch = [];
        if (inFlight.size >= 4) await Promise.race(inFlight);
      }
    }
    if (batch.length > 0) await log.append(batch);
    await Promise.all(inFlight);
    const seconds = (performance.now() - started) / 1000;
    return { end: await log.endPosition(), seconds, truth };
  } finally {
    await log.close();
  }
}

async function phaseRead(topic: string): Promise<Record<string, unknown>> {
  const log = await openLog(topic);
  try {
    const { records, megabytes, seconds, perSecond } = await rawRead(log);
    return { records, megabytes, seconds, eventsPerSecond: perSecond, peakRssMB: ownPeakRssMB() };
  } finally {
    await log.close();
  }
}

async function phaseBraid(topic: string, out: string): Promise<Record<string, unknown>> {
  const v = view();
  const log = await openLog(topic);
  try {
    const speed = new SpeedLayer({ log, views: [v], dedupeWindowMs: WINDOW_MS, base: () => undefined, logger: silent });
    const started = performance.now();
    await speed.start();
    const seconds = (performance.now() - started) / 1000;
    const stats = speed.stats();
    const pair = speed.pair();
    if (!pair) throw new Error('the speed layer cannot answer the view');
    // The speed layer seals its tail into several segments, and a group may sit in more than
    // one of them: merged, as a query merges them, each group is one row.
    const merged = new GroupTable(v.measures).mergeAll(pair.segments.map((tables) => tables.get(viewKey(v))!.rows()));
    const rows: Row[] = [];
    for (const row of merged.rows.values()) {
      const [n, total, users] = row.states as [number, number | null, HllState];
      rows.push({ bucket: row.bucket, dim: row.dims[0] ?? null, count: n, sum: total, distinct: hllEstimate(users), ...registerChecksum(users) });
    }
    await speed.close();
    writeFileSync(out, JSON.stringify(rows));
    const records = stats.folded + stats.duplicates;
    return {
      records,
      duplicates: stats.duplicates,
      groups: stats.groups,
      seconds: round(seconds),
      eventsPerSecond: Math.round(records / seconds),
      peakRssMB: ownPeakRssMB(),
    };
  } finally {
    await log.close();
  }
}

/** Runs a phase of this file in a fresh process. */
function runPhase(phase: string, topic: string, out?: string): Record<string, unknown> {
  const extra = out ? ['--out', out] : [];
  return runPhaseProcess(fileURLToPath(import.meta.url), [String(events), '--partitions', String(partitions), '--brokers', brokers.join(','), '--phase', phase, '--topic', topic, ...extra], ['--max-old-space-size=8192']);
}

function build(): number {
  const started = performance.now();
  // Maven's output to stderr: stdout carries the results (and Maven leaves colour codes unterminated there).
  const child = spawnSync('mvn', ['-q', '-B', '--no-transfer-progress', 'package'], { cwd: peerDir, stdio: ['ignore', 2, 'inherit'] });
  if (child.status !== 0) throw new Error(`building ${peerDir} failed (${child.status ?? child.signal}); is Maven installed and Maven Central reachable?`);
  return (performance.now() - started) / 1000;
}

/** Runs the peer; resolves with its timing line. Peak RSS from /proc while it runs. */
async function runStreams(topic: string, end: Position, out: string, threads: number): Promise<Record<string, unknown>> {
  const ends = Array.from({ length: partitions }, (_, p) => end[p] ?? 0).join(',');
  const javaArgs = [
    '-Xmx2g',
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-cp',
    `${join(peerDir, 'target', 'classes')}:${join(peerDir, 'target', 'lib', '*')}`,
    'dev.braid.bench.StreamsAgg',
    '--bootstrap', brokers.join(','),
    '--topic', topic,
    '--end', ends,
    '--out', out,
    '--threads', String(threads),
    '--type', VIEW.type,
    '--dimension', VIEW.dimension,
    '--sum', VIEW.sum,
  ];
  const started = performance.now();
  const child = spawn('java', javaArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  let peakRssKB = 0;
  const sampler = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakRssKB = Math.max(peakRssKB, Number(m[1]));
    } catch {
      // the process has ended
    }
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`the Kafka Streams peer failed (exit ${code})`);
  const timing = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  return { ...timing, processWallSeconds: round((performance.now() - started) / 1000), peakRssMB: round(peakRssKB / 1024) };
}

/** Every difference between the two sides and against the exact answer (empty: the same answer). */
function compare(braid: Row[], streams: Row[], truth: Map<string, Truth>): { problems: string[]; groups: number; maxDistinctError: number; maxDistinctRelError: number; distinctOff: number } {
  const problems: string[] = [];
  const b = new Map(braid.map((r) => [rowKey(r.bucket, r.dim), r]));
  const s = new Map(streams.map((r) => [rowKey(r.bucket, r.dim), r]));
  if (b.size !== braid.length) problems.push(`braid reported ${braid.length - b.size} groups twice`);
  if (s.size !== streams.length) problems.push(`streams reported ${streams.length - s.size} groups twice`);
  const closeSum = (x: number | null, y: number | null) => (x === null || y === null ? x === y : Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y), 1));
  const stdErr = 1.04 / Math.sqrt(HLL_M);
  let maxDistinctError = 0;
  let maxDistinctRelError = 0;
  let distinctOff = 0;
  for (const k of new Set([...b.keys(), ...s.keys(), ...truth.keys()])) {
    const x = b.get(k);
    const y = s.get(k);
    const t = truth.get(k);
    if (!x || !y || !t) {
      problems.push(`group ${k}: in ${[x && 'braid', y && 'streams', t && 'exact'].filter(Boolean).join(', ')} only`);
      continue;
    }
    if (x.count !== y.count || x.count !== t.count) problems.push(`group ${k}: count braid ${x.count}, streams ${y.count}, exact ${t.count}`);
    if (!closeSum(x.sum, y.sum) || !closeSum(x.sum, t.sum)) problems.push(`group ${k}: sum braid ${x.sum}, streams ${y.sum}, exact ${t.sum}`);
    if (x.checksum !== y.checksum || x.registers !== y.registers) problems.push(`group ${k}: HyperLogLog registers differ (braid ${x.registers}/${x.checksum}, streams ${y.registers}/${y.checksum})`);
    if (x.distinct !== y.distinct) problems.push(`group ${k}: distinct estimate braid ${x.distinct}, streams ${y.distinct}`);
    const exact = t.users.size;
    const err = Math.abs(x.distinct - exact);
    maxDistinctError = Math.max(maxDistinctError, err);
    maxDistinctRelError = Math.max(maxDistinctRelError, err / exact);
    if (err > 0) distinctOff++;
    // Small sets are in linear counting's range, where the estimate loses about one per
    // register collision, Poisson with mean n²/2m: allow that mean plus four of its standard
    // deviations plus three (at 30k groups of ~50 users, P(any group beyond) ≈ 1e-3); large
    // sets get four standard errors of HyperLogLog.
    const collisions = (exact * exact) / (2 * HLL_M);
    const allowed = Math.max(4 * stdErr * exact, collisions + 4 * Math.sqrt(collisions) + 3);
    if (err > allowed) problems.push(`group ${k}: distinct estimate ${x.distinct} is off the exact ${exact} by more than HyperLogLog's error allows (${allowed.toFixed(1)})`);
  }
  return { problems, groups: b.size, maxDistinctError, maxDistinctRelError: Math.round(maxDistinctRelError * 1e4) / 1e4, distinctOff };
}

/** Deletes the topic and the consumer groups this bench leaves (the peer's, the kafkajs readers'). */
async function cleanUp(topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'braid-bench-streams-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith('braid-bench-streams-'));
    // One group at a time: a group still holding a member is refused, the others go. The
    // peer's own group keeps its member until the session times out (Kafka Streams does not
    // leave the group on close), so it goes on the next run.
    for (const g of groups) await admin.deleteGroups([g]).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

interface StreamsRun {
  threads: number;
  timing: Record<string, unknown>;
  check: ReturnType<typeof compare>;
}

/** The run as one comparison: the raw read is the ceiling, Kafka Streams (each thread count) the peer. */
function comparison(filled: { seconds: number }, buildSeconds: number, read: Record<string, unknown>, braid: Record<string, unknown>, runs: StreamsRun[]): Comparison {
  const problems = runs.flatMap((r) => r.check.problems.map((p) => `Kafka Streams, ${r.threads} thread(s): ${p}`));
  if (read.records !== events) problems.push(`raw read saw ${String(read.records)} records of ${events}`);
  if (braid.records !== events) problems.push(`braid folded ${String(braid.records)} records of ${events}`);
  for (const r of runs) if (r.timing.records !== events) problems.push(`Kafka Streams, ${r.threads} thread(s), saw ${String(r.timing.records)} records of ${events}`);
  const b = Number(braid.eventsPerSecond);
  const first = runs[0]!.check;
  const ratios: Record<string, number> = { braidOverRawRead: round(b / Number(read.eventsPerSecond)) };
  for (const r of runs) {
    ratios[`braidOverStreams${r.threads}Thread${r.threads === 1 ? '' : 's'}`] = round(b / Number(r.timing.eventsPerSecond));
    ratios[`braidOverStreams${r.threads}Thread${r.threads === 1 ? '' : 's'}AfterStartup`] = round(b / Number(r.timing.eventsPerSecondAfterStartup));
  }
  return {
    item: 1,
    title: 'Stream aggregation vs Kafka Streams',
    size: `${events.toLocaleString('en-US')} events, ${partitions} partitions`,
    check: {
      same: problems.length === 0,
      what: `every group of count, sum and distinct by country per minute: braid vs Kafka Streams vs the exact answer (count and sum exact, HyperLogLog registers equal); ${first.groups} groups, braid's distinct off the exact by at most ${first.maxDistinctError} (${(first.maxDistinctRelError * 100).toFixed(1)} %)`,
      problems: problems.slice(0, 50),
    },
    results: [
      { name: 'kafkajs raw read of the topic', side: 'ceiling', eventsPerSecond: Number(read.eventsPerSecond), seconds: Number(read.seconds), peakRssMB: Number(read.peakRssMB) },
      { name: 'braid speed layer (one thread), catch-up to the end', side: 'braid', eventsPerSecond: b, seconds: Number(braid.seconds), peakRssMB: Number(braid.peakRssMB), extra: { groups: braid.groups } },
      ...runs.map((r) => ({
        name: `Kafka Streams, ${r.threads} stream thread${r.threads === 1 ? '' : 's'}, JVM start to end`,
        side: 'peer' as const,
        eventsPerSecond: Number(r.timing.eventsPerSecond),
        seconds: round(Number(r.timing.seconds)),
        peakRssMB: Math.round(Number(r.timing.peakRssMB)),
        extra: { eventsPerSecondAfterStartup: r.timing.eventsPerSecondAfterStartup, processingSeconds: r.timing.processingSeconds, startupSeconds: r.timing.startupSeconds },
      })),
    ],
    ratios,
    extra: {
      fill: { seconds: round(filled.seconds), eventsPerSecond: Math.round(events / filled.seconds) },
      demo: { seed: 7, duplicateRate: 0, lateRate: 0.03 },
      view: { ...VIEW, granularity: 'minute', measures: ['count', `sum data.${VIEW.sum}`, 'distinct key (HLL p=14)'] },
      buildSeconds: round(buildSeconds),
      java: spawnSync('java', ['-version'], { encoding: 'utf8' }).stderr.split('\n')[0],
      loadavg: loadavg().map(round),
    },
  };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'braid-bench-streams-'));
  const topic = `braid-bench-streams-${events}-${Date.now()}`;
  const log = (s: string) => process.stderr.write(`${s}\n`);

  const buildSeconds = args['skip-build'] ? 0 : build();
  log(`build: ${round(buildSeconds)} s`);
  const filled = await fill(topic);
  log(`fill: ${events} events into ${topic} in ${round(filled.seconds)} s, end ${JSON.stringify(filled.end)}`);
  try {
    const read = runPhase('read', topic);
    log(`read: ${JSON.stringify(read)}`);
    const braidOut = join(work, 'braid.json');
    const braid = runPhase('braid', topic, braidOut);
    log(`braid: ${JSON.stringify(braid)}`);
    const braidRows = JSON.parse(readFileSync(braidOut, 'utf8')) as Row[];
    const runs: StreamsRun[] = [];
    for (const n of threadCounts) {
      const out = join(work, `streams-${n}.json`);
      const timing = await runStreams(topic, filled.end, out, n);
      log(`streams (${n} thread${n === 1 ? '' : 's'}): ${JSON.stringify(timing)}`);
      runs.push({ threads: n, timing, check: compare(braidRows, JSON.parse(readFileSync(out, 'utf8')) as Row[], filled.truth) });
    }
    const c = comparison(filled, buildSeconds, read, braid, runs);
    if (!c.check.same) process.exitCode = 1;
    if (args.json) {
      emit(c);
      return;
    }
    mkdirSync(join(here, 'results'), { recursive: true });
    const file = join(here, 'results', `streams-${new Date().toISOString().slice(0, 10)}${c.check.same ? '' : '-mismatch'}.json`);
    writeFileSync(file, `${JSON.stringify(c, null, 2)}\n`);
    process.stdout.write(renderComparisons([c]));
    log(`wrote ${file}`);
  } finally {
    if (!args.keep) await cleanUp(topic).catch((err: unknown) => log(`could not delete ${topic}: ${(err as Error).message}`));
  }
}

if (args.phase) {
  const topic = args.topic;
  if (!topic) throw new Error('--topic is required with --phase');
  let result: Record<string, unknown>;
  if (args.phase === 'read') result = await phaseRead(topic);
  else if (args.phase === 'braid') result = await phaseBraid(topic, args.out!);
  else throw new Error(`unknown phase ${args.phase}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  await main();
}

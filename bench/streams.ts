/**
 * Stream aggregation, braid's speed layer vs Kafka Streams (issue 7, item 1; issue 13):
 *
 *   node --import tsx bench/streams.ts [events=1000000] [--partitions 4] [--threads 1,2] [--runs 3]
 *        [--duplicate-rate 0.02] [--dedupe memory[,rocksdb]|none] [--java-heap 8g]
 *        [--brokers 127.0.0.1:9092] [--keep] [--json] [--result-name NAME]
 *
 * One view, computed three ways over the same topic of the same broker:
 *
 *   view     page_view events, per minute and data.country: count, sum of data.latency_ms,
 *            distinct key (braid's HyperLogLog, p = 14)
 *
 * Two topics, two comparisons:
 *
 *   unique   N demo events (duplicateRate 0): every id is unique, so braid's dedupe drops
 *            nothing and the peer runs without a dedupe of its own (as since issue 7)
 *   retries  N demo events of which --duplicate-rate are retries of a recent event (same id,
 *            key and content: the demo generator's duplicateRate), so both sides really drop
 *            duplicates: braid by contract §3 (speed/dedupe.ts) and the peer with the same rule
 *            through a state store of recent ids per task (--dedupe: `memory`, an in-memory
 *            KeyValueStore id → latest append time evicted like braid's; `rocksdb`, a RocksDB
 *            WindowStore keyed by id with retention window + skew; StreamsAgg.java). Skipped
 *            with --dedupe none.
 *
 * Steps:
 *   build    the Kafka Streams peer (bench/peers/kafka-streams, `mvn -q -B package`)
 *   fill     each topic; the exact answer is computed from the same events here, each
 *            repeated (partition, id) dropped (late events stay in)
 *   then --runs times (3 by default), over each topic in turn, every side once (alternating,
 *   the same topic every run):
 *   read     raw kafkajs read of the whole topic (braid's KafkaLog reader, nothing done per
 *            record): the ceiling for the speed layer. Fresh process.
 *   braid    SpeedLayer.start() over the topic with the view: read, decode, dedupe, fold,
 *            until the end. Fresh process; its groups are written to a file.
 *   replay   a Kappa replay (speed/replay.ts, as a verification runs one, no checkpoints) of
 *            the whole topic through the same fold into a store of its own: the figure of
 *            "Kappa replay ÷ speed-layer catch-up" (ratio replayOverCatchUp). Fresh process;
 *            its groups are checked against braid's and the exact answer like a peer's.
 *   streams  the peer, each variant with each entry of --threads stream threads (braid's speed
 *            layer folds on one), one JVM each (heap 2 GiB, 8 GiB with a dedupe store), from
 *            the beginning with a fresh application.id until it has consumed the end offsets;
 *            its groups to a file.
 *
 * On every run, before any rate is printed, every group is compared: braid against the peer
 * (count exact, sum within 1e-9 relative, HyperLogLog registers equal by checksum and
 * estimates equal) and both against the exact answer (count, sum; braid's distinct estimate
 * within HyperLogLog's error of the exact distinct count — four standard errors, or for small
 * sets the register collisions linear counting loses — and its largest error reported); on
 * the topic with retries braid's and the peer's duplicate counts must equal the exact one. If
 * anything differs on any run, the differences are printed instead and the bench exits 1.
 * Each side's figure is the median of its runs; each run's figure is in the JSON
 * (`extra.runs`, `extra.eventsPerSecondPerRun`), and the ratios are of the medians.
 *
 * Writes bench/results/streams-<date>-<events>.json (…-mismatch.json when the answers differ;
 * --result-name names it). The topics are deleted afterwards (--keep keeps them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { bucketOf, compileView, GroupTable, parseViews, viewKey, type CompiledView, type ViewRow } from '../shared/views/index.js';
import { Replayer } from '../speed/replay.js';
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
    runs: { type: 'string', default: '3' },
    'duplicate-rate': { type: 'string', default: '0.02' },
    dedupe: { type: 'string', default: 'memory' },
    'java-heap': { type: 'string' },
    'result-name': { type: 'string' },
    phase: { type: 'string' },
    'fill-rate': { type: 'string' },
    topic: { type: 'string' },
    out: { type: 'string' },
  },
});
const events = Number(positionals[0] ?? '1000000');
const partitions = Number(args.partitions);
const brokers = args.brokers!.split(',');
const threadCounts = args.threads!.split(',').map(Number);
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${args.runs}`);
const duplicateRate = Number(args['duplicate-rate']);
if (!(duplicateRate > 0 && duplicateRate < 1)) throw new Error(`--duplicate-rate must be in (0, 1), got ${args['duplicate-rate']}`);
/** The peer's dedupe variants on the topic with retries; none: that topic is not made. */
const dedupeVariants = args.dedupe === 'none' || args.dedupe === '' ? [] : (args.dedupe!.split(',') as PeerDedupe[]);
for (const d of dedupeVariants) if (d !== 'memory' && d !== 'rocksdb') throw new Error(`--dedupe takes memory, rocksdb (comma-separated) or none, not ${d}`);
const WINDOW_MS = 86_400_000; // the demo config's dedupe window, 24 h
const SKEW_MS = 300_000; // braid's default dedupe.skew, five minutes (speed/dedupe.ts)
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

function openLog(topic: string, appendTimeoutMs?: number) {
  return KafkaLog.open({ brokers, topic, partitions, clientId: 'braid-bench-streams', logger: silent, ...(appendTimeoutMs ? { appendTimeoutMs } : {}) });
}

/** The kernel's dirty and writeback page cache, kB: what a broker stall on the disk shows as. */
function dirtyKB(): string {
  try {
    const m = readFileSync('/proc/meminfo', 'utf8');
    return ['Dirty', 'Writeback'].map((k) => `${k} ${new RegExp(`${k}:\\s+(\\d+)`).exec(m)?.[1] ?? '?'} kB`).join(', ');
  } catch {
    return 'no /proc/meminfo';
  }
}

/** A group of the exact answer: its count, sum and exact distinct count. */
interface Truth {
  count: number;
  sum: number | null;
  distinct: number;
}

/** One filled topic: where it ends, and the exact answer of the view under the dedupe rule. */
interface Filled {
  topic: string;
  duplicateRate: number;
  end: Position;
  seconds: number;
  truth: Map<string, Truth>;
  /** records the dedupe rule drops: a repeated (partition, id), all appended within the window */
  duplicates: number;
}

/**
 * Appends the events and computes the exact answer from them on the way. With a duplicate
 * rate, that share of the events are retries of a recent one (same id, key and content: the
 * demo generator's duplicateRate), so they land in the same partition as the first; contract
 * §3 drops every record whose (partition, id) came before within the window. The whole fill
 * takes far less than the window (checked), so here a record is a duplicate exactly when its
 * id came before (a retry has its first's key, so its partition).
 */
async function fill(topic: string, duplicateRate: number): Promise<Filled> {
  const truth = new Map<string, { count: number; sum: number | null; users: Set<string> }>();
  // The demo generator gives every new event the next number in its id (`pv-7-123`), and a
  // retry is a copy of a recent event: so an id was seen before exactly when its number is not
  // past the highest seen (checked: a new number is always the next one). No set of 10 M ids
  // held, which at 10 M events made the fill's GC pauses long enough to time appends out.
  let highest = 0;
  let duplicates = 0;
  // One string per distinct user in the distinct sets, not one per event.
  const interned = new Map<string, string>();
  // The fill is not measured: an append may wait longer than braid's 10 s default (filling a
  // second 10 M topic, kafkajs' idempotent producer has held appends 65 s, its lock timeout),
  // so two minutes here, and the slow ones are named with the kernel's dirty pages (they stayed
  // small: not the disk).
  const log = await openLog(topic, 120_000);
  try {
    const have = Object.values(await log.endPosition()).reduce((a, b) => a + b, 0);
    if (have > 0) throw new Error(`topic ${topic} is not empty`);
    const started = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    let failed: unknown;
    let batch: { key: string; value: Buffer }[] = [];
    // Late events stay in; with duplicateRate 0 every id is unique, so no dedupe drops anything.
    for (const event of new DemoGenerator({ seed: 7, duplicateRate }).day(events)) {
      const key = recordKey(event);
      batch.push({ key, value: encodeEvent(event) });
      const n = Number(event.id.slice(event.id.lastIndexOf('-') + 1));
      if (n <= highest) {
        // A retry of a recent event: same id, key and so partition, appended within the window.
        duplicates++;
        continue;
      }
      if (n !== highest + 1) throw new Error(`demo event ${event.id} after number ${highest}: this bench assumes every new id is numbered next`);
      highest = n;
      if (event.type === VIEW.type) {
        const d = event.data?.[VIEW.dimension];
        const dim = typeof d === 'string' ? d : typeof d === 'number' || typeof d === 'boolean' ? JSON.stringify(d) : null;
        const k = rowKey(bucketOf(event.time, 'minute'), dim);
        let t = truth.get(k);
        if (!t) truth.set(k, (t = { count: 0, sum: null, users: new Set() }));
        t.count++;
        const x = event.data?.[VIEW.sum];
        if (typeof x === 'number') t.sum = (t.sum ?? 0) + x;
        const user = event.key ?? event.id;
        let u = interned.get(user);
        if (u === undefined) interned.set(user, (u = user));
        t.users.add(u);
      }
      if (batch.length === 5_000) {
        const sentAt = performance.now();
        const p = log
          .append(batch)
          .then(() => {
            const ms = performance.now() - sentAt;
            if (ms > 5_000) process.stderr.write(`fill: an append of 5,000 took ${Math.round(ms)} ms (${dirtyKB()})\n`);
          })
          .finally(() => inFlight.delete(p));
        // Kept here, so a failure between two awaits is neither unhandled nor lost: thrown
        // below, and main's clean-up still runs.
        p.catch((err: unknown) => (failed ??= err));
        inFlight.add(p);
        batch = [];
        if (inFlight.size >= 4) await Promise.race(inFlight).catch(() => undefined);
        if (failed !== undefined) throw failed;
      }
    }
    if (batch.length > 0) await log.append(batch);
    await Promise.allSettled(inFlight);
    if (failed !== undefined) throw failed;
    const seconds = (performance.now() - started) / 1000;
    // Append times lie within the fill: every earlier record of an id is within the window.
    if (seconds * 1000 >= WINDOW_MS) throw new Error(`the fill took ${seconds} s, longer than the dedupe window: the exact answer here assumes every repeat is within it`);
    const exact = new Map<string, Truth>([...truth].map(([k, t]) => [k, { count: t.count, sum: t.sum, distinct: t.users.size }]));
    return { topic, duplicateRate, end: await log.endPosition(), seconds, truth: exact, duplicates };
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

/** braid's rows of the view as a query merges them (a group may sit in several segments or tables). */
function rowsOf(v: CompiledView, tables: Iterable<Iterable<ViewRow>>): Row[] {
  const merged = new GroupTable(v.measures).mergeAll(tables);
  const rows: Row[] = [];
  for (const row of merged.rows.values()) {
    const [n, total, users] = row.states as [number, number | null, HllState];
    rows.push({ bucket: row.bucket, dim: row.dims[0] ?? null, count: n, sum: total, distinct: hllEstimate(users), ...registerChecksum(users) });
  }
  return rows;
}

/**
 * A Kappa replay of the whole topic (speed/replay.ts: the log from offset 0 to its end through
 * the speed layer's fold, into a store of its own), as a verification runs it; no checkpoints.
 */
async function phaseReplay(topic: string, out: string): Promise<Record<string, unknown>> {
  const v = view();
  const log = await openLog(topic);
  try {
    const replayer = new Replayer({ log, views: [v], dedupeWindowMs: WINDOW_MS, dedupeSkewMs: SKEW_MS, logger: silent });
    const end = await log.endPosition();
    const started = performance.now();
    const replay = await replayer.wait((await replayer.start(end)).id);
    const seconds = (performance.now() - started) / 1000;
    if (replay.info.state !== 'succeeded' || !replay.tables) throw new Error(`the replay ended ${replay.info.state}: ${replay.info.error}`);
    writeFileSync(out, JSON.stringify(rowsOf(v, [replay.tables.get(viewKey(v))!.rows()])));
    const { folded, duplicates } = replay.info.progress!;
    return { records: folded + duplicates, duplicates, seconds: round(seconds), eventsPerSecond: Math.round((folded + duplicates) / seconds), peakRssMB: ownPeakRssMB() };
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
    const rows = rowsOf(v, pair.segments.map((tables) => tables.get(viewKey(v))!.rows()));
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

/** The fill phase of a topic, in a fresh process; its exact answer comes back through a file. */
function fillInProcess(topic: string, rate: number, out: string): Filled {
  runPhaseProcess(fileURLToPath(import.meta.url), [String(events), '--partitions', String(partitions), '--brokers', brokers.join(','), '--phase', 'fill', '--topic', topic, '--fill-rate', String(rate), '--out', out], ['--max-old-space-size=8192']);
  const f = JSON.parse(readFileSync(out, 'utf8')) as Omit<Filled, 'truth'> & { truth: Array<[string, Truth]> };
  return { ...f, truth: new Map(f.truth) };
}

async function phaseFill(topic: string, rate: number, out: string): Promise<Record<string, unknown>> {
  const f = await fill(topic, rate);
  writeFileSync(out, JSON.stringify({ ...f, truth: [...f.truth] }));
  return { topic, seconds: f.seconds, duplicates: f.duplicates, groups: f.truth.size };
}

function build(): number {
  const started = performance.now();
  // Maven's output to stderr: stdout carries the results (and Maven leaves colour codes unterminated there).
  const child = spawnSync('mvn', ['-q', '-B', '--no-transfer-progress', 'package'], { cwd: peerDir, stdio: ['ignore', 2, 'inherit'] });
  if (child.status !== 0) throw new Error(`building ${peerDir} failed (${child.status ?? child.signal}); is Maven installed and Maven Central reachable?`);
  return (performance.now() - started) / 1000;
}

/** The peer's dedupe: none (every id unique), or a state store of recent ids (StreamsAgg.java). */
type PeerDedupe = 'none' | 'memory' | 'rocksdb';

const DEDUPE_NAMES: Record<PeerDedupe, string> = {
  none: 'Kafka Streams',
  memory: 'Kafka Streams + dedupe (in-memory KeyValueStore id → append time)',
  rocksdb: 'Kafka Streams + dedupe (RocksDB WindowStore of ids, retention 24 h + 5 min)',
};

/**
 * The JVM's heap: 2 GiB without dedupe, as before; with dedupe 8 GiB, since every id of the
 * window is held (braid's phases run with --max-old-space-size=8192 too). --java-heap overrides both.
 */
const heapFor = (dedupe: PeerDedupe) => args['java-heap'] ?? (dedupe === 'none' ? '2g' : '8g');

/** Runs the peer; resolves with its timing line. Peak RSS from /proc while it runs. */
async function runStreams(topic: string, end: Position, out: string, threads: number, dedupe: PeerDedupe): Promise<Record<string, unknown>> {
  const ends = Array.from({ length: partitions }, (_, p) => end[p] ?? 0).join(',');
  const javaArgs = [
    `-Xmx${heapFor(dedupe)}`,
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
    '--dedupe', dedupe,
    '--window-ms', String(WINDOW_MS),
    '--skew-ms', String(SKEW_MS),
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
  return { ...timing, heap: heapFor(dedupe), processWallSeconds: round((performance.now() - started) / 1000), peakRssMB: round(peakRssKB / 1024) };
}

/** Every difference between the two sides and against the exact answer (empty: the same answer). */
function compare(braid: Row[], streams: Row[], truth: Map<string, Truth>, other = 'streams'): { problems: string[]; groups: number; maxDistinctError: number; maxDistinctRelError: number; distinctOff: number } {
  const problems: string[] = [];
  const b = new Map(braid.map((r) => [rowKey(r.bucket, r.dim), r]));
  const s = new Map(streams.map((r) => [rowKey(r.bucket, r.dim), r]));
  if (b.size !== braid.length) problems.push(`braid reported ${braid.length - b.size} groups twice`);
  if (s.size !== streams.length) problems.push(`${other} reported ${streams.length - s.size} groups twice`);
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
      problems.push(`group ${k}: in ${[x && 'braid', y && other, t && 'exact'].filter(Boolean).join(', ')} only`);
      continue;
    }
    if (x.count !== y.count || x.count !== t.count) problems.push(`group ${k}: count braid ${x.count}, ${other} ${y.count}, exact ${t.count}`);
    if (!closeSum(x.sum, y.sum) || !closeSum(x.sum, t.sum)) problems.push(`group ${k}: sum braid ${x.sum}, ${other} ${y.sum}, exact ${t.sum}`);
    if (x.checksum !== y.checksum || x.registers !== y.registers) problems.push(`group ${k}: HyperLogLog registers differ (braid ${x.registers}/${x.checksum}, ${other} ${y.registers}/${y.checksum})`);
    if (x.distinct !== y.distinct) problems.push(`group ${k}: distinct estimate braid ${x.distinct}, ${other} ${y.distinct}`);
    const exact = t.distinct;
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

/** One side's figures in one run. */
interface RunFigures {
  eventsPerSecond: number;
  seconds: number;
  peakRssMB: number;
  extra: Record<string, unknown>;
}

/** A side measured `runs` times: each run's figures, and its answer checked every time. */
interface Side {
  name: string;
  side: 'braid' | 'peer' | 'ceiling';
  /** key of its ratios, e.g. Streams1Thread */
  ratioKey?: string;
  runs: RunFigures[];
}

/** The median of some numbers (of an even count: the mean of the middle two). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A side as a Measured: the medians of its runs, each run's figures in extra.runs. */
function measuredOf(side: Side): Comparison['results'][number] {
  const eps = side.runs.map((r) => r.eventsPerSecond);
  const firstExtra = side.runs[0]?.extra ?? {};
  const medianOf = (k: string) => {
    const xs = side.runs.map((r) => Number(r.extra[k])).filter(Number.isFinite);
    return xs.length === side.runs.length ? round(median(xs)) : undefined;
  };
  const extra: Record<string, unknown> = { ...firstExtra };
  for (const k of ['eventsPerSecondAfterStartup', 'processingSeconds', 'startupSeconds']) {
    const m = medianOf(k);
    if (m !== undefined) extra[k] = m;
  }
  extra.runs = side.runs.map((r) => ({ eventsPerSecond: r.eventsPerSecond, seconds: r.seconds, peakRssMB: r.peakRssMB, ...r.extra }));
  extra.eventsPerSecondPerRun = eps;
  return {
    name: side.name,
    side: side.side,
    eventsPerSecond: Math.round(median(eps)),
    seconds: round(median(side.runs.map((r) => r.seconds))),
    peakRssMB: Math.round(median(side.runs.map((r) => r.peakRssMB))),
    extra,
  };
}

const threadsLabel = (n: number) => `${n} stream thread${n === 1 ? '' : 's'}`;
const ratioKeyOf = (dedupe: PeerDedupe, n: number) => `Streams${dedupe === 'none' ? '' : dedupe === 'memory' ? 'Dedupe' : 'DedupeRocksDb'}${n}Thread${n === 1 ? '' : 's'}`;

/** One topic's comparison: the raw read is the ceiling, braid the speed layer, each Kafka Streams variant a peer; medians of the runs. */
function comparison(filled: Filled, buildSeconds: number, sides: Side[], problems: string[], checks: ReturnType<typeof compare>[]): Comparison {
  const [read, braid] = sides; // then the replay, then the peers
  const b = median(braid!.runs.map((r) => r.eventsPerSecond));
  const results = sides.map(measuredOf);
  const ratios: Record<string, number> = {
    braidOverRawRead: round(b / median(read!.runs.map((r) => r.eventsPerSecond))),
    replayOverCatchUp: round(median(sides[2]!.runs.map((r) => r.eventsPerSecond)) / b),
  };
  for (const s of sides.slice(3)) {
    ratios[`braidOver${s.ratioKey}`] = round(b / median(s.runs.map((r) => r.eventsPerSecond)));
    ratios[`braidOver${s.ratioKey}AfterStartup`] = round(b / median(s.runs.map((r) => Number(r.extra.eventsPerSecondAfterStartup))));
  }
  const maxError = Math.max(...checks.map((c) => c.maxDistinctError));
  const maxRel = Math.max(...checks.map((c) => c.maxDistinctRelError));
  const runs = braid!.runs.length;
  const dupes = filled.duplicateRate > 0;
  return {
    item: 1,
    title: dupes ? 'Stream aggregation vs Kafka Streams with dedupe' : 'Stream aggregation vs Kafka Streams',
    size: `${events.toLocaleString('en-US')} events${dupes ? ` (${filled.duplicates.toLocaleString('en-US')} retried ids)` : ''}, ${partitions} partitions`,
    check: {
      same: problems.length === 0,
      what:
        `on each of ${runs} runs, every group of count, sum and distinct by country per minute: braid vs Kafka Streams vs the exact answer (count and sum exact, HyperLogLog registers equal)` +
        `${dupes ? `, over a topic where ${filled.duplicates} records are retries of an earlier id, dropped on every side (braid's and the peer's duplicate counts equal the exact one)` : ''}` +
        `; ${checks[0]?.groups ?? 0} groups, braid's distinct off the exact by at most ${maxError} (${(maxRel * 100).toFixed(1)} %); figures are medians of the ${runs} runs`,
      problems: problems.slice(0, 50),
    },
    results,
    ratios,
    extra: {
      runs,
      order: 'each run: the raw read, braid\'s catch-up, braid\'s Kappa replay, then each Kafka Streams variant, every side once per run (alternating), the same topic every run',
      topic: { duplicateRate: filled.duplicateRate, duplicates: filled.duplicates },
      fill: { seconds: round(filled.seconds), eventsPerSecond: Math.round(events / filled.seconds) },
      demo: { seed: 7, duplicateRate: filled.duplicateRate, lateRate: 0.03 },
      dedupe: { windowMs: WINDOW_MS, skewMs: SKEW_MS, rule: 'contract §3: a repeated id in the same partition within the window of append time is dropped; the first wins' },
      view: { ...VIEW, granularity: 'minute', measures: ['count', `sum data.${VIEW.sum}`, 'distinct key (HLL p=14)'] },
      buildSeconds: round(buildSeconds),
      java: spawnSync('java', ['-version'], { encoding: 'utf8' }).stderr.split('\n')[0],
      loadavg: loadavg().map(round),
    },
  };
}

/** One topic under test: its sides, every run's figures and every problem found. */
interface TopicBench {
  filled: Filled;
  variants: PeerDedupe[];
  sides: Side[];
  problems: string[];
  checks: ReturnType<typeof compare>[];
}

function topicBench(filled: Filled, variants: PeerDedupe[]): TopicBench {
  const sides: Side[] = [
    { name: 'kafkajs raw read of the topic', side: 'ceiling', runs: [] },
    { name: 'braid speed layer (one thread), catch-up to the end', side: 'braid', runs: [] },
    { name: 'braid Kappa replay of the whole topic (one thread)', side: 'braid', runs: [] },
  ];
  for (const d of variants) for (const n of threadCounts) sides.push({ name: `${DEDUPE_NAMES[d]}, ${threadsLabel(n)}, JVM start to end`, side: 'peer', ratioKey: ratioKeyOf(d, n), runs: [] });
  return { filled, variants, sides, problems: [], checks: [] };
}

/** One run over one topic: every side once, each answer checked against braid's and the exact one. */
async function runOnce(t: TopicBench, run: number, work: string): Promise<void> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const { filled } = t;
  const label = `run ${run + 1}, ${filled.duplicateRate > 0 ? `${filled.duplicates} retried ids` : 'unique ids'}`;
  const [readSide, braidSide, replaySide] = t.sides;
  const read = runPhase('read', filled.topic);
  say(`${label}: read ${JSON.stringify(read)}`);
  if (read.records !== events) t.problems.push(`run ${run + 1}: raw read saw ${String(read.records)} records of ${events}`);
  readSide!.runs.push({ eventsPerSecond: Number(read.eventsPerSecond), seconds: Number(read.seconds), peakRssMB: Number(read.peakRssMB), extra: {} });

  const braidOut = join(work, `braid-${filled.duplicateRate}-${run}.json`);
  const braid = runPhase('braid', filled.topic, braidOut);
  say(`${label}: braid ${JSON.stringify(braid)}`);
  if (braid.records !== events) t.problems.push(`run ${run + 1}: braid read ${String(braid.records)} records of ${events}`);
  if (braid.duplicates !== filled.duplicates) t.problems.push(`run ${run + 1}: braid dropped ${String(braid.duplicates)} duplicates, the exact answer ${filled.duplicates}`);
  braidSide!.runs.push({ eventsPerSecond: Number(braid.eventsPerSecond), seconds: Number(braid.seconds), peakRssMB: Number(braid.peakRssMB), extra: { groups: braid.groups, duplicates: braid.duplicates } });
  const braidRows = JSON.parse(readFileSync(braidOut, 'utf8')) as Row[];

  const replayOut = join(work, `replay-${filled.duplicateRate}-${run}.json`);
  const replay = runPhase('replay', filled.topic, replayOut);
  say(`${label}: replay ${JSON.stringify(replay)}`);
  const replayCheck = compare(braidRows, JSON.parse(readFileSync(replayOut, 'utf8')) as Row[], filled.truth, 'replay');
  t.checks.push(replayCheck);
  t.problems.push(...replayCheck.problems.map((p) => `run ${run + 1}, the replay: ${p}`));
  if (replay.records !== events) t.problems.push(`run ${run + 1}: the replay read ${String(replay.records)} records of ${events}`);
  if (replay.duplicates !== filled.duplicates) t.problems.push(`run ${run + 1}: the replay dropped ${String(replay.duplicates)} duplicates, the exact answer ${filled.duplicates}`);
  replaySide!.runs.push({ eventsPerSecond: Number(replay.eventsPerSecond), seconds: Number(replay.seconds), peakRssMB: Number(replay.peakRssMB), extra: { duplicates: replay.duplicates } });

  let i = 3;
  for (const d of t.variants) {
    for (const n of threadCounts) {
      const side = t.sides[i++]!;
      const out = join(work, `streams-${filled.duplicateRate}-${d}-${n}-${run}.json`);
      const timing = await runStreams(filled.topic, filled.end, out, n, d);
      say(`${label}: ${side.name}: ${JSON.stringify(timing)}`);
      const check = compare(braidRows, JSON.parse(readFileSync(out, 'utf8')) as Row[], filled.truth);
      t.checks.push(check);
      const what = `run ${run + 1}, ${side.name}`;
      t.problems.push(...check.problems.map((p) => `${what}: ${p}`));
      if (timing.records !== events) t.problems.push(`${what}: saw ${String(timing.records)} records of ${events}`);
      if (d !== 'none' && timing.duplicates !== filled.duplicates) t.problems.push(`${what}: dropped ${String(timing.duplicates)} duplicates, the exact answer ${filled.duplicates}`);
      side.runs.push({
        eventsPerSecond: Number(timing.eventsPerSecond),
        seconds: round(Number(timing.seconds)),
        peakRssMB: Math.round(Number(timing.peakRssMB)),
        extra: {
          eventsPerSecondAfterStartup: timing.eventsPerSecondAfterStartup,
          processingSeconds: timing.processingSeconds,
          startupSeconds: timing.startupSeconds,
          duplicates: timing.duplicates,
          heap: timing.heap,
        },
      });
    }
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'braid-bench-streams-'));
  const stamp = Date.now();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const variants = dedupeVariants;
  const topics = [`braid-bench-streams-${events}-${stamp}`, ...(variants.length > 0 ? [`braid-bench-streams-${events}-dup-${stamp}`] : [])];

  const buildSeconds = args['skip-build'] ? 0 : build();
  log(`build: ${round(buildSeconds)} s`);
  const benches: TopicBench[] = [];
  try {
    // Each fill in a fresh process, which keeps the exact answer's sets out of this one. (At
    // 10 M the second topic's fill still has kafkajs' producer leave appends unacknowledged for
    // minutes, in a fresh process too: bench/README.md; bench/run.ts runs 10 M with --dedupe none.)
    const unique = fillInProcess(topics[0]!, 0, join(work, 'fill-unique.json'));
    log(`fill: ${events} events into ${unique.topic} in ${round(unique.seconds)} s, end ${JSON.stringify(unique.end)}`);
    benches.push(topicBench(unique, ['none']));
    if (variants.length > 0) {
      const dup = fillInProcess(topics[1]!, duplicateRate, join(work, 'fill-dup.json'));
      log(`fill: ${events} events (${dup.duplicates} retries of an earlier id) into ${dup.topic} in ${round(dup.seconds)} s, end ${JSON.stringify(dup.end)}`);
      benches.push(topicBench(dup, variants));
    }
    for (let run = 0; run < runs; run++) for (const t of benches) await runOnce(t, run, work);
    const comparisons = benches.map((t) => comparison(t.filled, buildSeconds, t.sides, t.problems, t.checks));
    if (comparisons.some((c) => !c.check.same)) process.exitCode = 1;
    if (args.json) {
      for (const c of comparisons) emit(c);
      return;
    }
    mkdirSync(join(here, 'results'), { recursive: true });
    const same = comparisons.every((c) => c.check.same);
    const file = join(here, 'results', args['result-name'] ? `${args['result-name']}.json` : `streams-${new Date().toISOString().slice(0, 10)}-${events}${same ? '' : '-mismatch'}.json`);
    writeFileSync(file, `${JSON.stringify(comparisons, null, 2)}\n`);
    process.stdout.write(renderComparisons(comparisons));
    log(`wrote ${file}`);
  } finally {
    if (!args.keep) for (const topic of topics) await cleanUp(topic).catch((err: unknown) => log(`could not delete ${topic}: ${(err as Error).message}`));
    rmSync(work, { recursive: true, force: true });
  }
}

if (args.phase) {
  const topic = args.topic;
  if (!topic) throw new Error('--topic is required with --phase');
  let result: Record<string, unknown>;
  if (args.phase === 'read') result = await phaseRead(topic);
  else if (args.phase === 'braid') result = await phaseBraid(topic, args.out!);
  else if (args.phase === 'replay') result = await phaseReplay(topic, args.out!);
  else if (args.phase === 'fill') result = await phaseFill(topic, Number(args['fill-rate']), args.out!);
  else throw new Error(`unknown phase ${args.phase}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  await main();
}

/**
 * Speed-layer throughput and memory:
 *
 *   node --import tsx bench/speed.ts [--events 1000000] [--partitions 4] [--brokers 127.0.0.1:9092] [--groups 1000000]
 *
 * Phases, each in a fresh process (so heap figures are its own):
 *   append   N demo events (shared/demo: retries and late events included) into a Kafka topic
 *            named after N and the partition count; kept and reused by later runs
 *   read     the topic read end to end with nothing done per record: the log's share
 *   catchup  SpeedLayer.start() over the topic with the demo views (braid.yaml): reading,
 *            decoding, dedupe and folding, until it reaches the end — events/s
 *   fold     the same fold from records already in memory: the CPU cost without Kafka
 *   memory   heap per million distinct groups (a view keyed by id, one bucket), for a
 *            count+sum view and for the demo's revenue measures (count, sum, min, max, avg,
 *            distinct, quantile); and the dedupe state's heap per million ids in the window
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DemoGenerator } from '../shared/demo/generator.js';
import { everyMeasure } from '../test/support/views.js';
import { runPhaseProcess } from './processes.js';
import { rawRead } from './raw-read.js';
import { round } from './report.js';
import { pino } from 'pino';
import { loadConfig } from '../shared/config/index.js';
import { encodeEvent, recordKey } from '../shared/events/index.js';
import { KafkaLog } from '../shared/log/kafka/index.js';
import type { LogRecord } from '../shared/log/types.js';
import { compileView, parseViews, ViewTable, type CompiledView } from '../shared/views/index.js';
import { DedupeState } from '../speed/dedupe.js';
import { emptyTables, Folder } from '../speed/folder.js';
import { SpeedLayer } from '../speed/speed-layer.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '4' },
    brokers: { type: 'string', default: process.env.BRAID_KAFKA_BROKERS ?? '127.0.0.1:9092' },
    groups: { type: 'string', default: '1000000' },
    phase: { type: 'string' },
  },
});
const events = Number(args.events);
const partitions = Number(args.partitions);
const brokers = args.brokers!.split(',');
const groups = Number(args.groups);
const topic = `braid-bench-speed-${events}-${partitions}`;
const WINDOW_MS = 86_400_000; // the demo config's dedupe window, 24 h
const silent = pino({ level: 'silent' });

async function demoViews(): Promise<CompiledView[]> {
  const config = await loadConfig({ file: fileURLToPath(new URL('../braid.yaml', import.meta.url)) });
  return config.viewDefinitions.map(compileView);
}

function openLog() {
  return KafkaLog.open({ brokers, topic, partitions, clientId: 'braid-bench-speed', logger: silent });
}


async function phaseAppend(): Promise<Record<string, unknown>> {
  const log = await openLog();
  try {
    const have = Object.values(await log.endPosition()).reduce((a, b) => a + b, 0);
    if (have >= events) return { topic, records: have, appended: 0 };
    if (have > 0) throw new Error(`topic ${topic} holds ${have} of ${events} records (an interrupted append); delete it and run again`);
    const started = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    let batch: { key: string; value: Buffer }[] = [];
    for (const event of new DemoGenerator({ seed: 7 }).day(events)) {
      batch.push({ key: recordKey(event), value: encodeEvent(event) });
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
    return { topic, appended: events, seconds: round(seconds), eventsPerSecond: Math.round(events / seconds) };
  } finally {
    await log.close();
  }
}

async function phaseRead(): Promise<Record<string, unknown>> {
  const log = await openLog();
  try {
    const { records, megabytes, seconds, perSecond } = await rawRead(log);
    return { records, megabytes, seconds, recordsPerSecond: perSecond };
  } finally {
    await log.close();
  }
}

async function phaseCatchup(): Promise<Record<string, unknown>> {
  const views = await demoViews();
  const log = await openLog();
  try {
    const speed = new SpeedLayer({ log, views, dedupeWindowMs: WINDOW_MS, base: () => undefined, logger: silent });
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    await speed.start();
    const seconds = (performance.now() - started) / 1000;
    const stats = speed.stats();
    await speed.close();
    global.gc?.();
    const records = stats.folded + stats.duplicates;
    return {
      views: views.map((v) => v.def.name),
      records,
      folded: stats.folded,
      duplicates: stats.duplicates,
      groups: stats.groups,
      seconds: round(seconds),
      eventsPerSecond: Math.round(records / seconds),
      heapMB: round((process.memoryUsage().heapUsed - heapBefore) / 2 ** 20),
      dedupeEntries: stats.dedupeEntries,
      rssMB: round(process.memoryUsage().rss / 2 ** 20),
    };
  } finally {
    await log.close();
  }
}

async function phaseFold(): Promise<Record<string, unknown>> {
  const views = await demoViews();
  const records: LogRecord[] = [];
  let offset = 0;
  for (const event of new DemoGenerator({ seed: 7 }).day(events)) {
    records.push({ partition: 0, offset: offset++, appendTime: event.time, key: recordKey(event), value: encodeEvent(event) });
  }
  const folder = new Folder(views, new DedupeState({ windowMs: WINDOW_MS }));
  const tables = emptyTables(views);
  const counts = { folded: 0, duplicates: 0 };
  const started = performance.now();
  for (let i = 0; i < records.length; i += 5_000) folder.fold(records.slice(i, i + 5_000), tables, counts);
  const seconds = (performance.now() - started) / 1000;
  return { records: records.length, ...counts, seconds: round(seconds), eventsPerSecond: Math.round(records.length / seconds) };
}

const MEMORY_VIEWS = {
  count_sum: { measures: { n: 'count', amount: { sum: 'data.amount' } } },
  revenue: { measures: everyMeasure('data.amount', [0.5, 0.95, 0.99]) },
} as const;

/** Heap per million groups: `groups` events with distinct ids into a view keyed by id, in one hour bucket. */
async function phaseMemory(kind: keyof typeof MEMORY_VIEWS): Promise<Record<string, unknown>> {
  const [view] = parseViews([{ name: 'per_id', events: ['purchase'], granularity: 'hour', dimensions: ['id'], ...MEMORY_VIEWS[kind] }]).map(compileView);
  const table = new ViewTable(view!);
  const time = Date.UTC(2026, 10, 27, 10);
  global.gc!();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < groups; i++) {
    table.add({ id: `order-${i}`, type: 'purchase', time, key: `user-${i % 50_000}`, data: { amount: (i % 20_000) / 100 } }, { partition: 0, offset: i });
  }
  global.gc!();
  const bytes = process.memoryUsage().heapUsed - before;
  return { measures: Object.keys(MEMORY_VIEWS[kind].measures), groups: table.size, mbPerMillionGroups: round((bytes / 2 ** 20) * (1_000_000 / groups)), bytesPerGroup: Math.round(bytes / table.size) };
}

/** Heap of the dedupe state per million ids inside the window, measured and as the layer estimates it. */
async function phaseDedupe(): Promise<Record<string, unknown>> {
  const dedupe = new DedupeState({ windowMs: WINDOW_MS });
  const time = Date.UTC(2026, 10, 27, 10);
  global.gc!();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < groups; i++) dedupe.check(i % 4, `order-${i}`, time + Math.floor(i / 100));
  global.gc!();
  const bytes = process.memoryUsage().heapUsed - before;
  return { ids: dedupe.entries, mbPerMillionIds: round((bytes / 2 ** 20) * (1_000_000 / groups)), estimateMbPerMillionIds: round((dedupe.bytes / 2 ** 20) * (1_000_000 / groups)) };
}

async function runPhase(phase: string): Promise<Record<string, unknown>> {
  switch (phase) {
    case 'append':
      return phaseAppend();
    case 'read':
      return phaseRead();
    case 'catchup':
      return phaseCatchup();
    case 'fold':
      return phaseFold();
    case 'memory-count_sum':
      return phaseMemory('count_sum');
    case 'memory-revenue':
      return phaseMemory('revenue');
    case 'memory-dedupe':
      return phaseDedupe();
    default:
      throw new Error(`unknown phase ${phase}`);
  }
}

if (args.phase) {
  const result = await runPhase(args.phase);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  const self = fileURLToPath(import.meta.url);
  const results: Record<string, unknown> = { events, partitions, brokers, node: process.version };
  for (const phase of ['append', 'read', 'catchup', 'fold', 'memory-count_sum', 'memory-revenue', 'memory-dedupe']) {
    const passthrough = process.argv.slice(2).filter((a, i, all) => a !== '--phase' && all[i - 1] !== '--phase');
    results[phase] = runPhaseProcess(self, [...passthrough, '--phase', phase], ['--expose-gc', '--max-old-space-size=8192']);
    process.stderr.write(`${phase}: ${JSON.stringify(results[phase])}\n`);
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

/**
 * Ingest vs the raw producer (issue 7, item 2):
 *
 *   node --import tsx bench/ingest.ts [--events 200000] [--clients 8] [--batches 100,1000] [--brokers 127.0.0.1:9092] [--embedded-partitions 1] [--json]
 *
 * For each batch size, the same N demo events (seed 11, duplicateRate 0: every id unique)
 * are written five ways, `clients` concurrent callers each taking the next whole batch
 * until all N are sent; every request or append is timed to its acknowledgement:
 *
 *   braid HTTP, Kafka       a real `braid start` (4 partitions, a fresh topic), POST /v1/events
 *                           with the raw JSON events, undici with `clients` connections
 *   the same, ingest only   roles: ingest alone, as a Kafka deployment scales ingest apart
 *                           from the archive and the speed layer
 *   kafkajs producer        a bare kafkajs producer on a fresh topic of the same broker,
 *                           4 partitions, with braid's producer settings (KAFKA_PRODUCER,
 *                           imported from shared/log/kafka);
 *                           records encoded as braid stores them. Fresh process.
 *   braid HTTP, embedded    a real `braid start` on the embedded log (--embedded-partitions)
 *   EmbeddedLog.append      the embedded log alone, same partitions. Fresh process.
 *
 * The other braid processes run every role (archive and speed layer beside ingest, as `braid
 * start` does), with scheduled batch runs and verifications off so that neither lands in
 * the measurement. Peak RSS: the braid process' VmHWM just before it stops; the in-process
 * sides' own maxRSS, which includes the N encoded records they hold (extra.recordsHeldMB).
 *
 * After each side the whole log or topic it wrote is read back: N records, every id sent
 * exactly once, each record byte-identical (key and value) to what braid stores for that
 * event and in braid's partition for its key. Any difference goes into the Check, and the
 * comparison carries no figures; the bench then exits 1. Topics, consumer groups and temp
 * directories are removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { Agent, request } from 'undici';
import { emit, latencySummary, ownPeakRssMB, round, type Comparison, type Latency, type Measured } from './report.js';
import { runPhaseProcess, startBenchBraid, type BenchBraid, cleanUpKafka } from './processes.js';
import { DemoGenerator, type RawEvent } from '../shared/demo/generator.js';
import { decodeEvent, defaultEventLimits, encodeEvent, recordKey, validateEvents, type StoredEvent } from '../shared/events/index.js';
import { EmbeddedLog } from '../shared/log/embedded/index.js';
import { KAFKA_PRODUCER, KafkaLog } from '../shared/log/kafka/index.js';
import { partitionFor } from '../shared/log/partitioner.js';
import type { AppendInput, EventLog } from '../shared/log/types.js';

const { Kafka, logLevel, Partitioners, CompressionTypes } = kafkajs;
const COMPRESSION_NAMES: Record<number, string> = Object.fromEntries(Object.entries(CompressionTypes).map(([name, code]) => [code, name]));

/** Partitions of both Kafka topics: braid's default on Kafka. */
const KAFKA_PARTITIONS = 4;
const SEED = 11;

/**
 * braid's KafkaLog producer settings, imported from shared/log/kafka/kafka-log.ts (idempotent,
 * acks -1, in-flight requests, compression, retry policy, timeouts): the bare producer is
 * like for like by construction.
 */
const PRODUCER = KAFKA_PRODUCER;

interface Options {
  readonly events: number;
  readonly clients: number;
  readonly batches: readonly number[];
  readonly brokers: readonly string[];
  readonly embeddedPartitions: number;
  readonly json: boolean;
  /** the demo generator's clock: children regenerate the same events from it */
  readonly now: number;
  /** ids of this run's topics, consumer groups and client ids */
  readonly runId: string;
  /** set in a child: which in-process side to run, on which topic or directory, in batches of how many */
  readonly phase?: { readonly side: 'peer' | 'ceiling'; readonly target: string; readonly batch: number };
}

function parseOptions(): Options {
  const { values: a } = parseArgs({
    options: {
      events: { type: 'string', default: '200000' },
      clients: { type: 'string', default: '8' },
      batches: { type: 'string', default: '100,1000' },
      brokers: { type: 'string', default: process.env.BRAID_KAFKA_BROKERS ?? '127.0.0.1:9092' },
      'embedded-partitions': { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      // internal: a child running one in-process side
      phase: { type: 'string' },
      target: { type: 'string' },
      batch: { type: 'string' },
      now: { type: 'string' },
      'run-id': { type: 'string' },
    },
  });
  const positive = (name: string, s: string | undefined) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${s}`);
    return n;
  };
  const isSide = (s: string | undefined): s is 'peer' | 'ceiling' => s === 'peer' || s === 'ceiling';
  if (a.phase !== undefined && (!isSide(a.phase) || !a.target)) throw new Error(`--phase must be peer or ceiling, with --target; got ${a.phase} (target ${a.target})`);
  const phase = isSide(a.phase) ? { side: a.phase, target: a.target!, batch: positive('batch', a.batch) } : undefined;
  return {
    events: positive('events', a.events),
    clients: positive('clients', a.clients),
    batches: a.batches!.split(',').map((b) => positive('batches', b)),
    brokers: a.brokers!.split(','),
    embeddedPartitions: positive('embedded-partitions', a['embedded-partitions']),
    json: a.json!,
    now: a.now === undefined ? Date.now() : Number(a.now),
    runId: a['run-id'] ?? `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`,
    ...(phase ? { phase } : {}),
  };
}

const say = (s: string) => process.stderr.write(`${s}\n`);
const clientId = (o: Options) => `braid-bench-ingest-${o.runId}`;

/**
 * The demo events as a client sends them and as braid stores them, one at a time: a child
 * that keeps only the encoded records then does not hold all the raw objects at once
 * (its peak RSS is part of the result).
 */
function* demoEvents(o: Options): Generator<{ raw: RawEvent; stored: StoredEvent }> {
  const generator = new DemoGenerator({ seed: SEED, duplicateRate: 0 });
  for (let i = 0; i < o.events; i++) {
    const raw = generator.next(o.now);
    const v = validateEvents([raw], defaultEventLimits, o.now);
    if (!v.ok) throw new Error(`demo event ${i} is invalid: ${JSON.stringify(v.problems)}`);
    yield { raw, stored: v.events[0]! };
  }
}

const toRecord = (e: StoredEvent): AppendInput => ({ key: recordKey(e), value: encodeEvent(e) });

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** One side's timed run, before it becomes a Measured. */
interface Run {
  seconds: number;
  latencyMs: Latency;
  peakRssMB: number;
  /** requests or appends that failed: each is a problem (their events are missing) */
  failures: string[];
  extra: Record<string, unknown>;
}

/**
 * `clients` callers, each sending the next whole batch until none is left. One latency per
 * acknowledged call; a failed call is kept as a failure and the callers go on.
 */
async function drive(count: number, clients: number, send: (i: number) => Promise<void>): Promise<Omit<Run, 'peakRssMB' | 'extra'>> {
  const latencies: number[] = [];
  const failures: string[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        try {
          await send(i);
          latencies.push(performance.now() - t);
        } catch (err) {
          failures.push(`batch ${i}: ${(err as Error).message}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (latencies.length === 0) throw new Error(`every one of ${count} batches failed, e.g. ${failures[0]}`);
  return { seconds, latencyMs: latencySummary(latencies), failures };
}

// ---- the in-process sides, each in a fresh child process ----------------------------------

function heldRecords(o: Options): { batches: AppendInput[][]; heldMB: number } {
  const records = Array.from(demoEvents(o), (e) => toRecord(e.stored));
  const bytes = records.reduce((n, r) => n + Buffer.byteLength(r.key) + r.value.length, 0);
  return { batches: chunks(records, o.phase!.batch), heldMB: round(bytes / 2 ** 20, 1) };
}

/** The bare kafkajs producer: one producer shared by all callers, as braid's KafkaLog shares one. */
async function phasePeer(o: Options): Promise<Run> {
  const { batches, heldMB } = heldRecords(o);
  const kafka = new Kafka({
    clientId: clientId(o),
    brokers: [...o.brokers],
    connectionTimeout: PRODUCER.connectionTimeoutMs,
    requestTimeout: PRODUCER.requestTimeoutMs,
    retry: PRODUCER.retry,
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({
    idempotent: PRODUCER.idempotent,
    maxInFlightRequests: PRODUCER.maxInFlightRequests,
    allowAutoTopicCreation: false,
    retry: PRODUCER.retry,
    // Placement by key, murmur2: the same partition braid's partitionFor picks (checked on read-back).
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  // A long-lived producer is connected before it sends (braid's connects on its first request).
  await producer.connect();
  const before = ownPeakRssMB();
  try {
    const topic = o.phase!.target;
    const run = await drive(batches.length, o.clients, async (i) => {
      await producer.send({ topic, acks: PRODUCER.acks, compression: PRODUCER.compression, messages: batches[i]!.map((r) => ({ key: r.key, value: r.value })) });
    });
    return { ...run, peakRssMB: ownPeakRssMB(), extra: { peakRssBeforeSendMB: before, recordsHeldMB: heldMB } };
  } finally {
    await producer.disconnect();
  }
}

/** EmbeddedLog.append without HTTP: the ceiling of braid's embedded ingest. */
async function phaseCeiling(o: Options): Promise<Run> {
  const { batches, heldMB } = heldRecords(o);
  const log = await EmbeddedLog.open({ dir: o.phase!.target, partitions: o.embeddedPartitions });
  const before = ownPeakRssMB();
  try {
    const run = await drive(batches.length, o.clients, async (i) => {
      await log.append(batches[i]!);
    });
    return { ...run, peakRssMB: ownPeakRssMB(), extra: { peakRssBeforeSendMB: before, recordsHeldMB: heldMB } };
  } finally {
    await log.close();
  }
}

/** Runs an in-process side in a fresh process of this file; its last stdout line is the Run. */
function runPhase(o: Options, side: 'peer' | 'ceiling', target: string, batch: number): Run {
  return runPhaseProcess<Run>(fileURLToPath(import.meta.url), [
    '--phase', side, '--target', target, '--batch', String(batch),
    '--events', String(o.events), '--clients', String(o.clients), '--now', String(o.now), '--run-id', o.runId,
    '--brokers', o.brokers.join(','), '--embedded-partitions', String(o.embeddedPartitions),
  ]);
}

// ---- the braid sides: a real `braid start` ------------------------------------------------

const VIEW = { name: 'pv_country', events: ['page_view'], granularity: 'hour', dimensions: ['data.country'], measures: { n: 'count' } };

/** Only POST /v1/events in the process: how a Kafka deployment scales ingest apart from the layers. */
const INGEST_ONLY = { ingest: true, archive: false, batch: false, speed: false };

function startBraid(o: Options, dir: string, log: object, roles?: typeof INGEST_ONLY): Promise<BenchBraid> {
  return startBenchBraid(dir, {
    log,
    ...(roles ? { roles } : {}),
    // Neither a batch run nor a Lambda-vs-Kappa verification may land in the measurement.
    batch: { schedule: 'off', fullSchedule: 'off' },
    verify: { schedule: 'off' },
    views: [VIEW],
    logging: { level: 'warn' },
    ingest: { maxBatchEvents: Math.max(1_000, ...o.batches) },
  });
}

/** POST /v1/events with every batch, `clients` connections; peak RSS read before the process stops. */
async function runBraid(o: Options, braid: BenchBraid, bodies: readonly string[]): Promise<Run> {
  const atReady = braid.peakRssMB();
  const agent = new Agent({ connections: o.clients });
  try {
    const run = await drive(bodies.length, o.clients, async (i) => {
      const res = await request(`${braid.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[i]!, dispatcher: agent });
      const text = await res.body.text();
      if (res.statusCode !== 202) throw new Error(`${res.statusCode} ${text.slice(0, 300)}`);
    });
    return { ...run, peakRssMB: braid.peakRssMB(), extra: { peakRssAtReadyMB: atReady } };
  } finally {
    await agent.close();
  }
}

// ---- the check -------------------------------------------------------------------------------

/** What was sent, by id: the record braid stores for that event. */
type Expected = ReadonlyMap<string, AppendInput>;

/**
 * Reads the whole log back and lists every way it differs from `expected` (empty: the
 * same records): count, ids missing, unexpected or twice, bytes, key, partition.
 */
async function verify(what: string, log: EventLog, expected: Expected): Promise<string[]> {
  const until = await log.endPosition();
  const seen = new Set<string>();
  const bad = { unexpected: [] as string[], twice: [] as string[], bytes: [] as string[], misplaced: [] as string[] };
  let records = 0;
  for await (const batch of log.read({ until, maxBatch: 5_000 })) {
    for (const r of batch) {
      records++;
      const id = decodeEvent(r.value).id;
      const want = expected.get(id);
      if (!want) bad.unexpected.push(id);
      else if (seen.has(id)) bad.twice.push(id);
      else if (r.key !== want.key || !r.value.equals(want.value)) bad.bytes.push(id);
      else if (r.partition !== partitionFor(r.key, log.partitions)) bad.misplaced.push(`${id} in ${r.partition}`);
      seen.add(id);
    }
  }
  const problems: string[] = [];
  const list = (ids: string[]) => `${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''}`;
  if (records !== expected.size) problems.push(`${what}: ${records} records in the log, ${expected.size} sent`);
  const missing = [...expected.keys()].filter((id) => !seen.has(id));
  if (missing.length > 0) problems.push(`${what}: ${missing.length} ids sent but not in the log (${list(missing)})`);
  if (bad.unexpected.length > 0) problems.push(`${what}: ${bad.unexpected.length} records with ids never sent (${list(bad.unexpected)})`);
  if (bad.twice.length > 0) problems.push(`${what}: ${bad.twice.length} ids in the log twice (${list(bad.twice)})`);
  if (bad.bytes.length > 0) problems.push(`${what}: ${bad.bytes.length} records whose key or bytes differ from what braid stores (${list(bad.bytes)})`);
  if (bad.misplaced.length > 0) problems.push(`${what}: ${bad.misplaced.length} records not in partitionFor(key) (${list(bad.misplaced)})`);
  return problems;
}

async function verifyKafka(o: Options, what: string, topic: string, expected: Expected): Promise<string[]> {
  const log = await KafkaLog.open({ brokers: o.brokers, topic, partitions: KAFKA_PARTITIONS, clientId: clientId(o) });
  try {
    return await verify(what, log, expected);
  } finally {
    await log.close();
  }
}

async function verifyEmbedded(o: Options, what: string, dir: string, expected: Expected): Promise<string[]> {
  const log = await EmbeddedLog.open({ dir, partitions: o.embeddedPartitions });
  try {
    return await verify(what, log, expected);
  } finally {
    await log.close();
  }
}

// ---- one batch size: four sides, one comparison ----------------------------------------------

/** The events of the run: as a client sends them, and by id the record braid stores for each. */
interface Sent {
  readonly raw: readonly RawEvent[];
  readonly expected: Expected;
}

function prepare(o: Options): Sent {
  const raw: RawEvent[] = [];
  const expected = new Map<string, AppendInput>();
  for (const e of demoEvents(o)) {
    // The check counts ids: a repeated one would make "each id once" meaningless.
    if (expected.has(e.stored.id)) throw new Error(`the demo generator repeated id ${e.stored.id}`);
    raw.push(e.raw);
    expected.set(e.stored.id, toRecord(e.stored));
  }
  return { raw, expected };
}

/** Where a comparison's temp directories go and which topics to delete at the end. */
interface Scratch {
  readonly work: string;
  readonly topics: string[];
}

/** Measures one side, then reads back what it wrote; a side that throws is a problem, not the end of the bench. */
async function side(o: Options, what: string, problems: string[], measure: () => Promise<Run>, check: () => Promise<string[]>): Promise<Run | undefined> {
  say(`${what}…`);
  try {
    const run = await measure();
    problems.push(...run.failures.slice(0, 3).map((f) => `${what}: ${f}`));
    if (run.failures.length > 3) problems.push(`${what}: ${run.failures.length - 3} more failed calls`);
    problems.push(...(await check()));
    say(`${what}: ${Math.round(o.events / run.seconds)} events/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms, peak RSS ${run.peakRssMB} MiB`);
    return run;
  } catch (err) {
    problems.push(`${what}: ${(err as Error).message}`);
    return undefined;
  }
}

function measured(o: Options, name: string, kind: Measured['side'], run: Run, extra: Record<string, unknown> = {}): Measured {
  return {
    name,
    side: kind,
    eventsPerSecond: Math.round(o.events / run.seconds),
    seconds: round(run.seconds, 2),
    latencyMs: run.latencyMs,
    peakRssMB: run.peakRssMB,
    extra: { ...run.extra, ...extra },
  };
}

async function compareAt(o: Options, batch: number, sent: Sent, scratch: Scratch): Promise<Comparison> {
  const problems: string[] = [];
  const bodies = chunks(sent.raw, batch).map((b) => JSON.stringify(b));
  const ep = o.embeddedPartitions;
  const embedded = `${ep} partition${ep === 1 ? '' : 's'}`;
  const braidTopic = `braid-bench-ingest-${o.runId}-braid-b${batch}`;
  const peerTopic = `braid-bench-ingest-${o.runId}-peer-b${batch}`;
  scratch.topics.push(braidTopic, peerTopic);
  const braidKafkaDir = path.join(scratch.work, `braid-kafka-b${batch}`);
  const braidEmbeddedDir = path.join(scratch.work, `braid-embedded-b${batch}`);
  const ceilingDir = path.join(scratch.work, `embedded-log-b${batch}`);

  const httpKafka = await side(
    o,
    'braid POST /v1/events, Kafka',
    problems,
    async () => {
      const braid = await startBraid(o, braidKafkaDir, { partitions: KAFKA_PARTITIONS, kafka: { brokers: o.brokers, topic: braidTopic, clientId: clientId(o) } });
      try {
        return await runBraid(o, braid, bodies);
      } finally {
        await braid.stop();
      }
    },
    () => verifyKafka(o, 'braid POST /v1/events, Kafka', braidTopic, sent.expected),
  );
  const ingestOnlyTopic = `braid-bench-ingest-${o.runId}-ingest-only-b${batch}`;
  scratch.topics.push(ingestOnlyTopic);
  const httpKafkaIngestOnly = await side(
    o,
    'braid POST /v1/events, Kafka, ingest role only',
    problems,
    async () => {
      const kafka = { brokers: o.brokers, topic: ingestOnlyTopic, clientId: clientId(o) };
      const braid = await startBraid(o, path.join(scratch.work, `braid-kafka-ingest-b${batch}`), { partitions: KAFKA_PARTITIONS, kafka }, INGEST_ONLY);
      try {
        return await runBraid(o, braid, bodies);
      } finally {
        await braid.stop();
      }
    },
    () => verifyKafka(o, 'braid POST /v1/events, Kafka, ingest role only', ingestOnlyTopic, sent.expected),
  );
  const peer = await side(
    o,
    'kafkajs producer',
    problems,
    async () => {
      // The topic as braid creates its own: the same partitions, retention.ms=-1.
      await (await KafkaLog.open({ brokers: o.brokers, topic: peerTopic, partitions: KAFKA_PARTITIONS, clientId: clientId(o) })).close();
      return runPhase(o, 'peer', peerTopic, batch);
    },
    () => verifyKafka(o, 'kafkajs producer', peerTopic, sent.expected),
  );
  const httpEmbedded = await side(
    o,
    'braid POST /v1/events, embedded',
    problems,
    async () => {
      const braid = await startBraid(o, braidEmbeddedDir, { partitions: ep });
      try {
        return await runBraid(o, braid, bodies);
      } finally {
        await braid.stop();
      }
    },
    // braid keeps the embedded log in <dataDir>/log (shared/log/open.ts); read once the process has let go of it.
    () => verifyEmbedded(o, 'braid POST /v1/events, embedded', path.join(braidEmbeddedDir, 'data', 'log'), sent.expected),
  );
  const ceiling = await side(
    o,
    'EmbeddedLog.append',
    problems,
    async () => runPhase(o, 'ceiling', ceilingDir, batch),
    () => verifyEmbedded(o, 'EmbeddedLog.append', ceilingDir, sent.expected),
  );

  const roles = 'all (archive and speed layer run beside ingest); batch and verify schedules off';
  const results =
    httpKafka && httpKafkaIngestOnly && peer && httpEmbedded && ceiling
      ? [
          measured(o, `braid POST /v1/events, Kafka log (${KAFKA_PARTITIONS} partitions)`, 'braid', httpKafka, {
            roles,
            note: "braid's producer connects on the first request, whose latency includes the connect",
          }),
          measured(o, `braid POST /v1/events, Kafka log, ingest role only`, 'braid', httpKafkaIngestOnly, {
            roles: 'ingest only (no archive, batch or speed layer in the process)',
          }),
          measured(o, `kafkajs producer, bare (${KAFKA_PARTITIONS} partitions)`, 'peer', peer, {
            producer: { ...PRODUCER, compression: COMPRESSION_NAMES[PRODUCER.compression], producers: 'one, shared by all clients, as braid shares one', partitioner: 'kafkajs DefaultPartitioner: murmur2 of the key, as braid' },
          }),
          measured(o, `braid POST /v1/events, embedded log (${embedded})`, 'braid', httpEmbedded, { roles }),
          measured(o, `EmbeddedLog.append (${embedded})`, 'ceiling', ceiling),
        ]
      : [];
  return {
    item: 2,
    title: `Ingest vs the raw producer, batches of ${batch.toLocaleString('en-US')}`,
    size: `${o.events.toLocaleString('en-US')} events, batches of ${batch.toLocaleString('en-US')}, ${o.clients} clients`,
    check: {
      same: problems.length === 0,
      what: `each side's log read back whole: ${o.events.toLocaleString('en-US')} records, every id sent exactly once, key and bytes as braid stores the event, in partitionFor(key)`,
      problems,
    },
    results,
    ...(results.length === 5 ? { ratios: ratios(results) } : {}),
    extra: {
      batchEvents: batch,
      requestsPerSide: bodies.length,
      kafkaPartitions: KAFKA_PARTITIONS,
      embeddedPartitions: ep,
      demo: { seed: SEED, duplicateRate: 0 },
      node: process.version,
      cpus: cpus().length,
      loadavg: loadavg().map((x) => round(x, 2)),
    },
  };
}

function ratios([httpKafka, httpKafkaIngestOnly, peer, httpEmbedded, ceiling]: Measured[]): Record<string, number> {
  const eps = (m: Measured | undefined) => m?.eventsPerSecond ?? NaN;
  return {
    httpKafkaOverBareProducer: round(eps(httpKafka) / eps(peer)),
    httpKafkaIngestOnlyOverBareProducer: round(eps(httpKafkaIngestOnly) / eps(peer)),
    httpEmbeddedOverEmbeddedLog: round(eps(httpEmbedded) / eps(ceiling)),
  };
}

function markdown(c: Comparison): string {
  const head = `## ${c.title} (${c.size})`;
  if (!c.check.same) {
    return [head, '', `The logs differ from what was sent (${c.check.problems.length} problems); no figures are reported.`, '', ...c.check.problems.map((p) => `- ${p}`), ''].join('\n');
  }
  const n = (x: number | undefined) => (x === undefined ? '' : x.toLocaleString('en-US'));
  const rows = c.results.map((m) => `| ${m.name} | ${m.side} | ${n(m.eventsPerSecond)} | ${m.latencyMs?.p50} | ${m.latencyMs?.p99} | ${m.latencyMs?.max} | ${m.seconds} | ${n(m.peakRssMB)} |`);
  return [
    head,
    '',
    `Checked first, the same records on every side: ${c.check.what}.`,
    '',
    '| what ran | side | events/s | ack p50 ms | ack p99 ms | ack max ms | seconds | peak RSS MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `braid HTTP on Kafka ÷ bare producer: ${c.ratios?.httpKafkaOverBareProducer}; braid HTTP on the embedded log ÷ EmbeddedLog.append: ${c.ratios?.httpEmbeddedOverEmbeddedLog}`,
    '',
  ].join('\n');
}

async function main(o: Options): Promise<void> {
  const scratch: Scratch = { work: await mkdtemp(path.join(tmpdir(), 'braid-bench-ingest-')), topics: [] };
  let same = true;
  try {
    const sent = prepare(o);
    for (const batch of o.batches) {
      const c = await compareAt(o, batch, sent, scratch);
      same &&= c.check.same;
      if (o.json) emit(c);
      else process.stdout.write(`${markdown(c)}\n`);
    }
  } finally {
    await cleanUpKafka(o.brokers, clientId(o), scratch.topics).catch((err: unknown) => say(`could not delete the topics ${scratch.topics.join(', ')}: ${(err as Error).message}`));
    await rm(scratch.work, { recursive: true, force: true });
  }
  if (!same) process.exitCode = 1;
}

const options = parseOptions();
if (options.phase) {
  const run = options.phase.side === 'peer' ? await phasePeer(options) : await phaseCeiling(options);
  process.stdout.write(`${JSON.stringify(run)}\n`);
  // kafkajs may keep timers alive after disconnect; the result is out.
  process.exit(0);
} else {
  await main(options);
}

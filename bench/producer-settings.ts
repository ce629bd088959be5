/**
 * Kafka producer settings, measured (issue 13, C): which kafkajs producer settings give braid
 * throughput without giving up idempotence, `acks: -1` and exactly one copy of each record.
 *
 *   node --import tsx bench/producer-settings.ts [--records 100000] [--runs 3] [--in-flight 1,5]
 *        [--compression none,gzip,snappy,lz4,zstd] [--per-send 100,1000,5000] [--senders 1,8]
 *        [--producers shared,each] [--no-kafka-log] [--codecs-dir DIR] [--kafka-data DIR]
 *        [--brokers 127.0.0.1:9092] [--json] [--result-name NAME]
 *
 * Each setting: a bare kafkajs idempotent producer with braid's retry policy and timeouts
 * (shared/log/kafka: KAFKA_PRODUCER), `acks: -1`, on a fresh topic made as braid makes its
 * own (4 partitions, retention.ms=-1), sending N demo events encoded as braid stores them
 * (seed 11, every id unique), each message with its partition chosen by braid's partitioner
 * and braid's append time as its timestamp, as KafkaLog.append sends them. `senders`
 * concurrent callers each take the next batch of `per-send` records and send it as one
 * `producer.send` (kafkajs has no linger.ms: a send is a request); `producers: shared` is one
 * producer for all callers (as braid's KafkaLog has one), `each` one producer per caller. The
 * producer is connected before the clock starts. Produce requests are counted through kafkajs'
 * request instrumentation; the bytes each record takes on the broker's disk (the record
 * batches as sent, so compression shows) are read from the local broker's data directory
 * (--kafka-data, infra/kafka/.run/data by default).
 *
 * Beside the bare producer, at each size and sender count: braid's own KafkaLog.append (its
 * settings, KAFKA_PRODUCER, and its batching: appends that wait while a request is in
 * flight go together in the next one), checked the same way (--no-kafka-log leaves it out).
 *
 * Then the topic is read back whole (braid's KafkaLog reader): N records, every id exactly
 * once, the key and value bytes sent, in partitionFor(key), each send's records of a
 * partition contiguous and in message order, and each caller's records of a partition in the
 * order it sent them. A setting whose check fails carries its problems and no figures.
 *
 * Compression: none and gzip are kafkajs' own; snappy, lz4 and zstd need codecs kafkajs does
 * not ship. They are looked for in --codecs-dir (default: this repository's node_modules),
 * e.g. after `npm install --prefix /tmp/braid-codecs kafkajs-snappy lz4-napi zstd-napi`:
 * kafkajs-snappy (snappyjs, pure JS), lz4-napi (its LZ4 frame), zstd-napi (its compress). A
 * codec not found is skipped, and said so. Codecs other than none/gzip are measured with one
 * in-flight request only, and `each` with one in-flight request and more than one sender.
 *
 * --runs times over every setting in turn (alternating, a fresh topic each time); each
 * setting's figure is the median of its runs, and every run's figure is in the JSON. Writes
 * bench/results/producer-settings-<date>-<records>.json (--result-name names it) and prints a
 * markdown table.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import type { CompressionTypes as CompressionTypesT, Producer } from 'kafkajs';
import { latencySummary, round, type Latency } from './report.js';
import { cleanUpKafka } from './processes.js';
import { DemoGenerator } from '../shared/demo/generator.js';
import { decodeEvent, encodeEvent, recordKey } from '../shared/events/index.js';
import { KAFKA_PRODUCER, KafkaLog } from '../shared/log/kafka/index.js';
import { partitionFor } from '../shared/log/partitioner.js';
import type { AppendInput } from '../shared/log/types.js';

const { Kafka, logLevel, CompressionTypes, CompressionCodecs, Partitioners } = kafkajs;

const PARTITIONS = 4;
const SEED = 11;

const { values: a } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '1,5' },
    compression: { type: 'string', default: 'none,gzip,snappy,lz4,zstd' },
    'per-send': { type: 'string', default: '100,1000,5000' },
    senders: { type: 'string', default: '1,8' },
    producers: { type: 'string', default: 'shared,each' },
    'codecs-dir': { type: 'string' },
    'kafka-data': { type: 'string', default: fileURLToPath(new URL('../infra/kafka/.run/data', import.meta.url)) },
    brokers: { type: 'string', default: process.env.BRAID_KAFKA_BROKERS ?? '127.0.0.1:9092' },
    'kafka-log': { type: 'boolean', default: true },
    'no-kafka-log': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'result-name': { type: 'string' },
  },
});
const positive = (name: string, s: string) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes positive integers, got ${s}`);
  return n;
};
const list = (name: string) => (a[name as keyof typeof a] as string).split(',').filter(Boolean);
const N = positive('records', a.records!);
const RUNS = positive('runs', a.runs!);
const brokers = a.brokers!.split(',');
const runId = `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
const clientId = `braid-bench-producer-${runId}`;
const kafkaData = a['kafka-data']!;
const say = (s: string) => process.stderr.write(`${s}\n`);

type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
type Producers = 'shared' | 'each';

interface Setting {
  /** a bare kafkajs producer, or braid's KafkaLog.append (its settings, its batching of concurrent appends) */
  via: 'producer' | 'kafka-log';
  inFlight: number;
  compression: Compression;
  perSend: number;
  senders: number;
  producers: Producers;
}

const label = (s: Setting) => `${s.via === 'kafka-log' ? 'KafkaLog.append, ' : ''}in-flight ${s.inFlight}, ${s.compression}, ${s.perSend}/send, ${s.senders} sender${s.senders === 1 ? '' : 's'}${s.senders > 1 ? `, ${s.via === 'kafka-log' ? 'KafkaLog’s one producer' : s.producers === 'shared' ? 'one shared producer' : 'a producer each'}` : ''}`;

/** kafkajs' codec shape: compress(encoder) → Buffer, decompress(buffer) → Buffer. */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** Registers the codecs kafkajs lacks from --codecs-dir; returns what was registered or why not. */
function registerCodecs(): Record<string, string> {
  const from = a['codecs-dir'] ? createRequire(join(a['codecs-dir'], 'package.json')) : createRequire(import.meta.url);
  const found: Record<string, string> = {};
  const attempt = (name: Compression, pkg: string, codec: (m: never) => () => Codec, type: CompressionTypesT) => {
    try {
      const m = from(pkg) as never;
      // the package's own package.json, found from its entry point (exports may hide it)
      let dir = dirname(from.resolve(pkg));
      while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
      const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
      (CompressionCodecs as Record<number, () => Codec>)[type] = codec(m);
      found[name] = `${pkg}@${version}`;
    } catch (err) {
      found[name] = `not available (${(err as Error).message.split('\n')[0]})`;
    }
  };
  attempt('snappy', 'kafkajs-snappy', (m: () => Codec) => m, CompressionTypes.Snappy);
  attempt(
    'lz4',
    'lz4-napi',
    (m: { compressFrame(b: Buffer): Promise<Buffer>; decompressFrame(b: Buffer): Promise<Buffer> }) => () => ({
      compress: async (encoder) => Buffer.from(await m.compressFrame(encoder.buffer)),
      decompress: async (buffer) => Buffer.from(await m.decompressFrame(buffer)),
    }),
    CompressionTypes.LZ4,
  );
  attempt(
    'zstd',
    'zstd-napi',
    (m: { compress(b: Buffer): Buffer; decompress(b: Buffer): Buffer }) => () => ({
      compress: async (encoder) => m.compress(encoder.buffer),
      decompress: async (buffer) => m.decompress(buffer),
    }),
    CompressionTypes.ZSTD,
  );
  return found;
}

const COMPRESSION_TYPE: Record<Compression, CompressionTypesT> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** The records, as braid stores the demo events: key, value, and each id's index. */
function records(): { recs: AppendInput[]; indexOf: Map<string, number>; bytes: number } {
  const recs: AppendInput[] = [];
  const indexOf = new Map<string, number>();
  let bytes = 0;
  for (const e of new DemoGenerator({ seed: SEED, duplicateRate: 0 }).day(N)) {
    if (indexOf.has(e.id)) throw new Error(`the demo generator repeated id ${e.id}`);
    indexOf.set(e.id, recs.length);
    const r = { key: recordKey(e), value: encodeEvent(e) };
    bytes += Buffer.byteLength(r.key) + r.value.length;
    recs.push(r);
  }
  return { recs, indexOf, bytes };
}

interface RunResult {
  eventsPerSecond: number;
  seconds: number;
  latencyMs: Latency;
  requests: number;
  /** bytes of the topic's segment files on the broker (the record batches as sent, compressed or not); NaN when --kafka-data is not readable */
  logBytes: number;
  failures: string[];
  problems: string[];
}

/** The bytes of a topic's log segments in the broker's data directory (the local broker's, infra/kafka/.run/data). */
function topicLogBytes(topic: string): number {
  let bytes = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const dir = join(kafkaData, `${topic}-${p}`);
    if (!existsSync(dir)) return NaN;
    for (const f of readdirSync(dir)) if (f.endsWith('.log')) bytes += statSync(join(dir, f)).size;
  }
  return bytes;
}

async function createTopic(topic: string): Promise<void> {
  // The topic as braid creates its own: the partitions, retention.ms=-1.
  await (await KafkaLog.open({ brokers, topic, partitions: PARTITIONS, clientId })).close();
}

function makeProducer(kafka: kafkajs.Kafka, s: Setting, onRequest: () => void): Producer {
  const producer = kafka.producer({
    idempotent: KAFKA_PRODUCER.idempotent,
    maxInFlightRequests: s.inFlight,
    allowAutoTopicCreation: false,
    retry: KAFKA_PRODUCER.retry,
    // Every message names its partition, as braid's do; this only silences kafkajs' notice.
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  producer.on(producer.events.REQUEST, (e: { payload: { apiName: string } }) => {
    if (e.payload.apiName === 'Produce') onRequest();
  });
  return producer;
}

/**
 * braid's own KafkaLog.append, `senders` callers each appending the next batch: its producer
 * settings (KAFKA_PRODUCER) and its batching of appends that wait while a request is in
 * flight. Requests are not counted (the producer is KafkaLog's own): NaN.
 */
async function runKafkaLog(s: Setting, recs: AppendInput[], indexOf: Map<string, number>, topic: string): Promise<RunResult> {
  const log = await KafkaLog.open({ brokers, topic, partitions: PARTITIONS, clientId });
  const batches = Math.ceil(recs.length / s.perSend);
  const senderOf = new Int32Array(batches).fill(-1);
  const latencies: number[] = [];
  const failures: string[] = [];
  let next = 0;
  // As the bare producer is connected before the clock starts, so is KafkaLog's: one record first.
  const first = recs.slice(0, 1);
  await log.append(first);
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: s.senders }, async (_, sender) => {
        while (next < batches) {
          const b = next++;
          senderOf[b] = sender;
          const t = performance.now();
          try {
            await log.append(recs.slice(b * s.perSend, (b + 1) * s.perSend));
            latencies.push(performance.now() - t);
          } catch (err) {
            failures.push(`append ${b}: ${(err as Error).name}: ${(err as Error).message}`);
          }
        }
      }),
    );
  } finally {
    await log.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const logBytes = topicLogBytes(topic);
  // The one record appended before the clock: the check sees it twice.
  const problems = [...failures.slice(0, 3), ...(failures.length > 3 ? [`${failures.length - 3} more appends failed`] : []), ...(await check(topic, recs, indexOf, s.perSend, senderOf, 1))];
  return { eventsPerSecond: Math.round(recs.length / seconds), seconds: round(seconds, 2), latencyMs: latencies.length > 0 ? latencySummary(latencies) : { p50: NaN, p99: NaN, max: NaN }, requests: NaN, logBytes, failures, problems };
}

/** One setting, once: send everything, then read the topic back and check it. */
async function runSetting(s: Setting, recs: AppendInput[], indexOf: Map<string, number>, topic: string): Promise<RunResult> {
  await createTopic(topic);
  if (s.via === 'kafka-log') return runKafkaLog(s, recs, indexOf, topic);
  const kafka = new Kafka({
    clientId,
    brokers,
    connectionTimeout: KAFKA_PRODUCER.connectionTimeoutMs,
    requestTimeout: KAFKA_PRODUCER.requestTimeoutMs,
    retry: KAFKA_PRODUCER.retry,
    logLevel: logLevel.NOTHING,
  });
  let requests = 0;
  const count = () => {
    requests++;
  };
  const producers = Array.from({ length: s.producers === 'each' ? s.senders : 1 }, () => makeProducer(kafka, s, count));
  await Promise.all(producers.map((p) => p.connect()));
  const batches = Math.ceil(recs.length / s.perSend);
  const senderOf = new Int32Array(batches).fill(-1);
  const latencies: number[] = [];
  const failures: string[] = [];
  let next = 0;
  const compression = COMPRESSION_TYPE[s.compression];
  requests = 0;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: s.senders }, async (_, sender) => {
        const producer = producers[s.producers === 'each' ? sender : 0]!;
        while (next < batches) {
          const b = next++;
          senderOf[b] = sender;
          const timestamp = String(Date.now());
          const messages = [];
          for (let i = b * s.perSend; i < Math.min(recs.length, (b + 1) * s.perSend); i++) {
            const { key, value } = recs[i]!;
            messages.push({ partition: partitionFor(key, PARTITIONS), key, value, timestamp });
          }
          const t = performance.now();
          try {
            await producer.send({ topic, messages, acks: KAFKA_PRODUCER.acks, compression });
            latencies.push(performance.now() - t);
          } catch (err) {
            failures.push(`send ${b}: ${(err as Error).name}: ${(err as Error).message}`);
          }
        }
      }),
    );
  } finally {
    await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined)));
  }
  const seconds = (performance.now() - started) / 1000;
  const logBytes = topicLogBytes(topic);
  const problems = [...failures.slice(0, 3), ...(failures.length > 3 ? [`${failures.length - 3} more sends failed`] : []), ...(await check(topic, recs, indexOf, s.perSend, senderOf))];
  return {
    eventsPerSecond: Math.round(recs.length / seconds),
    seconds: round(seconds, 2),
    latencyMs: latencies.length > 0 ? latencySummary(latencies) : { p50: NaN, p99: NaN, max: NaN },
    requests,
    logBytes,
    failures,
    problems,
  };
}

/**
 * The topic read back whole: every record once, bytes and partition as sent, a send's records
 * of a partition contiguous and in order, a caller's records of a partition in its order.
 */
async function check(topic: string, recs: AppendInput[], indexOf: Map<string, number>, perSend: number, senderOf: Int32Array, warmRecords = 0): Promise<string[]> {
  const log = await KafkaLog.open({ brokers, topic, partitions: PARTITIONS, clientId });
  const seen = new Uint8Array(recs.length);
  const bad = { unexpected: 0, twice: 0, bytes: 0, misplaced: 0, order: 0, split: 0 };
  let total = 0;
  try {
    const until = await log.endPosition();
    // per partition: the last record index of each caller, the batch being read, batches done
    const lastOfSender = Array.from({ length: PARTITIONS }, () => new Map<number, number>());
    const current = new Array<number>(PARTITIONS).fill(-1);
    const done = Array.from({ length: PARTITIONS }, () => new Set<number>());
    let skip = warmRecords;
    for await (const batch of log.read({ until, maxBatch: 5_000 })) {
      for (const r of batch) {
        // the records appended before the clock started come first in their partitions
        if (skip > 0 && r.offset === 0 && indexOf.get(decodeEvent(r.value).id)! < warmRecords) {
          skip--;
          continue;
        }
        total++;
        const g = indexOf.get(decodeEvent(r.value).id);
        if (g === undefined) {
          bad.unexpected++;
          continue;
        }
        if (seen[g]) bad.twice++;
        seen[g] = 1;
        const want = recs[g]!;
        if (r.key !== want.key || !r.value.equals(want.value)) bad.bytes++;
        if (r.partition !== partitionFor(r.key, PARTITIONS)) bad.misplaced++;
        const p = r.partition;
        const b = Math.floor(g / perSend);
        const sender = senderOf[b]!;
        const last = lastOfSender[p]!.get(sender);
        if (last !== undefined && last >= g) bad.order++;
        lastOfSender[p]!.set(sender, g);
        if (current[p] !== b) {
          if (done[p]!.has(b)) bad.split++;
          if (current[p]! >= 0) done[p]!.add(current[p]!);
          current[p] = b;
        }
      }
    }
  } finally {
    await log.close();
  }
  const problems: string[] = [];
  let missing = 0;
  for (let i = 0; i < recs.length; i++) if (!seen[i]) missing++;
  if (total !== recs.length) problems.push(`${total} records in the topic, ${recs.length} sent`);
  if (missing > 0) problems.push(`${missing} records sent but not in the topic`);
  if (bad.unexpected > 0) problems.push(`${bad.unexpected} records never sent`);
  if (bad.twice > 0) problems.push(`${bad.twice} records in the topic twice`);
  if (bad.bytes > 0) problems.push(`${bad.bytes} records whose key or value differ from what was sent`);
  if (bad.misplaced > 0) problems.push(`${bad.misplaced} records not in partitionFor(key)`);
  if (bad.order > 0) problems.push(`${bad.order} records out of their caller's order within a partition`);
  if (bad.split > 0) problems.push(`${bad.split} sends whose records of a partition are not contiguous`);
  return problems;
}

function plan(codecs: Record<string, string>): Setting[] {
  const compressions = list('compression') as Compression[];
  for (const c of compressions) if (!(c in COMPRESSION_TYPE)) throw new Error(`--compression takes none, gzip, snappy, lz4, zstd; not ${c}`);
  const usable = compressions.filter((c) => c === 'none' || c === 'gzip' || !codecs[c]!.startsWith('not available'));
  const out: Setting[] = [];
  for (const producers of list('producers') as Producers[]) {
    if (producers !== 'shared' && producers !== 'each') throw new Error(`--producers takes shared, each; not ${producers}`);
    for (const inFlight of list('in-flight').map((x) => positive('in-flight', x))) {
      for (const compression of usable) {
        for (const perSend of list('per-send').map((x) => positive('per-send', x))) {
          for (const senders of list('senders').map((x) => positive('senders', x))) {
            const basic = compression === 'none' || compression === 'gzip';
            if (producers === 'each' && (senders === 1 || inFlight !== 1)) continue;
            if (!basic && inFlight !== 1) continue;
            out.push({ via: 'producer', inFlight, compression, perSend, senders, producers });
          }
        }
      }
    }
  }
  // braid's KafkaLog.append beside the bare producer at each size: its settings, its batching.
  if (a['kafka-log'] && !a['no-kafka-log']) {
    for (const perSend of list('per-send').map((x) => positive('per-send', x))) {
      for (const senders of list('senders').map((x) => positive('senders', x))) {
        out.push({ via: 'kafka-log', inFlight: KAFKA_PRODUCER.maxInFlightRequests, compression: 'none', perSend, senders, producers: 'shared' });
      }
    }
  }
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface SettingResult {
  setting: Setting;
  label: string;
  same: boolean;
  problems: string[];
  /** medians of the runs (absent when any run's check failed) */
  eventsPerSecond?: number;
  ackP50Ms?: number;
  ackP99Ms?: number;
  /** the topic's bytes on the broker's disk per record */
  logBytesPerRecord?: number;
  requestsPerRun?: number;
  runs: Array<Omit<RunResult, 'failures' | 'problems'> & { problems: string[] }>;
}

function markdown(results: SettingResult[], meta: Record<string, unknown>): string {
  const n = (x: number | undefined) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
  const lines = [
    `## Kafka producer settings (${N.toLocaleString('en-US')} records, ${PARTITIONS} partitions, idempotent, acks -1, medians of ${RUNS} runs)`,
    '',
    `Checked first, every run: ${String(meta.check)}.`,
    '',
    '| via | in-flight | compression | per send | senders | producers | events/s (median) | per run | ack p50 / p99 ms | log bytes/record | check |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const s = r.setting;
    lines.push(
      `| ${s.via === 'kafka-log' ? 'KafkaLog.append' : 'kafkajs producer'} | ${s.inFlight} | ${s.compression} | ${s.perSend} | ${s.senders} | ${s.senders === 1 ? '–' : s.via === 'kafka-log' ? 'its own' : s.producers} | ${r.same ? n(r.eventsPerSecond) : '**no figure**'} | ${r.runs.map((x) => n(x.eventsPerSecond)).join(' / ')} | ${r.same ? `${r.ackP50Ms} / ${r.ackP99Ms}` : '–'} | ${r.same ? r.logBytesPerRecord : '–'} | ${r.same ? 'exactly once, in order' : r.problems.slice(0, 2).join('; ').replaceAll('|', '\\|')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const codecs = registerCodecs();
  for (const [k, v] of Object.entries(codecs)) say(`codec ${k}: ${v}`);
  const settings = plan(codecs);
  const { recs, indexOf, bytes } = records();
  say(`${recs.length} records, ${round(bytes / recs.length, 1)} bytes each (key + value); ${settings.length} settings × ${RUNS} runs`);
  const runs = settings.map(() => [] as RunResult[]);
  const topics: string[] = [];
  try {
    // One unmeasured run first (braid's settings, 1,000 a send, 8 senders), so the first setting measured does not pay for the JIT's warm-up.
    const warm = `braid-bench-producer-${runId}-warm-up`;
    topics.push(warm);
    const w = await runSetting({ via: 'producer', inFlight: 1, compression: 'none', perSend: 1_000, senders: 8, producers: 'shared' }, recs, indexOf, warm);
    say(`warm-up: ${w.eventsPerSecond} events/s${w.problems.length ? `; PROBLEMS: ${w.problems.join('; ')}` : ''}`);
    await cleanUpKafka(brokers, clientId, [warm]).catch(() => undefined);
    for (let run = 0; run < RUNS; run++) {
      for (const [i, s] of settings.entries()) {
        const topic = `braid-bench-producer-${runId}-${i}-${run}`;
        topics.push(topic);
        const r = await runSetting(s, recs, indexOf, topic);
        runs[i]!.push(r);
        say(`run ${run + 1}, ${label(s)}: ${r.eventsPerSecond} events/s, ack p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${r.requests} requests, ${round(r.logBytes / recs.length, 1)} log bytes/record${r.problems.length ? `; PROBLEMS: ${r.problems.join('; ')}` : ''}`);
        // Topics go as we go: a few hundred of them would weigh on the broker.
        await cleanUpKafka(brokers, clientId, [topic]).catch(() => undefined);
      }
    }
  } finally {
    await cleanUpKafka(brokers, clientId, topics).catch((err: unknown) => say(`could not delete the topics: ${(err as Error).message}`));
  }
  const results: SettingResult[] = settings.map((setting, i) => {
    const rs = runs[i]!;
    const problems = rs.flatMap((r, k) => r.problems.map((p) => `run ${k + 1}: ${p}`));
    const same = problems.length === 0;
    return {
      setting,
      label: label(setting),
      same,
      problems,
      ...(same
        ? {
            eventsPerSecond: Math.round(median(rs.map((r) => r.eventsPerSecond))),
            ackP50Ms: round(median(rs.map((r) => r.latencyMs.p50)), 1),
            ackP99Ms: round(median(rs.map((r) => r.latencyMs.p99)), 1),
            logBytesPerRecord: round(median(rs.map((r) => r.logBytes / recs.length)), 1),
            requestsPerRun: median(rs.map((r) => r.requests)),
          }
        : {}),
      runs: rs.map(({ failures: _f, ...r }) => r),
    };
  });
  const meta = {
    date: new Date().toISOString(),
    records: N,
    runs: RUNS,
    partitions: PARTITIONS,
    recordBytes: round(bytes / recs.length, 1),
    producer: { ...KAFKA_PRODUCER, note: 'braid’s retry policy and timeouts (shared/log/kafka KAFKA_PRODUCER); maxInFlightRequests and compression as the setting says' },
    codecs,
    check: 'the topic read back whole: every record exactly once, key and value as sent, in partitionFor(key), each send’s records of a partition contiguous and in message order, each caller’s records of a partition in the order it sent them',
    kafkajs: (createRequire(import.meta.url)('kafkajs/package.json') as { version: string }).version,
    node: process.version,
    cpus: cpus().length,
    loadavg: loadavg().map((x) => round(x, 2)),
  };
  const out = { ...meta, results };
  if (a.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  else process.stdout.write(markdown(results, meta));
  const here = fileURLToPath(new URL('.', import.meta.url));
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `${a['result-name'] ?? `producer-settings-${meta.date.slice(0, 10)}-${N}`}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  say(`wrote ${file}`);
  if (results.some((r) => !r.same)) process.exitCode = 1;
}

await main();
// kafkajs may keep timers alive after disconnect; the results are out.
process.exit(process.exitCode ?? 0);

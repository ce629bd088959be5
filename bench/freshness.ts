/**
 * Freshness: how long from posting an event until a Lambda query shows it, under a steady load.
 *
 *   node --import tsx bench/freshness.ts [--log embedded|kafka] [--rate 2000] [--probes 300] [--every 100] [--brokers 127.0.0.1:9092]
 *
 * Starts a real `braid start` process with the demo views (braid.yaml) plus a `markers`
 * view, and a batch run every 15 s, so hand-offs happen during the measurement. A steady
 * load of demo events (`rate` per second, in requests every 50 ms) runs throughout. Every
 * `every` ms a probe posts one event carrying a unique marker and polls
 * `GET /v1/views/markers?where.data.marker=<it>` until a row shows it. Reports, over the
 * probes, the time to the 202 and the time until visible (both from the start of the
 * POST), p50/p99/max.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBraidProcess } from '../test/support/process.js';
import kafkajs from 'kafkajs';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { DemoGenerator } from '../shared/demo/generator.js';

const { values: args } = parseArgs({
  options: {
    log: { type: 'string', default: 'embedded' },
    rate: { type: 'string', default: '2000' },
    probes: { type: 'string', default: '300' },
    every: { type: 'string', default: '100' },
    brokers: { type: 'string', default: process.env.BRAID_KAFKA_BROKERS ?? '127.0.0.1:9092' },
  },
});
const rate = Number(args.rate);
const probes = Number(args.probes);
const every = Number(args.every);
const kafka = args.log === 'kafka';
const agent = new Agent({ connections: 64 });
const topic = `braid-bench-freshness-${randomUUID()}`;

async function startBraid(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const demo = parse(await readFile(fileURLToPath(new URL('../braid.yaml', import.meta.url)), 'utf8')) as { views: unknown[] };
  const views = [...demo.views, { name: 'markers', events: ['probe'], granularity: 'minute', dimensions: ['data.marker'], measures: { seen: 'count' } }];
  const config = path.join(dir, 'braid.yaml');
  await writeFile(
    config,
    JSON.stringify({
      batch: { schedule: '*/15 * * * * *' }, // every 15 s: hand-offs during the measurement
      archive: { flushIntervalMs: 1_000 },
      views,
      logging: { level: 'warn' },
      ...(kafka ? { log: { partitions: 4, kafka: { brokers: args.brokers!.split(','), topic } } } : {}),
    }),
  );
  const braid = await startBraidProcess(['--config', config, '--data-dir', path.join(dir, 'data')]);
  return {
    url: braid.url,
    stop: async () => {
      braid.child.kill('SIGTERM');
      await braid.exited;
    },
  };
}

async function post(url: string, events: unknown[]): Promise<void> {
  const res = await request(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events), dispatcher: agent });
  await res.body.dump();
  if (res.statusCode !== 202) throw new Error(`ingest answered ${res.statusCode}`);
}

/** Steady demo traffic until `signal` aborts: `rate` events a second, a request every 50 ms. */
async function load(url: string, signal: AbortSignal): Promise<number> {
  const generator = new DemoGenerator({ seed: 5 });
  const perTick = Math.max(1, Math.round(rate / 20));
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  let next = performance.now();
  while (!signal.aborted) {
    const p = post(url, generator.batch(perTick, Date.now())).finally(() => inFlight.delete(p));
    inFlight.add(p);
    sent += perTick;
    next += 50;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(inFlight);
  return sent;
}

/** One probe: post a marker, poll until it is visible; times from the start of the POST, ms. */
async function probe(url: string, n: number): Promise<{ ack: number; visible: number; polls: number }> {
  const marker = `m-${n}-${randomUUID().slice(0, 8)}`;
  const started = performance.now();
  await post(url, [{ id: `probe-${marker}`, type: 'probe', time: Date.now(), data: { marker } }]);
  const ack = performance.now() - started;
  for (let polls = 1; ; polls++) {
    const res = await request(`${url}/v1/views/markers?where.data.marker=${marker}&group_by=data.marker`, { dispatcher: agent });
    const body = (await res.body.json()) as { rows?: unknown[] };
    if (body.rows && body.rows.length > 0) return { ack, visible: performance.now() - started, polls };
    await new Promise((r) => setTimeout(r, 1));
  }
}

function percentile(sorted: readonly number[], q: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}

function summary(values: number[]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: percentile(sorted, 1) };
}

const dir = await mkdtemp(path.join(tmpdir(), 'braid-bench-freshness-'));
const braid = await startBraid(dir);
try {
  const stopLoad = new AbortController();
  const loading = load(braid.url, stopLoad.signal);
  await new Promise((r) => setTimeout(r, 2_000)); // the load settles first
  const started = performance.now();
  const results: Promise<{ ack: number; visible: number; polls: number }>[] = [];
  for (let n = 0; n < probes; n++) {
    results.push(probe(braid.url, n));
    await new Promise((r) => setTimeout(r, every));
  }
  const done = await Promise.all(results);
  const seconds = (performance.now() - started) / 1000;
  stopLoad.abort();
  const sent = await loading;
  const status = (await (await request(`${braid.url}/v1/status`)).body.json()) as { batch: { version: number } | null };
  process.stdout.write(
    `${JSON.stringify(
      {
        log: kafka ? 'kafka (4 partitions)' : 'embedded',
        loadEventsPerSecond: Math.round(sent / (seconds + 2)),
        probes,
        seconds: Math.round(seconds * 10) / 10,
        batchVersionsPublished: status.batch?.version ?? 0,
        ackMs: summary(done.map((d) => d.ack)),
        visibleMs: summary(done.map((d) => d.visible)),
        pollsPerProbe: summary(done.map((d) => d.polls)),
        node: process.version,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await braid.stop();
  await agent.close();
  await rm(dir, { recursive: true, force: true });
  if (kafka) {
    const admin = new kafkajs.Kafka({ clientId: 'braid-bench-freshness', brokers: args.brokers!.split(','), logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/**
 * Log append throughput and latency, embedded and Kafka: batches of 100 demo events,
 * 1 and 16 concurrent callers; records/s and p50/p99 of one append (acknowledged durable:
 * fsynced, or acked by all in-sync replicas).
 *
 *   node --import tsx bench/log.ts [records=200000] [brokers=127.0.0.1:9092]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { DemoGenerator } from '../shared/demo/generator.js';
import { defaultEventLimits, encodeEvent, recordKey, validateEvents } from '../shared/events/index.js';
import { EmbeddedLog } from '../shared/log/embedded/index.js';
import { KafkaLog } from '../shared/log/kafka/index.js';
import type { AppendInput, EventLog } from '../shared/log/types.js';

const total = Number(process.argv[2] ?? 200_000);
const brokers = (process.argv[3] ?? '127.0.0.1:9092').split(',');
const BATCH = 100;

const now = Date.now();
const validated = validateEvents(new DemoGenerator({ seed: 5 }).batch(total, now), defaultEventLimits, now);
if (!validated.ok) throw new Error('invalid demo events');
const records: AppendInput[] = validated.events.map((e) => ({ key: recordKey(e), value: encodeEvent(e) }));

async function run(log: EventLog, callers: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < records.length) {
        const from = next;
        next += BATCH;
        const t = performance.now();
        await log.append(records.slice(from, from + BATCH));
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(2));
  return { recordsPerSecond: Math.round(records.length / seconds), appendMs: { p50: pct(0.5), p99: pct(0.99) } };
}

const results: Record<string, unknown> = {};
for (const partitions of [1, 4]) {
  for (const callers of [1, 16]) {
    const dir = await mkdtemp(path.join(tmpdir(), 'braid-bench-log-'));
    const log = await EmbeddedLog.open({ dir, partitions });
    results[`embedded p=${partitions} callers=${callers}`] = await run(log, callers);
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}
for (const callers of [1, 16]) {
  const log = await KafkaLog.open({ brokers, topic: `braid-bench-${randomUUID()}`, partitions: 4 });
  results[`kafka p=4 callers=${callers}`] = await run(log, callers);
  await log.close();
}
console.log(JSON.stringify({ records: total, batch: BATCH, results }, null, 2));

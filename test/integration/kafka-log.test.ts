import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { isBraidError } from '../../shared/errors.js';
import { isLogUnavailable, KafkaLog } from '../../shared/log/kafka/index.js';
import type { KafkaLogLogger, KafkaLogOptions } from '../../shared/log/kafka/index.js';
import { partitionFor } from '../../shared/log/partitioner.js';
import { json, parse, readAll } from '../support/log-contract.js';
import { makeTestApp } from '../support/app.js';

const { ConfigResourceTypes, Kafka, logLevel, Partitioners } = kafkajs;
const run = promisify(execFile);
const kafkaScript = fileURLToPath(new URL('../../infra/kafka/kafka.sh', import.meta.url));
const brokers = inject('kafkaBrokers').split(',');
const admin = new Kafka({ clientId: 'braid-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
const topics: string[] = [];

function newTopic(): string {
  const topic = `braid-kafka-log-${randomUUID()}`;
  topics.push(topic);
  return topic;
}

const opened: KafkaLog[] = [];

/** Opens a log that is closed after the test, whatever happens. */
async function openLog(options: Partial<KafkaLogOptions> & { topic: string; partitions: number }): Promise<KafkaLog> {
  const log = await KafkaLog.open({ brokers, ...options });
  opened.push(log);
  return log;
}

beforeAll(async () => {
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((log) => log.close()));
});

afterAll(async () => {
  // The broker is shared by every test file: leave no topics behind.
  if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => undefined);
  await admin.disconnect();
});

describe('KafkaLog.open', () => {
  it('creates a missing topic with the configured partitions and retention.ms=-1', async () => {
    const topic = newTopic();
    await openLog({ topic, partitions: 3 });
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]!.partitions).toHaveLength(3);
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
    });
    const retention = resources[0]!.configEntries.find((e) => e.configName === 'retention.ms');
    expect(retention?.configValue).toBe('-1');
    expect(retention?.isDefault).toBe(false);
  });

  it('refuses an existing topic with another partition count, naming both counts', async () => {
    const topic = newTopic();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
    const err = await KafkaLog.open({ brokers, topic, partitions: 4 }).catch((e: unknown) => e);
    expect(isBraidError(err, 'invalid_config')).toBe(true);
    expect((err as Error).message).toMatch(/has 2 partitions but log.partitions is 4/);
  });

  it('opens an existing topic with the same partition count and keeps its records', async () => {
    const topic = newTopic();
    const first = await openLog({ topic, partitions: 2 });
    await first.append([{ key: 'a', value: json({ n: 1 }) }]);
    await first.close();
    const second = await openLog({ topic, partitions: 2 });
    expect((await readAll(second)).map((r) => parse(r))).toEqual([{ n: 1 }]);
  });

  it('warns through its logger when an existing topic can drop records', async () => {
    const topic = newTopic();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
    });
    const warnings: string[] = [];
    const ignore = () => undefined;
    const logger: KafkaLogLogger = { error: ignore, info: ignore, debug: ignore, warn: (_fields, message) => warnings.push(message ?? '') };
    await openLog({ topic, partitions: 1, logger });
    expect(warnings.some((w) => w.includes('retention.ms=3600000'))).toBe(true);
  });

  it('rejects with log_unavailable when no broker answers', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const err = await KafkaLog.open({ brokers: ['127.0.0.1:1'], topic: newTopic(), partitions: 1, adminTimeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(isLogUnavailable(err)).toBe(true);
    expect((err as Error).message).toMatch(/could not be reached/);
  });

  it('rejects invalid options with invalid_config', async () => {
    for (const options of [
      { brokers: [], topic: 't', partitions: 1 },
      { brokers, topic: 'no spaces', partitions: 1 },
      { brokers, topic: 't', partitions: 0 },
      { brokers, topic: 't', partitions: 1, appendTimeoutMs: -5 },
    ]) {
      const err = await KafkaLog.open(options).catch((e: unknown) => e);
      expect(isBraidError(err, 'invalid_config'), JSON.stringify(options)).toBe(true);
    }
  });
});

describe('KafkaLog placement and appends', () => {
  it('places each record where partitionFor and kafkajs’ default partitioner both put its key', async () => {
    const partitions = 4;
    const topic = newTopic();
    const log = await openLog({ topic, partitions });
    const keys = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? `user-${i}` : `device-${i}-ä`));
    const appended = await log.append(keys.map((key, i) => ({ key, value: json({ i }) })));

    const kafkajsPartitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: partitions }, (_, p) => ({ partitionErrorCode: 0, partitionId: p, leader: 1, replicas: [1], isr: [1] }));
    const expectedCounts = new Array<number>(partitions).fill(0);
    keys.forEach((key, i) => {
      const p = partitionFor(key, partitions);
      expect(appended[i]!.partition).toBe(p);
      expect(kafkajsPartitioner({ topic, partitionMetadata, message: { key, value: null } })).toBe(p);
      expectedCounts[p]!++;
    });
    // What the broker holds per partition, independent of braid's own bookkeeping.
    const offsets = await admin.fetchTopicOffsets(topic);
    for (const { partition, high } of offsets) expect(Number(high)).toBe(expectedCounts[partition]);
  });

  it('appends more than one produce request holds, in order, with consecutive offsets', async () => {
    const topic = newTopic();
    const log = await openLog({ topic, partitions: 1 });
    // 40 × 60 KiB = 2.4 MB for one partition: over the broker's 1 MiB max.message.bytes.
    const value = (i: number) => Buffer.concat([json({ i }), Buffer.alloc(60 * 1024, 0x20)]);
    const appended = await log.append(Array.from({ length: 40 }, (_, i) => ({ key: 'same', value: value(i) })));
    expect(appended.map((a) => a.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(new Set(appended.map((a) => a.appendTime)).size).toBe(1);
    const records = await readAll(log);
    expect(records.map((r) => JSON.parse(r.value.subarray(0, r.value.indexOf(0x20)).toString()).i)).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    );
  });

  it('ends a bounded read when only some partitions hold records', async () => {
    const topic = newTopic();
    const log = await openLog({ topic, partitions: 4 });
    const key = 'only-key';
    await log.append(Array.from({ length: 5 }, (_, i) => ({ key, value: json({ i }) })));
    const end = await log.endPosition();
    expect(Object.values(end).filter((n) => n === 0)).toHaveLength(3);
    const records = await readAll(log);
    expect(records.map((r) => r.partition)).toEqual(new Array(5).fill(partitionFor(key, 4)));
  });

  it('rejects reads after close with log_closed', async () => {
    const log = await openLog({ topic: newTopic(), partitions: 1 });
    await log.close();
    const err = await readAll(log).catch((e: unknown) => e);
    expect(isBraidError(err, 'log_closed')).toBe(true);
  });
});

describe('KafkaLog when the broker goes down', () => {
  // A second, private broker: stopping the shared one would break the other test files.
  const port = 19_092;
  const env = { ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: '19093', BRAID_KAFKA_HOME: '' };
  let home: string | undefined;
  const kafka = (command: 'start' | 'stop') => run('bash', [kafkaScript, command], { env, timeout: 110_000 });

  beforeAll(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'braid-kafka-down-'));
    env.BRAID_KAFKA_HOME = home;
    await kafka('start');
  });

  afterAll(async () => {
    if (home === undefined) return;
    await kafka('stop').catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  });

  it('rejects appends with log_unavailable while it is down and appends again by itself once it is back', async () => {
    const lines: { level: string; fields: object; message: string | undefined }[] = [];
    const capture = (level: string) => (fields: object, message?: string) => lines.push({ level, fields, message });
    const logger: KafkaLogLogger = { error: capture('error'), warn: capture('warn'), info: capture('info'), debug: capture('debug') };
    const log = await openLog({
      brokers: [`127.0.0.1:${port}`],
      topic: 'braid-down',
      partitions: 2,
      appendTimeoutMs: 3_000, // three seconds
      adminTimeoutMs: 3_000, // three seconds
      logger,
    });
    const first = await log.append([{ key: 'before', value: json({ n: 'before' }) }]);
    expect(first[0]!.offset).toBe(0);

    await kafka('stop');
    const err = await log.append([{ key: 'during', value: json({ n: 'during' }) }]).catch((e: unknown) => e);
    expect(isLogUnavailable(err)).toBe(true);
    expect((err as Error).message).toMatch(/could not be reached.*retry/);
    expect(isLogUnavailable(await log.endPosition().catch((e: unknown) => e))).toBe(true);

    await kafka('start');
    // The same log object, not reopened: the first appends may still fail while the
    // broker finishes starting, later ones must succeed by themselves.
    let after: Awaited<ReturnType<KafkaLog['append']>> | undefined;
    const failures: unknown[] = [];
    for (let attempt = 0; attempt < 20 && after === undefined; attempt++) {
      try {
        after = await log.append([{ key: 'after', value: json({ n: 'after' }) }]);
      } catch (e) {
        failures.push(e);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    expect(failures.every((e) => isLogUnavailable(e))).toBe(true);
    expect(after).toBeDefined();

    const values = (await readAll(log)).map((r) => parse(r).n);
    expect(values).toContain('before');
    expect(values).toContain('after');
    // The append that timed out may have landed after all; it is never there twice.
    expect(values.filter((n) => n === 'during').length).toBeLessThanOrEqual(1);
    // kafkajs' complaints went to the given logger.
    expect(lines.some((l) => l.level === 'error' && 'kafkajs' in l.fields)).toBe(true);
  });

  it('answers POST /v1/events with 503 while the broker is down, not a hang, and 202 again once it is back', async () => {
    const t = await makeTestApp({
      log: { partitions: 2, kafka: { brokers: [`127.0.0.1:${port}`], topic: 'braid-down-http' } },
      ingest: { appendTimeoutMs: 3_000 }, // three seconds
    });
    const post = (id: string) =>
      t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify([{ id, type: 'probe', time: Date.now() }]) });
    try {
      await t.handle.ready;
      expect((await post('up')).statusCode).toBe(202);
      await kafka('stop');
      const down = await post('down');
      expect(down.statusCode).toBe(503);
      expect(down.json().error).toBe('log_unavailable');
      expect(down.json().message).toMatch(/retry/);
      // The process is still serving: probes answer.
      expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
      await kafka('start');
      let status = 0;
      for (let attempt = 0; attempt < 20 && status !== 202; attempt++) {
        status = (await post(`back-${attempt}`)).statusCode;
        if (status !== 202) {
          expect(status).toBe(503);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
      expect(status).toBe(202);
    } finally {
      await t.close();
    }
  });
});

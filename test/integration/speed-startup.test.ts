/**
 * Issue 14, part 2: the speed layer's start-up reads the records within the dedupe window
 * (and the skew allowance) before S, not the log from offset 0, and stays exact: the
 * duplicates it finds after S are the reference's, on both logs.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { decodeEvent, encodeEvent, recordKey, type StoredEvent } from '../../shared/events/index.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { KafkaLog } from '../../shared/log/kafka/index.js';
import type { EventLog, LogRecord, Position } from '../../shared/log/types.js';
import { compileView, parseViews } from '../../shared/views/index.js';
import { SpeedLayer } from '../../speed/speed-layer.js';
import { readAll } from '../support/log-contract.js';
import { survivors } from '../support/reference.js';

const brokers = inject('kafkaBrokers').split(',');
const topics: string[] = [];
const dirs: string[] = [];

afterAll(async () => {
  const admin = new kafkajs.Kafka({ clientId: 'braid-test-admin', brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
  if (topics.length > 0) {
    await admin.connect();
    await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => undefined);
    await admin.disconnect();
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const logs: Record<string, () => Promise<EventLog>> = {
  embedded: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'braid-startup-'));
    dirs.push(dir);
    return EmbeddedLog.open({ dir, partitions: 3 });
  },
  kafka: async () => {
    const topic = `braid-startup-${randomUUID()}`;
    topics.push(topic);
    return KafkaLog.open({ brokers, topic, partitions: 3, clientId: 'braid-startup-test' });
  },
};

const view = compileView(parseViews([{ name: 'n', events: ['e'], granularity: 'hour', measures: { n: 'count' } }])[0]!);
const WINDOW_MS = 1_500;
const SKEW_MS = 100;
const event = (id: string): StoredEvent => ({ id, type: 'e', time: Date.now(), key: `k-${id}` });
const append = (log: EventLog, ids: readonly string[]) => log.append(ids.map((id) => ({ key: recordKey(event(id)), value: encodeEvent(event(id)) })));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(Object.keys(logs))('speed layer start-up on the %s log', (kind) => {
  it('warms its dedupe state from the window before S only, and finds exactly the duplicates the rule names', async () => {
    const log = await logs[kind]!();
    try {
      // Old history, then (more than window + skew later) the records in reach of S.
      const old = Array.from({ length: 300 }, (_, i) => `old-${i}`);
      await append(log, old);
      await sleep(WINDOW_MS + SKEW_MS + 600);
      const recent = Array.from({ length: 40 }, (_, i) => `recent-${i}`);
      await append(log, recent);
      const snapshot: Position = await log.endPosition();

      const speed = new SpeedLayer({
        log,
        views: [view],
        dedupeWindowMs: WINDOW_MS,
        dedupeSkewMs: SKEW_MS,
        base: () => ({ version: 1, snapshot, createdAt: new Date().toISOString(), tables: new Map() }),
        logger: pino({ level: 'silent' }),
      });
      await speed.start();
      // Retries after S: of recent ids (duplicates, in the window) and of old ones (new again).
      await append(log, [...recent.slice(0, 10), ...old.slice(0, 10), 'fresh-1']);
      const end = await log.endPosition();
      await speed.waitFor(end);
      const stats = speed.stats();
      await speed.close();

      const records = (await readAll(log)).map((r: LogRecord) => ({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, event: decodeEvent(r.value) }));
      const afterS = (r: { partition: number; offset: number }) => r.offset >= (snapshot[r.partition] ?? 0);
      const counted = survivors(records, end, WINDOW_MS).filter(afterS).length;
      expect(stats.folded).toBe(counted);
      expect(stats.duplicates).toBe(records.filter(afterS).length - counted);
      expect(stats.duplicates).toBe(10);
      // It read the recent records (those in reach), none of the old history.
      expect(stats.warmed).toBe(recent.length);
    } finally {
      await log.close();
    }
  });

  it('with a window of forever, warms from offset 0: every id before S can make a later record a duplicate', async () => {
    const log = await logs[kind]!();
    try {
      const old = Array.from({ length: 50 }, (_, i) => `old-${i}`);
      await append(log, old);
      const snapshot = await log.endPosition();
      const speed = new SpeedLayer({
        log,
        views: [view],
        dedupeWindowMs: Infinity,
        base: () => ({ version: 1, snapshot, createdAt: new Date().toISOString(), tables: new Map() }),
        logger: pino({ level: 'silent' }),
      });
      await speed.start();
      await append(log, old.slice(0, 5));
      await speed.waitFor(await log.endPosition());
      const stats = speed.stats();
      await speed.close();
      expect(stats.warmed).toBe(old.length);
      expect(stats.duplicates).toBe(5);
      expect(stats.folded).toBe(0);
    } finally {
      await log.close();
    }
  });
});

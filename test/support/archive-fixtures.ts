/** Per-test and per-file resources of the archive tests: temp directories and Kafka topics. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, afterEach, beforeEach } from 'vitest';

/** A fresh temp directory for each test, removed after it; call the result inside a test. */
export function tempDirPerTest(prefix: string): () => string {
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => dir!;
}

/** Names unique Kafka topics; deletes them after the file's tests (the broker is shared by every test file). */
export function topicsPerFile(brokers: readonly string[]): (prefix: string) => string {
  const topics: string[] = [];
  afterAll(async () => {
    if (topics.length === 0) return;
    const admin = new kafkajs.Kafka({ clientId: 'braid-test-admin', brokers: [...brokers], logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => undefined);
    await admin.disconnect();
  });
  return (prefix) => {
    const topic = `${prefix}-${randomUUID()}`;
    topics.push(topic);
    return topic;
  };
}

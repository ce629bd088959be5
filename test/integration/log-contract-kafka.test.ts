import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { afterAll, inject } from 'vitest';
import { KafkaLog } from '../../shared/log/kafka/index.js';
import type { EventLog } from '../../shared/log/types.js';
import { logContract } from '../support/log-contract.js';

const { Kafka, logLevel } = kafkajs;
const brokers = inject('kafkaBrokers').split(',');
const admin = new Kafka({ clientId: 'braid-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
const topics: string[] = [];

afterAll(async () => {
  // The broker is shared by every test file: leave no topics behind.
  if (topics.length > 0) {
    await admin.connect();
    await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => undefined);
    await admin.disconnect();
  }
});

for (const partitions of [1, 4]) {
  logContract(`kafka, ${partitions} partition${partitions === 1 ? '' : 's'}`, async () => {
    const topic = `braid-contract-${randomUUID()}`;
    topics.push(topic);
    const opened: EventLog[] = [];
    const open = async () => {
      const log = await KafkaLog.open({ brokers, topic, partitions, clientId: 'braid-contract-test' });
      opened.push(log);
      return log;
    };
    return {
      log: await open(),
      reopen: open,
      cleanup: async () => {
        await Promise.all(opened.map((log) => log.close()));
      },
    };
  });
}

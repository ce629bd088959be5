import path from 'node:path';
import { parseSize } from '../config/index.js';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/index.js';
import { EmbeddedLog } from './embedded/index.js';
import { KafkaLog } from './kafka/index.js';
import { LogHandle } from './handle.js';
import type { EventLog } from './types.js';

/** The log the config selects: Kafka when brokers are configured, else the embedded log. */
export function openLogFromConfig(config: ResolvedConfig, logger: Logger): Promise<EventLog> {
  if (config.log.kind === 'kafka') {
    return KafkaLog.open({
      brokers: config.log.kafka.brokers,
      topic: config.log.kafka.topic,
      partitions: config.log.partitions,
      clientId: config.log.kafka.clientId,
      replicationFactor: config.log.kafka.replicationFactor,
      appendTimeoutMs: config.ingest.appendTimeoutMs,
      logger: logger.child({ component: 'kafka' }),
    });
  }
  return EmbeddedLog.open({ dir: path.join(config.dataDir, 'log'), partitions: config.log.partitions, segmentBytes: parseSize(config.log.segmentSize), tailCacheBytes: parseSize(config.log.tailCacheSize) }).then((log) => {
    for (const cut of log.recovered) {
      logger.warn(cut, `embedded log: cut ${cut.truncatedBytes} bytes off the end of partition ${cut.partition} (${cut.reason}): a write a crash cut short, never acknowledged`);
    }
    return log;
  });
}

/**
 * The audit trail's own log (shared/audit): one partition, beside the events — the Kafka
 * topic `<topic>.audit`, or the embedded log in `<dataDir>/audit-log`. Durable the same way
 * as the events.
 */
export function openAuditLogFromConfig(config: ResolvedConfig, logger: Logger): Promise<EventLog> {
  if (config.log.kind === 'kafka') {
    return KafkaLog.open({
      brokers: config.log.kafka.brokers,
      topic: `${config.log.kafka.topic}.audit`,
      partitions: 1,
      clientId: config.log.kafka.clientId,
      replicationFactor: config.log.kafka.replicationFactor,
      appendTimeoutMs: config.ingest.appendTimeoutMs,
      logger: logger.child({ component: 'kafka-audit' }),
    });
  }
  return EmbeddedLog.open({ dir: path.join(config.dataDir, 'audit-log'), partitions: 1 });
}

export function logHandleFromConfig(config: ResolvedConfig, logger: Logger): LogHandle {
  return new LogHandle({ kind: config.log.kind, open: () => openLogFromConfig(config, logger), logger });
}

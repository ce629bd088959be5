import { BraidError } from '../../errors.js';

/** A pino-compatible logger: `logger.warn({ ...fields }, 'message')`. */
export interface KafkaLogLogger {
  error(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  debug(fields: object, message?: string): void;
}

export const KafkaLogLevels = ['nothing', 'error', 'warn', 'info', 'debug'] as const;
export type KafkaLogLevel = (typeof KafkaLogLevels)[number];

export interface KafkaLogOptions {
  /** host:port of one or more brokers. */
  readonly brokers: readonly string[];
  readonly topic: string;
  /** The topic's partition count; an existing topic must have exactly this many. */
  readonly partitions: number;
  readonly clientId?: string;
  /** Replication factor when braid creates the topic (1 for a single local broker). */
  readonly replicationFactor?: number;
  /** An append that is not acknowledged within this time rejects with `log_unavailable`. */
  readonly appendTimeoutMs?: number;
  /** Bound on open (topic check/creation) and on `endPosition()`. */
  readonly adminTimeoutMs?: number;
  /** TCP connect timeout of one broker connection. */
  readonly connectionTimeoutMs?: number;
  /** Kafka request timeout (produce, fetch, metadata). */
  readonly requestTimeoutMs?: number;
  /**
   * An append is sent in produce requests of at most about this many bytes, so that one
   * partition's record batch stays under the broker's `max.message.bytes` (1 MiB default).
   */
  readonly maxRequestBytes?: number;
  /** Records per yielded batch of `read()` when the caller gives no `maxBatch`. */
  readonly readMaxBatch?: number;
  /** Long-poll time of one fetch; also how long stopping a reader may wait for it. */
  readonly readMaxWaitMs?: number;
  /** Where kafkajs' own log lines go; silent when absent. */
  readonly logger?: KafkaLogLogger;
  /** The most verbose kafkajs level passed to `logger`. */
  readonly logLevel?: KafkaLogLevel;
}

export type ResolvedKafkaLogOptions = Required<Omit<KafkaLogOptions, 'logger'>> & {
  readonly logger: KafkaLogLogger | undefined;
};

export const defaultKafkaLogOptions = {
  clientId: 'braid',
  replicationFactor: 1,
  appendTimeoutMs: 10_000, // ten seconds
  adminTimeoutMs: 10_000, // ten seconds
  connectionTimeoutMs: 3_000, // three seconds
  requestTimeoutMs: 30_000, // thirty seconds (kafkajs' default)
  maxRequestBytes: 900_000, // bytes; below Kafka's default max.message.bytes of 1 MiB
  readMaxBatch: 1_000, // records
  readMaxWaitMs: 500, // half a second
  logLevel: 'warn',
} as const satisfies Omit<ResolvedKafkaLogOptions, 'brokers' | 'topic' | 'partitions' | 'logger'>;

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new BraidError('invalid_config', `log.kafka: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Validates once and merges with `defaultKafkaLogOptions`. */
export function resolveKafkaLogOptions(options: KafkaLogOptions): ResolvedKafkaLogOptions {
  const merged = { ...defaultKafkaLogOptions, ...withoutUndefined(options) };
  if (!Array.isArray(merged.brokers) || merged.brokers.length === 0 || merged.brokers.some((b) => typeof b !== 'string' || !/^[^:\s]+:\d+$/.test(b))) {
    throw new BraidError('invalid_config', `log.kafka.brokers must be a non-empty list of host:port, got ${JSON.stringify(merged.brokers)}; e.g. BRAID_KAFKA_BROKERS=127.0.0.1:9092`);
  }
  // Kafka's legal topic names: up to 249 of [a-zA-Z0-9._-].
  if (typeof merged.topic !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(merged.topic) || merged.topic === '.' || merged.topic === '..') {
    throw new BraidError('invalid_config', `log.kafka.topic must be 1-249 characters of [a-zA-Z0-9._-], got ${JSON.stringify(merged.topic)}`);
  }
  if (!KafkaLogLevels.includes(merged.logLevel)) {
    throw new BraidError('invalid_config', `log.kafka.logLevel must be one of ${KafkaLogLevels.join(', ')}, got ${JSON.stringify(merged.logLevel)}`);
  }
  for (const name of ['partitions', 'replicationFactor', 'appendTimeoutMs', 'adminTimeoutMs', 'connectionTimeoutMs', 'requestTimeoutMs', 'maxRequestBytes', 'readMaxBatch', 'readMaxWaitMs'] as const) {
    positiveInteger(name, merged[name]);
  }
  return { ...merged, brokers: [...merged.brokers], logger: options.logger };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

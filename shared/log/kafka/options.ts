import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { resolveOptions } from '../../config/options.js';

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
  /**
   * A produce request carries at most this many records: an append is sent in requests of at
   * most this many, and appends waiting while a request is in flight are sent together up to
   * it. About 1,000 records a request was the fastest measured (bench/producer-settings.ts:
   * larger requests were no faster on one broker, often slower).
   */
  readonly maxRequestRecords?: number;
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

/** Every option's default and bound: the one place they are checked. */
const KafkaLogSchema = Type.Object({
  brokers: Type.Array(Type.String({ pattern: '^[^:\\s]+:\\d+$' }), { minItems: 1, hint: 'give a non-empty list of host:port, e.g. BRAID_KAFKA_BROKERS=127.0.0.1:9092' }),
  // Kafka's legal topic names: up to 249 of [a-zA-Z0-9._-], not "." or "..".
  topic: Type.String({ pattern: '^(?!\\.\\.?$)[a-zA-Z0-9._-]{1,249}$', hint: 'use 1-249 characters of [a-zA-Z0-9._-]' }),
  partitions: Type.Integer({ minimum: 1 }),
  clientId: Type.String({ minLength: 1, default: 'braid' }),
  replicationFactor: Type.Integer({ minimum: 1, default: 1 }),
  appendTimeoutMs: Type.Integer({ minimum: 1, default: 10_000 }), // ten seconds
  adminTimeoutMs: Type.Integer({ minimum: 1, default: 10_000 }), // ten seconds
  connectionTimeoutMs: Type.Integer({ minimum: 1, default: 3_000 }), // three seconds
  requestTimeoutMs: Type.Integer({ minimum: 1, default: 30_000 }), // thirty seconds (kafkajs' default)
  maxRequestBytes: Type.Integer({ minimum: 1, default: 900_000 }), // bytes; below Kafka's default max.message.bytes of 1 MiB
  maxRequestRecords: Type.Integer({ minimum: 1, default: 1_000 }), // records
  readMaxBatch: Type.Integer({ minimum: 1, default: 1_000 }), // records
  readMaxWaitMs: Type.Integer({ minimum: 1, default: 500 }), // half a second
  logLevel: Type.Union(KafkaLogLevels.map((l) => Type.Literal(l)), { default: 'warn', hint: `use one of ${KafkaLogLevels.join(', ')}` }),
});

export const defaultKafkaLogOptions = Value.Default(Type.Omit(KafkaLogSchema, ['brokers', 'topic', 'partitions']), {}) as Omit<ResolvedKafkaLogOptions, 'brokers' | 'topic' | 'partitions' | 'logger'>;

/** Validates once and merges with `defaultKafkaLogOptions`. */
export function resolveKafkaLogOptions(options: KafkaLogOptions): ResolvedKafkaLogOptions {
  const resolved = resolveOptions(KafkaLogSchema, options, 'log.kafka');
  return { ...resolved, brokers: [...resolved.brokers], logger: options.logger } as ResolvedKafkaLogOptions;
}

/**
 * The log: braid's single source of truth. One interface, two implementations
 * (embedded files, Kafka) that pass the same contract suite (test/integration/log-contract).
 */

import type { Position } from './position.js';

export type { Position } from './position.js';

/** What the caller appends: the record key (the event's `key ?? id`) and its bytes. */
export interface AppendInput {
  readonly key: string;
  readonly value: Buffer;
}

/** Where one appended record went. */
export interface Appended {
  readonly partition: number;
  readonly offset: number;
  /** epoch ms; Kafka's record timestamp, set by braid at ingest. */
  readonly appendTime: number;
}

export interface LogRecord extends Appended {
  readonly key: string;
  readonly value: Buffer;
}

export interface ReadOptions {
  /** Start here (inclusive). Partitions missing from the map start at 0. */
  readonly from?: Position;
  /**
   * Stop once every partition has reached this position (exclusive). Without it the
   * read tails the log until `signal` aborts or the log closes.
   */
  readonly until?: Position;
  /** Upper bound on one yielded batch. */
  readonly maxBatch?: number;
  readonly signal?: AbortSignal;
}

export interface EventLog {
  readonly kind: 'embedded' | 'kafka';
  readonly partitions: number;
  /**
   * Appends the records and resolves once all of them are durable (embedded: fsynced;
   * Kafka: acknowledged by all in-sync replicas). Results are in input order. Records with
   * the same key go to the same partition, in input order.
   */
  append(records: readonly AppendInput[]): Promise<Appended[]>;
  /** The next offset of every partition. */
  endPosition(): Promise<Position>;
  /**
   * Per partition listed, the first offset whose record was appended at or after `times[p]`
   * (epoch ms), or the partition's end offset when none was: where a reader that needs only
   * what was appended since a time starts (Kafka's offsets for times; the embedded log's
   * append times never go backwards, so it searches).
   */
  offsetsAt(times: Readonly<Record<number, number>>): Promise<Position>;
  /**
   * The first offset every partition still holds: 0 until records are deleted under
   * `log.retention` (lambda/retention.ts). A read from below it fails with `log_truncated`;
   * what was deleted is in the archive.
   */
  startPosition(): Promise<Position>;
  /**
   * Deletes records below `position` (partitions not listed: none) and resolves with the new
   * start position. Never deletes a record at or above it; may keep some below it (the
   * embedded log deletes whole segments).
   */
  deleteBefore(position: Position): Promise<Position>;
  /**
   * Data-subject erasure (lambda/erasure.ts): no record of `key` below `until` can be read
   * again, and every record of another key reads the same as before (offsets kept). Resolves
   * with the key's partition and how many of its records there were. Embedded: each becomes an
   * erased event in place (shared/events/erased.ts), a segment rewritten whole. Kafka, which
   * cannot rewrite: the partition is deleted up to and including the key's last record below
   * `until`, so the records of other keys below it must be held elsewhere first (the archive).
   * Idempotent.
   */
  erase(key: string, until: Position): Promise<{ partition: number; records: number }>;
  /** Batches of records in offset order per partition (partitions interleave). */
  read(options?: ReadOptions): AsyncIterable<LogRecord[]>;
  close(): Promise<void>;
}

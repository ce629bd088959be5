import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka, RetryOptions } from 'kafkajs';
import type { LogRecord, ReadOptions } from '../types.js';
import { Handoff } from './handoff.js';
import { fromKafkaError, truncatedRead } from './kafka-errors.js';

export interface KafkaReaderContext {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly partitions: number;
  readonly clientId: string;
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly retry: RetryOptions;
  /** Registers a running read so that closing the log stops it; returns the unregister. */
  readonly track: (stop: () => Promise<void>) => () => void;
}

/** How often a reader that waits for its consumer still heartbeats the group. */
const HEARTBEAT_WHILE_WAITING_MS = 1_000; // one second
/** Consumer crashes (each after kafkajs' own retries) before a read gives up. */
const MAX_CRASHES_IN_A_ROW = 5;

/**
 * One read of the topic through a kafkajs consumer in a throwaway group (unique groupId,
 * no offset commits): the group only exists because kafkajs has no manual assignment.
 * Each partition is positioned at `from` by `seek` on every group join (kafkajs would
 * otherwise start a fresh generation at the earliest offset), and records below `from` or
 * at/after `until`, or already delivered, are dropped, so the read yields each offset in
 * [from, until) exactly once, in order per partition.
 */
export async function* readKafka(ctx: KafkaReaderContext, options: ReadOptions = {}): AsyncGenerator<LogRecord[], void, undefined> {
  const { topic, partitions } = ctx;
  const { from = {}, until, signal } = options;
  const maxBatch = options.maxBatch ?? ctx.maxBatch;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`read: maxBatch must be a positive integer, got ${maxBatch}`);

  /** The next offset to deliver, per partition. */
  const next: number[] = [];
  /** Exclusive end per partition; `undefined` tails. A partition missing from `until` has nothing to read. */
  const end: (number | undefined)[] = [];
  const open = new Set<number>();
  for (let p = 0; p < partitions; p++) {
    next[p] = Math.max(0, from[p] ?? 0);
    end[p] = until === undefined ? undefined : (until[p] ?? 0);
    if (end[p] === undefined || next[p]! < end[p]!) open.add(p);
  }
  if (open.size === 0 || signal?.aborted) return;

  const handoff = new Handoff<LogRecord[]>();
  let crashesInARow = 0;
  const consumer: Consumer = ctx.kafka.consumer({
    groupId: `${ctx.clientId}-read-${randomUUID()}`,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: ctx.maxWaitMs,
    // kafkajs restarts a consumer that crashed on a retriable error (a broker restarting,
    // a coordinator still loading); the restart re-joins, and GROUP_JOIN seeks to `next`.
    // After a few crashes in a row the read fails with log_unavailable instead.
    retry: { ...ctx.retry, restartOnFailure: async () => !handoff.ended && ++crashesInARow <= MAX_CRASHES_IN_A_ROW },
  });

  let startup: Promise<void> = Promise.resolve();
  let disconnecting: Promise<void> | undefined;
  // Disconnecting in the middle of connect/run would leave kafkajs joining a group nobody
  // stops: let the start-up finish (it gives up early once the handoff has ended) first.
  const stop = (): Promise<void> => {
    handoff.end();
    disconnecting ??= startup.catch(() => undefined).then(() => consumer.disconnect().catch(() => undefined));
    return disconnecting;
  };
  const untrack = ctx.track(stop);
  const onAbort = () => handoff.end();
  signal?.addEventListener('abort', onAbort, { once: true });

  const donePartitions = () => Array.from({ length: partitions }, (_, p) => p).filter((p) => !open.has(p));
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) handoff.end(fromKafkaError(payload.error, `reading topic "${topic}"`));
  });
  // Runs synchronously inside kafkajs' join, before the generation's first fetch.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    crashesInARow = 0;
    for (const p of open) consumer.seek({ topic, partition: p, offset: String(next[p]) });
    const done = donePartitions();
    if (done.length > 0) consumer.pause([{ topic, partitions: done }]);
  });

  const eachBatch = async ({ batch, heartbeat, isRunning, isStale, pause }: EachBatchPayload): Promise<void> => {
    const p = batch.partition;
    if (!open.has(p)) {
      pause();
      return;
    }
    const limit = end[p];
    const records: LogRecord[] = [];
    // braid's producer leaves no gaps in offsets (no transactions, no compaction): a gap means
    // records were deleted under the read (the consumer then moved on by itself), and the read
    // fails instead of skipping them.
    let expected = next[p]!;
    for (const message of batch.messages) {
      const offset = Number(message.offset);
      if (offset < next[p]!) continue;
      if (limit !== undefined && offset >= limit) break;
      if (offset !== expected) {
        handoff.end(truncatedRead(p, expected, offset));
        return;
      }
      expected = offset + 1;
      records.push({
        partition: p,
        offset,
        appendTime: Number(message.timestamp),
        key: message.key === null ? '' : message.key.toString('utf8'),
        value: message.value ?? Buffer.alloc(0),
      });
    }
    for (let i = 0; i < records.length; i += maxBatch) {
      if (!isRunning() || isStale() || handoff.ended) return;
      const chunk = records.slice(i, i + maxBatch);
      const taken = handoff.put(chunk);
      for (;;) {
        const outcome = await Promise.race([taken, delay(HEARTBEAT_WHILE_WAITING_MS)]);
        if (outcome === true) break;
        if (outcome === false) return;
        try {
          await heartbeat();
        } catch (err) {
          // The group is rebalancing; kafkajs re-joins and GROUP_JOIN seeks to `next` again.
          handoff.withdraw();
          throw err;
        }
      }
    }
    if (limit !== undefined && next[p]! >= limit) {
      open.delete(p);
      pause();
      if (open.size === 0) handoff.end();
    }
  };

  startup = (async () => {
    await consumer.connect();
    if (handoff.ended) return;
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    if (handoff.ended) return;
    await consumer.run({ autoCommit: false, eachBatch });
  })();
  try {
    try {
      await Promise.race([startup, handoff.whenEnded()]);
    } catch (err) {
      throw fromKafkaError(err, `reading topic "${topic}"`);
    }
    for (;;) {
      const chunk = await handoff.take();
      if (chunk === undefined) return;
      const last = chunk[chunk.length - 1]!;
      next[last.partition] = last.offset + 1;
      yield chunk;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await stop();
    untrack();
  }
}

function delay(ms: number): Promise<'waiting'> {
  return new Promise((resolve) => setTimeout(resolve, ms, 'waiting').unref());
}

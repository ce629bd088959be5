import kafkajs from 'kafkajs';
import type { Admin, LogEntry, Message, Producer, RetryOptions } from 'kafkajs';
import { withTimeout } from '../../async.js';
import { BraidError } from '../../errors.js';
import { partitionFor } from '../partitioner.js';
import type { AppendInput, Appended, EventLog, LogRecord, Position, ReadOptions } from '../types.js';
import { fromKafkaError, truncatedRead, unavailable } from './kafka-errors.js';
import { readKafka } from './kafka-reader.js';
import { defaultKafkaLogOptions, resolveKafkaLogOptions } from './options.js';
import type { KafkaLogLevel, KafkaLogLogger, KafkaLogOptions, ResolvedKafkaLogOptions } from './options.js';

// kafkajs is CommonJS and Node's ESM loader only sees some of its named exports
// (ConfigResourceTypes, for one, is missing), so take them from the default export.
const { ConfigResourceTypes, Kafka, logLevel: KafkaJsLevel, Partitioners } = kafkajs;
type Kafka = kafkajs.Kafka;
type KafkaJsLevel = kafkajs.logLevel;

/**
 * kafkajs' retry policy for every client braid makes. Finite on purpose, also for the
 * idempotent producer (kafkajs' default there is unlimited): a send that cannot reach the
 * broker must end, so that a retired producer can be disconnected (see `#send`).
 */
const RETRY: RetryOptions = {
  retries: 5,
  initialRetryTime: 200, // ms
  maxRetryTime: 2_000, // two seconds
  factor: 0.2,
  multiplier: 2,
};

/**
 * The producer every KafkaLog makes, exported so that a bench's bare kafkajs producer uses
 * exactly these settings (bench/ingest.ts, bench/producer-settings.ts). Idempotent with
 * `acks: -1`: each record is written once, acknowledged by every in-sync replica.
 * `maxInFlightRequests: 1`: kafkajs serialises an idempotent producer's produce requests to a
 * broker anyway (a lock per broker held from sequence numbers to response), so more buys
 * nothing (bench/producer-settings.ts measured it) and kafkajs does not do the client side
 * of several in-flight idempotent requests (re-sequencing after a failure). No compression:
 * gzip, kafkajs' only codec, cost a third of the throughput; snappy, lz4 and zstd cost
 * nothing measurable but need codec packages braid does not have (docs/architecture.md).
 * Throughput comes from records per request instead: see #pump.
 */
export const KAFKA_PRODUCER = {
  idempotent: true,
  maxInFlightRequests: 1,
  acks: -1,
  compression: kafkajs.CompressionTypes.None,
  retry: RETRY,
  connectionTimeoutMs: defaultKafkaLogOptions.connectionTimeoutMs,
  requestTimeoutMs: defaultKafkaLogOptions.requestTimeoutMs,
} as const;

/** Produce-request overhead per record beyond key and value (record header, varints). */
const RECORD_OVERHEAD_BYTES = 32;

/** One append's chunks share this: its deadline, and the first failure, after which its later chunks are not sent. */
interface AppendState {
  readonly deadline: number;
  failed: Error | undefined;
}

/** Per partition, the offset of the chunk's first record there; Kafka's append time where the topic stamps one. */
interface ChunkAck {
  readonly nextOffset: Map<number, number>;
  readonly brokerTime: ReadonlyMap<number, number>;
}

/** Some consecutive records of one append, waiting for (or in) a produce request. */
interface QueuedChunk {
  readonly messages: Message[];
  readonly bytes: number;
  readonly append: AppendState;
  readonly resolve: (ack: ChunkAck) => void;
  readonly reject: (err: Error) => void;
  done: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** One producer with its own producer id and sequence numbers; replaced after a failure. */
interface ProducerSlot {
  readonly producer: Producer;
  readonly ready: Promise<void>;
  inflight: number;
  retired: boolean;
  disposed: boolean;
}

/**
 * The log on a Kafka topic (contract §2) through kafkajs: an idempotent producer with
 * `acks: -1` and one request in flight, appends waiting behind it sent together (#pump), and
 * a topic with `retention.ms=-1`. Records are
 * placed by braid (`partitionFor`, the same murmur2 as the embedded log), not by kafkajs,
 * and carry braid's append time as their record timestamp.
 */
export class KafkaLog implements EventLog {
  readonly kind = 'kafka' as const;
  readonly partitions: number;
  readonly topic: string;
  readonly options: ResolvedKafkaLogOptions;
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  #producer: ProducerSlot | undefined;
  readonly #slots = new Set<ProducerSlot>();
  /** Sends not settled yet (including those whose append already timed out). */
  readonly #pending = new Set<Promise<void>>();
  /** Chunks of appends waiting for the next produce request, in order (see #pump). */
  readonly #queue: QueuedChunk[] = [];
  /** The produce request in flight and its chunks; undefined when none is. */
  #inFlight: { readonly slot: ProducerSlot; readonly chunks: readonly QueuedChunk[] } | undefined;
  /** Appends not settled yet: close waits for them (bounded). */
  readonly #appending = new Set<Promise<void>>();
  readonly #readers = new Set<() => Promise<void>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(options: ResolvedKafkaLogOptions, kafka: Kafka, admin: Admin) {
    this.options = options;
    this.partitions = options.partitions;
    this.topic = options.topic;
    this.#kafka = kafka;
    this.#admin = admin;
  }

  /**
   * Connects, creates the topic when it is missing (the configured partitions,
   * `retention.ms=-1`) and checks the partition count of an existing one. Rejects with
   * `log_unavailable` when the broker cannot be reached (retry later) and with
   * `invalid_config` when the topic does not fit the configuration.
   */
  static async open(options: KafkaLogOptions): Promise<KafkaLog> {
    const resolved = resolveKafkaLogOptions(options);
    const kafka = new Kafka({
      clientId: resolved.clientId,
      brokers: [...resolved.brokers],
      connectionTimeout: resolved.connectionTimeoutMs,
      requestTimeout: resolved.requestTimeoutMs,
      retry: RETRY,
      logLevel: kafkaJsLevel(resolved.logLevel),
      logCreator: logCreatorFor(resolved.logger),
    });
    const admin = kafka.admin({ retry: RETRY });
    const log = new KafkaLog(resolved, kafka, admin);
    const what = `opening Kafka topic "${resolved.topic}" on ${resolved.brokers.join(',')}`;
    const preparing = (async () => {
      await admin.connect();
      await log.#ensureTopic();
    })();
    try {
      await withTimeout(preparing, resolved.adminTimeoutMs, () => unavailable(what, `no answer within ${resolved.adminTimeoutMs} ms`));
    } catch (err) {
      void preparing.catch(() => undefined).finally(() => admin.disconnect().catch(() => undefined));
      throw fromKafkaError(err, what, 'invalid_config');
    }
    return log;
  }

  async #ensureTopic(): Promise<void> {
    const { topic, partitions, replicationFactor } = this.options;
    const existing = await this.#admin.listTopics();
    if (existing.includes(topic)) {
      await this.#warnOnRetention();
    } else {
      // false when another process created it in between; checked below like any existing topic
      // kafkajs' wait for leaders gives up on UNKNOWN_TOPIC_OR_PARTITION while the new
      // topic propagates; a retry finds the topic created (createTopics answers false).
      await this.#retrying(() => this.#admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor,
            // The log is the system of record: nothing expires.
            configEntries: [{ name: 'retention.ms', value: '-1' }],
          },
        ],
      }), Date.now() + this.options.adminTimeoutMs);
    }
    const metadata = await this.#retrying(() => this.#admin.fetchTopicMetadata({ topics: [topic] }), Date.now() + this.options.adminTimeoutMs);
    const actual = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    if (actual !== partitions) {
      throw new BraidError(
        'invalid_config',
        `Kafka topic "${topic}" has ${actual} partitions but log.partitions is ${partitions}; ` +
          `set log.partitions to ${actual}, or use another topic (records are placed by key modulo the partition count, so it cannot change under an existing log)`,
      );
    }
  }

  /**
   * Right after createTopics (or a leader change) the broker may answer retriable errors —
   * UNKNOWN_TOPIC_OR_PARTITION while the topic's metadata propagates, NOT_LEADER_FOR_PARTITION
   * until leaders settle — which kafkajs' admin does not retry by itself. Retry them, with a
   * metadata refresh in between, until `deadline`.
   */
  async #retrying<T>(work: () => Promise<T>, deadline: number): Promise<T> {
    for (;;) {
      try {
        return await work();
      } catch (err) {
        if ((err as { retriable?: boolean }).retriable !== true || Date.now() + 100 >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
        await this.#admin.fetchTopicMetadata({ topics: [this.topic] }).catch(() => undefined);
      }
    }
  }

  /** braid does not change an existing topic's configuration, but says when it can lose records. */
  async #warnOnRetention(): Promise<void> {
    const { topic, logger } = this.options;
    if (!logger) return;
    const { resources } = await this.#admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'retention.bytes', 'cleanup.policy'] }],
    });
    const config = new Map(resources[0]?.configEntries.map((e) => [e.configName, e.configValue]));
    const problems = [
      config.get('retention.ms') !== '-1' && `retention.ms=${config.get('retention.ms')}`,
      config.has('retention.bytes') && config.get('retention.bytes') !== '-1' && `retention.bytes=${config.get('retention.bytes')}`,
      config.has('cleanup.policy') && config.get('cleanup.policy') !== 'delete' && `cleanup.policy=${config.get('cleanup.policy')}`,
    ].filter(Boolean);
    if (problems.length > 0) {
      logger.warn(
        { topic, config: Object.fromEntries(config) },
        `Kafka topic "${topic}" may drop records (${problems.join(', ')}), archived or not; braid deletes only archived records itself (log.retention, through DeleteRecords): set retention.ms=-1, retention.bytes=-1, cleanup.policy=delete`,
      );
    }
  }

  async append(records: readonly AppendInput[]): Promise<Appended[]> {
    this.#assertOpen();
    if (records.length === 0) return [];
    const deadline = Date.now() + this.options.appendTimeoutMs;
    const appendTime = Date.now();
    const timestamp = String(appendTime);
    const results = new Array<Appended>(records.length);
    const state: AppendState = { deadline, failed: undefined };
    // Chunks in input order, each under maxRequestBytes (so that a partition's record batch
    // stays under the broker's message size limit) and maxRequestRecords; all queued at once,
    // sent in that order.
    const chunks: Array<{ start: number; stop: number; partitionOf: number[]; done: Promise<ChunkAck> }> = [];
    for (const [start, stop, bytes] of chunksBySize(records, this.options.maxRequestBytes, this.options.maxRequestRecords)) {
      const messages: Message[] = [];
      const partitionOf: number[] = [];
      for (let i = start; i < stop; i++) {
        const { key, value } = records[i]!;
        const partition = partitionFor(key, this.partitions);
        partitionOf.push(partition);
        messages.push({ partition, key, value, timestamp });
      }
      chunks.push({ start, stop, partitionOf, done: this.#enqueue(messages, bytes, state) });
    }
    this.#pump();
    const settled = Promise.allSettled(chunks.map((c) => c.done)).then(() => undefined);
    this.#appending.add(settled);
    void settled.then(() => this.#appending.delete(settled));
    for (const { start, stop, partitionOf, done } of chunks) {
      const { nextOffset, brokerTime } = await done;
      // Within one request, a partition's records get consecutive offsets in message order.
      for (let i = start; i < stop; i++) {
        const partition = partitionOf[i - start]!;
        const offset = nextOffset.get(partition);
        if (offset === undefined) {
          throw new BraidError('internal', `Kafka acknowledged the append without an offset for partition ${partition} of "${this.topic}"`);
        }
        nextOffset.set(partition, offset + 1);
        results[i] = { partition, offset, appendTime: brokerTime.get(partition) ?? appendTime };
      }
    }
    return results;
  }

  /** Queues one chunk of an append; it settles when its produce request does, or at the append's deadline. */
  #enqueue(messages: Message[], bytes: number, append: AppendState): Promise<ChunkAck> {
    return new Promise<ChunkAck>((resolve, reject) => {
      const chunk: QueuedChunk = { messages, bytes, append, resolve, reject, done: false, timer: undefined };
      const what = `appending ${messages.length} records to Kafka topic "${this.topic}"`;
      chunk.timer = setTimeout(() => {
        const inFlight = this.#inFlight?.chunks.includes(chunk) ? this.#inFlight : undefined;
        this.#settle(chunk, unavailable(what, `no acknowledgement within ${this.options.appendTimeoutMs} ms; the records may or may not have been appended, and retrying them is safe`));
        // The request may still land: its producer goes (see #pump), and the queue goes on with a fresh one.
        if (inFlight) {
          this.#retire(inFlight.slot);
          this.#inFlight = undefined;
          this.#pump();
        }
      }, Math.max(0, append.deadline - Date.now()));
      this.#queue.push(chunk);
    });
  }

  /** Resolves or rejects a chunk once; a rejected chunk fails its append's later chunks too. */
  #settle(chunk: QueuedChunk, outcome: ChunkAck | Error): void {
    if (chunk.done) return;
    chunk.done = true;
    clearTimeout(chunk.timer);
    if (outcome instanceof Error) {
      chunk.append.failed ??= outcome;
      chunk.reject(outcome);
    } else {
      chunk.resolve(outcome);
    }
  }

  /**
   * Sends the queued chunks, one produce request at a time: while a request is in flight,
   * appends queue up, and the next request takes the chunks waiting (up to maxRequestBytes
   * and maxRequestRecords) — batching without a linger, like the embedded log's group commit.
   * kafkajs would serialise the requests of an idempotent producer anyway (one lock per broker,
   * held until the response), so one request in flight loses nothing, and sending what waited
   * together makes fewer, larger requests (bench/producer-settings.ts and docs/architecture.md
   * have the figures). Chunks of one append stay in order; a chunk whose append already failed
   * is not sent.
   *
   * After any failure the producer is retired and the next request starts a fresh one (new
   * producer id). kafkajs rolls its sequence numbers back when a request fails, so a request
   * that did land without an answer would make the next, different batch reuse its sequence
   * numbers: the broker would then drop that batch as a duplicate or fail every later send
   * with OUT_OF_ORDER_SEQUENCE_NUMBER. A new producer id sidesteps both. A request that timed
   * out is not cancelled (kafkajs cannot): it may still land after the caller got
   * `log_unavailable`. That is safe because the caller retries the same events, which carry the
   * same ids and keys, so they land in the same partition, and contract §3 counts a record with
   * an id seen in that partition within the dedupe window as a duplicate.
   */
  #pump(): void {
    if (this.#inFlight) return;
    const chunks: QueuedChunk[] = [];
    let bytes = 0;
    let count = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      if (next.done) {
        this.#queue.shift();
        continue;
      }
      if (next.append.failed) {
        this.#queue.shift();
        this.#settle(next, next.append.failed);
        continue;
      }
      if (chunks.length > 0 && (bytes + next.bytes > this.options.maxRequestBytes || count + next.messages.length > this.options.maxRequestRecords)) break;
      this.#queue.shift();
      chunks.push(next);
      bytes += next.bytes;
      count += next.messages.length;
    }
    if (chunks.length === 0) return;
    const slot = this.#currentProducer();
    const flight = { slot, chunks };
    this.#inFlight = flight;
    slot.inflight++;
    const messages = chunks.length === 1 ? chunks[0]!.messages : chunks.flatMap((c) => c.messages);
    const work = slot.ready.then(() => slot.producer.send({ topic: this.topic, messages, acks: KAFKA_PRODUCER.acks, compression: KAFKA_PRODUCER.compression }));
    const settled = work.then(
      (metadata) => {
        const nextOffset = new Map<number, number>();
        const brokerTime = new Map<number, number>();
        for (const m of metadata) {
          nextOffset.set(m.partition, Number(m.baseOffset));
          // -1 unless the topic stamps records itself (message.timestamp.type=LogAppendTime).
          if (Number(m.logAppendTime) >= 0) brokerTime.set(m.partition, Number(m.logAppendTime));
        }
        // Each chunk's first offset per partition: after the records of the chunks before it.
        for (const chunk of chunks) {
          const ack: ChunkAck = { nextOffset: new Map(), brokerTime };
          for (const { partition } of chunk.messages) {
            const p = partition!;
            if (!ack.nextOffset.has(p) && nextOffset.has(p)) ack.nextOffset.set(p, nextOffset.get(p)!);
            if (nextOffset.has(p)) nextOffset.set(p, nextOffset.get(p)! + 1);
          }
          this.#settle(chunk, ack);
        }
      },
      (err: unknown) => {
        this.#retire(slot);
        for (const chunk of chunks) {
          const what = `appending ${chunk.messages.length} records to Kafka topic "${this.topic}"`;
          this.#settle(chunk, this.#closed ? new BraidError('log_closed', `${what}: the log was closed during the append; the records may or may not have been appended`, { cause: err }) : fromKafkaError(err, what));
        }
      },
    );
    this.#pending.add(settled);
    void settled.then(() => {
      this.#pending.delete(settled);
      slot.inflight--;
      if (slot.retired) this.#dispose(slot);
      if (this.#inFlight === flight) this.#inFlight = undefined;
      this.#pump();
    });
  }

  #currentProducer(): ProducerSlot {
    const current = this.#producer;
    if (current && !current.retired) return current;
    const producer = this.#kafka.producer({
      idempotent: KAFKA_PRODUCER.idempotent,
      maxInFlightRequests: KAFKA_PRODUCER.maxInFlightRequests,
      allowAutoTopicCreation: false,
      retry: KAFKA_PRODUCER.retry,
      // Every message names its partition; this only silences kafkajs' partitioner notice.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const ready = producer.connect();
    ready.catch(() => undefined);
    const slot: ProducerSlot = { producer, ready, inflight: 0, retired: false, disposed: false };
    this.#producer = slot;
    this.#slots.add(slot);
    return slot;
  }

  #retire(slot: ProducerSlot): void {
    slot.retired = true;
    if (this.#producer === slot) this.#producer = undefined;
    this.#dispose(slot);
  }

  /**
   * Disconnects a producer once none of its sends is running: a kafkajs send still retrying
   * reconnects a disconnected producer by itself, and that connection would leak.
   */
  #dispose(slot: ProducerSlot, force = false): Promise<void> {
    if (slot.disposed || (slot.inflight > 0 && !force)) return Promise.resolve();
    slot.disposed = true;
    this.#slots.delete(slot);
    return slot.ready.then(
      () => slot.producer.disconnect().catch(() => undefined),
      () => slot.producer.disconnect().catch(() => undefined),
    );
  }

  async endPosition(): Promise<Position> {
    // `offset` is the high watermark: the next offset, everything below it acknowledged.
    return this.#offsets('end', (o) => o.offset);
  }

  /** One admin call within adminTimeoutMs, retried on what retrying can fix; its failure as braid's error. */
  async #adminCall<T>(what: string, call: () => Promise<T>): Promise<T> {
    const work = this.#retrying(call, Date.now() + this.options.adminTimeoutMs);
    work.catch(() => undefined);
    try {
      return await withTimeout(work, this.options.adminTimeoutMs, () => unavailable(what, `no answer within ${this.options.adminTimeoutMs} ms`));
    } catch (err) {
      throw fromKafkaError(err, what);
    }
  }

  /** The topic's start or end offsets per partition (0 where Kafka names none). */
  async #offsets(which: 'start' | 'end', pick: (o: { offset: string; low: string }) => string): Promise<Position> {
    this.#assertOpen();
    const offsets = await this.#adminCall(`reading the ${which} offsets of Kafka topic "${this.topic}"`, () => this.#admin.fetchTopicOffsets(this.topic));
    const position: Position = {};
    for (let p = 0; p < this.partitions; p++) position[p] = 0;
    for (const o of offsets) position[o.partition] = Number(pick(o));
    return position;
  }

  async offsetsAt(times: Readonly<Record<number, number>>): Promise<Position> {
    this.#assertOpen();
    const out: Position = {};
    const end = await this.endPosition();
    // One ListOffsets request per distinct time (it asks every partition for one time).
    const byTime = new Map<number, number[]>();
    for (const [p, time] of Object.entries(times)) {
      const partition = Number(p);
      if (!(partition >= 0 && partition < this.partitions)) throw new BraidError('invalid_parameter', `offsetsAt: partition ${p} does not exist (the topic has ${this.partitions})`);
      byTime.set(time, [...(byTime.get(time) ?? []), partition]);
    }
    for (const [time, partitions] of byTime) {
      const offsets = await this.#adminCall(`reading offsets by time of Kafka topic "${this.topic}"`, () => this.#admin.fetchTopicOffsetsByTimestamp(this.topic, Math.max(0, Math.floor(time))));
      for (const partition of partitions) {
        const offset = Number(offsets.find((o) => o.partition === partition)?.offset ?? -1);
        // -1: no record at or after the time; kafkajs may also answer the high watermark.
        out[partition] = offset < 0 ? end[partition]! : Math.min(offset, end[partition]!);
      }
    }
    return out;
  }

  async startPosition(): Promise<Position> {
    // `low` is the log start offset: DeleteRecords moved it past what braid deleted.
    return this.#offsets('start', (o) => o.low);
  }

  /**
   * Kafka's DeleteRecords: the topic keeps `retention.ms=-1`, and braid itself moves each
   * partition's start offset, only ever to records the archive holds (lambda/retention.ts),
   * so Kafka never drops a record on a timer of its own.
   */
  async deleteBefore(position: Position): Promise<Position> {
    this.#assertOpen();
    const end = await this.endPosition();
    const partitions = Object.entries(position)
      .map(([p, o]) => ({ partition: Number(p), offset: String(Math.min(o, end[Number(p)] ?? 0)) }))
      .filter((e) => Number(e.offset) > 0);
    if (partitions.length > 0) await this.#adminCall(`deleting old records of Kafka topic "${this.topic}"`, () => this.#admin.deleteTopicRecords({ topic: this.topic, partitions }));
    return this.startPosition();
  }

  /**
   * Kafka cannot rewrite a record: erasing a key deletes its partition up to and including
   * the key's last record below `until` (DeleteRecords), with every other record below it.
   * The caller holds those elsewhere first (the archive: lambda/erasure.ts). The key's records
   * are found by reading the partition from its start to `until`.
   */
  async erase(key: string, until: Position): Promise<{ partition: number; records: number }> {
    this.#assertOpen();
    if (typeof key !== 'string') throw new BraidError('invalid_parameter', 'erase: the key must be a string');
    const partition = partitionFor(key, this.partitions);
    const start = (await this.startPosition())[partition] ?? 0;
    const below = Math.min(until[partition] ?? 0, (await this.endPosition())[partition] ?? 0);
    let records = 0;
    let last = -1;
    if (below > start) {
      // Every partition from its start (a read from below a start is refused); only this one has an end above it.
      for await (const batch of this.read({ from: await this.startPosition(), until: { [partition]: below } })) {
        for (const r of batch) {
          if (r.partition !== partition || r.key !== key) continue;
          records++;
          last = r.offset;
        }
      }
    }
    if (last >= 0) await this.deleteBefore({ [partition]: last + 1 });
    return { partition, records };
  }

  read(options: ReadOptions = {}): AsyncIterable<LogRecord[]> {
    if (this.#closed) {
      return (async function* closed(): AsyncGenerator<LogRecord[]> {
        throw new BraidError('log_closed', 'the Kafka log is closed; open it again to read');
      })();
    }
    // A read from below the start would be reset by the consumer to another offset: refused
    // here, before it starts (braid deletes only what its readers are past).
    const from = options.from ?? {};
    const start = () => this.startPosition();
    const read = () => this.#readFrom(options);
    return (async function* checked(): AsyncGenerator<LogRecord[]> {
      const first = await start();
      for (const [p, o] of Object.entries(first)) {
        if ((from[Number(p)] ?? 0) < o) throw truncatedRead(Number(p), from[Number(p)] ?? 0, o);
      }
      yield* read();
    })();
  }

  #readFrom(options: ReadOptions): AsyncIterable<LogRecord[]> {
    return readKafka(
      {
        kafka: this.#kafka,
        topic: this.topic,
        partitions: this.partitions,
        clientId: this.options.clientId,
        maxBatch: this.options.readMaxBatch,
        maxWaitMs: this.options.readMaxWaitMs,
        retry: RETRY,
        track: (stop) => {
          this.#readers.add(stop);
          return () => this.#readers.delete(stop);
        },
      },
      options,
    );
  }

  /** Ends running reads, waits (bounded) for sends in flight, disconnects. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      await Promise.all([...this.#readers].map((stop) => stop()));
      // Appends already queued are still sent; each settles by its deadline at the latest.
      await withTimeout(Promise.all([...this.#appending, ...this.#pending]), this.options.appendTimeoutMs, () => new Error('timeout')).catch(() => undefined);
      for (const chunk of this.#queue.splice(0)) this.#settle(chunk, new BraidError('log_closed', `appending ${chunk.messages.length} records to Kafka topic "${this.topic}": the log was closed before they were sent`));
      await Promise.all([...this.#slots].map((slot) => this.#dispose(slot, true)));
      await this.#admin.disconnect().catch(() => undefined);
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closed) throw new BraidError('log_closed', `the Kafka log on topic "${this.topic}" is closed; open it again`);
  }
}

/** [start, stop) index ranges of consecutive records, each under about `maxBytes` and at most `maxRecords`, with their size in bytes. */
function* chunksBySize(records: readonly AppendInput[], maxBytes: number, maxRecords: number): Generator<[number, number, number]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const { key, value } = records[i]!;
    const size = Buffer.byteLength(key) + value.length + RECORD_OVERHEAD_BYTES;
    if (i > start && (bytes + size > maxBytes || i - start >= maxRecords)) {
      yield [start, i, bytes];
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  yield [start, records.length, bytes];
}

function kafkaJsLevel(level: KafkaLogLevel): KafkaJsLevel {
  return { nothing: KafkaJsLevel.NOTHING, error: KafkaJsLevel.ERROR, warn: KafkaJsLevel.WARN, info: KafkaJsLevel.INFO, debug: KafkaJsLevel.DEBUG }[level];
}

/** Routes kafkajs' log lines to the given pino-like logger; drops them without one. */
function logCreatorFor(logger: KafkaLogLogger | undefined) {
  return () =>
    ({ namespace, level, log }: LogEntry): void => {
      if (!logger) return;
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = log as LogEntry['log'] & { logger?: unknown };
      const entry = { kafkajs: namespace, ...fields };
      // braid limits the idempotent producer's retries on purpose (see RETRY and #send).
      if (message.startsWith('Limiting retries for the idempotent producer')) return logger.debug(entry, message);
      if (level === KafkaJsLevel.ERROR) logger.error(entry, message);
      else if (level === KafkaJsLevel.WARN) logger.warn(entry, message);
      else if (level === KafkaJsLevel.INFO) logger.info(entry, message);
      else logger.debug(entry, message);
    };
}

import type { Logger } from 'pino';
import type { EventLog, Position } from '../shared/log/types.js';
import { warmStart } from '../speed/warm.js';

export interface RetentionOptions {
  readonly log: EventLog;
  /** log.retention, ms (finite) */
  readonly retentionMs: number;
  readonly dedupeWindowMs: number;
  readonly dedupeSkewMs: number;
  /** what the archive holds, durably (its manifest's position) */
  readonly archived: () => Position;
  /** S of the serving batch version; undefined: none yet (the speed layer reads the log from 0) */
  readonly servingSnapshot: () => Position | undefined;
  /** where a running replay reads, if one runs */
  readonly replayReading: () => Position | undefined;
  readonly logger: Logger;
  /** how often it looks, ms */
  readonly intervalMs: number;
  readonly now?: () => number;
}

export interface RetentionPass {
  /** per partition, the most it could delete below, and why there */
  readonly horizon: Position;
  readonly start: Position;
  readonly deletedRecords: number;
}

/**
 * `log.retention` with the archive as the system of record (contract §2): now and then, the
 * log drops records below, per partition, the least of
 *   - the first record appended within the retention (older ones may go),
 *   - what the archive holds (the archive keeps every record; the log may drop only those),
 *   - where the speed layer reads from when it starts over the serving version (its S less
 *     the dedupe window and skew, speed/warm.ts), and
 *   - where a running Kappa replay reads (replays read the archive below the log's start).
 * Without a serving version nothing is deleted (the speed layer would read from offset 0).
 * braid, not Kafka, deletes (DeleteRecords; whole old segments embedded): the topic keeps
 * retention.ms=-1, so no record can go before the archive has it.
 */
export class Retention {
  readonly #options: RetentionOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RetentionPass | undefined> | undefined;
  #last: RetentionPass | undefined;

  constructor(options: RetentionOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => {
      void this.once().catch((err: unknown) => this.#options.logger.warn({ err }, 'log retention: a pass failed; the next one tries again'));
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  /** The last pass's outcome. */
  last(): RetentionPass | undefined {
    return this.#last;
  }

  /** The log's start after the last pass and the records deleted in this process so far (metrics). */
  totals(): { start: Position; deletedRecords: number } | undefined {
    return this.#last && { start: this.#last.start, deletedRecords: this.#deleted };
  }

  #deleted = 0;

  /** One pass now (one at a time); resolves with what it did, undefined when nothing may go yet. */
  once(): Promise<RetentionPass | undefined> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<RetentionPass | undefined> {
    const { log, retentionMs, dedupeWindowMs, dedupeSkewMs, logger } = this.#options;
    const serving = this.#options.servingSnapshot();
    if (!serving) return undefined;
    const now = (this.#options.now ?? Date.now)();
    const partitions = Array.from({ length: log.partitions }, (_, p) => p);
    const byTime = await log.offsetsAt(Object.fromEntries(partitions.map((p) => [p, now - retentionMs])));
    const speed = await warmStart(log, serving, dedupeWindowMs, dedupeSkewMs);
    const archived = this.#options.archived();
    const replay = this.#options.replayReading();
    const horizon: Position = {};
    for (const p of partitions) {
      horizon[p] = Math.min(byTime[p] ?? 0, archived[p] ?? 0, speed[p] ?? 0, replay ? (replay[p] ?? 0) : Infinity);
    }
    const before = await log.startPosition();
    // A replay that started meanwhile pins what it reads: looked at again just before deleting.
    const late = this.#options.replayReading();
    if (late) for (const p of partitions) horizon[p] = Math.min(horizon[p]!, late[p] ?? 0);
    if (partitions.every((p) => horizon[p]! <= before[p]!)) {
      this.#last = { horizon, start: before, deletedRecords: 0 };
      return this.#last;
    }
    const start = await log.deleteBefore(horizon);
    const deletedRecords = partitions.reduce((n, p) => n + Math.max(0, start[p]! - before[p]!), 0);
    this.#deleted += deletedRecords;
    if (deletedRecords > 0) logger.info({ start, horizon, deletedRecords }, `log retention: deleted ${deletedRecords} archived records older than the retention`);
    this.#last = { horizon, start, deletedRecords };
    return this.#last;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }
}

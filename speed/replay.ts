import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { BraidError } from '../shared/errors.js';
import type { EventLog, Position } from '../shared/log/types.js';
import type { CompiledView } from '../shared/views/index.js';
import { DedupeState } from './dedupe.js';
import { emptyTables, Folder, type FoldCounts, type Tables } from './folder.js';

export const ReplayStates = ['running', 'succeeded', 'failed'] as const;
export type ReplayState = (typeof ReplayStates)[number];

/** What a replay is doing or did (GET /v1/replays/:id). */
export interface ReplayInfo {
  readonly id: string;
  readonly state: ReplayState;
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** P: the replay covers every record below it */
  readonly target: Position;
  readonly progress: {
    readonly records: number;
    readonly total: number;
    readonly folded: number;
    readonly duplicates: number;
    /** records per second so far */
    readonly rate: number;
    readonly etaSeconds: number | null;
    readonly position: Position;
  };
  readonly error?: string;
}

export interface Replay {
  readonly info: ReplayInfo;
  /** the replayed aggregates, once succeeded */
  readonly tables: Tables | undefined;
}

export interface ReplayerOptions {
  readonly log: EventLog;
  readonly views: readonly CompiledView[];
  readonly dedupeWindowMs: number;
  readonly logger?: Logger;
  readonly maxBatch?: number;
}

const KEEP = 20; // replays remembered

/**
 * Kappa replays (design section 7): the log from its beginning to a position P through the
 * speed layer's own fold (same dedupe, same measures), into a separate store, without
 * touching the live speed layer. Holds nothing on disk: a replay killed with the process
 * is simply started again, and a replay to the same P gives the same result.
 */
export class Replayer {
  readonly #options: ReplayerOptions;
  readonly #replays = new Map<string, { info: ReplayInfo; tables: Tables | undefined; done: Promise<void>; abort: AbortController }>();
  #latest: Replay | undefined;
  #closed = false;

  constructor(options: ReplayerOptions) {
    this.#options = options;
  }

  /** Starts a replay to `target` (default: the log's end now) and returns at once. */
  async start(target?: Position): Promise<ReplayInfo> {
    if (this.#closed) throw new BraidError('not_ready', 'the replayer is closed');
    const { log } = this.#options;
    const end = await log.endPosition();
    const P: Position = {};
    for (let p = 0; p < log.partitions; p++) {
      const want = target?.[p] ?? end[p] ?? 0;
      if (want > (end[p] ?? 0)) {
        throw new BraidError('invalid_parameter', `until: partition ${p} ends at ${end[p] ?? 0}; a replay can reach the log's end, not beyond (asked ${want})`);
      }
      P[p] = want;
    }
    const id = randomUUID();
    const total = Object.values(P).reduce((a, b) => a + b, 0);
    const started = Date.now();
    const info: ReplayInfo = {
      id,
      state: 'running',
      startedAt: new Date(started).toISOString(),
      target: P,
      progress: { records: 0, total, folded: 0, duplicates: 0, rate: 0, etaSeconds: null, position: {} },
    };
    const abort = new AbortController();
    const entry = { info, tables: undefined as Tables | undefined, done: Promise.resolve(), abort };
    this.#replays.set(id, entry);
    for (const old of [...this.#replays.keys()].slice(0, Math.max(0, this.#replays.size - KEEP))) this.#replays.delete(old);
    entry.done = this.#run(entry, P, total, started);
    return info;
  }

  async #run(
    entry: { info: ReplayInfo; tables: Tables | undefined; abort: AbortController },
    P: Position,
    total: number,
    started: number,
  ): Promise<void> {
    const { log, views, dedupeWindowMs, maxBatch = 5_000, logger } = this.#options;
    const folder = new Folder(views, new DedupeState({ windowMs: dedupeWindowMs }));
    const tables = emptyTables(views);
    const counts: FoldCounts = { folded: 0, duplicates: 0 };
    const position: Position = {};
    let records = 0;
    try {
      if (total > 0) {
        for await (const batch of log.read({ from: {}, until: P, maxBatch, signal: entry.abort.signal })) {
          folder.fold(batch, tables, counts);
          records += batch.length;
          for (const r of batch) position[r.partition] = r.offset + 1;
          const seconds = Math.max((Date.now() - started) / 1000, 0.001);
          const rate = records / seconds;
          entry.info = {
            ...entry.info,
            progress: { records, total, ...counts, rate: Math.round(rate), etaSeconds: rate > 0 ? Math.round((total - records) / rate) : null, position: { ...position } },
          };
        }
      }
      if (entry.abort.signal.aborted) throw new Error('the replay was stopped');
      entry.tables = tables;
      entry.info = {
        ...entry.info,
        state: 'succeeded',
        finishedAt: new Date().toISOString(),
        progress: { ...entry.info.progress, records, total, ...counts, etaSeconds: 0, position: { ...P } },
      };
      this.#latest = { info: entry.info, tables };
      logger?.info({ id: entry.info.id, target: P, records, seconds: (Date.now() - started) / 1000 }, 'replay finished');
    } catch (err) {
      entry.info = { ...entry.info, state: 'failed', finishedAt: new Date().toISOString(), error: (err as Error).message };
      logger?.warn({ id: entry.info.id, err: (err as Error).message }, 'replay failed');
    }
  }

  getReplay(id: string): ReplayInfo | undefined {
    return this.#replays.get(id)?.info;
  }

  replays(): ReplayInfo[] {
    return [...this.#replays.values()].map((r) => r.info).reverse();
  }

  /** Resolves with the replay once it has finished (succeeded or failed). */
  async wait(id: string): Promise<Replay> {
    const entry = this.#replays.get(id);
    if (!entry) throw new BraidError('not_found', `no replay "${id}"; GET /v1/replays lists recent ones`);
    await entry.done;
    return { info: entry.info, tables: entry.tables };
  }

  /** The latest replay that succeeded: what `source=kappa` answers from. */
  latest(): Replay | undefined {
    return this.#latest;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#replays.values()) r.abort.abort();
    await Promise.all([...this.#replays.values()].map((r) => r.done));
  }
}

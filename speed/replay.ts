import type { Logger } from 'pino';
import { BraidError } from '../shared/errors.js';
import { JobRegistry, type JobContext, type JobInfo } from '../shared/jobs.js';
import { totalOffsets, type Position } from '../shared/log/position.js';
import type { EventLog } from '../shared/log/types.js';
import type { CompiledView } from '../shared/views/index.js';
import { DedupeState } from './dedupe.js';
import { emptyTables, Folder, type FoldCounts } from './folder.js';
import { freezeRows, type ColumnTable } from '../shared/views/index.js';

/** A finished replay's tables, keyed by `viewKey`, frozen into columns. */
export type ReplayTables = ReadonlyMap<string, ColumnTable>;

export const ReplayStates = ['running', 'succeeded', 'failed'] as const;
export type ReplayState = (typeof ReplayStates)[number];

export interface ReplayProgress {
  readonly records: number;
  readonly total: number;
  readonly folded: number;
  readonly duplicates: number;
  /** records per second so far */
  readonly rate: number;
  readonly etaSeconds: number | null;
  readonly position: Position;
}

/** What a replay is doing or did (GET /v1/replays/:id): a job of kind `replay`. */
export interface ReplayInfo extends JobInfo<ReplayState, ReplayProgress> {
  readonly state: ReplayState;
  /** P: the replay covers every record below it */
  readonly target: Position;
}

export interface Replay {
  readonly info: ReplayInfo;
  /** the replayed aggregates, once succeeded */
  readonly tables: ReplayTables | undefined;
}

export interface ReplayerOptions {
  readonly log: EventLog;
  readonly views: readonly CompiledView[];
  readonly dedupeWindowMs: number;
  readonly logger?: Logger;
  readonly maxBatch?: number;
}

const KEEP = 20; // finished replays remembered (their records; only the latest keeps its tables)

/**
 * Kappa replays (contract §7): the log from its beginning to a position P through the
 * speed layer's own fold (same dedupe, same measures), into a separate store, without
 * touching the live speed layer. Holds nothing on disk: a replay killed with the process
 * is simply started again, and a replay to the same P gives the same result.
 */
export class Replayer {
  readonly #options: ReplayerOptions;
  readonly #replays: JobRegistry<ReplayInfo, ReplayTables>;
  #latest: Replay | undefined;

  constructor(options: ReplayerOptions) {
    this.#options = options;
    this.#replays = new JobRegistry<ReplayInfo, ReplayTables>({
      kind: 'replay',
      history: KEEP,
      // One at a time, and only the latest result kept (what source=kappa answers from): a
      // replay holds the state of every view, as much memory as the speed layer.
      concurrency: 1,
      keepResults: 1,
      busy: (running) => new BraidError('run_in_progress', `replay ${running.id} is still going; wait for it (GET /v1/replays/${running.id}) and start again`),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.#replays.onFinished((info, tables) => {
      if (info.state === 'succeeded' && tables) this.#latest = { info, tables };
    });
  }

  /** Throws what `start` would throw now (a replay is running, or the replayer is closed). */
  admit(): void {
    this.#replays.admit();
  }

  /** Starts a replay to `target` (default: the log's end now) and returns at once; one at a time (409). */
  async start(target?: Position): Promise<ReplayInfo> {
    this.#replays.admit();
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
    const total = totalOffsets(P);
    return this.#replays.start(
      { state: 'running', target: P, progress: { records: 0, total, folded: 0, duplicates: 0, rate: 0, etaSeconds: null, position: {} } },
      (job) => this.#run(job, P, total),
    );
  }

  async #run(job: JobContext<ReplayInfo>, P: Position, total: number): Promise<{ result: ReplayTables; final: Partial<ReplayInfo> }> {
    const { log, views, dedupeWindowMs, maxBatch = 5_000, logger } = this.#options;
    const started = Date.now();
    const folder = new Folder(views, new DedupeState({ windowMs: dedupeWindowMs }));
    const tables = emptyTables(views);
    const counts: FoldCounts = { folded: 0, duplicates: 0 };
    const position: Position = {};
    let records = 0;
    if (total > 0) {
      for await (const batch of log.read({ from: {}, until: P, maxBatch, signal: job.signal })) {
        folder.fold(batch, tables, counts);
        records += batch.length;
        for (const r of batch) position[r.partition] = r.offset + 1;
        const rate = records / Math.max((Date.now() - started) / 1000, 0.001);
        job.update({
          progress: { records, total, ...counts, rate: Math.round(rate), etaSeconds: rate > 0 ? Math.round((total - records) / rate) : null, position: { ...position } },
        });
      }
    }
    if (job.signal.aborted) throw new Error('the replay was stopped');
    logger?.info({ id: job.id, target: P, records, seconds: (Date.now() - started) / 1000 }, 'replay finished');
    // Frozen into columns: a fraction of the memory, and the form every query reads.
    const frozen = new Map([...tables].map(([key, t]) => [key, freezeRows(t.view, t.rows.values())]));
    return { result: frozen, final: { progress: { ...job.info().progress, records, total, ...counts, etaSeconds: 0, position: { ...P } } } };
  }

  getReplay(id: string): ReplayInfo | undefined {
    return this.#replays.get(id);
  }

  replays(): ReplayInfo[] {
    return this.#replays.list();
  }

  /** Resolves with the replay once it has finished (succeeded or failed). */
  async wait(id: string): Promise<Replay> {
    const info = await this.#replays.wait(id);
    return { info, tables: this.#replays.result(id) };
  }

  /** The latest replay that succeeded: what `source=kappa` answers from. */
  latest(): Replay | undefined {
    return this.#latest;
  }

  async close(): Promise<void> {
    await this.#replays.close();
  }
}

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { BraidError } from '../shared/errors.js';
import { JobRegistry, type JobContext, type JobInfo } from '../shared/jobs.js';
import { totalOffsets, type Position } from '../shared/log/position.js';
import type { EventLog, LogRecord } from '../shared/log/types.js';
import type { CompiledView } from '../shared/views/index.js';
import { ReplayCheckpoints } from './checkpoint.js';
import { DedupeState } from './dedupe.js';
import { emptyTables, Folder, type FoldCounts } from './folder.js';
import { freezeRows, type ColumnTable } from '../shared/views/index.js';

/** A finished replay's tables, keyed by `viewKey`, frozen into columns. */
export type ReplayTables = ReadonlyMap<string, ColumnTable>;

export const ReplayStates = ['running', 'succeeded', 'failed'] as const;
export type ReplayState = (typeof ReplayStates)[number];

export interface ReplayProgress {
  /** offsets covered, those of a checkpoint it resumed from included */
  readonly records: number;
  readonly total: number;
  readonly folded: number;
  readonly duplicates: number;
  /** records per second so far */
  readonly rate: number;
  readonly etaSeconds: number | null;
  readonly position: Position;
  /** where it went on from a checkpoint (undefined: from offset 0) */
  readonly resumedFrom?: Position;
  /** the last checkpoint it wrote */
  readonly checkpoint?: { readonly position: Position; readonly bytes: number };
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
  /** where checkpoints go (speed/checkpoint.ts); none without it */
  readonly checkpointDir?: string;
  /** a checkpoint every this many records (replay.checkpointRecords) */
  readonly checkpointRecords?: number;
  /** the dedupe state's skew allowance, ms (dedupe.skew; the speed layer's) */
  readonly dedupeSkewMs?: number;
  /**
   * The archive read back as log records (batch/archive/reader.ts): what a replay reads for
   * the records the log no longer holds under log.retention. Without it such a replay fails.
   */
  readonly archived?: (from: Position, until: Position) => AsyncIterable<LogRecord[]>;
}

const KEEP = 20; // finished replays remembered (their records; only the latest keeps its tables)

/**
 * Kappa replays (contract §7): the log from its beginning to a position P through the
 * speed layer's own fold (same dedupe, same measures), into a separate store, without
 * touching the live speed layer. With a checkpoint directory it writes its states and
 * position every `checkpointRecords` records and at its end (speed/checkpoint.ts), and a
 * replay goes on from the checkpoint when one is at or below its P: a replay killed with
 * its process resumes, and each verification's replay reads only what is new since the last.
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
    const { log, views, dedupeWindowMs, maxBatch = 5_000, logger, checkpointDir, checkpointRecords = 1_000_000 } = this.#options;
    const started = Date.now();
    // Pinned at offset 0 before anything async: log retention deletes nothing while the
    // replay decides where it starts (its position pins it from then on).
    this.#reading = {};
    const checkpoints = checkpointDir ? new ReplayCheckpoints(checkpointDir, views, dedupeWindowMs) : undefined;
    const resumed = checkpoints
      ? await checkpoints
          .load(P)
          .then(async (r) => (r.checkpoint && !(await sameLog(log, r.checkpoint.position, r.checkpoint.tips)) ? { problem: 'the checkpoint is of another log (its last records differ)' } : r))
          .catch((err: unknown) => {
            this.#reading = undefined;
            throw err;
          })
      : {};
    const from = 'checkpoint' in resumed ? resumed.checkpoint : undefined;
    if (from) logger?.info({ id: job.id, from: from.position, target: P }, 'replay: going on from its checkpoint');
    else if (checkpoints) logger?.debug({ id: job.id, why: resumed.problem }, 'replay: from offset 0');
    const { dedupeSkewMs, archived } = this.#options;
    const folder = new Folder(views, from?.dedupe ?? new DedupeState({ windowMs: dedupeWindowMs, ...(dedupeSkewMs === undefined ? {} : { skewMs: dedupeSkewMs }) }));
    const tables = from?.tables ?? emptyTables(views);
    const counts: FoldCounts = from ? { ...from.counts } : { folded: 0, duplicates: 0 };
    const position: Position = from ? { ...from.position } : {};
    const resumedFrom = from ? { resumedFrom: { ...from.position } } : {};
    const first = totalOffsets(position);
    let records = first;
    let checkpoint: ReplayProgress['checkpoint'];
    let sinceCheckpoint = 0;
    // The last record folded per partition: hashed into the checkpoint's tips when one is written.
    const tips: Record<number, string> = from ? { ...from.tips } : {};
    const lastRecord = new Map<number, LogRecord>();
    const save = async () => {
      for (const [p, r] of lastRecord) tips[p] = tipOf(r);
      lastRecord.clear();
      const bytes = await checkpoints!.save({ position, tips, counts, dedupe: folder.dedupe, tables });
      checkpoint = { position: { ...position }, bytes };
      sinceCheckpoint = 0;
    };
    const take = async (batch: readonly LogRecord[]) => {
      folder.fold(batch, tables, counts);
      records += batch.length;
      sinceCheckpoint += batch.length;
      for (const r of batch) {
        position[r.partition] = r.offset + 1;
        if (checkpoints) lastRecord.set(r.partition, r);
      }
      if (checkpoints && sinceCheckpoint >= checkpointRecords && !job.signal.aborted) await save();
      const rate = (records - first) / Math.max((Date.now() - started) / 1000, 0.001);
      job.update({
        progress: {
          records,
          total,
          ...counts,
          rate: Math.round(rate),
          etaSeconds: rate > 0 ? Math.round((total - records) / rate) : null,
          position: { ...position },
          ...resumedFrom,
          ...(checkpoint ? { checkpoint } : {}),
        },
      });
    };
    this.#reading = position;
    try {
      if (total > records) {
        // What the log no longer holds (log.retention) comes from the archive, the rest from
        // the log: one ordered stream per partition either way, through the same fold.
        const start = await log.startPosition();
        const archiveUntil: Position = Object.fromEntries(Object.keys(P).map((p) => [p, Math.min(start[Number(p)] ?? 0, P[Number(p)]!)]));
        if (Object.entries(archiveUntil).some(([p, o]) => (position[Number(p)] ?? 0) < o)) {
          if (!archived) throw new BraidError('log_truncated', `the log starts at ${JSON.stringify(start)}: the records before it were deleted under log.retention, and this replay has no archive to read them from (run it in the process with the archive role)`);
          for await (const batch of archived({ ...position }, archiveUntil)) {
            if (job.signal.aborted) break;
            await take(batch);
          }
        }
        const fromLog = Object.fromEntries(Object.keys(P).map((p) => [p, Math.max(position[Number(p)] ?? 0, archiveUntil[Number(p)]!)]));
        if (!job.signal.aborted) for await (const batch of log.read({ from: fromLog, until: P, maxBatch, signal: job.signal })) await take(batch);
      }
    } finally {
      this.#reading = undefined;
    }
    if (job.signal.aborted) throw new Error('the replay was stopped');
    // The end is a checkpoint too: the next replay (the next verification's) goes on from P.
    if (checkpoints && (sinceCheckpoint > 0 || !from)) await save();
    logger?.info({ id: job.id, target: P, records: records - first, resumedFrom: from?.position, seconds: (Date.now() - started) / 1000 }, 'replay finished');
    // Frozen into columns: a fraction of the memory, and the form every query reads.
    const frozen = new Map([...tables].map(([key, t]) => [key, freezeRows(t.view, t.rows.values())]));
    return {
      result: frozen,
      final: { progress: { ...job.info().progress, records, total, ...counts, etaSeconds: 0, position: { ...P }, ...resumedFrom, ...(checkpoint ? { checkpoint } : {}) } },
    };
  }

  /** Where the running replay reads, if one runs: log retention deletes nothing at or after it. */
  reading(): Position | undefined {
    return this.#reading && { ...this.#reading };
  }

  #reading: Position | undefined;

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

  /**
   * After an erasure rewrote the stores: stops a running replay, deletes the checkpoint and
   * forgets every replay's tables (they were folded from records now erased), so the next
   * replay reads the rewritten log and archive from offset 0; `source=kappa` answers again
   * once one has run.
   */
  async forget(): Promise<void> {
    await this.#replays.cancelAndForget(new BraidError('run_in_progress', 'an erasure stopped this replay: its records changed; start another'));
    this.#latest = undefined;
    const { checkpointDir, views, dedupeWindowMs } = this.#options;
    if (checkpointDir) await new ReplayCheckpoints(checkpointDir, views, dedupeWindowMs).remove();
  }

  /** The latest replay that succeeded: what `source=kappa` answers from. */
  latest(): Replay | undefined {
    return this.#latest;
  }

  async close(): Promise<void> {
    await this.#replays.close();
  }
}

/** What a checkpoint remembers of a record: the SHA-256 of its offset and value. */
function tipOf(r: Pick<LogRecord, 'offset' | 'value'>): string {
  return createHash('sha256').update(String(r.offset)).update(r.value).digest('hex');
}

/**
 * Whether the log holds, just below `position`, the records a checkpoint ended with. A
 * partition whose record there the log no longer holds (log.retention) is not checked.
 */
async function sameLog(log: EventLog, position: Position, tips: Readonly<Record<number, string>>): Promise<boolean> {
  const start = await log.startPosition();
  const from: Position = {};
  const until: Position = {};
  for (const [p, o] of Object.entries(position)) {
    const partition = Number(p);
    if (o > 0 && o - 1 >= (start[partition] ?? 0)) {
      from[partition] = o - 1;
      until[partition] = o;
    }
  }
  if (Object.keys(until).length === 0) return true;
  const end = await log.endPosition();
  for (const [p, o] of Object.entries(until)) if ((end[Number(p)] ?? 0) < o) return false;
  for await (const batch of log.read({ from, until })) {
    for (const r of batch) if (tips[r.partition] !== undefined && tips[r.partition] !== tipOf(r)) return false;
  }
  return true;
}

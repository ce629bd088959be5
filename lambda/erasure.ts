import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Archiver } from '../batch/archive/index.js';
import type { BatchRunner, RunInfo } from '../batch/recompute/index.js';
import { BraidError, isBraidError } from '../shared/errors.js';
import { writeFileDurably } from '../shared/files.js';
import { partitionFor } from '../shared/log/partitioner.js';
import { covers } from '../shared/log/position.js';
import type { EventLog, Position } from '../shared/log/types.js';
import type { Replayer } from '../speed/replay.js';
import type { SpeedLayer } from '../speed/speed-layer.js';

/** The stores an erasure reaches, in the order it reaches them. */
export const ErasureSteps = ['archive', 'log', 'batch', 'speed', 'replay'] as const;
export type ErasureStep = (typeof ErasureSteps)[number];
/** The steps each subject takes alone; the others serve every job of a group at once. */
const SUBJECT_STEPS = ['archive', 'log'] as const;
const SHARED_STEPS = ['batch', 'speed', 'replay'] as const;
/** Jobs that go together at most. */
const GROUP = 100;

export const ErasureStates = ['queued', 'running', 'completed', 'failed'] as const;
export type ErasureState = (typeof ErasureStates)[number];

export interface StepProgress {
  readonly state: 'pending' | 'running' | 'done';
  /** the subject's records found there (archive, log), the version computed (batch), the replay run (replay) */
  readonly records?: number;
  readonly files?: number;
  readonly version?: number;
  readonly run?: string;
  readonly replay?: string;
}

/** GET /v1/erasures/{id}: an erasure job, as the API shows it (never the subject). */
export interface ErasureInfo {
  readonly id: string;
  readonly kind: 'erasure';
  readonly state: ErasureState;
  /** the subject's keyed pseudonym (the audit's), when the audit is on */
  readonly subject: string | null;
  readonly requestedAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** the log's end when the job started: it erases the subject's records below it (later ones are new data) */
  readonly until?: Position;
  readonly partition: number;
  readonly progress: { readonly stepsDone: number; readonly stepsTotal: number; readonly stores: Readonly<Record<ErasureStep, StepProgress>> };
  readonly error?: string;
  readonly errorCode?: string;
}

/** What is kept on disk per job: the record, plus the subject until the job completes. */
interface StoredJob extends ErasureInfo {
  /** the subject itself, held only while the job is not completed (a resumed job needs it) */
  readonly key?: string;
}

export interface ErasureOptions {
  /** `<dataDir>/erasures`: one JSON file per job */
  readonly dir: string;
  readonly log: EventLog;
  readonly archiver: Archiver;
  readonly batch: BatchRunner;
  readonly speed: () => SpeedLayer | undefined;
  readonly replayer: Replayer;
  /** the audit's pseudonym of a subject, when the audit is on */
  readonly pseudonym?: (subject: string) => string;
  /** told of every job that ends (the audit's entry) */
  readonly onFinished?: (info: ErasureInfo) => void;
  readonly logger: Logger;
  /** jobs waiting at most (more is 503 overloaded) */
  readonly maxQueued?: number;
  /** finished jobs remembered for GET (their files stay) */
  readonly history?: number;
}

/**
 * Data-subject erasure by rewrite (contract §10). A job erases the subject's records below
 * the log's end at its start, U, from every store braid keeps, one after the other:
 *
 *   archive  wait until it covers U, then each file holding the subject's records is
 *            written again with them made erased events (shared/events/erased.ts);
 *   log      the embedded log rewrites them in place, same offsets; a Kafka partition is
 *            deleted up to the subject's last record (the archive holds the rest of it);
 *   batch    a full run from the rewritten archive (its S is past U), then every older
 *            version is deleted;
 *   speed    the speed layer is built again from that version (its dedupe state too);
 *   replay   a running replay is stopped, the checkpoint and every replay's tables dropped,
 *            and a replay runs from offset 0.
 *
 * Each step is idempotent and the job's file records each one done, so a job killed at any
 * point (SIGKILL included) resumes at the next start and completes. The jobs waiting when one
 * group ends form the next group (up to 100): each takes the archive and log steps on its own,
 * then one batch run, one rebuild and one replay serve them all.
 * a request for a subject whose job has not completed returns that job. The subject is kept
 * in the job's file only until it completes; the record shows its pseudonym.
 */
export class Erasures {
  readonly #options: ErasureOptions;
  readonly #jobs = new Map<string, StoredJob>();
  #queue: string[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  readonly #abort = new AbortController();

  private constructor(options: ErasureOptions) {
    this.#options = options;
  }

  /** Loads the jobs in `dir`; those not completed are queued again (a job killed with its process resumes). */
  static async open(options: ErasureOptions): Promise<Erasures> {
    const erasures = new Erasures(options);
    await mkdir(options.dir, { recursive: true });
    const all = await readdir(options.dir);
    // A save cut short by a crash leaves its temp file, which may hold a subject: gone before anything else.
    await Promise.all(all.filter((n) => n.endsWith('.tmp')).map((n) => rm(path.join(options.dir, n), { force: true })));
    const names = all.filter((n) => n.endsWith('.json')).sort();
    const jobs: StoredJob[] = [];
    for (const name of names) {
      const text = await readFile(path.join(options.dir, name), 'utf8');
      try {
        jobs.push(JSON.parse(text) as StoredJob);
      } catch (err) {
        throw new BraidError('invalid_config', `erasure job file ${path.join(options.dir, name)} is unreadable (${(err as Error).message}); restore it from a backup, or delete it and request the erasure again`);
      }
    }
    jobs.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
    for (const job of jobs) {
      erasures.#jobs.set(job.id, job);
      if (job.state === 'queued' || job.state === 'running') erasures.#queue.push(job.id);
    }
    if (erasures.#queue.length > 0) options.logger.info({ jobs: erasures.#queue }, 'erasure: jobs that had not completed go on');
    erasures.#forgetOld();
    erasures.#drain();
    return erasures;
  }

  /**
   * Requests the erasure of `subject`; returns its job and whether it is new. A job for the
   * same subject that has not completed is returned instead (a failed one is queued again).
   */
  async request(subject: string): Promise<{ job: ErasureInfo; created: boolean }> {
    if (this.#closed) throw new BraidError('not_ready', 'erasures are closed: braid is shutting down; request it again after the restart');
    if (typeof subject !== 'string' || subject.length === 0) throw new BraidError('invalid_parameter', 'subject: give the event key (or id) to erase');
    const open = [...this.#jobs.values()].find((j) => j.key === subject && j.state !== 'completed');
    if (open) {
      if (open.state === 'failed') {
        const { error: _error, errorCode: _code, finishedAt: _finished, ...again } = open;
        await this.#save({ ...again, state: 'queued' });
        this.#queue.push(open.id);
        this.#drain();
      }
      return { job: publicInfo(this.#jobs.get(open.id)!), created: false };
    }
    const maxQueued = this.#options.maxQueued ?? 1_000;
    if (this.#queue.length >= maxQueued) {
      throw new BraidError('overloaded', `${this.#queue.length} erasures are waiting (the most is ${maxQueued}); retry once some have completed (GET /v1/erasures)`);
    }
    const job: StoredJob = {
      id: randomUUID(),
      kind: 'erasure',
      state: 'queued',
      subject: this.#options.pseudonym?.(subject) ?? null,
      key: subject,
      requestedAt: new Date().toISOString(),
      partition: partitionFor(subject, this.#options.log.partitions),
      progress: { stepsDone: 0, stepsTotal: ErasureSteps.length, stores: Object.fromEntries(ErasureSteps.map((s) => [s, { state: 'pending' }])) as Record<ErasureStep, StepProgress> },
    };
    await this.#save(job);
    this.#queue.push(job.id);
    this.#drain();
    return { job: publicInfo(job), created: true };
  }

  get(id: string): ErasureInfo | undefined {
    const job = this.#jobs.get(id);
    return job && publicInfo(job);
  }

  /** Jobs remembered, newest first. */
  list(): ErasureInfo[] {
    return [...this.#jobs.values()].map(publicInfo).reverse();
  }

  /** Resolves with the job once it has completed or failed. */
  async wait(id: string, signal?: AbortSignal): Promise<ErasureInfo> {
    for (;;) {
      const job = this.#jobs.get(id);
      if (!job) throw new BraidError('not_found', `no erasure "${id}"; list them with GET /v1/erasures`);
      if (job.state === 'completed' || job.state === 'failed') return publicInfo(job);
      if (signal?.aborted || this.#closed) throw new BraidError('not_ready', `erasure ${id} has not finished (it goes on after a restart)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops after the step going now; a job not completed goes on at the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    await this.#running;
  }

  #drain(): void {
    if (this.#running || this.#closed) return;
    this.#running = (async () => {
      while (this.#queue.length > 0 && !this.#closed) {
        // The jobs waiting now go together: each its own archive and log steps, then one batch
        // run, one rebuild and one replay for all of them (the costly steps, per erasure otherwise).
        const group = this.#queue.splice(0, GROUP);
        await this.#runGroup(group);
      }
    })().finally(() => {
      this.#running = undefined;
      // A request that came as the loop ended.
      if (this.#queue.length > 0 && !this.#closed) this.#drain();
    });
  }

  async #runGroup(first: readonly string[]): Promise<void> {
    const { logger } = this.#options;
    const live: string[] = [];
    const ids = [...first];
    for (let i = 0; ; i++) {
      // Requests that came while the group took its subjects' steps join it.
      if (i >= ids.length && ids.length < GROUP && this.#queue.length > 0) ids.push(...this.#queue.splice(0, GROUP - ids.length));
      if (i >= ids.length) break;
      const id = ids[i]!;
      const job = this.#jobs.get(id)!;
      const subject = job.key;
      if (subject === undefined) continue;
      try {
        let current = await this.#save({ ...job, state: 'running', startedAt: job.startedAt ?? new Date().toISOString() });
        // U: what the job erases is below the log's end now; what comes later is new data.
        const until = current.until ?? (await this.#options.log.endPosition());
        current = await this.#save({ ...current, until });
        for (const step of SUBJECT_STEPS) {
          if (this.#closed) return this.#stopped(id);
          current = await this.#runStep(current, step, () => this.#subjectStep(step, subject, until, current.partition));
        }
        live.push(id);
      } catch (err) {
        if (this.#closed) return this.#stopped(id);
        await this.#failed(id, err);
      }
    }
    if (live.length === 0) return;
    try {
      for (const step of SHARED_STEPS) {
        const pending = live.filter((id) => this.#jobs.get(id)!.progress.stores[step].state !== 'done');
        if (pending.length === 0) continue;
        if (this.#closed) return this.#stopped(live[0]!);
        for (const id of pending) await this.#step(this.#jobs.get(id)!, step, { state: 'running' });
        const result = await this.#sharedStep(step, pending.map((id) => this.#jobs.get(id)!.until!));
        for (const id of pending) await this.#step(this.#jobs.get(id)!, step, { ...result, state: 'done' });
      }
    } catch (err) {
      if (this.#closed) return this.#stopped(live[0]!);
      for (const id of live) await this.#failed(id, err);
      return;
    }
    for (const id of live) {
      // Completed: the subject leaves the job's file, which keeps the pseudonym only.
      const { key: _forgotten, ...done } = this.#jobs.get(id)!;
      const job = await this.#save({ ...done, state: 'completed', finishedAt: new Date().toISOString() });
      logger.info({ erasure: id, subject: job.subject, together: live.length, stores: job.progress.stores }, 'erasure completed');
      this.#finished(job);
    }
  }

  async #runStep(job: StoredJob, step: ErasureStep, run: () => Promise<Partial<StepProgress>>): Promise<StoredJob> {
    if (job.progress.stores[step].state === 'done') return job;
    const running = await this.#step(job, step, { state: 'running' });
    const result = await run();
    return this.#step(running, step, { ...result, state: 'done' });
  }

  #stopped(id: string): void {
    this.#options.logger.info({ erasure: id }, 'erasure: stopped by the shutdown; it goes on at the next start');
  }

  async #failed(id: string, err: unknown): Promise<void> {
    const error = err instanceof Error ? err.message : String(err);
    const job = await this.#save({ ...this.#jobs.get(id)!, state: 'failed', finishedAt: new Date().toISOString(), error, errorCode: isBraidError(err) ? err.code : 'internal' }).catch(() => this.#jobs.get(id)!);
    this.#options.logger.error({ err, erasure: id }, 'erasure failed; request it again to go on from the step that failed');
    this.#finished(job);
  }

  #finished(job: StoredJob): void {
    this.#forgetOld();
    try {
      this.#options.onFinished?.(publicInfo(job));
    } catch (err) {
      this.#options.logger.error({ err }, 'an erasure listener failed');
    }
  }

  async #subjectStep(step: ErasureStep, subject: string, until: Position, partition: number): Promise<Partial<StepProgress>> {
    const { archiver, log } = this.#options;
    if (step === 'archive') {
      // Everything below U archived first: on Kafka the log then drops what the archive holds.
      await archiver.waitFor(until, this.#abort.signal);
      const { records, files } = await archiver.erase(subject, partition, until[partition] ?? 0);
      return { records, files };
    }
    const { records } = await log.erase(subject, until);
    return { records };
  }

  async #sharedStep(step: ErasureStep, untils: readonly Position[]): Promise<Partial<StepProgress>> {
    const { batch, replayer } = this.#options;
    const signal = this.#abort.signal;
    if (step === 'batch') {
      const run = await fullRun(batch, signal);
      if (run.state !== 'succeeded') throw new BraidError('internal', `the erasure's batch run ${run.id} failed (${run.error ?? 'no reason given'}); request the erasure again to retry`);
      if (!run.snapshot || !untils.every((u) => covers(run.snapshot!, u))) throw new BraidError('internal', `the erasure's batch run ${run.id} did not reach the erasure's position`);
      await batch.pruneOlder();
      return { run: run.id, ...(run.version === undefined ? {} : { version: run.version }) };
    }
    if (step === 'speed') {
      await this.#options.speed()?.rebuildNow();
      return {};
    }
    await replayer.forget();
    const replay = await startReplay(replayer, signal);
    const finished = await replayer.wait(replay);
    if (finished.info.state !== 'succeeded') throw new BraidError('internal', `the erasure's replay ${replay} failed (${finished.info.error ?? 'no reason given'}); request the erasure again to retry`);
    return { replay };
  }

  #step(job: StoredJob, step: ErasureStep, progress: StepProgress): Promise<StoredJob> {
    const stores = { ...job.progress.stores, [step]: progress };
    const stepsDone = ErasureSteps.filter((s) => stores[s].state === 'done').length;
    return this.#save({ ...job, progress: { ...job.progress, stepsDone, stores } });
  }

  /** Writes the job's file durably (temp, fsync, rename) and keeps the record. */
  async #save(job: StoredJob): Promise<StoredJob> {
    await writeFileDurably(this.#options.dir, path.join(this.#options.dir, `${job.id}.json`), `${JSON.stringify(job)}\n`);
    this.#jobs.set(job.id, job);
    return job;
  }

  /** Finished jobs beyond `history` are forgotten, their files deleted. */
  #forgetOld(): void {
    const history = this.#options.history ?? 1_000;
    const finished = [...this.#jobs.values()].filter((j) => j.state === 'completed');
    for (const job of finished.slice(0, Math.max(0, finished.length - history))) {
      this.#jobs.delete(job.id);
      void rm(path.join(this.#options.dir, `${job.id}.json`), { force: true });
    }
  }
}

function publicInfo(job: StoredJob): ErasureInfo {
  const { key: _subject, ...info } = job;
  return info;
}

/** A full batch run of its own, after any run going now (runs never overlap). */
async function fullRun(batch: BatchRunner, signal: AbortSignal): Promise<RunInfo> {
  for (;;) {
    if (signal.aborted) throw signal.reason;
    try {
      const run = batch.start('erasure', { full: true });
      return await batch.wait(run.id);
    } catch (err) {
      if (!isBraidError(err, 'run_in_progress')) throw err;
      const running = batch.runs().find((r) => r.finishedAt === undefined);
      if (running) await batch.wait(running.id);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Starts a replay to the log's end, or waits out one that started after the erasure's `forget`. */
async function startReplay(replayer: Replayer, signal: AbortSignal): Promise<string> {
  for (;;) {
    if (signal.aborted) throw signal.reason;
    try {
      return (await replayer.start()).id;
    } catch (err) {
      if (!isBraidError(err, 'run_in_progress')) throw err;
      const running = replayer.replays().find((r) => r.finishedAt === undefined);
      if (running) await replayer.wait(running.id);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
}

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { BraidError, isBraidError } from './errors.js';

/**
 * One record shape for every long piece of work braid does in the background — batch runs,
 * Kappa replays, verifications, and the kinds still to come — so that the API, the CLI and
 * the metrics follow each the same way: started, progress, an end state, an error.
 */
export interface JobInfo<State extends string = string, Progress = unknown> {
  readonly id: string;
  readonly kind: string;
  /** the kind's own states; every kind ends in `succeeded` or `failed` */
  readonly state: State | 'succeeded' | 'failed';
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly progress: Progress;
  /** why it failed, and the error's code from the catalogue (`internal` for anything else) */
  readonly error?: string;
  readonly errorCode?: string;
}

/** What a job's body sees of its own record while it runs. */
export interface JobContext<Info extends JobInfo> {
  readonly id: string;
  /** aborts when the registry closes */
  readonly signal: AbortSignal;
  info(): Info;
  /** replaces fields of the record (a new object: readers holding the old one keep it whole) */
  update(change: Partial<Info>): Info;
}

/** A job's body resolves with what it produced (kept beside the record) and the last fields of the record. */
export interface JobOutcome<Info extends JobInfo, Result> {
  readonly result?: Result;
  readonly final?: Partial<Info>;
}

export interface JobRegistryOptions<Info extends JobInfo> {
  /** the record's `kind` */
  readonly kind: string;
  /** what messages call one, e.g. "batch run" (default: the kind) */
  readonly label?: string;
  /** finished jobs remembered for get/list, oldest forgotten first */
  readonly history: number;
  /** of those, how many newest keep what they produced (default all): results can be large */
  readonly keepResults?: number;
  /**
   * Jobs of this kind that may run at once; one more is refused with `busy(running)`'s error
   * (default `run_in_progress` naming the running job).
   */
  readonly concurrency?: number;
  readonly busy?: (running: Info) => BraidError;
  readonly logger?: Logger;
  /** what the log says of a failed job (default `<kind> <id> failed`), and at which level */
  readonly failureMessage?: (info: Info) => string;
  readonly failureLevel?: 'warn' | 'error';
}

interface Entry<Info extends JobInfo, Result> {
  info: Info;
  result: Result | undefined;
  readonly abort: AbortController;
  done: Promise<Info>;
}

/**
 * Starts, tracks and remembers the jobs of one kind: ids, the record's lifecycle, a bound on
 * jobs running at once and on the history kept, waiting for an end, and listeners told of
 * every end (metrics, the hand-off). A job's body never has to catch: a rejection becomes the
 * record's `failed` state with the error's message.
 */
export class JobRegistry<Info extends JobInfo, Result = undefined> {
  readonly #options: JobRegistryOptions<Info>;
  readonly #entries = new Map<string, Entry<Info, Result>>();
  readonly #listeners = new Set<(info: Info, result: Result | undefined) => void>();
  #closed = false;

  constructor(options: JobRegistryOptions<Info>) {
    this.#options = options;
  }

  /**
   * Registers a job with its first fields and runs `body` in the background; returns the
   * first record at once. Throws the `busy` error when `concurrency` jobs are running, and
   * `not_ready` once closed.
   */
  start(first: Omit<Info, 'id' | 'kind' | 'startedAt'> & Partial<Pick<Info, 'id'>>, body: (job: JobContext<Info>) => Promise<JobOutcome<Info, Result> | void>): Info {
    const { kind } = this.#options;
    this.admit();
    const id = first.id ?? randomUUID();
    const info = { ...first, id, kind, startedAt: new Date().toISOString() } as unknown as Info;
    const entry: Entry<Info, Result> = { info, result: undefined, abort: new AbortController(), done: Promise.resolve(info) };
    this.#entries.set(id, entry);
    const job: JobContext<Info> = {
      id,
      signal: entry.abort.signal,
      info: () => entry.info,
      update: (change) => (entry.info = { ...entry.info, ...change }),
    };
    entry.done = (async () => {
      try {
        const outcome = await body(job);
        entry.result = outcome?.result;
        job.update({ ...outcome?.final, state: 'succeeded', finishedAt: new Date().toISOString() } as Partial<Info>);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        const errorCode = isBraidError(err) ? err.code : 'internal';
        job.update({ state: 'failed', finishedAt: new Date().toISOString(), error, errorCode } as Partial<Info>);
        const level = this.#options.failureLevel ?? 'warn';
        this.#options.logger?.[level]({ err, job: id }, this.#options.failureMessage?.(entry.info) ?? `${kind} ${id} failed`);
      }
      this.#forgetOld();
      for (const listener of this.#listeners) {
        try {
          listener(entry.info, entry.result);
        } catch (err) {
          this.#options.logger?.error({ err }, `a ${kind} listener failed`);
        }
      }
      return entry.info;
    })();
    return entry.info;
  }

  /** Throws what `start` would throw now: closed, or `concurrency` jobs running. */
  admit(): void {
    const label = this.#options.label ?? this.#options.kind;
    if (this.#closed) throw new BraidError('not_ready', `the ${label}s are closed: braid is shutting down; start it again`);
    const running = this.running();
    if (running.length >= (this.#options.concurrency ?? Infinity)) {
      throw this.#options.busy?.(running[0]!) ?? new BraidError('run_in_progress', `${label} ${running[0]!.id} is still going; wait for it and start again`);
    }
  }

  get(id: string): Info | undefined {
    return this.#entries.get(id)?.info;
  }

  /** What a finished job produced (undefined while it runs, after it failed, or once forgotten). */
  result(id: string): Result | undefined {
    return this.#entries.get(id)?.result;
  }

  /** Remembered jobs, newest first. */
  list(): Info[] {
    return [...this.#entries.values()].map((e) => e.info).reverse();
  }

  running(): Info[] {
    return [...this.#entries.values()].filter((e) => e.info.finishedAt === undefined).map((e) => e.info);
  }

  /** The newest finished job. */
  lastFinished(): Info | undefined {
    return this.list().find((info) => info.finishedAt !== undefined);
  }

  /** Resolves with the job's final record (succeeded or failed); never rejects for a known id. */
  wait(id: string): Promise<Info> {
    const entry = this.#entries.get(id);
    if (!entry) return Promise.reject(new BraidError('not_found', `no ${this.#options.label ?? this.#options.kind} "${id}"; list them to see their ids`));
    return entry.done;
  }

  /** Called with every job's final record and result. */
  onFinished(listener: (info: Info, result: Result | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Aborts the running jobs with `reason`, waits for them to end, and forgets what every
   * job produced (records stay): what an erasure does to results that may hold its subject.
   */
  async cancelAndForget(reason: unknown): Promise<void> {
    const running = [...this.#entries.values()].filter((e) => e.info.finishedAt === undefined);
    for (const e of running) e.abort.abort(reason);
    await Promise.all(running.map((e) => e.done));
    for (const e of this.#entries.values()) e.result = undefined;
  }

  /** Refuses new jobs, aborts the running ones with `reason` and waits for them to end. */
  async close(reason?: unknown): Promise<void> {
    this.#closed = true;
    const running = [...this.#entries.values()].filter((e) => e.info.finishedAt === undefined);
    for (const e of running) e.abort.abort(reason);
    await Promise.all(running.map((e) => e.done));
  }

  #forgetOld(): void {
    const keep = this.#options.keepResults ?? Infinity;
    let kept = 0;
    for (const e of [...this.#entries.values()].reverse()) {
      if (e.result === undefined) continue;
      if (++kept > keep) e.result = undefined;
    }
    let finished = 0;
    for (const e of this.#entries.values()) if (e.info.finishedAt !== undefined) finished++;
    for (const [id, e] of this.#entries) {
      if (finished <= this.#options.history) break;
      if (e.info.finishedAt === undefined) continue;
      this.#entries.delete(id);
      finished--;
    }
  }
}

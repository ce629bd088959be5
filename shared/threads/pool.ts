import { Worker } from 'node:worker_threads';
import { BraidError, ErrorCodes, type ErrorCode } from '../errors.js';

export interface WorkerPoolOptions {
  /** the worker's module: an .mjs bootstrap that loads the TypeScript through tsx (see bootstrap.mjs) */
  readonly file: URL;
  /** what the bootstrap imports, relative to it */
  readonly module: string;
  readonly size: number;
  /** jobs waiting or running at most; one more is a 503 `overloaded` */
  readonly maxQueue: number;
  /** what the error of a full queue says */
  readonly name: string;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly pending: Map<number, Pending>;
}

/**
 * Worker threads that run one module's function on messages (issue 13's execution model:
 * CPU work that needs no shared state leaves the event loop). Each job goes to the slot with
 * the fewest jobs; the queue is bounded (`maxQueue`, then 503 `overloaded`); a worker that
 * dies fails its own jobs and is replaced; `close` ends every worker and fails what is left.
 */
export class WorkerPool<In, Out> {
  readonly #options: WorkerPoolOptions;
  readonly #slots: Slot[] = [];
  #next = 0;
  #queued = 0;
  #closed = false;
  #spawned = 0;

  constructor(options: WorkerPoolOptions) {
    if (!(Number.isInteger(options.size) && options.size >= 1)) throw new RangeError(`a worker pool needs at least one thread, not ${options.size}`);
    this.#options = options;
    for (let i = 0; i < options.size; i++) this.#slots.push(this.#spawn());
  }

  /** Jobs waiting or running now. */
  get queued(): number {
    return this.#queued;
  }

  /** Workers started so far: a change means one was replaced, and lost whatever state it held. */
  get spawned(): number {
    return this.#spawned;
  }

  /** Resolves once every worker has loaded its module. */
  async ready(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.ready));
  }

  run(input: In, transfer: readonly ArrayBuffer[] = []): Promise<Out> {
    if (this.#closed) return Promise.reject(new BraidError('not_ready', `${this.#options.name}: the server is shutting down; retry against another instance`));
    if (this.#queued >= this.#options.maxQueue) {
      return Promise.reject(new BraidError('overloaded', `${this.#options.name}: ${this.#queued} requests are already waiting (the limit); retry shortly`));
    }
    let slot = this.#slots[0]!;
    for (const s of this.#slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.#next++;
    this.#queued++;
    return new Promise<Out>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.postMessage({ id, input }, transfer as ArrayBuffer[]);
    }).finally(() => this.#queued--);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const slots = this.#slots.splice(0);
    for (const s of slots) for (const p of s.pending.values()) p.reject(new BraidError('not_ready', `${this.#options.name}: the server is shutting down; retry against another instance`));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #spawn(): Slot {
    this.#spawned++;
    const worker = new Worker(this.#options.file, { workerData: { module: this.#options.module } });
    const pending = new Map<number, Pending>();
    const ready = new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: { ready?: true; id?: number; ok?: boolean; output?: unknown; error?: string; code?: string }) => {
        if (m.ready) return resolve();
        const p = pending.get(m.id!);
        if (!p) return;
        pending.delete(m.id!);
        if (m.ok) p.resolve(m.output);
        else if (m.code !== undefined && m.code in ErrorCodes) p.reject(new BraidError(m.code as ErrorCode, m.error!));
        else p.reject(new Error(`${this.#options.name}: ${m.error}`));
      });
    });
    ready.catch(() => undefined);
    const slot: Slot = { worker, ready, pending };
    worker.on('error', (err) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
    worker.on('exit', () => {
      for (const p of pending.values()) p.reject(new Error(`${this.#options.name}: a worker thread exited`));
      pending.clear();
      const i = this.#slots.indexOf(slot);
      if (i >= 0 && !this.#closed) this.#slots[i] = this.#spawn();
    });
    return slot;
  }
}

import { WorkerPool } from '../../shared/threads/pool.js';
import type { ColumnTable, CompiledView } from '../../shared/views/index.js';
import type { QueryJob } from './query-worker.js';
import type { Answered, ViewQuery } from './query.js';

export interface QueryThreadsOptions {
  /** worker threads (config query.threads) */
  readonly threads: number;
  /** the roll-up cache's bound, shared out among the threads (config query.cacheMemory) */
  readonly cacheBytes: number;
  /** queries one thread takes at once (the service's concurrency: it never sends more) */
  readonly maxQueue: number;
  /**
   * a table no query used for this long is dropped from a thread (sent again if asked again):
   * `keepMs` for a large table (a batch version, a replay: costly to send), `smallKeepMs` for
   * one under 65,536 rows (the speed layer's segments, replaced as they are compacted)
   */
  readonly keepMs?: number;
  readonly smallKeepMs?: number;
}

interface Thread {
  readonly pool: WorkerPool<QueryJob, Answered>;
  /** the tables the thread holds (main-thread ids): when a query last used each, and how long it is kept unused */
  readonly held: Map<number, { used: number; keepMs: number }>;
  /** the pool's spawn count these tables were sent to: a replaced worker holds none */
  spawned: number;
}

/**
 * Queries executed in worker threads (issue 12: ingest never waits). The tables a query
 * merges are immutable, so each is copied to a thread once — a batch version when its first
 * query comes, a sealed speed segment with the query that sealed it — and the thread keeps
 * it, with its own engine and roll-up cache, until no query has used it for a while; a
 * compacted speed segment whose two halves the thread holds is merged there rather than
 * sent (`ColumnTable.mergedFrom`: the same merge, so the same table). The
 * main thread keeps taking the consistent pair (sealing the speed layer's live segment), so
 * what an answer holds is decided exactly as in-process; only the merge, ordering and
 * cutting move. A query goes to the thread that holds its largest table, else the least busy.
 */
export class QueryThreads {
  /** tables sent to a thread as their parts, and made there by a merge instead */
  readonly stats = { sent: 0, merged: 0 };
  readonly #threads: Thread[] = [];
  readonly #options: QueryThreadsOptions;
  readonly #keepMs: number;
  readonly #smallKeepMs: number;

  constructor(options: QueryThreadsOptions) {
    this.#options = options;
    this.#keepMs = options.keepMs ?? 30_000;
    this.#smallKeepMs = options.smallKeepMs ?? Math.min(this.#keepMs, 2_000);
    for (let i = 0; i < options.threads; i++) {
      const pool = new WorkerPool<QueryJob, Answered>({
        file: new URL('../../shared/threads/bootstrap.mjs', import.meta.url),
        module: '../../serving/query/query-worker.ts',
        size: 1,
        maxQueue: options.maxQueue,
        name: 'query thread',
      });
      this.#threads.push({ pool, held: new Map(), spawned: pool.spawned });
    }
  }

  /** Tables the threads hold, all together (a table held by two threads counts twice). */
  get tablesHeld(): number {
    return this.#threads.reduce((n, t) => n + t.held.size, 0);
  }

  async ready(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.pool.ready()));
  }

  answer(view: CompiledView, tables: readonly ColumnTable[], query: ViewQuery): Promise<Answered> {
    const thread = this.#pick(tables);
    if (thread.pool.spawned !== thread.spawned) {
      // The worker was replaced (it died): it holds nothing of what was sent.
      thread.held.clear();
      thread.spawned = thread.pool.spawned;
    }
    const now = performance.now();
    const add: Array<QueryJob['add'][number]> = [];
    for (const t of tables) {
      if (!thread.held.has(t.id)) {
        const from = t.mergedFrom;
        // A compacted segment the thread can make from two it holds (maybe sent just before it) is not sent: it is named.
        if (from && thread.held.has(from[0]) && thread.held.has(from[1])) {
          add.push({ id: t.id, def: t.view.def, merge: from });
          this.stats.merged++;
        } else {
          add.push({ id: t.id, def: t.view.def, parts: t.parts() });
          this.stats.sent++;
        }
      }
      thread.held.set(t.id, { used: now, keepMs: t.length >= 65_536 ? this.#keepMs : this.#smallKeepMs });
    }
    const wanted = new Set(tables.map((t) => t.id));
    const drop: number[] = [];
    for (const [id, { used, keepMs }] of thread.held) {
      if (!wanted.has(id) && now - used > keepMs) {
        thread.held.delete(id);
        drop.push(id);
      }
    }
    const job: QueryJob = { cacheBytes: Math.floor(this.#options.cacheBytes / this.#threads.length), add, drop, def: view.def, tables: tables.map((t) => t.id), query };
    return thread.pool.run(job).catch((err: unknown) => {
      // What this job sent may not have arrived (the worker died with it): send it again next time.
      for (const t of add) thread.held.delete(t.id);
      throw err;
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.pool.close()));
  }

  #pick(tables: readonly ColumnTable[]): Thread {
    let largest: ColumnTable | undefined;
    for (const t of tables) if (!largest || t.length > largest.length) largest = t;
    if (largest) for (const t of this.#threads) if (t.held.has(largest.id) && t.pool.spawned === t.spawned) return t;
    let best = this.#threads[0]!;
    for (const t of this.#threads) if (t.pool.queued < best.pool.queued) best = t;
    return best;
  }
}

import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/position.js';
import type { ColumnTable, CompiledView } from '../../shared/views/index.js';
import type { Source, ViewSource } from '../../lambda/index.js';
import type { AnswerRow } from './query.js';
import { QueryCache } from './cache.js';
import { QueryEngine } from './engine.js';
import { QueryThreads } from './threads.js';
import type { Answered, ViewQuery } from './query.js';
import { checkQuery, fromQueryString, type Format, type QueryRequest } from './params.js';

/** Where answers come from: the process' views and, per source, the state that answers (lambda/sources.ts). */
export interface ViewSources {
  readonly mode: 'lambda' | 'kappa';
  views(): readonly CompiledView[];
  /** throws `not_ready` (with what to do) when that source cannot answer now */
  source(name: string, source: Source): ViewSource;
}

export interface Answer {
  readonly view: string;
  readonly source: Source;
  readonly granularity: string;
  readonly definitionVersion: string;
  readonly position: Position;
  readonly batch: { version: number; snapshot: Position } | null;
  /** groups after having, before offset and limit */
  readonly groups: number;
  /** whether limit cut rows */
  readonly truncated: boolean;
  readonly rows: AnswerRow[];
}

/** How the route renders an answer: not part of the answer itself. */
export interface AnswerForm {
  readonly format: Format;
  /** the dimensions of the rows, in order */
  readonly groupBy: string[];
  /** the definition answered with (view evolution: maybe an older one) */
  readonly answeredWith: CompiledView;
}

export interface QueryServiceOptions {
  /** each query's budget: groups merged, and time (config `query`) */
  readonly maxGroups: number;
  readonly timeoutMs: number;
  /** bytes the engine's cache may hold */
  readonly cacheBytes: number;
  /** queries executed at once, and waiting */
  readonly concurrency: number;
  readonly maxQueued: number;
  /** the process' slices of the event loop (shared/async.ts Slices), for queries executed on it */
  readonly pause: () => Promise<void> | undefined;
  /** worker threads that execute queries (config query.threads); 0 or absent: the event loop */
  readonly threads?: number;
}

/** What executes a query over its tables: the engine on the event loop, or query threads. */
interface Executor {
  answer(view: CompiledView, tables: readonly ColumnTable[], query: ViewQuery): Promise<Answered>;
}

/** Answers view queries (contract §8, §10): parameters checked against the view, then the engine. */
export class QueryService {
  readonly #views: Map<string, CompiledView>;
  readonly #sources: ViewSources;
  readonly #options: QueryServiceOptions;
  readonly #engine: Executor;
  readonly #threads: QueryThreads | undefined;
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #batches = new Map<string, Batch<Answer & AnswerForm>>();

  constructor(sources: ViewSources, options: QueryServiceOptions) {
    this.#sources = sources;
    this.#options = options;
    this.#views = new Map(sources.views().map((v) => [v.def.name, v]));
    const threads = options.threads ?? 0;
    this.#threads = threads > 0 ? new QueryThreads({ threads, cacheBytes: options.cacheBytes, maxQueue: options.concurrency }) : undefined;
    this.#engine = this.#threads ?? new QueryEngine({ cache: new QueryCache(options.cacheBytes), pause: options.pause });
  }

  /** Resolves once the query threads (if any) have loaded. */
  async ready(): Promise<void> {
    await this.#threads?.ready();
  }

  /** Ends the query threads; a query still running in one fails with 503. */
  async close(): Promise<void> {
    await this.#threads?.close();
  }

  /** Queries executing, and waiting for a turn. */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  views(): CompiledView[] {
    return [...this.#views.values()];
  }

  view(name: string): CompiledView {
    const view = this.#views.get(name);
    if (!view) {
      throw new BraidError('not_found', `no view "${name}"; the views are ${[...this.#views.keys()].join(', ') || 'none (declare them under views: in braid.yaml)'}`);
    }
    return view;
  }

  /** A query given as query-string parameters (GET /v1/views/:name). */
  answer(name: string, params: Record<string, unknown>): Promise<Answer & AnswerForm> {
    return this.answerRequest(name, fromQueryString(params));
  }

  /** A query in its JSON form (POST /v1/views/:name/query, and the query string read into it). */
  answerRequest(name: string, request: QueryRequest): Promise<Answer & AnswerForm> {
    // Identical queries asked while one is computed share the next computation: it starts
    // after every one of them arrived, so each answer is as fresh as its own would be.
    const key = `${name}\u0000${JSON.stringify(request)}`;
    let batch = this.#batches.get(key);
    if (!batch) {
      batch = new Batch(() => this.#compute(name, request), () => this.#batches.delete(key));
      this.#batches.set(key, batch);
    }
    return batch.join();
  }

  async #compute(name: string, request: QueryRequest): Promise<Answer & AnswerForm> {
    const configured = this.view(name);
    const kappaMode = this.#sources.mode === 'kappa';
    // In Kappa mode every answer comes from the stream fold over the whole log.
    const withSource = kappaMode && request.source === undefined ? { ...request, source: 'kappa' } : request;
    const { source } = checkQuery(configured, withSource);
    if (kappaMode && (source === 'lambda' || source === 'batch')) {
      throw new BraidError('invalid_parameter', `source: this braid runs in mode kappa, with no batch layer; ask with source=kappa (the default) or speed`);
    }
    await this.#turn();
    try {
      // The tables are taken once the query's turn comes: the freshest pair, sealed.
      const from = this.#sources.source(name, source);
      // The definition answered with may be an older one still being served while the
      // configured one is rebuilt (view evolution); parameters are checked against it.
      const checked = checkQuery(from.view, withSource);
      const { maxGroups, timeoutMs } = this.#options;
      const query = { ...checked.query, budget: { maxGroups, timeoutMs, deadline: Date.now() + timeoutMs } };
      const answered = await this.#engine.answer(from.view, from.tables, query);
      return this.#answer(name, source, query, from, answered, checked.format);
    } finally {
      this.#release();
    }
  }

  /** Waits for one of `concurrency` turns; refuses at once when `maxQueued` already wait. */
  async #turn(): Promise<void> {
    if (this.#running < this.#options.concurrency) {
      this.#running++;
      return;
    }
    if (this.#waiting.length >= this.#options.maxQueued) {
      throw new BraidError('overloaded', `${this.#options.concurrency} queries are running and ${this.#waiting.length} waiting (query.concurrency, query.maxQueued); retry shortly`);
    }
    // The releasing query hands its turn over: #running stays as it is.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#running--;
  }

  #answer(
    name: string,
    source: Source,
    query: ReturnType<typeof checkQuery>['query'],
    from: ViewSource,
    answered: { rows: AnswerRow[]; groups: number; truncated: boolean },
    format: Format,
  ): Answer & AnswerForm {
    return {
      view: name,
      source,
      granularity: query.granularity,
      definitionVersion: from.view.version,
      position: from.position,
      batch: from.batch,
      groups: answered.groups,
      truncated: answered.truncated,
      rows: answered.rows,
      format,
      groupBy: query.groupBy.map((i) => from.view.def.dimensions[i]!),
      answeredWith: from.view,
    };
  }
}

/**
 * One query's computations: the one running, and the next, which every caller arriving
 * while one runs joins (it starts once the running one ends).
 */
class Batch<T> {
  #running: Promise<T> | undefined;
  #next: Promise<T> | undefined;
  readonly #compute: () => Promise<T>;
  readonly #onIdle: () => void;

  constructor(compute: () => Promise<T>, onIdle: () => void) {
    this.#compute = compute;
    this.#onIdle = onIdle;
  }

  join(): Promise<T> {
    const running = this.#running;
    if (!running) return this.#start();
    this.#next ??= running.then(settled, settled).then(() => {
      this.#next = undefined;
      return this.#start();
    });
    return this.#next;
  }

  #start(): Promise<T> {
    const p = this.#compute();
    this.#running = p;
    p.then(settled, settled).then(() => {
      if (this.#running !== p || this.#next) return;
      this.#running = undefined;
      this.#onIdle();
    });
    return p;
  }
}

const settled = (): void => undefined;

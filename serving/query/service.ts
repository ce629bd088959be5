import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/position.js';
import type { CompiledView } from '../../shared/views/index.js';
import type { Source, ViewSource } from '../../lambda/index.js';
import { answerQuery, answerQueryOver, type AnswerRow } from './query.js';
import { parseViewQuery } from './params.js';

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
  readonly rows: AnswerRow[];
}

/** Answers view queries (contract §8): parameters checked against the view, rows merged group by group. */
export class QueryService {
  readonly #views: Map<string, CompiledView>;
  readonly #sources: ViewSources;

  readonly #limits: { readonly maxGroups: number; readonly timeoutMs: number } | undefined;

  /** `limits`: each query's budget (config `query`); none, unbounded */
  constructor(sources: ViewSources, limits?: { readonly maxGroups: number; readonly timeoutMs: number }) {
    this.#sources = sources;
    this.#limits = limits;
    this.#views = new Map(sources.views().map((v) => [v.def.name, v]));
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

  answer(name: string, params: Record<string, unknown>): Answer {
    const configured = this.view(name);
    const kappaMode = this.#sources.mode === 'kappa';
    // In Kappa mode every answer comes from the stream fold over the whole log.
    const withSource = kappaMode && params.source === undefined ? { ...params, source: 'kappa' } : params;
    const source = parseViewQuery(configured, withSource).source;
    if (kappaMode && (source === 'lambda' || source === 'batch')) {
      throw new BraidError('invalid_parameter', `source: this braid runs in mode kappa, with no batch layer; ask with source=kappa (the default) or speed`);
    }
    const from = this.#sources.source(name, source);
    // The definition answered with may be an older one still being served while the
    // configured one is rebuilt (view evolution); parameters are checked against it.
    const parsed = parseViewQuery(from.view, withSource).query;
    const limits = this.#limits;
    const query = limits ? { ...parsed, budget: { maxGroups: limits.maxGroups, timeoutMs: limits.timeoutMs, deadline: Date.now() + limits.timeoutMs } } : parsed;
    const rows = from.base ? answerQueryOver(from.view, from.base, from.live, query) : answerQuery(from.view, from.live, query);
    return { view: name, source, granularity: query.granularity, definitionVersion: from.view.version, position: from.position, batch: from.batch, rows };
  }
}

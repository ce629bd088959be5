import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/position.js';
import type { CompiledView } from '../../shared/views/index.js';
import type { Source, ViewSource } from '../../lambda/index.js';
import { answerQuery, answerQueryOver, type AnswerRow } from './query.js';
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

  /** A query given as query-string parameters (GET /v1/views/:name). */
  answer(name: string, params: Record<string, unknown>): Answer & AnswerForm {
    return this.answerRequest(name, fromQueryString(params));
  }

  /** A query in its JSON form (POST /v1/views/:name/query, and the query string read into it). */
  answerRequest(name: string, request: QueryRequest): Answer & AnswerForm {
    const configured = this.view(name);
    const kappaMode = this.#sources.mode === 'kappa';
    // In Kappa mode every answer comes from the stream fold over the whole log.
    const withSource = kappaMode && request.source === undefined ? { ...request, source: 'kappa' } : request;
    const { source } = checkQuery(configured, withSource);
    if (kappaMode && (source === 'lambda' || source === 'batch')) {
      throw new BraidError('invalid_parameter', `source: this braid runs in mode kappa, with no batch layer; ask with source=kappa (the default) or speed`);
    }
    const from = this.#sources.source(name, source);
    // The definition answered with may be an older one still being served while the
    // configured one is rebuilt (view evolution); parameters are checked against it.
    const checked = checkQuery(from.view, withSource);
    const limits = this.#limits;
    const query = limits ? { ...checked.query, budget: { maxGroups: limits.maxGroups, timeoutMs: limits.timeoutMs, deadline: Date.now() + limits.timeoutMs } } : checked.query;
    const answered = from.base ? answerQueryOver(from.view, from.base, from.live, query) : answerQuery(from.view, from.live, query);
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
      format: checked.format,
      groupBy: query.groupBy.map((i) => from.view.def.dimensions[i]!),
      answeredWith: from.view,
    };
  }
}

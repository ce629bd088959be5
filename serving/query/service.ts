import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/types.js';
import { viewKey, type CompiledView, type ViewRow, type ViewTable } from '../../shared/views/index.js';
import { answerQuery, answerQueryOver, type AnswerRow } from './query.js';
import { parseViewQuery, type Source } from './params.js';

/** A published batch version, loaded: what `source=batch` answers from. */
export interface BatchVersion {
  readonly version: number;
  readonly snapshot: Position;
  readonly createdAt: string;
  readonly tables: ReadonlyMap<string, ViewTable>;
}

export interface BatchViews {
  current(): BatchVersion | undefined;
}

/**
 * What the speed layer offers a query: the rows of a view for every record at or after
 * the serving batch version's snapshot, and the position they reach. `rowsFor` returns the
 * batch version it complements, so batch + speed are taken as one consistent pair.
 */
export interface SpeedViews {
  snapshot(viewName: string):
    | { batch: BatchVersion | undefined; view: CompiledView; sources: ReadonlyArray<Iterable<ViewRow>>; position: Position; whole: boolean }
    | undefined;
}

/** The latest completed Kappa replay: what `source=kappa` answers from in Lambda mode. */
export interface KappaViews {
  latest(): { readonly position: Position; readonly tables: ReadonlyMap<string, ViewTable> } | undefined;
}

export interface QueryServiceOptions {
  readonly views: readonly CompiledView[];
  readonly mode?: 'lambda' | 'kappa';
  readonly batch?: BatchViews;
  readonly speed?: SpeedViews;
  readonly kappa?: KappaViews;
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

/** Answers view queries from the source asked for (design section 8). */
export class QueryService {
  readonly #views: Map<string, CompiledView>;
  readonly #options: QueryServiceOptions;

  constructor(options: QueryServiceOptions) {
    this.#options = options;
    this.#views = new Map(options.views.map((v) => [v.def.name, v]));
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
    const kappaMode = this.#options.mode === 'kappa';
    // In Kappa mode every answer comes from the stream fold over the whole log.
    const withSource = kappaMode && params.source === undefined ? { ...params, source: 'kappa' } : params;
    const source = parseViewQuery(configured, withSource).source;
    if (kappaMode && (source === 'lambda' || source === 'batch')) {
      throw new BraidError('invalid_parameter', `source: this braid runs in mode kappa, with no batch layer; ask with source=kappa (the default) or speed`);
    }
    // The definition answered with may be an older one still being served while the
    // configured one is rebuilt (view evolution); parameters are checked against it.
    const answerWith = (view: CompiledView, position: Position, batch: Answer['batch'], sources: ReadonlyArray<Iterable<ViewRow>>, base?: ViewTable): Answer => {
      const { query } = parseViewQuery(view, withSource);
      const rows = base ? answerQueryOver(view, base, sources, query) : answerQuery(view, sources, query);
      return { view: name, source, granularity: query.granularity, definitionVersion: view.version, position, batch, rows };
    };
    switch (source) {
      case 'batch': {
        const batch = this.#batchVersion();
        const table = batch.tables.get(name);
        if (!table) throw new BraidError('not_ready', `view "${name}" is newer than batch version ${batch.version}; the next batch run computes it`);
        return answerWith(table.view, batch.snapshot, { version: batch.version, snapshot: batch.snapshot }, [], table);
      }
      case 'lambda':
      case 'speed': {
        const speed = this.#options.speed?.snapshot(name);
        if (!speed) throw new BraidError('not_ready', 'the speed layer is not running in this process or is still catching up; ask with source=batch, or retry shortly');
        if (!speed.whole) {
          throw new BraidError('not_ready', `view "${name}" was added after batch version ${speed.batch?.version}; it is served once a batch run computes it (one starts when braid starts)`);
        }
        const batchTable = source === 'lambda' ? speed.batch?.tables.get(name) : undefined;
        return answerWith(speed.view, speed.position, speed.batch ? { version: speed.batch.version, snapshot: speed.batch.snapshot } : null, speed.sources, batchTable);
      }
      case 'kappa': {
        if (kappaMode) {
          const speed = this.#options.speed?.snapshot(name);
          if (!speed) throw new BraidError('not_ready', 'the stream fold is still catching up with the log; retry shortly');
          return answerWith(speed.view, speed.position, null, speed.sources);
        }
        const replay = this.#options.kappa?.latest();
        if (!replay) throw new BraidError('not_ready', 'no Kappa replay has completed yet; start one with POST /v1/replays (or braid replay)');
        const table = replay.tables.get(viewKey(configured));
        return answerWith(configured, replay.position, null, table ? [table.rows.values()] : []);
      }
    }
  }

  #batchVersion(): BatchVersion {
    const batch = this.#options.batch?.current();
    if (!batch) throw new BraidError('not_ready', 'no batch version is published yet; start a run with POST /v1/batch/runs or wait for the schedule');
    return batch;
  }
}

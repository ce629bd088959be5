import { BraidError } from '../shared/errors.js';
import type { Position } from '../shared/log/position.js';
import { viewKey, type BatchVersion, type ColumnTable, type CompiledView } from '../shared/views/index.js';
import type { SpeedPair } from '../speed/speed-layer.js';
import { answeringView, answersWhole } from './evolution.js';

export const Sources = ['lambda', 'batch', 'speed', 'kappa'] as const;
export type Source = (typeof Sources)[number];

/** What answers a view from one source: the definition, the position, the batch side and the tables. */
export interface ViewSource {
  /** the definition answered with (view evolution: maybe an older one) */
  readonly view: CompiledView;
  readonly position: Position;
  readonly batch: { readonly version: number; readonly snapshot: Position } | null;
  /**
   * Every table the answer merges, all immutable (so a query may keep what it derives from
   * them): the batch version's, the speed layer's sealed segments', or a replay's.
   */
  readonly tables: readonly ColumnTable[];
}

export interface LambdaSourcesOptions {
  readonly views: readonly CompiledView[];
  readonly mode: 'lambda' | 'kappa';
  readonly batch: () => BatchVersion | undefined;
  readonly speed: () => { pair(): SpeedPair | undefined } | undefined;
  /** the latest completed Kappa replay */
  readonly kappa: () => { readonly position: Position; readonly tables: ReadonlyMap<string, ColumnTable> } | undefined;
}

/**
 * Which state answers each source (contract §6–8), always as one consistent pair:
 * `lambda` is the speed layer's paired batch version plus its segments, `batch` the serving
 * version alone, `speed` the segments alone, `kappa` the latest replay (or, in mode kappa,
 * the stream fold over the whole log).
 */
export class LambdaSources {
  readonly mode: 'lambda' | 'kappa';
  readonly #options: LambdaSourcesOptions;
  readonly #configured: ReadonlyMap<string, CompiledView>;

  constructor(options: LambdaSourcesOptions) {
    this.#options = options;
    this.mode = options.mode;
    this.#configured = new Map(options.views.map((v) => [v.def.name, v]));
  }

  views(): readonly CompiledView[] {
    return this.#options.views;
  }

  source(name: string, source: Source): ViewSource {
    switch (source) {
      case 'batch': {
        const batch = this.#options.batch();
        if (!batch) throw new BraidError('not_ready', 'no batch version is published yet; start a run with POST /v1/batch/runs or wait for the schedule');
        const table = batch.tables.get(name);
        if (!table) throw new BraidError('not_ready', `view "${name}" is newer than batch version ${batch.version}; the next batch run computes it`);
        return { view: table.view, position: batch.snapshot, batch: { version: batch.version, snapshot: batch.snapshot }, tables: [table] };
      }
      case 'lambda':
      case 'speed': {
        const pair = this.#options.speed()?.pair();
        if (!pair) throw new BraidError('not_ready', this.mode === 'kappa' ? 'the stream fold is still catching up with the log; retry shortly' : 'the speed layer is not running in this process or is still catching up; ask with source=batch, or retry shortly');
        const view = answeringView(name, this.#configured, pair.base)!;
        const segments = pair.segments.map((tables) => tables.get(viewKey(view)));
        if (!answersWhole(view, pair.base) || segments.some((t) => t === undefined)) {
          throw new BraidError('not_ready', `view "${name}" was added after batch version ${pair.base?.version}; it is served once a batch run computes it (one starts when braid starts)`);
        }
        const base = source === 'lambda' ? pair.base?.tables.get(name) : undefined;
        const batch = pair.base ? { version: pair.base.version, snapshot: pair.base.snapshot } : null;
        return { view, position: pair.position, batch, tables: [...(base ? [base] : []), ...(segments as ColumnTable[])] };
      }
      case 'kappa': {
        // In mode kappa the speed layer folds the whole log: it is the Kappa answer.
        if (this.mode === 'kappa') return { ...this.source(name, 'speed'), batch: null };
        const replay = this.#options.kappa();
        if (!replay) throw new BraidError('not_ready', 'no Kappa replay has completed yet; start one with POST /v1/replays (or braid replay)');
        const view = this.#configured.get(name)!;
        const table = replay.tables.get(viewKey(view));
        return { view, position: replay.position, batch: null, tables: table ? [table] : [] };
      }
    }
  }
}

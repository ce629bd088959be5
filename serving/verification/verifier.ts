import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/types.js';
import { viewKey, type CompiledView } from '../../shared/views/index.js';
import type { SpeedLayer } from '../../speed/speed-layer.js';
import type { Replayer } from '../../speed/replay.js';
import { compareView, mergeRows, type ViewVerification } from './compare.js';

export interface Verification {
  readonly id: string;
  readonly trigger: 'schedule' | 'api' | 'cli';
  readonly state: 'running' | 'succeeded' | 'failed';
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** P: both sides cover exactly the records below it */
  readonly position?: Position;
  readonly batch?: { version: number; snapshot: Position } | null;
  readonly replayId?: string;
  readonly viewsChecked: number;
  readonly rowsCompared: number;
  readonly mismatchingRows: number;
  /** true when every view matched */
  readonly ok: boolean | null;
  readonly views: ViewVerification[];
  readonly error?: string;
}

export interface VerifierOptions {
  readonly views: readonly CompiledView[];
  readonly speed: () => SpeedLayer | undefined;
  readonly replayer: Replayer;
  readonly logger?: Logger;
  /** called with every finished verification (metrics) */
  readonly onResult?: (v: Verification) => void;
  readonly history?: number;
}

/**
 * Lambda-vs-Kappa verification (design section 7). The Lambda side is captured at a cut of
 * the speed layer — the paired batch version plus the sealed segments up to position P —
 * so ingestion never pauses; a Kappa replay then runs to exactly P, and every view is
 * compared bucket by bucket and group by group.
 */
export class Verifier {
  readonly #options: VerifierOptions;
  readonly #history: Verification[] = [];
  #running: Verification | undefined;

  constructor(options: VerifierOptions) {
    this.#options = options;
  }

  /** Starts a verification and returns at once; `wait` follows it. */
  start(trigger: Verification['trigger']): { id: string; done: Promise<Verification> } {
    if (this.#running) {
      throw new BraidError('run_in_progress', `verification ${this.#running.id} is still going; wait for it (GET /v1/verification) and start again`);
    }
    const speed = this.#options.speed();
    if (!speed?.ready) throw new BraidError('not_ready', 'verification needs the speed layer (roles.speed) to be running and caught up');
    const started = new Date();
    let v: Verification = {
      id: randomUUID(),
      trigger,
      state: 'running',
      startedAt: started.toISOString(),
      viewsChecked: 0,
      rowsCompared: 0,
      mismatchingRows: 0,
      ok: null,
      views: [],
    };
    this.#running = v;
    const capture = speed.capture();
    v = { ...v, position: capture.position, batch: capture.batch ? { version: capture.batch.version, snapshot: capture.batch.snapshot } : null };
    this.#running = v;
    const done = (async (): Promise<Verification> => {
      try {
        const info = await this.#options.replayer.start(capture.position);
        v = { ...v, replayId: info.id };
        this.#running = v;
        const replay = await this.#options.replayer.wait(info.id);
        if (replay.info.state !== 'succeeded' || !replay.tables) throw new Error(`the replay failed: ${replay.info.error ?? 'unknown'}`);
        // A view whose definition is changing (the paired version holds another one) is
        // compared once a version with the configured definition serves it.
        const comparable = this.#options.views.filter((view) => {
          const stored = capture.batch?.tables.get(view.def.name);
          return capture.batch === undefined || stored?.view.version === view.version;
        });
        const views = comparable.map((view) => {
          const name = view.def.name;
          const batchTable = capture.batch?.tables.get(name);
          const lambda = mergeRows(view, [
            ...(batchTable ? [batchTable.rows.values()] : []),
            ...capture.tables.map((t) => t.get(viewKey(view))!.rows.values()),
          ]);
          const kappa = mergeRows(view, [replay.tables!.get(viewKey(view))!.rows.values()]);
          return compareView(view, lambda, kappa);
        });
        v = {
          ...v,
          state: 'succeeded',
          finishedAt: new Date().toISOString(),
          views,
          viewsChecked: views.length,
          rowsCompared: views.reduce((n, x) => n + x.rowsCompared, 0),
          mismatchingRows: views.reduce((n, x) => n + x.mismatchingRows, 0),
          ok: views.every((x) => x.ok),
        };
        const log = this.#options.logger;
        if (v.ok) log?.info({ id: v.id, position: v.position, rowsCompared: v.rowsCompared }, 'verification: Lambda equals Kappa');
        else log?.error({ id: v.id, position: v.position, mismatches: views.filter((x) => !x.ok).map((x) => ({ view: x.view, rows: x.mismatchingRows, worst: x.examples[0] })) }, 'verification: Lambda differs from Kappa');
      } catch (err) {
        v = { ...v, state: 'failed', finishedAt: new Date().toISOString(), error: (err as Error).message };
        this.#options.logger?.warn({ id: v.id, err: (err as Error).message }, 'verification failed');
      }
      this.#running = undefined;
      this.#history.push(v);
      if (this.#history.length > (this.#options.history ?? 50)) this.#history.shift();
      this.#options.onResult?.(v);
      return v;
    })();
    return { id: v.id, done };
  }

  /** The verification going on, else the last finished one. */
  current(): Verification | undefined {
    return this.#running ?? this.#history.at(-1);
  }

  /** The last finished verification. */
  last(): Verification | undefined {
    return this.#history.at(-1);
  }

  history(): Verification[] {
    return [...this.#history].reverse();
  }

  get(id: string): Verification | undefined {
    return this.#running?.id === id ? this.#running : this.#history.find((v) => v.id === id);
  }
}

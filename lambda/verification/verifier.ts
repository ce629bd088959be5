import type { Logger } from 'pino';
import { BraidError } from '../../shared/errors.js';
import { JobRegistry, type JobContext, type JobInfo } from '../../shared/jobs.js';
import type { Position } from '../../shared/log/position.js';
import { viewKey, type CompiledView } from '../../shared/views/index.js';
import type { SpeedLayer } from '../../speed/speed-layer.js';
import type { Replayer } from '../../speed/replay.js';
import { comparableViews } from '../evolution.js';
import { compareView, mergeRows, type ViewVerification } from './compare.js';

export const VerificationTriggers = ['schedule', 'api', 'cli'] as const;

/** A Lambda-vs-Kappa comparison (GET /v1/verification): a job of kind `verification`. */
export interface Verification extends JobInfo<'running', null> {
  readonly trigger: (typeof VerificationTriggers)[number];
  readonly state: 'running' | 'succeeded' | 'failed';
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
}

export interface VerifierOptions {
  readonly views: readonly CompiledView[];
  readonly speed: () => SpeedLayer | undefined;
  readonly replayer: Replayer;
  readonly logger?: Logger;
  readonly history?: number;
}

/**
 * Lambda-vs-Kappa verification (contract §7). The Lambda side is captured at a cut of
 * the speed layer — the paired batch version plus the sealed segments up to position P —
 * so ingestion never pauses; a Kappa replay then runs to exactly P, and every view is
 * compared bucket by bucket and group by group.
 */
export class Verifier {
  readonly #options: VerifierOptions;
  readonly #jobs: JobRegistry<Verification>;

  constructor(options: VerifierOptions) {
    this.#options = options;
    this.#jobs = new JobRegistry<Verification>({
      kind: 'verification',
      history: options.history ?? 50,
      concurrency: 1,
      busy: (running) => new BraidError('run_in_progress', `verification ${running.id} is still going; wait for it (GET /v1/verification) and start again`),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** Starts a verification and returns at once; `done` follows it. */
  start(trigger: Verification['trigger']): { id: string; done: Promise<Verification> } {
    // Before the capture, so that a refused verification cuts nothing: one verification at a
    // time, and its replay must be able to start.
    this.#jobs.admit();
    this.#options.replayer.admit();
    const speed = this.#options.speed();
    if (!speed?.ready) throw new BraidError('not_ready', 'verification needs the speed layer (roles.speed) to be running and caught up');
    const capture = speed.capture();
    const first = this.#jobs.start(
      {
        trigger,
        state: 'running',
        progress: null,
        position: capture.position,
        batch: capture.batch ? { version: capture.batch.version, snapshot: capture.batch.snapshot } : null,
        viewsChecked: 0,
        rowsCompared: 0,
        mismatchingRows: 0,
        ok: null,
        views: [],
      },
      (job) => this.#verify(job, capture),
    );
    return { id: first.id, done: this.#jobs.wait(first.id) };
  }

  async #verify(job: JobContext<Verification>, capture: ReturnType<SpeedLayer['capture']>): Promise<{ final: Partial<Verification> }> {
    const info = await this.#options.replayer.start(capture.position);
    job.update({ replayId: info.id });
    const replay = await this.#options.replayer.wait(info.id);
    if (replay.info.state !== 'succeeded' || !replay.tables) throw new Error(`the replay failed: ${replay.info.error ?? 'unknown'}`);
    // A view whose definition is changing (the paired version holds another one) is
    // compared once a version with the configured definition serves it.
    const views = comparableViews(this.#options.views, capture.batch).map((view) => {
      const batchTable = capture.batch?.tables.get(view.def.name);
      const lambda = mergeRows(view, [...(batchTable ? [batchTable.rows()] : []), ...capture.tables.map((t) => t.get(viewKey(view))!.rows())]);
      const kappa = mergeRows(view, [replay.tables!.get(viewKey(view))!.rows()]);
      return compareView(view, lambda, kappa);
    });
    const final = {
      views,
      viewsChecked: views.length,
      rowsCompared: views.reduce((n, x) => n + x.rowsCompared, 0),
      mismatchingRows: views.reduce((n, x) => n + x.mismatchingRows, 0),
      ok: views.every((x) => x.ok),
    };
    const log = this.#options.logger;
    if (final.ok) log?.info({ id: job.id, position: capture.position, rowsCompared: final.rowsCompared }, 'verification: Lambda equals Kappa');
    else log?.error({ id: job.id, position: capture.position, mismatches: views.filter((x) => !x.ok).map((x) => ({ view: x.view, rows: x.mismatchingRows, worst: x.examples[0] })) }, 'verification: Lambda differs from Kappa');
    return { final };
  }

  /** Called with every finished verification (metrics). */
  onFinished(listener: (v: Verification) => void): () => void {
    return this.#jobs.onFinished(listener);
  }

  /** The verification going on, else the last finished one. */
  current(): Verification | undefined {
    return this.#jobs.running()[0] ?? this.#jobs.lastFinished();
  }

  /** The last finished verification. */
  last(): Verification | undefined {
    return this.#jobs.lastFinished();
  }

  history(): Verification[] {
    return this.#jobs.list().filter((v) => v.finishedAt !== undefined);
  }

  get(id: string): Verification | undefined {
    return this.#jobs.get(id);
  }

  async close(): Promise<void> {
    await this.#jobs.close();
  }
}

import path from 'node:path';
import type { Logger } from 'pino';
import cron, { type ScheduledTask } from 'node-cron';
import { parseSize, type ResolvedConfig } from '../shared/config/index.js';
import { BraidError, isBraidError } from '../shared/errors.js';
import type { LogHandle } from '../shared/log/handle.js';
import type { EventLog } from '../shared/log/types.js';
import { compileView, viewKey, type CompiledView } from '../shared/views/index.js';
import { Archiver } from '../batch/archive/index.js';
import { BatchRunner, type RunInfo } from '../batch/recompute/index.js';
import { SpeedLayer } from '../speed/speed-layer.js';
import { Replayer } from '../speed/replay.js';
import { Verifier, type Verification } from './verification/verifier.js';

/**
 * The roles of one braid process (design section 9), started in dependency order once the
 * log is open: archive → batch runner (+ schedule) → speed layer, which pairs with the
 * runner's published versions and gives every run its snapshot by a cut.
 */
export class BraidNode {
  readonly views: readonly CompiledView[];
  archiver: Archiver | undefined;
  batch: BatchRunner | undefined;
  speed: SpeedLayer | undefined;
  replayer: Replayer | undefined;
  verifier: Verifier | undefined;
  readonly #schedules: ScheduledTask[] = [];
  #started: Promise<void> | undefined;
  #failed: Error | undefined;
  readonly #runListeners = new Set<(run: RunInfo) => void>();
  readonly #config: ResolvedConfig;
  readonly #logger: Logger;

  constructor(config: ResolvedConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.views = config.viewDefinitions.map(compileView);
  }

  /** Starts every enabled role over the opened log; rejects with the first role that cannot start. */
  start(handle: LogHandle): Promise<void> {
    this.#started ??= handle.ready.then((log) => this.#start(log)).catch((err: Error) => {
      this.#failed = err;
      throw err;
    });
    return this.#started;
  }

  /** Called with each batch run's final info; may be registered before the batch role starts. */
  onBatchRunFinished(listener: (run: RunInfo) => void): void {
    this.#runListeners.add(listener);
  }

  /** Whether every enabled role is up (readiness), and if not, why. */
  readiness(): { ready: boolean; reason?: string } {
    if (this.#failed) return { ready: false, reason: `a role failed to start: ${this.#failed.message}` };
    const { roles } = this.#config;
    const lambda = this.#config.mode === 'lambda';
    if (lambda && roles.archive && !this.archiver) return { ready: false, reason: 'the archive is opening' };
    if (lambda && roles.batch && !this.batch) return { ready: false, reason: 'the batch layer is opening' };
    if (roles.speed && !this.speed?.ready) return { ready: false, reason: 'the speed layer is catching up with the log' };
    return { ready: true };
  }

  get mode(): 'lambda' | 'kappa' {
    return this.#config.mode;
  }

  async #start(log: EventLog): Promise<void> {
    const config = this.#config;
    // Kappa mode: no archive and no batch; the speed layer folds the whole log from its
    // first record, which is a continuously maintained replay.
    const roles = config.mode === 'kappa' ? { ...config.roles, archive: false, batch: false } : config.roles;
    if (config.mode === 'lambda' && roles.speed && !roles.batch) {
      // It would never see a version published by another process, so it would fold the
      // whole log forever (that is mode kappa) and never drop anything.
      throw new BraidError(
        'invalid_config',
        'roles.speed without roles.batch is not supported in mode lambda yet: the speed layer pairs with versions this process publishes; enable both in one process, switch speed off here, or use mode kappa',
      );
    }
    if (roles.batch && !roles.archive) {
      throw new BraidError('invalid_config', 'roles.batch needs roles.archive in the same process (the run waits for the archive to cover its snapshot); enable both or neither');
    }
    if (roles.archive) {
      this.archiver = await Archiver.create({
        log,
        dir: path.join(config.dataDir, 'archive'),
        ...config.archive,
        logger: this.#logger.child({ component: 'archive' }),
      });
      this.archiver.start();
    }
    if (roles.batch && this.archiver) {
      this.batch = await BatchRunner.create({
        dataDir: config.dataDir,
        views: this.views,
        dedupeWindowMs: config.dedupeWindowMs,
        archive: this.archiver,
        // The hand-off (design section 6): a run's S is the speed layer's cut when this
        // process has one; otherwise (speed off here) the log's end.
        snapshotPosition: async () => (this.speed?.ready ? this.speed.cut({ pin: true }) : log.endPosition()),
        memoryLimit: config.batch.memoryLimit,
        threads: config.batch.threads,
        keepVersions: config.batch.keepVersions,
        logger: this.#logger,
      });
      this.batch.onFinished((run) => {
        if (run.snapshot) this.speed?.unpin(run.snapshot);
        for (const listener of this.#runListeners) listener(run);
      });
    }
    // View evolution: a view defined differently now than in the serving batch version is
    // still answered with the stored definition (the speed layer folds both) until a run
    // computes the configured one, which starts right away.
    const current = this.batch?.current();
    const configuredKeys = new Set(this.views.map(viewKey));
    const legacy = current ? [...current.tables.values()].map((t) => t.view).filter((v) => !configuredKeys.has(viewKey(v))) : [];
    const rebuild = current !== undefined && this.views.some((v) => current.tables.get(v.def.name)?.view.version !== v.version);
    if (roles.speed) {
      const speed = new SpeedLayer({
        log,
        views: [...this.views, ...legacy],
        maxDedupeBytes: parseSize(config.speed.maxDedupeMemory),
        dedupeWindowMs: config.dedupeWindowMs,
        base: () => this.batch?.current(),
        logger: this.#logger.child({ component: 'speed' }),
      });
      this.speed = speed;
      this.batch?.onPublished((version) => speed.onPublished(version));
      await speed.start();
    }
    this.replayer = new Replayer({
      log,
      views: this.views,
      dedupeWindowMs: config.dedupeWindowMs,
      logger: this.#logger.child({ component: 'replay' }),
    });
    if (config.mode === 'lambda' && this.speed) {
      this.verifier = new Verifier({
        views: this.views,
        speed: () => this.speed,
        replayer: this.replayer,
        logger: this.#logger.child({ component: 'verification' }),
        ...(this.onVerification ? { onResult: this.onVerification } : {}),
      });
    }
    const batch = this.batch;
    if (batch && rebuild) {
      const run = batch.start('startup');
      this.#logger.info({ run: run.id }, 'view definitions changed since the serving batch version; a batch run computes the new ones');
    }
    if (batch) this.#every(config.batch.schedule, 'batch run', () => batch.start('schedule'));
    const verifier = this.verifier;
    if (verifier) this.#every(config.verify.schedule, 'verification', () => verifier.start('schedule'));
  }

  /** Called with each finished verification (metrics hook). */
  onVerification: ((v: Verification) => void) | undefined;

  #every(expression: string, what: string, job: () => unknown): void {
    if (expression === 'off') return;
    this.#schedules.push(
      cron.schedule(expression, () => {
        try {
          job();
        } catch (err) {
          // One still going when the next is due is the normal case of a short schedule.
          if (!isBraidError(err, 'run_in_progress')) this.#logger.error({ err }, `scheduled ${what} could not start`);
        }
      }),
    );
  }

  async close(): Promise<void> {
    for (const task of this.#schedules) await task.stop();
    await this.replayer?.close();
    await this.speed?.close();
    await this.batch?.close();
    await this.archiver?.stop();
  }
}

export function validateSchedule(key: string, expression: string): void {
  if (expression !== 'off' && !cron.validate(expression)) {
    throw new BraidError('invalid_config', `${key}: "${expression}" is not a cron expression; write e.g. "*/5 * * * *" (every five minutes) or "off"`);
  }
}

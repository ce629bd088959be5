import path from 'node:path';
import { Slices } from '../shared/async.js';
import type { Logger } from 'pino';
import { parseSize, type ResolvedConfig } from '../shared/config/index.js';
import { BraidError, isBraidError } from '../shared/errors.js';
import type { LogHandle } from '../shared/log/handle.js';
import { openAuditLogFromConfig } from '../shared/log/open.js';
import { lagBehind, type Position } from '../shared/log/position.js';
import type { EventLog, LogRecord } from '../shared/log/types.js';
import { compileView, type CompiledView } from '../shared/views/index.js';
import { Archiver, readArchived } from '../batch/archive/index.js';
import { BatchRunner, type RunInfo } from '../batch/recompute/index.js';
import { SpeedLayer } from '../speed/speed-layer.js';
import { Replayer } from '../speed/replay.js';
import { needsRecompute, servedOlderDefinitions } from './evolution.js';
import { HandOff } from './handoff.js';
import { AuditTrail } from './audit-trail.js';
import { Erasures } from './erasure.js';
import { withArchive } from './history.js';
import { Retention } from './retention.js';
import { Schedules } from './schedules.js';
import { LambdaSources } from './sources.js';
import { Verifier, type Verification } from './verification/verifier.js';

/**
 * The roles of one braid process (contract §9), started in dependency order once the
 * log is open: archive → batch runner (+ schedule) → speed layer, joined by the hand-off
 * (handoff.ts) → replays and verification. Mode kappa runs no archive and no batch: the
 * speed layer folds the whole log from its first record, a continuously maintained replay.
 */
export class BraidNode {
  readonly views: readonly CompiledView[];
  archiver: Archiver | undefined;
  /** log.retention's deletions, when the retention is finite and this process archives */
  retention: Retention | undefined;
  /** the audit trail (audit.enabled), open once start() has begun */
  audit: AuditTrail | undefined;
  batch: BatchRunner | undefined;
  speed: SpeedLayer | undefined;
  replayer: Replayer | undefined;
  verifier: Verifier | undefined;
  /** data-subject erasures (lambda/erasure.ts): in mode lambda, in the process with the archive and batch roles */
  erasures: Erasures | undefined;
  /** which state answers each query source */
  readonly sources: LambdaSources;
  /** the event loop's slices, shared by queries and the speed layer's compaction (shared/async.ts) */
  readonly slices = new Slices();
  readonly #schedules: Schedules;
  #started: Promise<void> | undefined;
  #failed: Error | undefined;
  readonly #runListeners = new Set<(run: RunInfo) => void>();
  readonly #verificationListeners = new Set<(v: Verification) => void>();
  readonly #config: ResolvedConfig;
  readonly #logger: Logger;

  constructor(config: ResolvedConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#schedules = new Schedules(logger);
    this.views = config.viewDefinitions.map(compileView);
    this.sources = new LambdaSources({
      views: this.views,
      mode: config.mode,
      batch: () => this.batch?.current(),
      speed: () => this.speed,
      kappa: () => {
        const replay = this.replayer?.latest();
        return replay?.tables ? { position: replay.info.target, tables: replay.tables } : undefined;
      },
    });
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

  /** Called with each finished verification; may be registered before the roles start. */
  onVerificationFinished(listener: (v: Verification) => void): void {
    this.#verificationListeners.add(listener);
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

  /** Where each layer is against the log's end (GET /v1/status). */
  status(end: Position) {
    const version = this.batch?.current();
    const speed = this.speed?.ready ? this.speed.stats() : undefined;
    const archived = this.archiver?.position();
    return {
      archive: archived ? { position: archived, lag: lagBehind(end, archived) } : null,
      batch: version
        ? { version: version.version, snapshot: version.snapshot, createdAt: version.createdAt, snapshotAgeSeconds: Math.round((Date.now() - Date.parse(version.createdAt)) / 1000) }
        : null,
      speed: speed
        ? { position: speed.position, lag: lagBehind(end, speed.position), segments: speed.segments, groups: speed.groups, dedupeEntries: speed.dedupeEntries, readySeconds: speed.readySeconds, rebuilding: speed.rebuilding }
        : null,
    };
  }

  async #start(log: EventLog): Promise<void> {
    const config = this.#config;
    // The audit trail first: the start is its first entry, and no write is taken before it is open.
    if (config.audit.enabled) this.audit = await AuditTrail.open(config, await openAuditLogFromConfig(config, this.#logger), this.#logger);
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
    const handOff = new HandOff(() => this.speed, log);
    if (roles.batch && this.archiver) {
      const { keepVersions, memoryLimit, threads } = config.batch;
      this.batch = await BatchRunner.create({
        dataDir: config.dataDir,
        views: this.views,
        dedupeWindowMs: config.dedupeWindowMs,
        archive: this.archiver,
        snapshotPosition: handOff.snapshotPosition,
        memoryLimit,
        threads,
        keepVersions,
        logger: this.#logger,
      });
      handOff.connect(this.batch);
      this.batch.onFinished((run) => {
        for (const listener of this.#runListeners) listener(run);
        this.#audited({
          action: 'batch_run',
          actor: run.trigger === 'schedule' || run.trigger === 'startup' ? run.trigger : 'system',
          outcome: run.state === 'succeeded' ? 'ok' : 'failed',
          details: { id: run.id, trigger: run.trigger, mode: run.mode ?? null, version: run.version ?? null, records: run.progress.recordsRead },
        });
      });
    }
    const current = this.batch?.current();
    const older = servedOlderDefinitions(this.views, current);
    for (const view of older) {
      this.#logger.info(
        { view: view.def.name, version: current?.version, served: view.version },
        `view "${view.def.name}" is defined differently now; the stored definition is served until a batch run computes the new one`,
      );
    }
    if (roles.speed) {
      this.speed = new SpeedLayer({
        // Warmed from the archive below the log's start (what retention or an erasure deleted).
        log: this.archiver ? withArchive(log, this.archiver) : log,
        // View evolution: the speed layer folds the definitions still served too.
        views: [...this.views, ...older],
        maxDedupeBytes: parseSize(config.speed.maxDedupeMemory),
        pause: this.slices.pause,
        dedupeWindowMs: config.dedupeWindowMs,
        dedupeSkewMs: config.dedupeSkewMs,
        base: () => this.batch?.current(),
        logger: this.#logger.child({ component: 'speed' }),
      });
      await this.speed.start();
    }
    this.replayer = new Replayer({
      log,
      views: this.views,
      dedupeWindowMs: config.dedupeWindowMs,
      checkpointDir: path.join(config.dataDir, 'replay'),
      checkpointRecords: config.replay.checkpointRecords,
      dedupeSkewMs: config.dedupeSkewMs,
      ...(this.archiver ? { archived: archivedRecords(this.archiver) } : {}),
      logger: this.#logger.child({ component: 'replay' }),
    });
    if (Number.isFinite(config.retentionMs) && this.archiver && this.batch) {
      const archiver = this.archiver;
      const batchRunner = this.batch;
      const replayer = this.replayer;
      this.retention = new Retention({
        log: withArchive(log, archiver),
        retentionMs: config.retentionMs,
        dedupeWindowMs: config.dedupeWindowMs,
        dedupeSkewMs: config.dedupeSkewMs,
        archived: () => archiver.position(),
        servingSnapshot: () => batchRunner.current()?.snapshot,
        replayReading: () => replayer.reading(),
        // A tenth of the retention, between a second and a minute.
        intervalMs: Math.min(60_000, Math.max(1_000, Math.floor(config.retentionMs / 10))),
        logger: this.#logger.child({ component: 'retention' }),
      });
      this.retention.start();
    } else if (Number.isFinite(config.retentionMs)) {
      this.#logger.info('log.retention is enforced by the process with the archive and batch roles; this one deletes nothing');
    }
    if (config.mode === 'lambda' && this.speed) {
      this.verifier = new Verifier({
        views: this.views,
        speed: () => this.speed,
        replayer: this.replayer,
        logger: this.#logger.child({ component: 'verification' }),
      });
      this.verifier.onFinished((v) => {
        for (const listener of this.#verificationListeners) listener(v);
        const mismatches = v.views.reduce((n, x) => n + x.mismatchingRows, 0);
        this.#audited({ action: 'verification', actor: v.trigger === 'schedule' ? 'schedule' : 'system', outcome: v.state === 'succeeded' ? 'ok' : 'failed', details: { id: v.id, trigger: v.trigger, mismatchingRows: mismatches } });
      });
    }
    if (this.archiver && this.batch) {
      const audit = this.audit;
      this.erasures = await Erasures.open({
        dir: path.join(config.dataDir, 'erasures'),
        log,
        archiver: this.archiver,
        batch: this.batch,
        speed: () => this.speed,
        replayer: this.replayer,
        ...(audit ? { pseudonym: (subject: string) => audit.pseudonym(subject) } : {}),
        onFinished: (job) =>
          this.#audited({
            action: 'erasure',
            actor: 'system',
            outcome: job.state === 'completed' ? 'ok' : 'failed',
            details: { id: job.id, subject: job.subject, state: job.state, archived: job.progress.stores.archive.records ?? null, logged: job.progress.stores.log.records ?? null },
          }),
        logger: this.#logger.child({ component: 'erasure' }),
      });
    }
    const batch = this.batch;
    if (batch && (needsRecompute(this.views, current) || batch.recovered)) {
      const run = batch.start('startup');
      const why = batch.recovered ? 'a damaged batch version was discarded' : 'view definitions changed since the serving batch version';
      this.#logger.info({ run: run.id }, `${why}; a batch run computes the views again`);
    }
    if (batch) this.#schedules.every(config.batch.schedule, 'batch run', () => batch.start('schedule'));
    if (batch) {
      // A full run due while another run goes (e.g. the incremental one of the same minute)
      // starts when that one finishes, instead of being dropped.
      let fullDue = false;
      batch.onFinished(() => {
        if (!fullDue) return;
        fullDue = false;
        try {
          batch.start('schedule', { full: true });
        } catch (err) {
          this.#logger.error({ err }, 'the scheduled full batch run could not start');
        }
      });
      this.#schedules.every(config.batch.fullSchedule, 'full batch run', () => {
        try {
          batch.start('schedule', { full: true });
        } catch (err) {
          if (!isBraidError(err, 'run_in_progress')) throw err;
          fullDue = true;
        }
      });
    }
    const verifier = this.verifier;
    if (verifier) this.#schedules.every(config.verify.schedule, 'verification', () => verifier.start('schedule'));
  }

  /** A job's entry in the audit; a failure to write it is logged (the job is done either way). */
  #audited(input: Parameters<AuditTrail['record']>[0]): void {
    this.audit?.record(input).catch((err: unknown) => this.#logger.error({ err, action: input.action }, 'audit: could not append an entry'));
  }

  async close(): Promise<void> {
    await this.#schedules.stop();
    await this.erasures?.close();
    await this.retention?.stop();
    // Replays first: a verification waits for its replay, and ends (failed) when it stops.
    await this.replayer?.close();
    await this.verifier?.close();
    await this.speed?.close();
    await this.batch?.close();
    await this.archiver?.stop();
    await this.audit?.close();
  }
}

/** The archive as log records for a replay (batch/archive/reader.ts), read under a lease so compaction deletes nothing it reads. */
function archivedRecords(archiver: Archiver): (from: Position, until: Position) => AsyncIterable<LogRecord[]> {
  return async function* read(from, until) {
    const lease = archiver.lease();
    try {
      yield* readArchived(lease, from, until);
    } finally {
      lease.release();
    }
  };
}

import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { pino, type Logger } from 'pino';
import { untilAborted } from '../../shared/async.js';
import { syncPath } from '../../shared/files.js';
import { BraidError, isBraidError } from '../../shared/errors.js';
import { JobRegistry, type JobContext, type JobInfo } from '../../shared/jobs.js';
import type { Position } from '../../shared/log/position.js';
import { compileView, mergeTables, type BatchVersion, type ColumnTable } from '../../shared/views/index.js';
import { computeViews, type ComputeProgress } from './compute.js';
import { loadViewTable } from './load.js';
import { resolveBatchOptions, type BatchOptions, type BatchRunnerOptions } from './options.js';
import { versionColumns } from './sql.js';
import {
  ensureLayout,
  checkVersionFiles,
  listVersions,
  publishCurrent,
  pruneVersions,
  readCurrent,
  readManifest,
  removeLeftovers,
  sealVersion,
  tempVersionDirName,
  versionDirName,
  versionLayout,
  viewFiles,
  type CurrentPointer,
  type RunMode,
  type VersionLayout,
  type VersionManifest,
} from './versions.js';

/** startup: braid started with view definitions the serving version was not computed with; erasure: a data subject's erasure (lambda/erasure.ts) */
export const RunTriggers = ['schedule', 'api', 'cli', 'startup', 'erasure'] as const;
export type RunTrigger = (typeof RunTriggers)[number];

export const RunStates = ['waiting_for_archive', 'computing', 'publishing', 'succeeded', 'failed'] as const;
export type RunState = (typeof RunStates)[number];

/** What a batch run is doing or did (GET /v1/batch/runs/:id): a job of kind `batch_run`. */
export interface RunInfo extends JobInfo<RunState, ComputeProgress> {
  readonly trigger: RunTrigger;
  readonly state: RunState;
  /** S, once taken */
  readonly snapshot?: Position;
  /** the version it publishes, once it has one */
  readonly version?: number;
  /** DuckDB temp storage in use after a step, at most, bytes: > 0 means the run spilled */
  readonly spilledBytes?: number;
  /** whether a full run was asked for (`full: true`, the full schedule) */
  readonly full: boolean;
  /** full or incremental, once decided (after the archive covers S) */
  readonly mode?: RunMode;
  /** why a run is full: asked for, no version yet, a definition changed, ... */
  readonly fullBecause?: string;
}

/** How a run computes: everything, or the records after the previous version's S merged into it. */
type Plan =
  | { readonly kind: 'full'; readonly because: string }
  | { readonly kind: 'incremental'; readonly previous: BatchVersion; readonly manifest: VersionManifest };

export type { BatchVersion } from '../../shared/views/index.js';

const KEEP_RUNS = 100; // finished runs remembered for getRun/runs

/** A merge of a large version pauses here now and then, so ingest and queries share the loop. */
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Recomputes every view from the archive in DuckDB (contract §5): a run takes S, waits
 * until the archive covers S, computes, writes a new immutable version, and publishes it
 * atomically with S. Runs never overlap; a failed run leaves the previous version serving.
 * One runner per data directory.
 */
export class BatchRunner {
  readonly #layout: VersionLayout;
  readonly #options: BatchOptions;
  readonly #config: BatchRunnerOptions;
  readonly #logger: Logger;
  readonly #runs: JobRegistry<RunInfo>;
  readonly #listeners = new Set<(version: BatchVersion) => void>();
  #current: BatchVersion | undefined;

  private constructor(config: BatchRunnerOptions, options: BatchOptions, current: BatchVersion | undefined) {
    this.#config = config;
    this.#options = options;
    this.#layout = versionLayout(config.dataDir);
    this.#logger = (config.logger ?? pino({ level: 'silent' })).child({ component: 'batch' });
    this.#current = current;
    this.#runs = new JobRegistry<RunInfo>({
      kind: 'batch_run',
      label: 'batch run',
      history: KEEP_RUNS,
      concurrency: 1, // runs never overlap
      busy: (running) => new BraidError('run_in_progress', `batch run ${running.id} is still going; wait for it (GET /v1/batch/runs/${running.id}) and start again`),
      logger: this.#logger,
      failureLevel: 'error',
      failureMessage: (run) => `batch run ${run.id} failed; the previous version keeps serving`,
    });
  }

  /**
   * Removes a crashed run's leftovers and loads the published version, if any. A version
   * that fails its checks (a damaged pointer, version.json or view file) is derived data: it
   * is discarded, the newest older one that loads serves instead (or none), and `recovered`
   * tells the caller that a run should compute the views again.
   */
  static async create(config: BatchRunnerOptions): Promise<BatchRunner> {
    const options = resolveBatchOptions(config);
    for (const view of config.views) versionColumns(view); // names that cannot be columns fail here, at start
    const layout = versionLayout(config.dataDir);
    await ensureLayout(layout);
    const runner = new BatchRunner(config, options, undefined);
    const pointer = await readCurrent(layout).catch((err: unknown) => {
      if (!isBraidError(err, 'version_corrupt')) throw err;
      runner.#logger.error({ err }, 'batch: the pointer to the serving version is damaged; the newest version that loads serves instead');
      runner.recovered = true;
      return null;
    });
    // With a damaged pointer the serving number is unknown: no version counts as unpublished.
    const removed = await removeLeftovers(layout, pointer === null ? Infinity : pointer?.version);
    if (removed.length > 0) runner.#logger.warn({ removed }, 'batch: removed what an interrupted run left');
    const candidates = pointer === null ? (await listVersions(layout)).reverse() : pointer ? [pointer.version, ...(await listVersions(layout)).filter((v) => v < pointer.version).reverse()] : [];
    for (const version of candidates) {
      try {
        const manifest = await readManifest(layout, version);
        await checkVersionFiles(layout, manifest);
        runner.#current = await runner.#load(manifest);
        if (version !== pointer?.version) await publishCurrent(layout, { version, snapshot: manifest.snapshot, createdAt: manifest.createdAt });
        break;
      } catch (err) {
        runner.#logger.error({ err, version }, `batch: version ${version} is damaged or cannot be loaded; it is discarded and a batch run computes the views again`);
        await rm(path.join(layout.versionsDir, versionDirName(version)), { recursive: true, force: true });
        runner.recovered = true;
      }
    }
    if (runner.recovered && runner.#current === undefined) await rm(layout.currentFile, { force: true });
    return runner;
  }

  /** True when create() discarded a damaged version: the views should be computed again (a run at start). */
  recovered = false;

  /** The published version, loaded; undefined before the first run succeeds. */
  current(): BatchVersion | undefined {
    return this.#current;
  }

  /**
   * Deletes every version older than the serving one, and returns their numbers: after an
   * erasure's full run, since they were computed from records now erased.
   */
  async pruneOlder(): Promise<number[]> {
    const current = this.#current?.version;
    return current === undefined ? [] : pruneVersions(this.#layout, current, 1);
  }

  /** Called after each publish, with the new version (the speed layer drops what it covers). */
  onPublished(listener: (version: BatchVersion) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called with each run's final info, succeeded or failed (metrics count runs by outcome). */
  onFinished(listener: (run: RunInfo) => void): () => void {
    return this.#runs.onFinished(listener);
  }

  getRun(id: string): RunInfo | undefined {
    return this.#runs.get(id);
  }

  /** Runs remembered by this process, newest first. */
  runs(): RunInfo[] {
    return this.#runs.list();
  }

  /** Resolves with the run's final info (succeeded or failed); never rejects for a known run. */
  wait(id: string): Promise<RunInfo> {
    return this.#runs.wait(id);
  }

  /**
   * Starts a run and returns at once; follow it with getRun or wait. Throws
   * `run_in_progress` while another run is going: runs never overlap.
   */
  start(trigger: RunTrigger, options: { readonly full?: boolean } = {}): RunInfo {
    const full = options.full === true;
    return this.#runs.start(
      { trigger, full, state: 'waiting_for_archive', progress: { viewsDone: 0, viewsTotal: this.#config.views.length, recordsRead: 0 } },
      (job) => this.#run(job, full),
    );
  }

  /**
   * Incremental when it can be (contract §5): the serving version was computed with the same
   * view definitions and dedupe window, its chain of deltas is shorter than batch.maxDeltas,
   * and no full run was asked for. Else full, and why.
   */
  async #plan(snapshot: Position, full: boolean): Promise<Plan> {
    const previous = this.#current;
    if (full) return { kind: 'full', because: 'a full run was asked for' };
    if (!previous) return { kind: 'full', because: 'there is no version yet' };
    let manifest: VersionManifest;
    try {
      manifest = await readManifest(this.#layout, previous.version);
    } catch (err) {
      this.#logger.warn({ err, version: previous.version }, 'batch: the serving version cannot be read again; this run is full');
      return { kind: 'full', because: `version ${previous.version} cannot be read again` };
    }
    const window = this.#config.dedupeWindowMs === Infinity ? 'forever' : this.#config.dedupeWindowMs;
    if (manifest.dedupeWindowMs !== window) return { kind: 'full', because: 'the dedupe window changed' };
    const names = this.#config.views.map((v) => v.def.name);
    for (const view of this.#config.views) {
      const stored = manifest.views[view.def.name];
      if (!stored) return { kind: 'full', because: `view "${view.def.name}" is new` };
      if (stored.definitionVersion !== view.version || previous.tables.get(view.def.name)?.view.version !== view.version) {
        return { kind: 'full', because: `view "${view.def.name}" changed` };
      }
      if ((stored.deltas?.length ?? 0) >= this.#options.maxDeltas) return { kind: 'full', because: `the version holds batch.maxDeltas (${this.#options.maxDeltas}) incremental runs` };
    }
    const removed = Object.keys(manifest.views).find((n) => !names.includes(n));
    if (removed !== undefined) return { kind: 'full', because: `view "${removed}" was removed` };
    for (const [p, upto] of Object.entries(previous.snapshot)) {
      if ((snapshot[Number(p)] ?? 0) < upto) return { kind: 'full', because: `the previous version's S is above this run's on partition ${p}` };
    }
    return { kind: 'incremental', previous, manifest };
  }

  async #run(job: JobContext<RunInfo>, full: boolean): Promise<void> {
    const { signal } = job;
    const update = job.update;
    const layout = this.#layout;
    const { views, dedupeWindowMs } = this.#config;
    const snapshot = await this.#config.snapshotPosition();
    update({ snapshot });
    await untilAborted(this.#config.archive.waitFor(snapshot, signal), signal);
    const source = this.#config.archive;
    const archive = source.verify ? await source.verify(source.lease(), signal) : source.lease();
    /** what to remove if the run fails: the version being written, until it is published */
    let unpublished: string | undefined;
    try {
      for (const [p, upto] of Object.entries(snapshot)) {
        if ((archive.position[Number(p)] ?? 0) < upto) {
          throw new BraidError('internal', `the archive reaches offset ${archive.position[Number(p)] ?? 0} of partition ${p}, not the snapshot's ${upto}`);
        }
      }
      const version = Math.max(this.#current?.version ?? 0, ...(await listVersions(layout))) + 1;
      const tempDir = path.join(layout.versionsDir, tempVersionDirName(version));
      unpublished = tempDir;
      await rm(tempDir, { recursive: true, force: true });
      await mkdir(tempDir);
      const plan = await this.#plan(snapshot, full);
      const incremental = plan.kind === 'incremental' ? plan : undefined;
      update({ state: 'computing', version, mode: plan.kind, ...(plan.kind === 'full' ? { fullBecause: plan.because } : {}) });
      const started = performance.now();
      const result = await computeViews({
        archive,
        snapshot,
        ...(incremental ? { after: incremental.previous.snapshot } : {}),
        views,
        dedupeWindowMs,
        outDir: tempDir,
        // A delta is named after its version: the earlier versions' files sit beside it.
        ...(incremental ? { fileOf: (name: string) => `${name}.delta-${versionDirName(version)}.parquet` } : {}),
        duckdb: { memoryLimit: this.#options.memoryLimit, threads: this.#options.threads, tempDirectory: layout.tempDir },
        onProgress: (progress) => update({ progress }),
        signal,
      });
      update({ state: 'publishing', spilledBytes: result.spilledBytes });
      if (incremental) {
        for (const computed of Object.values(result.views)) if (computed.rows === 0) await rm(path.join(tempDir, computed.file));
        await this.#linkPrevious(incremental.manifest, tempDir);
      }
      const manifest: VersionManifest = {
        version,
        mode: plan.kind,
        snapshot,
        createdAt: new Date().toISOString(),
        dedupeWindowMs: dedupeWindowMs === Infinity ? 'forever' : dedupeWindowMs,
        views: Object.fromEntries(
          views.map((v) => {
            const computed = result.views[v.def.name]!;
            const before = incremental?.manifest.views[v.def.name];
            // A run that found nothing new for a view adds no delta to it.
            const files = before ? (computed.rows === 0 ? before : { ...before, deltas: [...(before.deltas ?? []), computed] }) : computed;
            return [v.def.name, { ...files, definitionVersion: v.version, definition: v.def }];
          }),
        ),
      };
      const sealed = await sealVersion(layout, tempDir, manifest);
      unpublished = path.join(layout.versionsDir, versionDirName(version));
      // Loaded before it is published: a version that cannot be loaded never serves. An
      // incremental one loads its new delta only, merged into the serving tables (which hold
      // the files before it merged in the same order).
      const loaded = await this.#load(sealed, incremental);
      signal.throwIfAborted();
      // From here the directory may be what CURRENT.json names (even if publishing throws
      // after the rename), so it is never removed by this run; create() sorts it out.
      unpublished = undefined;
      await publishCurrent(layout, { version, snapshot, createdAt: manifest.createdAt });
      this.#current = loaded;
      this.#logger.info(
        { version, mode: plan.kind, snapshot, records: result.recordsRead, windowRecords: result.windowRecords, duplicates: result.duplicates, ms: Math.round(performance.now() - started) },
        `batch version ${version} published (${plan.kind === 'full' ? `full: ${plan.because}` : 'incremental'})`,
      );
      for (const listener of this.#listeners) {
        try {
          listener(loaded);
        } catch (err) {
          this.#logger.error({ err }, 'batch: a publish listener failed');
        }
      }
      await this.#prune(version);
    } finally {
      archive.release();
      if (unpublished) await rm(unpublished, { recursive: true, force: true }).catch(() => undefined);
      await rm(layout.tempDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  async #prune(current: number): Promise<void> {
    try {
      const removed = await pruneVersions(this.#layout, current, this.#options.keepVersions);
      if (removed.length > 0) this.#logger.debug({ removed }, 'batch: removed old versions');
    } catch (err) {
      this.#logger.warn({ err }, 'batch: could not remove old versions; the next run tries again');
    }
  }

  /**
   * Reads a version from disk into ColumnTables. A view whose definition changed since the
   * version was computed is loaded with the definition the version stored, so serving can
   * go on answering with it until a run with the new definition publishes (view evolution).
   */
  /**
   * Hard links the previous version's files into the new one (a copy where the file system
   * has no links): every version directory stays whole on its own, and pruning an old one
   * removes a name, not the data a newer one reads.
   */
  async #linkPrevious(previous: VersionManifest, tempDir: string): Promise<void> {
    const from = path.join(this.#layout.versionsDir, versionDirName(previous.version));
    for (const view of Object.values(previous.views)) {
      for (const { file } of viewFiles(view)) {
        await link(path.join(from, file), path.join(tempDir, file)).catch((err: NodeJS.ErrnoException) => {
          // A copy is synced like a computed file: the version must be whole after a power cut.
          if (err.code === 'EXDEV' || err.code === 'EPERM' || err.code === 'ENOTSUP') return copyFile(path.join(from, file), path.join(tempDir, file)).then(() => syncPath(path.join(tempDir, file)));
          throw err;
        });
      }
    }
  }

  async #load(pointer: CurrentPointer, previous?: { readonly previous: BatchVersion; readonly manifest: VersionManifest }): Promise<BatchVersion> {
    const manifest = 'views' in pointer ? (pointer as VersionManifest) : await readManifest(this.#layout, pointer.version);
    const dir = path.join(this.#layout.versionsDir, versionDirName(pointer.version));
    const tables = new Map<string, ColumnTable>();
    const byName = new Map(this.#config.views.map((v) => [v.def.name, v]));
    const instance = await DuckDBInstance.create(':memory:', { memory_limit: this.#options.memoryLimit, threads: String(this.#options.threads) });
    const connection = await instance.connect();
    try {
      for (const [name, stored] of Object.entries(manifest.views)) {
        const configured = byName.get(name);
        const view =
          configured?.version === stored.definitionVersion ? configured : stored.definition ? compileView(stored.definition) : undefined;
        if (!view) {
          this.#logger.warn({ view: name, version: pointer.version }, `batch version ${pointer.version} does not say how view "${name}" was defined; it is not served from this version`);
          continue;
        }
        // The full run's states, then each delta merged in order; after an incremental run
        // the serving tables hold the files of the version before it merged already.
        const before = previous?.manifest.views[name];
        const kept = before ? previous!.previous.tables.get(name) : undefined;
        const files = viewFiles(stored);
        let table = kept;
        for (const { file } of kept ? files.slice(viewFiles(before!).length) : files) {
          const delta = await loadViewTable(connection, path.join(dir, file), view);
          table = table ? await mergeTables(table, delta, yieldToLoop) : delta;
        }
        tables.set(name, table!);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    return { version: pointer.version, snapshot: pointer.snapshot, createdAt: pointer.createdAt, tables };
  }

  /** Stops a run in progress (it fails; the published version stays) and refuses new ones. */
  async close(): Promise<void> {
    await this.#runs.close(new BraidError('not_ready', 'the batch runner was closed during the run'));
    this.#listeners.clear();
  }
}

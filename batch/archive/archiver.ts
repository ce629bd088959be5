import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { sleep } from '../../shared/async.js';
import { BraidError, isBraidError } from '../../shared/errors.js';
import { covers } from '../../shared/log/position.js';
import type { LogRecord, Position } from '../../shared/log/types.js';
import { planCompaction, type CompactionPlan } from './compaction.js';
import { sha256File } from '../../shared/files.js';
import { installFile, isMissing, removeIfPresent } from './files.js';
import { fileName, type ArchiveFile, type ArchiveLease, type Manifest } from './format.js';
import { Leases } from './leases.js';
import { checkManifest, emptyManifest, MANIFEST_FILE, openManifest, positionOf, totalRecords, writeManifest } from './manifest.js';
import { resolveArchiverOptions, type ArchiveProgress, type ArchiverOptions, type ResolvedArchiverOptions } from './options.js';
import { ParquetWriter } from './parquet-writer.js';
import type { ArchiveRecord } from './row.js';
import { ThreadedWriter } from './write-thread.js';

export const ArchiverStates = ['created', 'running', 'stopping', 'stopped', 'failed'] as const;
export type ArchiverState = (typeof ArchiverStates)[number];

export interface ArchiveStats {
  readonly state: ArchiverState;
  readonly generation: number;
  readonly files: number;
  readonly records: number;
  readonly bytes: number;
  readonly compactions: number;
  /** records read from the log and not written yet */
  readonly buffered: number;
  readonly position: Position;
  /** why the archiver failed, or the last error it is retrying after */
  readonly lastError: string | undefined;
}

interface Waiter {
  readonly target: Position;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** DuckDB's spill directory inside the archive directory. */
const DUCKDB_TEMP = '.duckdb-tmp';

/**
 * The batch layer's archive (contract §5): reads the log from the position the
 * manifest names and writes it, per partition, into immutable Parquet files that cover
 * contiguous offset ranges.
 *
 * Exactly once, by construction: a file is written under a temp name, fsynced and renamed
 * into place, and exists for readers (and for the next start) only once manifest.json,
 * replaced atomically, lists it. The next file of a partition always starts where the
 * manifest's last one ends, and the log is read from there, never from consumer-group
 * commits. A crash at any point leaves the previous manifest, whose ranges are contiguous
 * from 0, plus unlisted files that the next start deletes.
 *
 * Compaction merges runs of small files in the background; readers hold leases, and a
 * replaced file is deleted only once no lease holds it.
 */
export class Archiver {
  readonly dir: string;
  readonly #options: ResolvedArchiverOptions;
  readonly #logger: Logger | undefined;
  /** merges and redactions; flushes and repairs too with `writeThreads: 0` */
  readonly #writer: ParquetWriter;
  /** writes flushes and repairs with `writeThreads: 1` */
  readonly #thread: ThreadedWriter | undefined;
  readonly #leases = new Leases();
  readonly #abort = new AbortController();
  #manifest: Manifest;
  #state: ArchiverState = 'created';
  #lastError: Error | undefined;
  #compactions = 0;

  /** Per partition: records read and not yet in a listed file, in offset order (made rows when written). */
  readonly #buffers: ArchiveRecord[][];
  /** Per partition: the next offset to read (the manifest's position plus what is buffered). */
  readonly #next: number[];
  #waiters: Waiter[] = [];
  /** Replaced by compaction, deleted once no lease holds them (absolute paths). */
  readonly #obsolete = new Set<string>();

  #loop: Promise<void> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #queuedFlush: Promise<void> | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #committing: Promise<unknown> = Promise.resolve();
  #compacting: Promise<void> | undefined;
  #reporting: Promise<void> | undefined;
  #reportAgain = false;
  #lastProgressLine = { at: Date.now(), records: 0 };
  #stopping: Promise<void> | undefined;

  private constructor(options: ResolvedArchiverOptions, manifest: Manifest, writer: ParquetWriter, thread: ThreadedWriter | undefined) {
    this.dir = options.dir;
    this.#options = options;
    this.#logger = options.logger;
    this.#manifest = manifest;
    this.#writer = writer;
    this.#thread = thread;
    const position = positionOf(manifest);
    this.#buffers = Array.from({ length: manifest.partitions }, () => []);
    this.#next = Array.from({ length: manifest.partitions }, (_, p) => position[p]!);
    this.#lastProgressLine.records = totalRecords(manifest.files);
  }

  /**
   * Opens the archive in `options.dir` (created if missing): checks the manifest against the
   * log and the files on disk, and deletes the files it does not list (leftovers of a
   * crash). Does not read the log yet: see `start()`.
   */
  static async create(input: ArchiverOptions): Promise<Archiver> {
    const options = resolveArchiverOptions(input);
    const { dir, log } = options;
    await mkdir(dir, { recursive: true });
    const opened = await openManifest(dir).catch(async (err: unknown) => {
      if (!isBraidError(err, 'archive_corrupt')) throw err;
      // The manifest is the truth about the files, and it is damaged: the files cannot be
      // trusted either. The log still holds every record, so the archive is rebuilt from it.
      options.logger?.error({ err, dir }, 'archive: the manifest is damaged; the archive is rebuilt from the log');
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      return undefined;
    });
    let manifest = opened?.manifest ?? emptyManifest(log.partitions);
    if (manifest.partitions !== log.partitions) {
      throw new BraidError(
        'invalid_config',
        `archive at ${dir} has ${manifest.partitions} partitions but the log has ${log.partitions}; point archive at another directory (an archive belongs to one log)`,
      );
    }
    const position = positionOf(manifest);
    const end = await log.endPosition();
    const ahead = Object.keys(position).map(Number).filter((p) => position[p]! > (end[p] ?? 0));
    if (ahead.length > 0) {
      throw new BraidError(
        'invalid_config',
        `archive at ${dir} covers offsets the log does not have (partition ${ahead[0]}: archived to ${position[ahead[0]!]}, log ends at ${end[ahead[0]!] ?? 0}): ` +
          'either it belongs to another log (move it aside and restart to archive this log from its start), or the log lost its last records ' +
          '(a damaged tail cut at open, see the log\'s recovery warning): restore the log from a backup',
      );
    }
    const removed = await removeLeftovers(dir, manifest);
    const writerOptions = { tempDir: path.join(dir, DUCKDB_TEMP), memoryLimit: options.memoryLimit, threads: options.threads };
    const writer = await ParquetWriter.create(writerOptions);
    let thread: ThreadedWriter | undefined;
    try {
      if (options.writeThreads > 0) thread = await ThreadedWriter.open(writerOptions);
      manifest = await checkListedFiles(options, manifest, thread ?? writer, opened?.unsealed === true);
    } catch (err) {
      await closeWriters(writer, thread);
      throw err;
    }
    options.logger?.info(
      { dir, generation: manifest.generation, files: manifest.files.length, records: totalRecords(manifest.files), position, removedLeftovers: removed },
      'archive opened; it resumes from the manifest position',
    );
    return new Archiver(options, manifest, writer, thread);
  }

  /** Starts reading the log and archiving, in the background, until `stop()`. */
  start(): void {
    if (this.#state !== 'created') throw new BraidError('internal', `archive: start() needs a new archiver; this one is ${this.#state}`);
    this.#state = 'running';
    this.#loop = this.#run();
  }

  /**
   * Stops reading, writes what is buffered, lets a running compaction stop, and releases
   * DuckDB. Pending `waitFor`s it did not satisfy reject with `not_ready`. Idempotent.
   * Files that live leases hold stay until they are released (or the next start).
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const wasRunning = this.#state === 'running';
      if (wasRunning) this.#state = 'stopping';
      this.#abort.abort();
      clearTimeout(this.#flushTimer);
      await this.#loop;
      if (this.#compacting) {
        this.#writer.interruptMerge();
        await this.#compacting;
      }
      if (wasRunning && this.#state === 'stopping') {
        await this.#flush().catch((err: unknown) => this.#logger?.warn({ err }, 'archive: the last flush failed; its records are archived after the next start'));
      }
      await this.#flushing;
      await this.#reporting;
      const failed = this.#state === 'failed' && this.#lastError;
      this.#rejectWaiters(failed || new BraidError('not_ready', 'the archive was stopped before it covered the position; start it again'));
      await closeWriters(this.#writer, this.#thread);
      await this.#collectGarbage();
      if (this.#state === 'stopping' || this.#state === 'created') this.#state = 'stopped';
    })();
    return this.#stopping;
  }

  /** What the archive covers: partition → next offset not yet archived (from the manifest). */
  position(): Position {
    return positionOf(this.#manifest);
  }

  /**
   * Resolves once the archive covers `target` (every partition it names). Writes what is
   * buffered early when that covers it. Rejects when `signal` aborts, when the archiver
   * stops first (`not_ready`) or fails (its error).
   */
  waitFor(target: Position, signal?: AbortSignal): Promise<void> {
    for (const [p, offset] of Object.entries(target)) {
      if (!(Number(p) in this.#next) || !Number.isSafeInteger(offset) || offset < 0) {
        return Promise.reject(
          new BraidError('invalid_parameter', `archive: cannot wait for offset ${offset} of partition ${p}; use offsets >= 0 for partitions 0 to ${this.#next.length - 1}`),
        );
      }
    }
    if (covers(this.position(), target)) return Promise.resolve();
    if (this.#state === 'failed') return Promise.reject(this.#lastError);
    if (this.#stopping) return Promise.reject(new BraidError('not_ready', 'the archive is stopped; start it to wait for a position'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        target,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#flushIfWaited();
    });
  }

  /**
   * The files of the current manifest, held until `release()`: compaction does not delete
   * them meanwhile. Read them with `read_parquet(paths, hive_partitioning = false)`, or
   * DuckDB takes `partition` from the directory names.
   */
  lease(): ArchiveLease {
    const { generation, files } = this.#manifest;
    const paths = files.map((f) => this.#absolute(f));
    const release = this.#leases.acquire(paths, () => void this.#collectGarbage());
    return { generation, files, paths, position: this.position(), release };
  }

  /**
   * Checks the SHA-256 of every file `lease` holds against the manifest, re-archives from the
   * log each one that differs (a flipped byte, a truncation), and returns a lease whose files
   * are all whole (the given one is released). A file the log cannot give again fails with
   * `archive_corrupt`, naming it and what to do.
   */
  async verify(lease: ArchiveLease, signal?: AbortSignal): Promise<ArchiveLease> {
    const damaged: ArchiveFile[] = [];
    try {
      for (const [i, file] of lease.files.entries()) {
        signal?.throwIfAborted();
        if ((await fileProblem(lease.paths[i]!, file)) !== undefined) damaged.push(file);
      }
    } catch (err) {
      lease.release();
      throw err;
    }
    if (damaged.length === 0) return lease;
    lease.release();
    for (const file of damaged) await this.#repair(file);
    return this.lease();
  }

  stats(): ArchiveStats {
    const { generation, files } = this.#manifest;
    return {
      state: this.#state,
      generation,
      files: files.length,
      records: totalRecords(files),
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      compactions: this.#compactions,
      buffered: this.#buffers.reduce((sum, b) => sum + b.length, 0),
      position: this.position(),
      lastError: this.#lastError?.message,
    };
  }

  // ---- reading ----

  /** Reads the log from what is archived or buffered; retries what retrying can fix. */
  async #run(): Promise<void> {
    const { log, retryMs, maxRetryMs, flushRecords } = this.#options;
    const signal = this.#abort.signal;
    let delay = retryMs;
    while (!signal.aborted) {
      try {
        const from: Position = { ...this.#next };
        for await (const batch of log.read({ from, signal })) {
          this.#take(batch);
          delay = retryMs;
          const fullest = Math.max(...this.#buffers.map((b) => b.length));
          if (fullest < flushRecords) {
            this.#flushIfWaited();
          } else if (fullest < 2 * flushRecords) {
            // Keep reading and decoding while DuckDB writes: the flush runs on its threads.
            this.#flush().catch((err: unknown) => this.#onBackgroundError(err, 'a flush'));
          } else {
            await this.#flush(); // two flushes' worth buffered: wait, so memory stays bounded
          }
        }
        if (signal.aborted) return;
        throw new BraidError('log_closed', 'archive: the log ended its read; stop the archiver before closing the log');
      } catch (err) {
        if (signal.aborted) return;
        if (isBraidError(err) && !err.canRetry) return this.#fail(err);
        this.#lastError = err as Error;
        this.#logger?.warn({ err, retryInMs: delay }, 'archive: reading or writing failed; retrying from the last archived or buffered record');
        await sleep(delay, signal);
        delay = Math.min(delay * 2, maxRetryMs);
      }
    }
  }

  #take(batch: readonly LogRecord[]): void {
    for (const record of batch) {
      const p = record.partition;
      // A record below the next offset was delivered again (e.g. after a reader's retry): it is buffered already.
      if (record.offset < this.#next[p]!) continue;
      this.#buffers[p]!.push(record);
      this.#next[p] = record.offset + 1;
    }
    this.#armFlushTimer();
  }

  #armFlushTimer(): void {
    if (this.#flushTimer || this.#abort.signal.aborted || this.#buffers.every((b) => b.length === 0)) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush().catch((err: unknown) => this.#onBackgroundError(err, 'a timed flush'));
    }, this.#options.flushIntervalMs);
  }

  /** Flushes now when what is buffered covers a waiter. */
  #flushIfWaited(): void {
    const read = { ...this.#next };
    if (!this.#waiters.some((w) => covers(read, w.target))) return;
    this.#flush().catch((err: unknown) => this.#onBackgroundError(err, 'a flush for a waiting reader'));
  }

  // ---- writing ----

  /**
   * Flushes are serialised, and each writes what is buffered when it starts; a flush asked
   * for while another waits to start is that one.
   */
  #flush(): Promise<void> {
    if (this.#queuedFlush) return this.#queuedFlush;
    const run = this.#flushing.then(() => {
      this.#queuedFlush = undefined;
      return this.#flushOnce();
    });
    this.#queuedFlush = run;
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  /**
   * One file per partition with buffered records, covering [manifest position, last
   * offset + 1), then one manifest update listing them all. The buffers are cut only after
   * the manifest is durable, so a failure anywhere loses nothing and a retry writes the
   * same ranges again.
   */
  async #flushOnce(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const counts = this.#buffers.map((b) => b.length);
    if (counts.every((n) => n === 0)) return;
    const position = this.position();
    const added: ArchiveFile[] = [];
    try {
      for (const [p, count] of counts.entries()) {
        if (count === 0) continue;
        const records = this.#buffers[p]!;
        const [from, to] = [position[p]!, records[count - 1]!.offset + 1];
        let maxAppendTime = -Infinity;
        for (let i = 0; i < count; i++) maxAppendTime = Math.max(maxAppendTime, records[i]!.appendTime);
        const file = { path: fileName(p, from, to), partition: p, from, to, records: count, maxAppendTime };
        const written = await this.#writeFile(this.#absolute(file), (temp) => this.#files().write(records, count, temp));
        added.push({ ...file, ...written });
      }
      await this.#commit((m) => ({ ...m, files: [...m.files, ...added].sort(byRange) }));
      counts.forEach((n, p) => this.#buffers[p]!.splice(0, n));
    } finally {
      // On failure the files written stay unlisted: ignored, overwritten by the retry or deleted by the next start.
      this.#armFlushTimer();
    }
    this.#lastError = undefined;
    this.#settleWaiters();
    this.#compactInBackground();
    this.#reportProgress();
  }

  /** Writes through `write` to a temp name, hashes it, then fsyncs and renames it into place. */
  #writeFile(target: string, write: (temp: string) => Promise<void>): Promise<{ bytes: number; sha256: string }> {
    return writeArchiveFile(target, write);
  }

  /**
   * Writes `file`'s range again from the log, in place, and lists the new file's size and
   * hash: after the flushes queued before it, on the flushes' connection.
   */
  #repair(file: ArchiveFile): Promise<void> {
    const run = this.#flushing.then(async () => {
      const rewritten = await rearchive(this.#options, this.#files(), file);
      await this.#commit((m) => ({ ...m, files: m.files.map((f) => (f.path === file.path ? rewritten : f)) }));
      this.#logger?.warn({ file: file.path, records: file.records }, `archive: ${file.path} was damaged; it was archived again from the log`);
    });
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  /** Replaces the manifest by `change(current)`, one change at a time. */
  #commit(change: (current: Manifest) => Manifest): Promise<void> {
    const run = this.#committing.then(async () => {
      const next = { ...change(this.#manifest), generation: this.#manifest.generation + 1 };
      checkManifest(next, '(about to be written)');
      await writeManifest(this.dir, next);
      this.#manifest = next;
    });
    this.#committing = run.catch(() => undefined);
    return run;
  }

  // ---- compaction ----

  #compactInBackground(): void {
    if (this.#compacting || this.#abort.signal.aborted) return;
    this.#compacting = (async () => {
      for (let plan = this.#plan(); plan && !this.#abort.signal.aborted; plan = this.#plan()) await this.#compact(plan);
    })()
      .catch((err: unknown) => {
        if (this.#abort.signal.aborted) return;
        this.#logger?.warn({ err }, 'archive: compaction failed; the files stay as they are and it is tried again after the next flush');
      })
      .finally(() => {
        this.#compacting = undefined;
      });
  }

  #plan(): CompactionPlan | undefined {
    // An erasure rewrites files in place of the ones listed: a merge beside it could bring back what it erases.
    if (this.#erasing > 0) return undefined;
    return planCompaction(this.#manifest.files, this.#options);
  }

  #erasing = 0;

  /**
   * Makes a subject's archived records below offset `until` of its partition erased events
   * (shared/events/erased.ts) and returns how many there were: each file holding some is
   * written again under its next name (`rewrite`), listed in place of the old one, which is
   * deleted once no lease holds it (as after a compaction). Waits for a running compaction
   * and starts none meanwhile; runs between flushes. A crash leaves the old file listed (the
   * new one is a leftover the next start deletes) or the new one: run it again. Records the
   * archive does not hold yet are not reached: wait for it to cover `until` first.
   */
  async erase(subject: string, partition: number, until: number): Promise<{ records: number; files: number; last: number | undefined }> {
    if (this.#state === 'failed') throw this.#lastError;
    this.#erasing++;
    try {
      await this.#compacting;
      const run = this.#flushing.then(async () => {
        const candidates = this.#manifest.files.filter((f) => f.partition === partition && f.from < until);
        if (candidates.length === 0) return { records: 0, files: 0, last: undefined };
        const found = await this.#writer.subjectRows(candidates.map((f) => this.#absolute(f)), subject, until);
        let records = 0;
        let files = 0;
        let last: number | undefined;
        for (const file of candidates) {
          const source = this.#absolute(file);
          const hit = found.get(source);
          if (!hit) continue;
          const rewrite = (file.rewrite ?? 0) + 1;
          const next = { ...file, rewrite, path: fileName(file.partition, file.from, file.to, rewrite) };
          const written = await this.#writeFile(this.#absolute(next), (temp) => this.#writer.redact(source, temp, subject, until, file.records));
          await this.#commit((m) => {
            if (!m.files.some((f) => f.path === file.path)) throw new BraidError('internal', `archive: ${file.path} changed while an erasure rewrote it`);
            return { ...m, files: m.files.map((f) => (f.path === file.path ? { ...next, ...written } : f)) };
          });
          this.#obsolete.add(source);
          records += hit.rows;
          files++;
          last = Math.max(last ?? -1, hit.last);
        }
        await this.#collectGarbage();
        return { records, files, last };
      });
      this.#flushing = run.then(
        () => undefined,
        () => undefined,
      );
      return await run;
    } finally {
      this.#erasing--;
      this.#compactInBackground();
    }
  }

  /** Merges the plan's files into one and swaps it in: readers see the same records. */
  async #compact(plan: CompactionPlan): Promise<void> {
    const { partition, files, records } = plan;
    const from = files[0]!.from;
    const to = files[files.length - 1]!.to;
    const times = files.map((f) => f.maxAppendTime);
    const maxAppendTime = times.every((t) => t !== undefined) ? Math.max(...times) : undefined;
    const merged = { path: fileName(partition, from, to), partition, from, to, records, ...(maxAppendTime === undefined ? {} : { maxAppendTime }) };
    const sources = files.map((f) => this.#absolute(f));
    // A damaged source would be merged into a new file with a valid hash: check them first.
    for (const [i, file] of files.entries()) {
      if ((await fileProblem(sources[i]!, file)) === undefined) continue;
      await this.#repair(file);
      return; // the next plan sees the repaired file
    }
    const started = Date.now();
    const written = await this.#writeFile(this.#absolute(merged), (temp) => this.#writer.merge(sources, temp, records));
    await this.#commit((m) => {
      const at = m.files.findIndex((f) => f.path === files[0]!.path);
      if (at < 0 || files.some((f, i) => m.files[at + i]?.path !== f.path)) {
        throw new BraidError('internal', `archive: the files compaction merged into ${merged.path} changed meanwhile`);
      }
      return { ...m, files: [...m.files.slice(0, at), { ...merged, ...written }, ...m.files.slice(at + files.length)] };
    });
    for (const source of sources) this.#obsolete.add(source);
    this.#compactions++;
    this.#logger?.info(
      { partition, from, to, files: files.length, records, bytes: written.bytes, ms: Date.now() - started },
      `archive: compacted ${files.length} files of partition ${partition} into one`,
    );
    await this.#collectGarbage();
  }

  /** Deletes replaced files that no lease holds. */
  async #collectGarbage(): Promise<void> {
    const free = [...this.#obsolete].filter((file) => !this.#leases.isHeld(file));
    for (const file of free) this.#obsolete.delete(file);
    await Promise.all(
      free.map((file) =>
        removeIfPresent(file).catch((err: unknown) => this.#logger?.warn({ err, file }, 'archive: cannot delete a replaced file; the next start deletes it')),
      ),
    );
  }

  // ---- waiters, progress, failure ----

  #settleWaiters(): void {
    const position = this.position();
    const done = this.#waiters.filter((w) => covers(position, w.target));
    this.#waiters = this.#waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }

  #rejectWaiters(err: unknown): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
  }

  /** Reports after a flush; one report at a time, the latest state wins. */
  #reportProgress(): void {
    if (this.#reporting) {
      this.#reportAgain = true;
      return;
    }
    this.#reporting = (async () => {
      do {
        this.#reportAgain = false;
        await this.#reportOnce();
      } while (this.#reportAgain);
    })().finally(() => {
      this.#reporting = undefined;
    });
  }

  async #reportOnce(): Promise<void> {
    const end = await this.#options.log.endPosition().catch(() => undefined);
    const { records, files, position } = this.stats();
    const lag = end && Object.keys(position).reduce((sum, p) => sum + Math.max(0, (end[Number(p)] ?? 0) - position[Number(p)]!), 0);
    const progress: ArchiveProgress = { records, files, position, lag };
    try {
      this.#options.onProgress?.(progress);
    } catch (err) {
      this.#logger?.warn({ err }, 'archive: the progress callback threw');
    }
    const now = Date.now();
    const since = this.#lastProgressLine;
    if (this.#logger && now - since.at >= this.#options.progressIntervalMs) {
      const recordsPerSecond = Math.round(((records - since.records) * 1_000) / (now - since.at));
      this.#logger.info({ ...progress, recordsPerSecond }, `archive: ${records} records in ${files} files, ${lag ?? 'unknown'} behind the log`);
      this.#lastProgressLine = { at: now, records };
    }
  }

  /** A flush outside the read loop failed: retried by the next one unless retrying cannot help. */
  #onBackgroundError(err: unknown, what: string): void {
    if (this.#state !== 'running') return;
    if (isBraidError(err) && !err.canRetry) return this.#fail(err);
    this.#lastError = err as Error;
    this.#logger?.warn({ err }, `archive: ${what} failed; it is retried`);
  }

  #fail(err: BraidError): void {
    this.#state = 'failed';
    this.#lastError = err;
    this.#abort.abort();
    clearTimeout(this.#flushTimer);
    this.#logger?.error({ err }, 'archive: stopped by an error that retrying cannot fix');
    this.#rejectWaiters(err);
  }

  /** What writes flushes and repairs: the writing thread, or the loop's writer. */
  #files(): FileWriter {
    return this.#thread ?? this.#writer;
  }

  #absolute(file: Pick<ArchiveFile, 'path'>): string {
    return path.join(this.dir, ...file.path.split('/'));
  }
}

/** What writes a flush's (or a repair's) records to a file: ParquetWriter or ThreadedWriter. */
type FileWriter = Pick<ParquetWriter, 'write'>;

async function closeWriters(writer: ParquetWriter, thread: ThreadedWriter | undefined): Promise<void> {
  try {
    await thread?.close();
  } finally {
    writer.close();
  }
}

function byRange(a: ArchiveFile, b: ArchiveFile): number {
  return a.partition - b.partition || a.from - b.from;
}

/** What is wrong with a listed file on disk (missing, another size, another hash), or undefined. */
async function fileProblem(absolute: string, file: ArchiveFile): Promise<string | undefined> {
  const size = await stat(absolute).then(
    (st) => st.size,
    (err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    },
  );
  if (size === undefined) return 'it is missing';
  if (size !== file.bytes) return `it has ${size} bytes where the manifest lists ${file.bytes}`;
  if (file.sha256 !== undefined && (await sha256File(absolute)) !== file.sha256) return 'its SHA-256 differs from the manifest\'s';
  return undefined;
}

/** Writes through `write` to a temp name, hashes it, then fsyncs and renames it into place. */
async function writeArchiveFile(target: string, write: (temp: string) => Promise<void>): Promise<{ bytes: number; sha256: string }> {
  const temp = `${target}.tmp`;
  await mkdir(path.dirname(target), { recursive: true });
  try {
    await write(temp);
    const sha256 = await sha256File(temp);
    await installFile(temp, target);
    return { bytes: (await stat(target)).size, sha256 };
  } catch (err) {
    await removeIfPresent(temp).catch(() => undefined);
    throw err;
  }
}

/**
 * `file`'s range of its partition read from the log again and written to the file's place:
 * the archive is exactly the log, so its files can always be made again from it while the log
 * holds their records. Fails with `archive_corrupt` when it does not.
 */
async function rearchive(options: ResolvedArchiverOptions, writer: FileWriter, file: ArchiveFile): Promise<ArchiveFile> {
  const { log, dir } = options;
  const records: ArchiveRecord[] = [];
  for await (const batch of log.read({ from: { [file.partition]: file.from }, until: { [file.partition]: file.to } })) {
    for (const record of batch) if (record.partition === file.partition && record.offset < file.to) records.push(record);
  }
  if (records.length !== file.records || records[0]?.offset !== file.from) {
    throw new BraidError(
      'archive_corrupt',
      `archive at ${dir}: ${file.path} is damaged, and the log no longer holds its ${file.records} records (it gave ${records.length}); ` +
        'restore the file from a backup, or move the archive directory aside and restart to archive what the log still holds',
    );
  }
  const written = await writeArchiveFile(path.join(dir, ...file.path.split('/')), (temp) => writer.write(records, records.length, temp));
  return { ...file, ...written };
}

/**
 * Every file the manifest lists must be there, whole, with its hash: one that is not is
 * archived again from the log (the next manifest lists the new one). A manifest from before
 * files were hashed gets their hashes now. Returns the manifest the archive opens with.
 */
async function checkListedFiles(options: ResolvedArchiverOptions, manifest: Manifest, writer: FileWriter, unsealed: boolean): Promise<Manifest> {
  const { dir, logger } = options;
  let changed = unsealed;
  const files: ArchiveFile[] = [];
  for (const file of manifest.files) {
    const absolute = path.join(dir, ...file.path.split('/'));
    const problem = await fileProblem(absolute, file);
    if (problem === undefined) {
      files.push(file.sha256 === undefined ? { ...file, sha256: await sha256File(absolute) } : file);
      continue;
    }
    logger?.error({ file: file.path, problem }, `archive: ${file.path} is damaged (${problem}); it is archived again from the log`);
    files.push(await rearchive(options, writer, file));
    changed = true;
  }
  if (!changed) return manifest;
  const next = { ...manifest, files, generation: manifest.generation + 1 };
  checkManifest(next, '(about to be written)');
  await writeManifest(dir, next);
  return next;
}

/** Deletes what a crash left: files the manifest does not list, temp files, DuckDB's spill files. */
async function removeLeftovers(dir: string, manifest: Manifest): Promise<number> {
  const listed = new Set(manifest.files.map((f) => f.path));
  let removed = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.startsWith(`${MANIFEST_FILE}.`) && entry.name.endsWith('.tmp')) {
      await removeIfPresent(path.join(dir, entry.name));
      removed++;
    } else if (entry.isDirectory() && entry.name === DUCKDB_TEMP) {
      await rm(path.join(dir, entry.name), { recursive: true, force: true });
    } else if (entry.isDirectory() && /^partition=\d+$/.test(entry.name)) {
      for (const name of await readdir(path.join(dir, entry.name))) {
        if (listed.has(`${entry.name}/${name}`)) continue;
        await rm(path.join(dir, entry.name, name), { recursive: true, force: true });
        removed++;
      }
    }
  }
  return removed;
}

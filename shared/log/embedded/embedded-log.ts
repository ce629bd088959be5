import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { untilAborted } from '../../async.js';
import { BraidError } from '../../errors.js';
import { partitionFor } from '../partitioner.js';
import type { AppendInput, Appended, EventLog, LogRecord, Position, ReadOptions } from '../types.js';
import { ignoreMissing, writeFileDurably } from './files.js';
import { LogLock } from './lock.js';
import { resolveEmbeddedLogOptions, type EmbeddedLogOpenOptions, type EmbeddedLogOptions } from './options.js';
import { newCursor, Partition, truncated, type EncodedInput, type PreparedWrite, type Recovery } from './partition.js';

interface Entry extends EncodedInput {
  readonly partition: number;
}

/** An append call waiting for its group commit. */
interface PendingAppend {
  readonly entries: readonly Entry[];
  resolve(appended: Appended[]): void;
  reject(err: unknown): void;
}

/** Work on the files that must not overlap a commit (erasure, deletion): run between groups. */
interface PendingTask {
  readonly task: () => Promise<void>;
}

/** Resolved (and replaced) on every commit and at close: what waiting readers wait for. */
interface Signal {
  readonly promise: Promise<void>;
  readonly fire: () => void;
}

/**
 * The log as files under one directory, for a single machine with no broker:
 *
 *   dir/lock                      the owning process (lock.ts)
 *   dir/log.json                  { format, partitions }: fixed when the log is created
 *   dir/partition-<p>/<base>.seg  frames (framing.ts), one segment file per base offset
 *   dir/partition-<p>/<base>.idx  sparse offset index of a sealed segment (sparse-index.ts)
 *
 * Appends are group-committed: calls that arrive while a write is in flight wait and then
 * share one write and one fdatasync per partition. A call resolves only after its records
 * are durable, and readers see a record only from then on. When a write or sync fails,
 * every partition of the group is truncated back and every call of the group rejects, so
 * nothing of a failed call is visible, now or after a restart.
 */
export class EmbeddedLog implements EventLog {
  readonly kind = 'embedded' as const;
  readonly partitions: number;
  readonly dir: string;
  /** Torn or corrupt tails cut off when the log was opened, for the caller to log. */
  readonly recovered: readonly Recovery[];

  private queue: Array<PendingAppend | PendingTask> = [];
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set when a failed append could not be undone: the log must be reopened. */
  private failure: BraidError | undefined;
  private changed = newSignal();
  private lastAppendTime: number;

  private constructor(
    private readonly options: EmbeddedLogOptions,
    private readonly lock: LogLock,
    private readonly parts: readonly Partition[],
  ) {
    this.partitions = parts.length;
    this.dir = options.dir;
    this.recovered = parts.flatMap((p) => (p.recovery ? [p.recovery] : []));
    this.lastAppendTime = Math.max(0, ...parts.map((p) => p.lastAppendTime));
  }

  static async open(input: EmbeddedLogOpenOptions): Promise<EmbeddedLog> {
    const options = resolveEmbeddedLogOptions(input);
    await mkdir(options.dir, { recursive: true });
    const lock = await LogLock.acquire(options.dir);
    try {
      await checkPartitionCount(options.dir, options.partitions);
      const opened = await Promise.allSettled(
        Array.from({ length: options.partitions }, (_, p) =>
          Partition.open(join(options.dir, `partition-${p}`), p, options),
        ),
      );
      const failed = opened.find((o) => o.status === 'rejected');
      const parts = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      if (failed) {
        await Promise.allSettled(parts.map((p) => p.close()));
        throw failed.reason;
      }
      return new EmbeddedLog(options, lock, parts);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  append(records: readonly AppendInput[]): Promise<Appended[]> {
    if (this.closing) return Promise.reject(closedError(this.dir));
    if (this.failure) return Promise.reject(this.failure);
    if (records.length === 0) return Promise.resolve([]);
    let entries: Entry[];
    try {
      entries = records.map((r, i) => this.encode(r, i));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Appended[]>((resolve, reject) => {
      this.queue.push({ entries, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  async endPosition(): Promise<Position> {
    if (this.closing) throw closedError(this.dir);
    return this.position();
  }

  async offsetsAt(times: Readonly<Record<number, number>>): Promise<Position> {
    if (this.closing) throw closedError(this.dir);
    const out: Position = {};
    for (const [p, time] of Object.entries(times)) {
      const part = this.parts[Number(p)];
      if (!part) throw new BraidError('invalid_parameter', `offsetsAt: partition ${p} does not exist (the log has ${this.partitions})`);
      out[part.id] = await part.offsetAt(time);
    }
    return out;
  }

  async startPosition(): Promise<Position> {
    if (this.closing) throw closedError(this.dir);
    return Object.fromEntries(this.parts.map((p) => [p.id, p.startOffset]));
  }

  async deleteBefore(position: Position): Promise<Position> {
    if (this.closing) throw closedError(this.dir);
    const checked = this.checkPosition('deleteBefore', position);
    // Never beside an erasure rewriting a segment it would delete (a rename would bring it back).
    await this.withSegments(async () => {
      for (const part of this.parts) if (checked[part.id] !== undefined) await part.deleteBefore(checked[part.id]!);
    });
    return this.startPosition();
  }

  async erase(key: string, until: Position): Promise<{ partition: number; records: number }> {
    if (this.closing) throw closedError(this.dir);
    if (typeof key !== 'string') throw new BraidError('invalid_parameter', 'erase: the key must be a string');
    const checked = this.checkPosition('erase', until);
    const part = this.parts[partitionFor(key, this.partitions)]!;
    const below = checked[part.id] ?? 0;
    let records = 0;
    if (below > part.startOffset) {
      const bytes = Buffer.from(key, 'utf8');
      await this.withSegments(async () => {
        // Only the seal waits for, and holds up, appends; the rewrite of sealed segments does not.
        await this.exclusive(() => part.sealFor(bytes, below));
        records = await part.eraseSealed(bytes, below);
      });
    }
    return { partition: part.id, records };
  }

  /** Segment files per partition, sealed and active (for tests and status). */
  segmentCounts(): number[] {
    return this.parts.map((p) => p.segmentCount);
  }

  /**
   * Offsets of `from` past the end wait for the log to get there. A partition missing from
   * `until` counts as 0: nothing of it is read. A bounded read that the close interrupts
   * throws log_closed (its caller would otherwise take a short read for a whole one); a
   * tailing read just ends.
   */
  async *read(options: ReadOptions = {}): AsyncGenerator<LogRecord[]> {
    if (this.closing) throw closedError(this.dir);
    const from = this.checkPosition('from', options.from);
    const until = options.until && this.checkPosition('until', options.until);
    const maxBatch = options.maxBatch ?? this.options.maxReadBatch;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new BraidError('invalid_parameter', `read: maxBatch is ${maxBatch}; use a positive integer`);
    }
    for (const part of this.parts) {
      if ((from[part.id] ?? 0) < part.startOffset) throw truncated(part.id, from[part.id] ?? 0, part.startOffset);
    }
    const cursors = this.parts.map((p) => newCursor(from[p.id] ?? 0));
    const limit = (p: number) => (until ? (until[p] ?? 0) : Infinity);
    let first = 0; // the partition read first, rotated so that none starves the others

    for (;;) {
      if (options.signal?.aborted) return;
      if (until && cursors.every((c, p) => c.next >= limit(p))) return;
      if (this.closing) {
        if (until) throw closedError(this.dir);
        return;
      }
      const changed = this.changed.promise;
      const batch: LogRecord[] = [];
      for (let i = 0; i < this.parts.length && batch.length < maxBatch; i++) {
        const p = (first + i) % this.parts.length;
        await this.parts[p]!.read(cursors[p]!, limit(p), maxBatch, batch);
      }
      first = (first + 1) % this.parts.length;
      if (batch.length > 0) yield batch;
      // An abort ends the wait; the loop's first check then ends the read.
      else await untilAborted(changed, options.signal).catch(() => undefined);
    }
  }

  /** Idempotent. Appends already accepted finish first; tailing reads end; the lock is released. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.draining;
      await this.segmentWork;
      this.changed.fire();
      await Promise.allSettled(this.parts.map((p) => p.close()));
      await this.lock.release();
    })();
    return this.closing;
  }

  private encode(record: AppendInput, i: number): Entry {
    if (typeof record?.key !== 'string' || !(record.value instanceof Uint8Array)) {
      throw new BraidError('invalid_parameter', `append: record ${i} needs a string key and a Buffer value`);
    }
    return {
      key: Buffer.from(record.key, 'utf8'),
      keyText: record.key,
      value: record.value,
      partition: partitionFor(record.key, this.partitions),
    };
  }

  /** Erasures and deletions of sealed segments, one at a time. */
  private segmentWork: Promise<unknown> = Promise.resolve();

  private withSegments<T>(task: () => Promise<T>): Promise<T> {
    const run = this.segmentWork.then(task);
    this.segmentWork = run.catch(() => undefined);
    return run;
  }

  /** Runs `task` alone: after the group committing now, before the next. */
  private exclusive(task: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ task: () => task().then(resolve, reject) });
      this.draining ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Let the calls made in the same tick as the first one join its group.
    await Promise.resolve();
    while (this.queue.length > 0) {
      // The appends up to the first task are one group; the task runs after them.
      const at = this.queue.findIndex((q) => 'task' in q);
      const group = (at < 0 ? this.queue.splice(0) : this.queue.splice(0, at)) as PendingAppend[];
      if (group.length > 0) {
        await this.commit(group).catch((err: unknown) => {
          for (const call of group) call.reject(err);
        });
      }
      if (at >= 0) await (this.queue.shift() as PendingTask).task();
    }
    this.draining = undefined;
  }

  /** One group commit: one write and one sync per partition for all calls of the group. */
  private async commit(group: readonly PendingAppend[]): Promise<void> {
    if (this.failure) throw this.failure;
    const appendTime = Math.max(this.options.clock(), this.lastAppendTime);
    const perPartition = this.parts.map((): Entry[] => []);
    // For each call, each record's index within its partition's share of the group.
    const slots = group.map((call) => call.entries.map((e) => perPartition[e.partition]!.push(e) - 1));
    const touched = this.parts.filter((p) => perPartition[p.id]!.length > 0);

    const prepared = await Promise.allSettled(touched.map((p) => p.prepare(perPartition[p.id]!, appendTime)));
    const writes = prepared.flatMap((w) => (w.status === 'fulfilled' ? [w.value] : []));
    const failed =
      prepared.find((w) => w.status === 'rejected') ??
      (await Promise.allSettled(writes.map((w) => this.parts[w.partition]!.write(w)))).find((w) => w.status === 'rejected');
    if (failed) {
      await this.undo(writes, failed.reason);
      throw this.failure ?? failedAppend(this.dir, failed.reason);
    }

    for (const w of writes) this.parts[w.partition]!.commit(w);
    this.lastAppendTime = appendTime;
    const firstOffset = new Map(writes.map((w) => [w.partition, w.firstOffset]));
    group.forEach((call, c) =>
      call.resolve(
        call.entries.map((e, i) => ({ partition: e.partition, offset: firstOffset.get(e.partition)! + slots[c]![i]!, appendTime })),
      ),
    );
    const changed = this.changed;
    this.changed = newSignal();
    changed.fire();
  }

  /** Truncates every partition of a failed group back to its committed end. */
  private async undo(writes: readonly PreparedWrite[], cause: unknown): Promise<void> {
    const undone = await Promise.allSettled(writes.map((w) => this.parts[w.partition]!.rollback(w)));
    const failed = undone.find((u) => u.status === 'rejected');
    if (failed) {
      this.failure = new BraidError(
        'log_unavailable',
        `embedded log at ${this.dir}: a failed append could not be undone (${message(failed.reason)}); close the log and open it again`,
        { cause },
      );
    }
  }

  private position(): Position {
    const position: Position = {};
    for (const p of this.parts) position[p.id] = p.endOffset;
    return position;
  }

  private checkPosition(name: string, position: Position | undefined): Position {
    for (const [p, offset] of Object.entries(position ?? {})) {
      const partition = Number(p);
      if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions || !Number.isInteger(offset) || offset < 0) {
        throw new BraidError(
          'invalid_parameter',
          `read: ${name} has offset ${offset} for partition ${p}; use offsets >= 0 for partitions 0 to ${this.partitions - 1}`,
        );
      }
    }
    return position ?? {};
  }
}

/** The partition count is fixed at creation: records are placed by partitionFor(key, count). */
async function checkPartitionCount(dir: string, partitions: number): Promise<void> {
  const path = join(dir, 'log.json');
  const text = await readFile(path, 'utf8').catch(ignoreMissing);
  if (text === undefined) {
    // log.json is written before any partition directory, so their presence without it is damage.
    if ((await readdir(dir)).some((name) => name.startsWith('partition-'))) {
      throw new BraidError('log_corrupt', `embedded log at ${dir} has partition directories but no log.json; restore it from a backup`);
    }
    await writeFileDurably(dir, path, `${JSON.stringify({ format: 1, partitions })}\n`);
    return;
  }
  let stored: unknown;
  try {
    stored = (JSON.parse(text) as { partitions?: unknown }).partitions;
  } catch {
    stored = undefined;
  }
  if (!Number.isInteger(stored)) {
    throw new BraidError('log_corrupt', `embedded log at ${dir}: ${path} is unreadable; restore it from a backup`);
  }
  if (stored !== partitions) {
    throw new BraidError(
      'invalid_config',
      `embedded log at ${dir} has ${stored} partitions, not ${partitions}; set log.partitions to ${stored}, or use a new data directory (the partition count of a log cannot change)`,
    );
  }
}

function newSignal(): Signal {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

function closedError(dir: string): BraidError {
  return new BraidError('log_closed', `embedded log at ${dir} is closed; open it again to use it`);
}

function failedAppend(dir: string, cause: unknown): BraidError {
  return new BraidError('log_unavailable', `embedded log at ${dir}: append failed and nothing of it was stored (${message(cause)}); retry`, { cause });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

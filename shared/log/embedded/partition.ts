import { mkdir, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BraidError } from '../../errors.js';
import { erasedValue } from '../../events/erased.js';
import type { LogRecord } from '../types.js';
import { ignoreMissing, readAt, readFully, syncDir, unlinkIfPresent, writeFileDurably } from './files.js';
import { decodeFrame, encodeFrameInto, FRAME_HEADER_BYTES, frameBytes, type Decoded } from './framing.js';
import type { EmbeddedLogOptions, SegmentFile } from './options.js';
import { SparseIndex } from './sparse-index.js';

/** A torn or corrupt tail cut off the last segment when the log was opened. */
export interface Recovery {
  readonly partition: number;
  readonly segment: string;
  /** Bytes kept: the end of the last whole, valid frame. */
  readonly validBytes: number;
  readonly truncatedBytes: number;
  readonly reason: string;
}

/** A record to append, its key already encoded. */
export interface EncodedInput {
  readonly key: Buffer;
  /** `key` as the string the caller gave: the tail cache's records carry it */
  readonly keyText: string;
  readonly value: Uint8Array;
}

/** One partition's share of a group commit, written but not yet visible. */
export interface PreparedWrite {
  readonly partition: number;
  readonly firstOffset: number;
  readonly count: number;
  readonly appendTime: number;
  readonly file: SegmentFile;
  readonly segment: Segment;
  readonly position: number;
  readonly data: Buffer;
  readonly indexMark: number;
  /** The records as readers see them (values are views of `data`), for the tail cache; empty when it is off. */
  readonly records: readonly LogRecord[];
}

/** One commit's records in the tail cache. */
interface TailChunk {
  readonly first: number;
  readonly records: readonly LogRecord[];
  readonly bytes: number;
}

/** Where one reader is in one partition. */
export interface Cursor {
  /** The next offset the reader wants. */
  next: number;
  /** Index into the partition's segments; -1 until positioned. */
  segment: number;
  /** The partition's `removals` when the cursor was positioned: old segments removed since shift the indexes. */
  removals: number;
  /** File position of the frame holding `frameOffset`. */
  position: number;
  frameOffset: number;
  /** Bytes already read from the segment file, starting at `chunkStart`. */
  chunk: Buffer;
  chunkStart: number;
  /** how much to read from the file at once (default readChunkBytes): a single-record probe reads less */
  chunkBytes?: number;
}

interface Segment {
  readonly baseOffset: number;
  readonly path: string;
  readonly index: SparseIndex;
  /** Next offset after the last durable record: readers never go past it. */
  endOffset: number;
  /** Bytes of durable records. */
  size: number;
}

type PartitionOptions = Pick<EmbeddedLogOptions, 'segmentBytes' | 'indexIntervalBytes' | 'readChunkBytes' | 'io' | 'tailCacheBytes'>;

const SEGMENT_NAME = /^(\d{20})\.seg$/;
const segmentName = (base: number) => `${String(base).padStart(20, '0')}.seg`;
const indexPath = (segmentPath: string) => segmentPath.replace(/\.seg$/, '.idx');

/**
 * One partition: a directory of segment files named by their base offset, each a run of
 * frames (framing.ts). Only the last segment is written; the others are sealed.
 * Appends are prepared, written and synced, and only then committed (made visible); a
 * failed write is rolled back by truncating to the committed size.
 */
export class Partition {
  private constructor(
    readonly id: number,
    private readonly dir: string,
    private readonly segments: Segment[],
    private active: SegmentFile,
    private readonly options: PartitionOptions,
    readonly recovery: Recovery | undefined,
    /** Append time of the last record, to keep append times from going backwards. */
    readonly lastAppendTime: number,
  ) {}

  static async open(dir: string, id: number, options: PartitionOptions): Promise<Partition> {
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    await Promise.all(names.filter((n) => n.endsWith('.tmp')).map((n) => unlinkIfPresent(join(dir, n))));
    const bases = names
      .map((n) => SEGMENT_NAME.exec(n)?.[1])
      .filter((b) => b !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    if (bases.length === 0) {
      await (await open(join(dir, segmentName(0)), 'wx')).close();
      await syncDir(dir);
      bases.push(0);
    }

    const segments: Segment[] = [];
    for (let i = 0; i < bases.length - 1; i++) {
      segments.push(await openSealed(dir, bases[i]!, bases[i + 1]!, options));
    }
    const lastPath = join(dir, segmentName(bases.at(-1)!));
    // An index beside the last segment is from a roll that did not finish: the segment is active again.
    await unlinkIfPresent(indexPath(lastPath));
    const scan = await scanSegment(lastPath, bases.at(-1)!, options);
    const lastAppendTime = scan.lastAppendTime ?? (await lastAppendTimeOf(segments.at(-1)));
    let recovery: Recovery | undefined;
    const handle = await open(lastPath, 'r+');
    try {
      // A bad frame with whole frames after it is damage inside the log, not a write the
      // crash cut short: cutting there would drop acknowledged records, so the open refuses.
      if (scan.problem && (await wholeFrameAfter(lastPath, scan.size, scan.endOffset))) {
        throw corrupt(lastPath, scan.size, `${scan.problem}, with whole records after it: the segment is damaged, not torn by a crash`);
      }
      if (scan.problem) {
        recovery = {
          partition: id,
          segment: lastPath,
          validBytes: scan.size,
          truncatedBytes: scan.fileBytes - scan.size,
          reason: scan.problem,
        };
        await handle.truncate(scan.size);
        await handle.datasync();
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    segments.push({ baseOffset: bases.at(-1)!, path: lastPath, index: scan.index, endOffset: scan.endOffset, size: scan.size });
    return new Partition(id, dir, segments, { handle, path: lastPath }, options, recovery, lastAppendTime);
  }

  /** Old segments removed by deleteBefore so far, in this process. */
  private removals = 0;

  /** The first offset the partition still holds: 0 until old segments are deleted. */
  get startOffset(): number {
    return this.segments[0]!.baseOffset;
  }

  /**
   * Deletes the sealed segments whose records are all below `offset` (never the active one),
   * oldest first, and returns the new start offset. A record at or above `offset` is never
   * deleted; some below it may stay (the rest of their segment).
   */
  async deleteBefore(offset: number): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[0]!.endOffset <= offset) {
      const [old] = this.segments.splice(0, 1);
      this.removals++;
      removed++;
      await unlinkIfPresent(old!.path);
      await unlinkIfPresent(indexPath(old!.path));
    }
    if (removed > 0) await syncDir(this.dir);
    while (this.tail.length > 0 && this.tail[0]!.first < this.startOffset) this.dropOldestTail();
    return this.startOffset;
  }

  /**
   * Turns every record of `key` below `until` into an erased event at the same offset and of
   * the same length (shared/events/erased.ts: the key's bytes zeroed, the value replaced), so
   * that positions, the sparse indexes and every other record stay as they are; returns how
   * many it changed. A segment is rewritten whole under a temp name, synced and renamed over
   * the old one, so a crash leaves the old segment or the new one, never a torn one (the open
   * deletes the temp). The active segment is sealed first when it holds such a record (it is
   * written to, so it cannot be renamed over). Readers may still yield a record they read
   * before the rename. Idempotent: an erased record no longer has the key. The caller keeps
   * appends out of `sealFor` and deletions out of `eraseSealed`.
   */
  async erase(key: Buffer, until: number): Promise<number> {
    await this.sealFor(key, until);
    return this.eraseSealed(key, until);
  }

  /**
   * Seals the active segment when it holds a record of `key` below `until`: the first part of
   * `erase`, the only one that must not overlap an append (EmbeddedLog runs it between group
   * commits). After it, every such record is in a sealed segment, and later appends are at or
   * after `until`.
   */
  async sealFor(key: Buffer, until: number): Promise<void> {
    // Records below `until` are about to change on disk; later appends are at or after it.
    this.clearTail();
    const active = this.current;
    if (active.baseOffset >= until || active.size === 0) return;
    const data = await readAt(active.path, active.size, 0);
    if (erasedFrames(data, active, key, until, false) > 0) await this.roll();
  }

  /** The rest of `erase`: the sealed segments rewritten; appends go on meanwhile (they touch only the active one). */
  async eraseSealed(key: Buffer, until: number): Promise<number> {
    let erased = 0;
    for (const segment of this.segments.slice(0, -1)) {
      if (segment.baseOffset >= until) break;
      const data = await readFile(segment.path);
      const changed = erasedFrames(data, segment, key, until, true);
      if (changed === 0) continue;
      await writeFileDurably(this.dir, segment.path, data.subarray(0, segment.size));
      erased += changed;
    }
    return erased;
  }

  /** Next offset after the last durable record. */
  get endOffset(): number {
    return this.segments.at(-1)!.endOffset;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Encodes the records after the committed end, rolling to a new segment first if needed. */
  async prepare(records: readonly EncodedInput[], appendTime: number): Promise<PreparedWrite> {
    let bytes = 0;
    for (const r of records) bytes += frameBytes(r.key.length, r.value.length);
    if (this.current.size > 0 && this.current.size + bytes > this.options.segmentBytes) await this.roll();

    const segment = this.current;
    const data = Buffer.allocUnsafe(bytes);
    const indexMark = segment.index.length;
    const cached: LogRecord[] = this.options.tailCacheBytes > 0 && bytes <= this.options.tailCacheBytes ? new Array(records.length) : [];
    let at = 0;
    let offset = segment.endOffset;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      segment.index.add(offset, segment.size + at);
      const frame = encodeFrameInto(data, at, { offset, appendTime, key: r.key, value: r.value });
      if (cached.length > 0) cached[i] = { partition: this.id, offset, appendTime, key: r.keyText, value: data.subarray(at + frame - r.value.length, at + frame) };
      at += frame;
      offset++;
    }
    return {
      partition: this.id,
      firstOffset: segment.endOffset,
      count: records.length,
      appendTime,
      file: this.active,
      segment,
      position: segment.size,
      data,
      indexMark,
      records: cached,
    };
  }

  async write(w: PreparedWrite): Promise<void> {
    await this.options.io.write(w.file, w.data, w.position);
    await this.options.io.sync(w.file);
  }

  /** Makes a written and synced write visible to readers. */
  commit(w: PreparedWrite): void {
    w.segment.size += w.data.length;
    w.segment.endOffset += w.count;
    if (w.records.length === 0) {
      this.clearTail(); // too big for the cache: what it holds would no longer run up to the end
      return;
    }
    this.tail.push({ first: w.firstOffset, records: w.records, bytes: w.data.length });
    this.tailBytes += w.data.length;
    while (this.tailBytes > this.options.tailCacheBytes) this.dropOldestTail();
  }

  /**
   * The most recent commits' records, decoded, oldest first, contiguous up to the end offset:
   * what the file holds for them, which passed no CRC check because it never left memory
   * (as a Kafka broker serves a caught-up consumer from the page cache).
   */
  private readonly tail: TailChunk[] = [];
  private tailBytes = 0;

  private dropOldestTail(): void {
    this.tailBytes -= this.tail.shift()!.bytes;
  }

  private clearTail(): void {
    this.tail.length = 0;
    this.tailBytes = 0;
  }

  /**
   * Serves `read` from the tail cache when the cursor's next offset is in it; false when
   * it is not (older, or the cache is empty), and the file is read instead.
   */
  private readTail(cursor: Cursor, until: number, max: number, out: LogRecord[]): boolean {
    const tail = this.tail;
    if (tail.length === 0 || cursor.next < tail[0]!.first || cursor.next < this.startOffset) return false;
    let i = tail.length - 1;
    while (tail[i]!.first > cursor.next) i--;
    for (; i < tail.length && out.length < max && cursor.next < until; i++) {
      const { first, records } = tail[i]!;
      for (let k = cursor.next - first; k < records.length && out.length < max && cursor.next < until; k++) {
        out.push(records[k]!);
        cursor.next++;
      }
    }
    // The cursor's file position no longer follows `next`: a later file read seeks again.
    cursor.segment = -1;
    return true;
  }

  /** Undoes a prepared write: nothing of it stays in the file or the index. */
  async rollback(w: PreparedWrite): Promise<void> {
    w.segment.index.truncate(w.indexMark);
    await w.file.handle.truncate(w.position);
    await this.options.io.sync(w.file);
  }

  /**
   * Appends to `out` the records from `cursor.next` up to `until` (exclusive, at most the
   * end offset), at most `max` of them in all, and advances the cursor.
   */
  async read(cursor: Cursor, until: number, max: number, out: LogRecord[]): Promise<void> {
    until = Math.min(until, this.endOffset);
    while (out.length < max && cursor.next < until) {
      if (this.readTail(cursor, until, max, out)) continue;
      if (cursor.segment < 0 || cursor.frameOffset > cursor.next || cursor.removals !== this.removals) this.seek(cursor);
      const segment = this.segments[cursor.segment]!;
      if (cursor.frameOffset >= segment.endOffset) {
        const next = this.segments[cursor.segment + 1];
        if (next === undefined) return;
        Object.assign(cursor, { segment: cursor.segment + 1, position: 0, frameOffset: next.baseOffset, chunk: EMPTY, chunkStart: 0 });
        continue;
      }
      const { record, bytes } = await this.frameAt(segment, cursor);
      if (record.offset !== cursor.frameOffset) {
        throw corrupt(segment.path, cursor.position, `offset ${record.offset} where ${cursor.frameOffset} was expected`);
      }
      cursor.position += bytes;
      cursor.frameOffset++;
      if (record.offset >= cursor.next) {
        out.push({ partition: this.id, ...record });
        cursor.next = record.offset + 1;
      }
    }
  }

  /**
   * The first offset appended at or after `time`, or the end offset: append times never go
   * backwards in a partition (append keeps them rising), so a binary search over offsets,
   * one record read a step.
   */
  async offsetAt(time: number): Promise<number> {
    let lo = this.startOffset;
    let hi = this.endOffset;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const out: LogRecord[] = [];
      // One record a probe: read from its index entry, not a whole read chunk.
      await this.read({ ...newCursor(mid), chunkBytes: this.options.indexIntervalBytes }, mid + 1, 1, out);
      if (out[0]!.appendTime >= time) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Closes the active segment's file. */
  async close(): Promise<void> {
    await this.active.handle.close();
  }

  private get current(): Segment {
    return this.segments.at(-1)!;
  }

  /** Seals the active segment and starts a new one at its end offset. */
  private async roll(): Promise<void> {
    const sealed = this.current;
    const path = join(this.dir, segmentName(sealed.endOffset));
    // 'w+': a file of that name can only be an empty leftover of a roll that failed before.
    const handle = await open(path, 'w+');
    try {
      await syncDir(this.dir);
    } catch (err) {
      await handle.close();
      throw err;
    }
    const data = sealed.index.encode({ endOffset: sealed.endOffset, segmentBytes: sealed.size });
    // The sidecar only saves a scan at the next open, which checks it: no fsync needed.
    await writeFileDurably(this.dir, indexPath(sealed.path), data, false).catch(() => undefined);
    await this.active.handle.close();
    this.active = { handle, path };
    this.segments.push({ baseOffset: sealed.endOffset, path, index: new SparseIndex(sealed.endOffset, this.options.indexIntervalBytes), endOffset: sealed.endOffset, size: 0 });
  }

  private seek(cursor: Cursor): void {
    if (cursor.next < this.startOffset) throw truncated(this.id, cursor.next, this.startOffset);
    cursor.removals = this.removals;
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segments[mid]!.baseOffset <= cursor.next) lo = mid;
      else hi = mid - 1;
    }
    const entry = this.segments[lo]!.index.floor(cursor.next);
    Object.assign(cursor, { segment: lo, position: entry.position, frameOffset: entry.offset, chunk: EMPTY, chunkStart: 0 });
  }

  /** Decodes the durable frame at the cursor, reading the segment file when the chunk lacks it. */
  private async frameAt(segment: Segment, cursor: Cursor): Promise<Extract<Decoded, { status: 'ok' }>> {
    const rel = cursor.position - cursor.chunkStart;
    let decoded = rel >= 0 && rel <= cursor.chunk.length ? decodeFrame(cursor.chunk, rel) : SHORT;
    if (decoded.status === 'short') {
      const length = Math.min(
        segment.size - cursor.position,
        Math.max(cursor.chunkBytes ?? this.options.readChunkBytes, declaredFrameBytes(cursor.chunk, rel)),
      );
      cursor.chunk = await readAt(segment.path, length, cursor.position);
      cursor.chunkStart = cursor.position;
      decoded = decodeFrame(cursor.chunk, 0);
    }
    if (decoded.status === 'ok') return decoded;
    throw corrupt(segment.path, cursor.position, decoded.status === 'short' ? 'frame cut short' : decoded.reason);
  }
}

export function newCursor(next: number): Cursor {
  return { next, segment: -1, removals: 0, position: 0, frameOffset: 0, chunk: EMPTY, chunkStart: 0 };
}

const EMPTY: Buffer = Buffer.alloc(0);
const SHORT: Decoded = { status: 'short' };

/** The size of the frame whose header is at `at`, when the header is in `buf`. */
function declaredFrameBytes(buf: Buffer, at: number): number {
  return at >= 0 && buf.length - at >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + buf.readUInt32BE(at) : 0;
}

/**
 * The frames of `key` below `until` in a segment's bytes; with `rewrite`, each is replaced in
 * `data` by an erased event of the same length (the CRC computed again).
 */
function erasedFrames(data: Buffer, segment: Segment, key: Buffer, until: number, rewrite: boolean): number {
  let found = 0;
  for (let at = 0; at < segment.size; ) {
    const decoded = decodeFrame(data, at);
    if (decoded.status !== 'ok') throw corrupt(segment.path, at, decoded.status === 'short' ? 'frame cut short' : decoded.reason);
    const { record, bytes } = decoded;
    if (record.offset >= until) break;
    if (Buffer.byteLength(record.key, 'utf8') === key.length && Buffer.from(record.key, 'utf8').equals(key)) {
      found++;
      if (rewrite) encodeFrameInto(data, at, { offset: record.offset, appendTime: record.appendTime, key: Buffer.alloc(key.length), value: erasedValue(record.value.length) });
    }
    at += bytes;
  }
  return found;
}

/** A read from below what the partition still holds (log.retention deleted it; the archive has it). */
export function truncated(partition: number, offset: number, start: number): BraidError {
  return new BraidError(
    'log_truncated',
    `the log no longer holds offset ${offset} of partition ${partition} (it starts at ${start}: older records were deleted under log.retention and are in the archive); read from the archive below it`,
  );
}

function corrupt(path: string, position: number, reason: string): BraidError {
  return new BraidError(
    'log_corrupt',
    `embedded log segment ${path} is damaged at byte ${position} (${reason}); restore the data directory from a backup`,
  );
}

/** A sealed segment: from its sidecar index when that is valid, else by a full scan (and a new sidecar). */
async function openSealed(dir: string, base: number, nextBase: number, options: PartitionOptions): Promise<Segment> {
  const path = join(dir, segmentName(base));
  const size = (await stat(path)).size;
  const sidecar = await readFile(indexPath(path)).catch(ignoreMissing);
  const loaded = sidecar && SparseIndex.decode(sidecar, options.indexIntervalBytes);
  if (loaded && loaded.index.baseOffset === base && loaded.endOffset === nextBase && loaded.segmentBytes === size) {
    return { baseOffset: base, path, index: loaded.index, endOffset: nextBase, size };
  }
  const scan = await scanSegment(path, base, options);
  if (scan.problem) throw corrupt(path, scan.size, scan.problem);
  if (scan.endOffset !== nextBase) {
    throw corrupt(path, scan.size, `it ends at offset ${scan.endOffset} but the next segment starts at ${nextBase}`);
  }
  const data = scan.index.encode({ endOffset: scan.endOffset, segmentBytes: scan.size });
  await writeFileDurably(dir, indexPath(path), data, false).catch(() => undefined);
  return { baseOffset: base, path, index: scan.index, endOffset: scan.endOffset, size };
}

interface Scan {
  readonly index: SparseIndex;
  readonly endOffset: number;
  /** Bytes of whole, valid frames from the start. */
  readonly size: number;
  readonly fileBytes: number;
  readonly lastAppendTime: number | undefined;
  /** Why the scan stopped before the end of the file. */
  readonly problem: string | undefined;
}

/** Decodes a segment from the start, stopping at the first frame that is short, corrupt or out of sequence. */
async function scanSegment(path: string, base: number, options: PartitionOptions): Promise<Scan> {
  const handle = await open(path, 'r');
  try {
    const fileBytes = (await handle.stat()).size;
    const index = new SparseIndex(base, options.indexIntervalBytes);
    let size = 0;
    let next = base;
    let lastAppendTime: number | undefined;
    let problem: string | undefined;
    let chunk = EMPTY;
    let chunkStart = 0;
    while (size < fileBytes) {
      let decoded = decodeFrame(chunk, size - chunkStart);
      if (decoded.status === 'short') {
        const want = Math.max(options.readChunkBytes, declaredFrameBytes(chunk, size - chunkStart));
        chunk = await readFully(handle, Math.min(want, fileBytes - size), size);
        chunkStart = size;
        decoded = decodeFrame(chunk, 0);
      }
      if (decoded.status !== 'ok') {
        problem = decoded.status === 'short' ? 'the file ends inside a frame' : decoded.reason;
        break;
      }
      if (decoded.record.offset !== next) {
        problem = `offset ${decoded.record.offset} where ${next} was expected`;
        break;
      }
      index.add(next, size);
      size += decoded.bytes;
      next++;
      lastAppendTime = decoded.record.appendTime;
    }
    return { index, endOffset: next, size, fileBytes, lastAppendTime, problem };
  } finally {
    await handle.close();
  }
}

/**
 * Whether a whole, valid frame of an offset at or after `next` starts anywhere after byte
 * `from` of the file. A crash can only leave a short or garbled last write, never whole
 * records after it.
 */
async function wholeFrameAfter(path: string, from: number, next: number): Promise<boolean> {
  const rest = await readFile(path).then((b) => b.subarray(from + 1));
  for (let at = 0; at + FRAME_HEADER_BYTES < rest.length; at++) {
    // Cheap tests first (a plausible length, the format byte, a plausible offset), the CRC last.
    const bodyBytes = rest.readUInt32BE(at);
    if (bodyBytes < 21 || at + FRAME_HEADER_BYTES + bodyBytes > rest.length || rest[at + FRAME_HEADER_BYTES] !== 1) continue;
    const decoded = decodeFrame(rest, at);
    if (decoded.status === 'ok' && decoded.record.offset >= next) return true;
  }
  return false;
}

/** The append time of the last record of a sealed segment (0 if it has none). */
async function lastAppendTimeOf(segment: Segment | undefined): Promise<number> {
  if (segment === undefined || segment.endOffset === segment.baseOffset) return 0;
  const { position } = segment.index.floor(segment.endOffset - 1);
  const chunk = await readAt(segment.path, segment.size - position, position);
  let appendTime = 0;
  for (let at = 0; at < chunk.length; ) {
    const decoded = decodeFrame(chunk, at);
    if (decoded.status !== 'ok') throw corrupt(segment.path, position + at, decoded.status === 'short' ? 'frame cut short' : decoded.reason);
    appendTime = decoded.record.appendTime;
    at += decoded.bytes;
  }
  return appendTime;
}

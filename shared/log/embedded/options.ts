import { resolve } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { resolveOptions } from '../../config/options.js';
import { BraidError } from '../../errors.js';
import { writeFully } from './files.js';

/** A segment file as the append path sees it. */
export interface SegmentFile {
  readonly handle: FileHandle;
  readonly path: string;
}

/** The file writes and syncs of the append path; tests replace them to inject faults. */
export interface EmbeddedLogIo {
  /** Writes all of `data` at `position`. */
  write(file: SegmentFile, data: Buffer, position: number): Promise<void>;
  /** Makes the file's data durable (fdatasync). */
  sync(file: SegmentFile): Promise<void>;
}

export interface EmbeddedLogOptions {
  /** The log's directory; created if missing. */
  readonly dir: string;
  /** Fixed when the log is created: reopening with another count is an error. */
  readonly partitions: number;
  /** A segment is sealed and the next one started when a write would take it past this. */
  readonly segmentBytes: number;
  /** Distance between entries of a segment's sparse offset index. */
  readonly indexIntervalBytes: number;
  /** How much a reader reads from a segment file at once. */
  readonly readChunkBytes: number;
  /** Records per yielded batch when read() is not given maxBatch. */
  readonly maxReadBatch: number;
  /**
   * Bytes of the most recently committed frames kept decoded in memory (0: none): a reader
   * that keeps up with the appends (the archive, the speed layer) takes its records from
   * there instead of reading, checking and decoding the file again.
   */
  readonly tailCacheBytes: number;
  readonly io: EmbeddedLogIo;
  /**
   * The append-time clock, epoch ms (default Date.now): a bench replays a timeline of hours
   * in seconds with it. Append times still never go backwards.
   */
  readonly clock: () => number;
}

export type EmbeddedLogOpenOptions = Pick<EmbeddedLogOptions, 'dir'> & Partial<Omit<EmbeddedLogOptions, 'dir'>>;

/** The numeric tunables, with their defaults and bounds: the one place they are checked. */
const EmbeddedLogTuning = Type.Object({
  partitions: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
  segmentBytes: Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, default: 64 * 1024 * 1024 }), // 1 KiB to 1 GiB; 64 MiB
  indexIntervalBytes: Type.Integer({ minimum: 1, maximum: 1024 * 1024 * 1024, default: 64 * 1024 }), // 64 KiB
  readChunkBytes: Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024, default: 1024 * 1024 }), // 1 MiB
  maxReadBatch: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1_000 }), // records
  tailCacheBytes: Type.Integer({ minimum: 0, maximum: 1024 * 1024 * 1024, default: 16 * 1024 * 1024 }), // 16 MiB
});

const defaultIo: EmbeddedLogIo = {
  write: (file, data, position) => writeFully(file.handle, data, position),
  sync: (file) => file.handle.datasync(),
};

export const defaultEmbeddedLogOptions: Omit<EmbeddedLogOptions, 'dir'> = { ...(Value.Default(EmbeddedLogTuning, {}) as Static<typeof EmbeddedLogTuning>), io: defaultIo, clock: Date.now };

/** Merges with the defaults and validates once; errors name the option and the fix. */
export function resolveEmbeddedLogOptions(input: EmbeddedLogOpenOptions): EmbeddedLogOptions {
  if (typeof input.dir !== 'string' || input.dir === '') {
    throw new BraidError('invalid_config', 'embedded log: dir must be a non-empty path to the log directory');
  }
  return { io: defaultIo, clock: Date.now, ...resolveOptions(EmbeddedLogTuning, input, 'embedded log'), dir: resolve(input.dir) };
}

import { resolve } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
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
  readonly io: EmbeddedLogIo;
}

export type EmbeddedLogOpenOptions = Pick<EmbeddedLogOptions, 'dir'> & Partial<Omit<EmbeddedLogOptions, 'dir'>>;

export const defaultEmbeddedLogOptions = {
  partitions: 1,
  segmentBytes: 64 * 1024 * 1024, // 64 MiB
  indexIntervalBytes: 64 * 1024, // 64 KiB
  readChunkBytes: 1024 * 1024, // 1 MiB
  maxReadBatch: 1_000, // records
  io: {
    write: (file, data, position) => writeFully(file.handle, data, position),
    sync: (file) => file.handle.datasync(),
  },
} as const satisfies Omit<EmbeddedLogOptions, 'dir'>;

const limits = {
  partitions: [1, 10_000],
  segmentBytes: [1024, 1024 * 1024 * 1024], // 1 KiB to 1 GiB
  indexIntervalBytes: [1, 1024 * 1024 * 1024],
  readChunkBytes: [1024, 256 * 1024 * 1024],
  maxReadBatch: [1, 1_000_000],
} as const satisfies Partial<Record<keyof EmbeddedLogOptions, readonly [number, number]>>;

/** Merges with the defaults and validates once; errors name the option and the fix. */
export function resolveEmbeddedLogOptions(input: EmbeddedLogOpenOptions): EmbeddedLogOptions {
  if (typeof input.dir !== 'string' || input.dir === '') {
    throw new BraidError('invalid_config', 'embedded log: dir must be a non-empty path to the log directory');
  }
  const options: EmbeddedLogOptions = {
    ...defaultEmbeddedLogOptions,
    ...withoutUndefined(input),
    dir: resolve(input.dir),
  };
  for (const [name, [min, max]] of Object.entries(limits)) {
    const value = options[name as keyof typeof limits];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new BraidError(
        'invalid_config',
        `embedded log: ${name} is ${String(value)}; use an integer from ${min} to ${max}`,
      );
    }
  }
  return options;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

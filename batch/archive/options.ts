import path from 'node:path';
import type { Logger } from 'pino';
import { BraidError } from '../../shared/errors.js';
import type { EventLog, Position } from '../../shared/log/types.js';

/** What the archiver reports after every flush (and what its progress log line says). */
export interface ArchiveProgress {
  /** records in the archive */
  readonly records: number;
  readonly files: number;
  /** partition → next offset not yet archived */
  readonly position: Position;
  /** records in the log not archived yet; undefined when the log's end could not be read */
  readonly lag: number | undefined;
}

export interface ArchiverTuning {
  /** A partition's buffer is written as one Parquet file once it holds this many records... */
  readonly flushRecords: number;
  /** ...or once its oldest record waited this long (ms). */
  readonly flushIntervalMs: number;
  /** Compaction starts once a partition has this many small files in a row (at least 2). */
  readonly compactMinFiles: number;
  /** Files below this many records are small; compaction merges them into files of at most this many. */
  readonly compactTargetRecords: number;
  /** Least time between two progress log lines (info). */
  readonly progressIntervalMs: number;
  /** First wait after a failed read or write; doubles up to `maxRetryMs`. */
  readonly retryMs: number;
  readonly maxRetryMs: number;
  /** DuckDB's memory limit for writing and compacting; larger work spills to `<dir>/.duckdb-tmp`. */
  readonly memoryLimit: string;
  /** DuckDB threads. */
  readonly threads: number;
}

export interface ArchiverOptions extends Partial<ArchiverTuning> {
  readonly log: EventLog;
  /** The archive directory (`<dataDir>/archive`); created if missing. */
  readonly dir: string;
  readonly logger?: Logger;
  /** Called after every flush; must not throw. */
  readonly onProgress?: (progress: ArchiveProgress) => void;
}

export interface ResolvedArchiverOptions extends ArchiverTuning {
  readonly log: EventLog;
  /** absolute */
  readonly dir: string;
  readonly logger: Logger | undefined;
  readonly onProgress: ((progress: ArchiveProgress) => void) | undefined;
}

export const defaultArchiverOptions = {
  flushRecords: 100_000, // records per partition
  flushIntervalMs: 2_000, // two seconds
  compactMinFiles: 8, // files
  compactTargetRecords: 2_000_000, // records per file
  progressIntervalMs: 10_000, // ten seconds
  retryMs: 500, // half a second
  maxRetryMs: 30_000, // thirty seconds
  memoryLimit: '1GB',
  threads: 2,
} as const satisfies ArchiverTuning;

const limits = {
  flushRecords: [1, 10_000_000],
  flushIntervalMs: [1, 3_600_000], // up to an hour
  compactMinFiles: [2, 100_000],
  compactTargetRecords: [2, 1_000_000_000],
  progressIntervalMs: [1, 86_400_000], // up to a day
  retryMs: [1, 3_600_000],
  maxRetryMs: [1, 3_600_000],
  threads: [1, 1_024],
} as const satisfies Partial<Record<keyof ArchiverTuning, readonly [number, number]>>;

/** Merges with `defaultArchiverOptions` and validates once; errors name the option and the fix. */
export function resolveArchiverOptions(options: ArchiverOptions): ResolvedArchiverOptions {
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new BraidError('invalid_config', 'archive: dir must be a non-empty path to the archive directory');
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const resolved: ResolvedArchiverOptions = {
    ...defaultArchiverOptions,
    ...defined,
    log: options.log,
    dir: path.resolve(options.dir),
    logger: options.logger,
    onProgress: options.onProgress,
  };
  for (const [name, [min, max]] of Object.entries(limits)) {
    const value = resolved[name as keyof typeof limits];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new BraidError('invalid_config', `archive: ${name} is ${String(value)}; use an integer from ${min} to ${max}`);
    }
  }
  // Bound into a SET statement as text, so the shape is checked here.
  if (!/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.test(resolved.memoryLimit)) {
    throw new BraidError('invalid_config', `archive: memoryLimit is ${JSON.stringify(resolved.memoryLimit)}; use a size such as "512MB" or "2GiB"`);
  }
  return resolved;
}

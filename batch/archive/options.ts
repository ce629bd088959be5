import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import { ArchiveSettings, Size, resolveOptions } from '../../shared/config/index.js';
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

/**
 * The archiver's tunables: braid.yaml's `archive:` section (shared/config/schema.ts), plus
 * what only code and tests set. One schema holds every default and bound.
 */
export const ArchiverTuningSchema = Type.Object({
  ...ArchiveSettings.properties,
  /** Least time between two progress log lines (info). */
  progressIntervalMs: Type.Integer({ minimum: 1, maximum: 86_400_000, default: 10_000 }), // ten seconds, up to a day
  /** First wait after a failed read or write; doubles up to `maxRetryMs`. */
  retryMs: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 500 }), // half a second
  maxRetryMs: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 30_000 }), // thirty seconds
  /** DuckDB's memory limit for writing and compacting; larger work spills to `<dir>/.duckdb-tmp`. */
  memoryLimit: Size('1GB', 'DuckDB memory limit of the archiver'),
  /** DuckDB threads. */
  threads: Type.Integer({ minimum: 1, maximum: 1_024, default: 2 }),
});

export type ArchiverTuning = Static<typeof ArchiverTuningSchema>;

export const defaultArchiverOptions = Value.Default(ArchiverTuningSchema, {}) as ArchiverTuning;

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

/** Fills in the defaults and checks every tunable once; errors name the option and the fix. */
export function resolveArchiverOptions(options: ArchiverOptions): ResolvedArchiverOptions {
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new BraidError('invalid_config', 'archive: dir must be a non-empty path to the archive directory');
  }
  const resolved = resolveOptions(ArchiverTuningSchema, options, 'archive');
  return { ...resolved, dir: path.resolve(options.dir), logger: options.logger, onProgress: options.onProgress };
}

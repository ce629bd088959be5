import type { Logger } from 'pino';
import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/types.js';
import type { CompiledView } from '../../shared/views/index.js';
import type { ArchiveSource } from './types.js';

/** The tunables of batch runs (braid.yaml `batch:`), with their defaults. */
export interface BatchOptions {
  /** DuckDB memory_limit of a run; larger work spills to `<dataDir>/batch/tmp` */
  readonly memoryLimit: string;
  /** DuckDB threads of a run */
  readonly threads: number;
  /** versions kept on disk, the serving one included */
  readonly keepVersions: number;
}

export const defaultBatchOptions: BatchOptions = {
  memoryLimit: '2GB',
  threads: 2,
  keepVersions: 3,
};

export interface BatchRunnerOptions extends Partial<BatchOptions> {
  /** braid's data directory; versions live under `<dataDir>/batch` */
  readonly dataDir: string;
  readonly views: readonly CompiledView[];
  /** dedupe.window in ms; Infinity for forever */
  readonly dedupeWindowMs: number;
  readonly archive: ArchiveSource;
  /** the run's snapshot S; the speed layer's cut once the hand-off exists */
  readonly snapshotPosition: () => Promise<Position>;
  readonly logger?: Logger;
}

const MEMORY = /^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/;

export function resolveBatchOptions(options: Partial<BatchOptions>, dedupeWindowMs: number): BatchOptions {
  const resolved = { ...defaultBatchOptions, ...stripUndefined(options) };
  const problems: string[] = [];
  if (!MEMORY.test(resolved.memoryLimit)) problems.push(`memoryLimit "${resolved.memoryLimit}": write a size such as 512MB or 2GB`);
  if (!Number.isInteger(resolved.threads) || resolved.threads < 1) problems.push(`threads ${resolved.threads}: use a whole number of at least 1`);
  if (!Number.isInteger(resolved.keepVersions) || resolved.keepVersions < 1) problems.push(`keepVersions ${resolved.keepVersions}: use a whole number of at least 1`);
  if (dedupeWindowMs !== Infinity && !(Number.isSafeInteger(dedupeWindowMs) && dedupeWindowMs >= 0)) {
    problems.push(`dedupe window ${dedupeWindowMs} ms: use a whole number of ms, or forever`);
  }
  if (problems.length > 0) throw new BraidError('invalid_config', `batch: ${problems.join('; ')}`);
  return resolved;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

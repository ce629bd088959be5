import type { Static } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { BatchSettings, resolveOptions } from '../../shared/config/index.js';
import type { Position } from '../../shared/log/types.js';
import type { CompiledView } from '../../shared/views/index.js';
import type { ArchiveSource } from './types.js';

/**
 * The tunables of batch runs: braid.yaml's `batch:` section (shared/config/schema.ts holds
 * their defaults and bounds; the schedules are the node's).
 */
export type BatchOptions = Omit<Static<typeof BatchSettings>, 'schedule' | 'fullSchedule'>;

export interface BatchRunnerOptions extends Partial<BatchOptions> {
  /** braid's data directory; versions live under `<dataDir>/batch` */
  readonly dataDir: string;
  readonly views: readonly CompiledView[];
  /** dedupe.window in ms; Infinity for forever */
  readonly dedupeWindowMs: number;
  readonly archive: ArchiveSource;
  /** the run's snapshot S: the speed layer's cut when the hand-off pairs them (lambda/handoff.ts) */
  readonly snapshotPosition: () => Promise<Position>;
  readonly logger?: Logger;
}

/** Fills in the defaults and checks the tunables against the config's own schema, once. */
export function resolveBatchOptions(options: Partial<BatchOptions>): BatchOptions {
  const { memoryLimit, threads, keepVersions, maxDeltas } = resolveOptions(BatchSettings, options, 'batch');
  return { memoryLimit, threads, keepVersions, maxDeltas };
}

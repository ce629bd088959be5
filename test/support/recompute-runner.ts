import path from 'node:path';
import type { ArchiveFile } from '../../batch/archive/index.js';
import { BatchRunner, type BatchRunnerOptions } from '../../batch/recompute/index.js';
import type { Position } from '../../shared/log/types.js';
import type { CompiledView } from '../../shared/views/index.js';
import { archivePosition, testArchive } from './recompute-archive.js';

export interface TestRunnerSetup {
  readonly dataDir: string;
  readonly archiveDir: string;
  /** the archive's files; a test may replace them between runs */
  files: readonly ArchiveFile[];
  /** S of the next run; the archive's end when unset */
  snapshot?: Position;
}

/** A BatchRunner over a test archive (recompute-archive.ts) whose S is the archive's end. */
export function createTestRunner(setup: TestRunnerSetup, views: readonly CompiledView[], options: Partial<BatchRunnerOptions> = {}): Promise<BatchRunner> {
  return BatchRunner.create({
    dataDir: setup.dataDir,
    views,
    dedupeWindowMs: 60_000,
    archive: testArchive(setup.archiveDir, () => setup.files),
    snapshotPosition: async () => setup.snapshot ?? archivePosition(setup.files),
    threads: 2,
    memoryLimit: '512MB',
    ...options,
  });
}

export const versionsDir = (dataDir: string) => path.join(dataDir, 'batch', 'versions');
export const currentFile = (dataDir: string) => path.join(dataDir, 'batch', 'CURRENT.json');

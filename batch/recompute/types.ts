import type { ArchiveLease } from '../archive/index.js';
import type { Position } from '../../shared/log/types.js';

/** What a run needs of the archive (batch/archive): waiting for coverage, and a lease on its files. */
export interface ArchiveSource {
  /** resolves once the archive holds every record below `position` */
  waitFor(position: Position, signal?: AbortSignal): Promise<void>;
  lease(): ArchiveLease;
}

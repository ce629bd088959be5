import type { ArchiveLease } from '../archive/index.js';
import type { Position } from '../../shared/log/types.js';

/** What a run needs of the archive (batch/archive): waiting for coverage, and a lease on its files. */
export interface ArchiveSource {
  /** resolves once the archive holds every record below `position` */
  waitFor(position: Position, signal?: AbortSignal): Promise<void>;
  lease(): ArchiveLease;
  /**
   * Checks the leased files against their hashes and repairs what differs, returning a lease
   * of whole files (releasing the given one). A run never reads a file that fails its hash.
   */
  verify?(lease: ArchiveLease, signal?: AbortSignal): Promise<ArchiveLease>;
}

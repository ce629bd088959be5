import type { Position } from '../../shared/log/types.js';

/**
 * The master dataset: immutable Parquet files, Hive-style, one contiguous offset range of
 * one partition each:
 *
 *   <archiveDir>/partition=<p>/<from, 20 digits>-<to, 20 digits>.parquet     [from, to)
 *   <archiveDir>/partition=<p>/<from>-<to>.r<n>.parquet                       the same after its n-th erasure
 *   <archiveDir>/manifest.json                                               the truth
 *
 * A file exists for readers only once the manifest lists it (written to a temp name,
 * renamed, then the manifest replaced by an atomic rename). Files on disk that the
 * manifest does not list are leftovers of a crash and are ignored (and rewritten).
 */
export const ARCHIVE_COLUMNS = [
  ['partition', 'INTEGER'],
  ['offset', 'BIGINT'],
  ['append_time', 'BIGINT'], // epoch ms, the log's append time
  ['id', 'VARCHAR'],
  ['type', 'VARCHAR'],
  ['time', 'BIGINT'], // event time, epoch ms
  ['key', 'VARCHAR'], // NULL when the event has none (the record key is then id)
  ['data', 'VARCHAR'], // the event's data object as JSON text (as stored in the log), NULL when absent
] as const;

export interface ArchiveFile {
  /** relative to the archive directory, '/'-separated */
  readonly path: string;
  readonly partition: number;
  /** first offset in the file */
  readonly from: number;
  /** one past the last offset (exclusive) */
  readonly to: number;
  readonly records: number;
  readonly bytes: number;
  /**
   * The latest append time of its records, epoch ms: which files an incremental batch run
   * reads for the dedupe window before its range (absent in files archived before it was
   * kept: such a file is always read)
   */
  readonly maxAppendTime?: number;
  /** SHA-256 of the file, hex: checked when the archive opens and before a run or a compaction reads it */
  readonly sha256: string;
  /**
   * How many times an erasure rewrote the file (absent: never). Each rewrite is a new name
   * (`….r<n>.parquet`), so a reader holding the file before it keeps reading that one
   * under its lease, as with compaction.
   */
  readonly rewrite?: number;
}

export interface Manifest {
  /** increases by one with every change */
  readonly generation: number;
  readonly partitions: number;
  /** sorted by partition, then from; per partition the ranges are contiguous from 0 */
  readonly files: readonly ArchiveFile[];
}

/** A consistent set of files held for a reader: compaction deletes no file a live lease holds. */
export interface ArchiveLease {
  readonly generation: number;
  readonly files: readonly ArchiveFile[];
  /** absolute paths, for read_parquet */
  readonly paths: readonly string[];
  /** partition → next offset not yet archived */
  readonly position: Position;
  release(): void;
}

export function fileName(partition: number, from: number, to: number, rewrite?: number): string {
  return `partition=${partition}/${String(from).padStart(20, '0')}-${String(to).padStart(20, '0')}${rewrite ? `.r${rewrite}` : ''}.parquet`;
}

import type { Registry } from 'prom-client';
import type { ArchiveStats } from '../../batch/archive/index.js';
import { followingCounter, stateGauge } from './family.js';

/** The archive: files, records, bytes, what is buffered, failure, compactions. */
export function registerArchiveMetrics(registry: Registry, stats: () => ArchiveStats | undefined): void {
  stateGauge(registry, 'braid_archive_files', 'Parquet files the archive manifest lists.', () => stats()?.files);
  stateGauge(registry, 'braid_archive_records', 'Records in the archive (the files the manifest lists).', () => stats()?.records);
  stateGauge(registry, 'braid_archive_bytes', 'Bytes of the Parquet files the archive manifest lists.', () => stats()?.bytes);
  stateGauge(registry, 'braid_archive_buffered_records', 'Records read from the log and not yet written to a listed file.', () => stats()?.buffered);
  stateGauge(registry, 'braid_archive_failed', '1 when the archiver stopped on an error that retrying cannot fix (see the log); it archives nothing more until restarted.', () => {
    const s = stats();
    return s ? (s.state === 'failed' ? 1 : 0) : undefined;
  });
  followingCounter(registry, 'braid_archive_compactions_total', 'Compactions: runs of small Parquet files merged into one.', () => stats()?.compactions);
}

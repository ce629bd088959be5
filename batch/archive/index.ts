export { Archiver, ArchiverStates } from './archiver.js';
export type { ArchiveStats, ArchiverState } from './archiver.js';
export { defaultArchiverOptions, resolveArchiverOptions } from './options.js';
export type { ArchiveProgress, ArchiverOptions, ArchiverTuning, ResolvedArchiverOptions } from './options.js';
export { ARCHIVE_COLUMNS, fileName } from './format.js';
export type { ArchiveFile, ArchiveLease, Manifest } from './format.js';
export { MANIFEST_FILE, readManifest, positionOf, checkManifest } from './manifest.js';
export { planCompaction } from './compaction.js';
export type { CompactionPlan, CompactionPolicy } from './compaction.js';

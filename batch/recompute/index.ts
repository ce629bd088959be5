export { BatchRunner, RunStates, RunTriggers } from './runner.js';
export type { BatchVersion, RunInfo, RunState, RunTrigger } from './runner.js';
export { resolveBatchOptions } from './options.js';
export type { BatchOptions, BatchRunnerOptions } from './options.js';
export type { ArchiveSource } from './types.js';
export { computeViews } from './compute.js';
export type { ComputeInput, ComputeProgress, ComputeResult, DuckDBSettings } from './compute.js';
export { loadViewTable } from './load.js';
export { viewStatement, rangeStatement, survivorsStatements, setupStatements, versionColumns, jsonPath, SETUP_SQL } from './sql.js';
// The quantile kind's table and bounds, which the batch SQL joins (shared/measures/kinds/quantile.ts).
export { sketchBounds, sketchTableStatement } from '../../shared/measures/index.js';
export type { Statement, VersionColumn } from './sql.js';
export { versionLayout, versionDirName, readCurrent, readManifest, listVersions } from './versions.js';
export { RunModes, viewFiles } from './versions.js';
export type { CurrentPointer, RunMode, VersionFile, VersionLayout, VersionManifest } from './versions.js';

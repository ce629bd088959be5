import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ArchiveLease } from '../archive/index.js';
import type { Position } from '../../shared/log/types.js';
import type { CompiledView } from '../../shared/views/index.js';
import { EMPTY_RECORDS_SQL, SETUP_SQL, earliestAppendStatement, rangeStatement, setupStatements, survivorsStatements, viewStatement, type Statement } from './sql.js';

export interface DuckDBSettings {
  /** DuckDB memory_limit, e.g. '2GB'; work beyond it spills to tempDirectory */
  readonly memoryLimit: string;
  readonly threads: number;
  readonly tempDirectory: string;
}

export interface ComputeProgress {
  readonly viewsDone: number;
  readonly viewsTotal: number;
  /** archived records below S, the run's input */
  readonly recordsRead: number;
  /** of those, duplicates by the dedupe rule; known once the dedupe step is done */
  readonly duplicates?: number;
  /** an incremental run: archived records before its range in the files it reads for the dedupe window (row groups out of reach are skipped) */
  readonly windowRecords?: number;
}

export interface ComputeInput {
  readonly archive: Pick<ArchiveLease, 'files' | 'paths'>;
  readonly snapshot: Position;
  /**
   * An incremental run: the previous version's S. Only the records in [after, S) are
   * computed (deduplicated against the records before them within the window); the states
   * written are theirs alone, merged with the previous version's by the caller.
   */
  readonly after?: Position;
  readonly views: readonly CompiledView[];
  readonly dedupeWindowMs: number;
  /** where one Parquet file per view is written, named by `fileOf` (default `<view>.parquet`) */
  readonly outDir: string;
  readonly fileOf?: (view: string) => string;
  readonly duckdb: DuckDBSettings;
  readonly onProgress?: (progress: ComputeProgress) => void;
  readonly signal?: AbortSignal;
}

export interface ComputeResult {
  readonly views: Record<string, { readonly rows: number; readonly file: string }>;
  readonly recordsRead: number;
  /** archived records read before the range for the dedupe window (an incremental run) */
  readonly windowRecords: number;
  readonly duplicates: number;
  /** the most DuckDB temp storage in use after any step, bytes: > 0 means the run spilled */
  readonly spilledBytes: number;
}

/**
 * Computes every view from the archived records below S in one DuckDB instance: the
 * dedupe once (temp table `braid_records`), then each view's states straight to Parquet.
 */
export async function computeViews(input: ComputeInput): Promise<ComputeResult> {
  const { snapshot, views } = input;
  const after = input.after ?? {};
  const lo = (p: number) => Math.min(after[p] ?? 0, snapshot[p] ?? 0);
  // Only files holding records of the range [after, S), and how many records that is.
  const paths: string[] = [];
  let recordsRead = 0;
  input.archive.files.forEach((file, i) => {
    const upto = snapshot[file.partition] ?? 0;
    if (file.from >= upto || file.to <= lo(file.partition)) return;
    paths.push(input.archive.paths[i]!);
    recordsRead += Math.min(file.to, upto) - Math.max(file.from, lo(file.partition));
  });
  const report = (p: Omit<ComputeProgress, 'recordsRead' | 'viewsTotal'>) => input.onProgress?.({ ...p, recordsRead, viewsTotal: views.length });
  report({ viewsDone: 0 });

  await mkdir(input.duckdb.tempDirectory, { recursive: true });
  await mkdir(input.outDir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: input.duckdb.memoryLimit,
    threads: String(input.duckdb.threads),
    temp_directory: input.duckdb.tempDirectory,
    preserve_insertion_order: 'false', // lets large sorts and copies stream and spill
  });
  const connection = await instance.connect();
  const interrupt = () => connection.interrupt();
  input.signal?.addEventListener('abort', interrupt);
  let spilledBytes = 0;
  const run = async (statement: Statement | string) => {
    input.signal?.throwIfAborted();
    const s = typeof statement === 'string' ? { sql: statement, values: {} } : statement;
    const result = await connection.runAndReadAll(s.sql, s.values, s.types);
    spilledBytes = Math.max(spilledBytes, await tempBytes(connection));
    return result;
  };
  try {
    for (const sql of SETUP_SQL) await run(sql);
    for (const statement of setupStatements()) await run(statement);
    let duplicates = 0;
    let windowRecords = 0;
    if (paths.length === 0) await run(EMPTY_RECORDS_SQL);
    else {
      const types = [...new Set(views.flatMap((v) => v.def.events))];
      await run(rangeStatement(snapshot, after));
      const earlier = input.after ? await reach(run, input, paths, lo) : undefined;
      windowRecords = earlier?.records ?? 0;
      for (const statement of survivorsStatements({ files: paths, snapshot, dedupeWindowMs: input.dedupeWindowMs, types, ...(earlier ? { earlier: earlier.partitions } : {}) })) await run(statement);
      duplicates = Number((await run('SELECT count(*) FROM braid_duplicates')).getRows()[0]![0]);
    }
    const known = input.after ? { duplicates, windowRecords } : { duplicates };
    report({ viewsDone: 0, ...known });

    const out: Record<string, { rows: number; file: string }> = {};
    for (const [n, view] of views.entries()) {
      const file = input.fileOf ? input.fileOf(view.def.name) : `${view.def.name}.parquet`;
      const { sql, values, types } = viewStatement(view);
      const result = await run({
        sql: `COPY (${sql}) TO $target (FORMAT parquet, COMPRESSION zstd)`,
        values: { ...values, target: path.join(input.outDir, file) },
        types,
      });
      out[view.def.name] = { rows: Number(result.getRows()[0]![0]), file };
      report({ viewsDone: n + 1, ...known });
    }
    return { views: out, recordsRead, windowRecords, duplicates, spilledBytes };
  } finally {
    input.signal?.removeEventListener('abort', interrupt);
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * The archived records before an incremental run's range that the dedupe rule can reach:
 * per partition, those appended at or after the range's earliest append time less the
 * window, in the files whose latest append time is not older (a file archived before it
 * kept that time is always read). With a window of forever that is every earlier record: the
 * rule reaches back to the start, and only the id columns of the files before are read.
 */
async function reach(
  run: (s: Statement) => Promise<{ getRows(): unknown[][] }>,
  input: ComputeInput,
  paths: readonly string[],
  lo: (p: number) => number,
): Promise<{ partitions: Array<{ partition: number; files: string[]; since: number }>; records: number }> {
  const partitions: Array<{ partition: number; files: string[]; since: number }> = [];
  for (const [partition, earliest] of (await run(earliestAppendStatement(paths))).getRows() as [number, bigint][]) {
    partitions.push({ partition, files: [], since: input.dedupeWindowMs === Infinity ? -Infinity : Number(earliest) - input.dedupeWindowMs });
  }
  let records = 0;
  input.archive.files.forEach((file, i) => {
    const reached = partitions.find((p) => p.partition === file.partition);
    if (!reached || file.from >= lo(file.partition)) return;
    if (file.maxAppendTime !== undefined && file.maxAppendTime < reached.since) return;
    reached.files.push(input.archive.paths[i]!);
    records += Math.min(file.to, lo(file.partition)) - file.from;
  });
  return { partitions, records };
}

async function tempBytes(connection: DuckDBConnection): Promise<number> {
  const reader = await connection.runAndReadAll('SELECT coalesce(sum(temporary_storage_bytes), 0) FROM duckdb_memory()');
  return Number(reader.getRows()[0]![0]);
}

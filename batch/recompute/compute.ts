import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ArchiveLease } from '../archive/index.js';
import type { Position } from '../../shared/log/types.js';
import type { CompiledView } from '../../shared/views/index.js';
import { EMPTY_RECORDS_SQL, SETUP_SQL, setupStatements, survivorsStatements, viewStatement, type Statement } from './sql.js';

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
}

export interface ComputeInput {
  readonly archive: Pick<ArchiveLease, 'files' | 'paths'>;
  readonly snapshot: Position;
  readonly views: readonly CompiledView[];
  readonly dedupeWindowMs: number;
  /** where one Parquet file per view is written, `<view>.parquet` */
  readonly outDir: string;
  readonly duckdb: DuckDBSettings;
  readonly onProgress?: (progress: ComputeProgress) => void;
  readonly signal?: AbortSignal;
}

export interface ComputeResult {
  readonly views: Record<string, { readonly rows: number; readonly file: string }>;
  readonly recordsRead: number;
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
  // Only files holding records below S, and how many records that is.
  const paths: string[] = [];
  let recordsRead = 0;
  input.archive.files.forEach((file, i) => {
    const upto = snapshot[file.partition] ?? 0;
    if (file.from >= upto) return;
    paths.push(input.archive.paths[i]!);
    recordsRead += Math.min(file.to, upto) - file.from;
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
    if (paths.length === 0) await run(EMPTY_RECORDS_SQL);
    else {
      const types = [...new Set(views.flatMap((v) => v.def.events))];
      for (const statement of survivorsStatements({ files: paths, snapshot, dedupeWindowMs: input.dedupeWindowMs, types })) await run(statement);
      duplicates = Number((await run('SELECT count(*) FROM braid_duplicates')).getRows()[0]![0]);
    }
    report({ viewsDone: 0, duplicates });

    const out: Record<string, { rows: number; file: string }> = {};
    for (const [n, view] of views.entries()) {
      const file = `${view.def.name}.parquet`;
      const { sql, values, types } = viewStatement(view);
      const result = await run({
        sql: `COPY (${sql}) TO $target (FORMAT parquet, COMPRESSION zstd)`,
        values: { ...values, target: path.join(input.outDir, file) },
        types,
      });
      out[view.def.name] = { rows: Number(result.getRows()[0]![0]), file };
      report({ viewsDone: n + 1, duplicates });
    }
    return { views: out, recordsRead, duplicates, spilledBytes };
  } finally {
    input.signal?.removeEventListener('abort', interrupt);
    connection.closeSync();
    instance.closeSync();
  }
}

async function tempBytes(connection: DuckDBConnection): Promise<number> {
  const reader = await connection.runAndReadAll('SELECT coalesce(sum(temporary_storage_bytes), 0) FROM duckdb_memory()');
  return Number(reader.getRows()[0]![0]);
}

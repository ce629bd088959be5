import { mkdir } from 'node:fs/promises';
import { BIGINT, DuckDBDataChunk, DuckDBInstance, INTEGER, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { BraidError } from '../../shared/errors.js';
import { ERASED_TYPE } from '../../shared/events/index.js';
import { ARCHIVE_COLUMNS } from './format.js';
import { notAnEvent, toArchiveRow, type ArchiveRecord } from './row.js';

export interface ParquetWriterOptions {
  /** where DuckDB spills what does not fit in memory */
  readonly tempDir: string;
  readonly memoryLimit: string;
  readonly threads: number;
}

const TYPES: Record<(typeof ARCHIVE_COLUMNS)[number][1], DuckDBType> = { INTEGER, BIGINT, VARCHAR };
const COLUMN_TYPES = ARCHIVE_COLUMNS.map(([, type]) => TYPES[type]);
const TABLE_COLUMNS = ARCHIVE_COLUMNS.map(([name, type]) => `"${name}" ${type}`).join(', ');
/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2_048;
const PARQUET = 'FORMAT parquet, COMPRESSION zstd';

type Column = DuckDBValue[];
type Columns = [Column, Column, Column, Column, Column, Column, Column, Column];

/**
 * Writes archive Parquet files through an in-memory DuckDB: rows go into a temp table by
 * data chunks (one native call per column per 2,048 rows, about three times faster than
 * appending value by value) and leave by `COPY ... TO`. Merges read the sources with
 * `read_parquet`, on a connection of their own so that a long merge does not hold up
 * flushes. The caller fsyncs and renames what this writes.
 */
export class ParquetWriter {
  readonly #instance: DuckDBInstance;
  readonly #flushes: DuckDBConnection;
  readonly #merges: DuckDBConnection;

  private constructor(instance: DuckDBInstance, flushes: DuckDBConnection, merges: DuckDBConnection) {
    this.#instance = instance;
    this.#flushes = flushes;
    this.#merges = merges;
  }

  static async create(options: ParquetWriterOptions): Promise<ParquetWriter> {
    await mkdir(options.tempDir, { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: options.memoryLimit,
      threads: String(options.threads),
      temp_directory: options.tempDir,
      preserve_insertion_order: 'true', // files keep offset order
    });
    return new ParquetWriter(instance, await instance.connect(), await instance.connect());
  }

  /**
   * Writes `records[0..count)` to a new Parquet file at `target`, each as its archive row
   * (row.ts). A record that is not a braid event fails the write with `log_corrupt`.
   */
  async write(records: readonly ArchiveRecord[], count: number, target: string): Promise<void> {
    const connection = this.#flushes;
    await connection.run(`CREATE OR REPLACE TEMP TABLE archive_rows (${TABLE_COLUMNS})`);
    const appender = await connection.createAppender('archive_rows');
    try {
      const chunk = DuckDBDataChunk.create(COLUMN_TYPES, CHUNK_ROWS);
      for (let start = 0; start < count; start += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, count - start);
        const [partition, offset, appendTime, id, type, time, key, data] = ARCHIVE_COLUMNS.map(() => new Array<DuckDBValue>(n)) as Columns;
        for (let i = 0; i < n; i++) {
          const row = toArchiveRow(records[start + i]!);
          partition[i] = row.partition;
          offset[i] = BigInt(row.offset);
          appendTime[i] = BigInt(row.appendTime);
          id[i] = row.id;
          type[i] = row.type;
          time[i] = BigInt(row.time);
          key[i] = row.key;
          data[i] = row.data;
        }
        chunk.rowCount = n;
        chunk.setColumns([partition, offset, appendTime, id, type, time, key, data]); // ARCHIVE_COLUMNS' order
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    // The stored form's data text is sliced, not parsed, on the way in (row.ts): check it here, in bulk.
    const bad = (await connection.runAndReadAll('SELECT "partition", "offset" FROM archive_rows WHERE NOT json_valid("data") LIMIT 1')).getRows()[0];
    if (bad) throw notAnEvent({ partition: Number(bad[0]), offset: Number(bad[1]) }, 'its data is not a JSON object');
    await this.#copy(connection, 'archive_rows', target, count);
    await connection.run('DROP TABLE archive_rows');
  }

  /** Writes the rows of `sources`, in order, to one new Parquet file at `target`. */
  async merge(sources: readonly string[], target: string, records: number): Promise<void> {
    // hive_partitioning off: DuckDB would otherwise take `partition` from the directory name (as BIGINT).
    const query = `(SELECT * FROM read_parquet([${sources.map(literal).join(', ')}], hive_partitioning = false))`;
    await this.#copy(this.#merges, query, target, records);
  }

  /**
   * Per file of `sources`, how many of its rows are the subject's (`coalesce(key, id)`) below
   * offset `until`, and the last such offset: what an erasure rewrites. On the merges'
   * connection (an erasure runs while no compaction does).
   */
  async subjectRows(sources: readonly string[], subject: string, until: number): Promise<Map<string, { rows: number; last: number }>> {
    const result = await this.#merges.runAndReadAll(
      `SELECT filename, count(*), max("offset") FROM read_parquet($files, hive_partitioning = false, filename = true)
       WHERE coalesce(key, id) = $subject AND "offset" < $until GROUP BY filename`,
      { files: listValue([...sources]), subject, until: BigInt(until) },
      { files: LIST(VARCHAR), subject: VARCHAR, until: BIGINT },
    );
    return new Map(result.getRows().map(([file, rows, last]) => [file as string, { rows: Number(rows), last: Number(last) }]));
  }

  /**
   * Writes `source` again to `target` with the subject's rows below `until` made erased
   * events in place (shared/events/erased.ts: id '', type '!', time 0, no key, no data): the
   * same rows in the same order otherwise, as the embedded log's erased records archive.
   */
  async redact(source: string, target: string, subject: string, until: number, records: number): Promise<void> {
    const connection = this.#merges;
    await connection.run(
      `CREATE OR REPLACE TEMP TABLE redacted AS
       SELECT partition, "offset", append_time,
              CASE WHEN erased THEN '' ELSE id END AS id, CASE WHEN erased THEN '${ERASED_TYPE}' ELSE type END AS type,
              CASE WHEN erased THEN 0::BIGINT ELSE time END AS time, CASE WHEN erased THEN NULL ELSE key END AS key,
              CASE WHEN erased THEN NULL ELSE data END AS data
       FROM (SELECT *, coalesce(key, id) = $subject AND "offset" < $until AS erased FROM read_parquet($file, hive_partitioning = false))
       ORDER BY "offset"`,
      { file: source, subject, until: BigInt(until) },
      { file: VARCHAR, subject: VARCHAR, until: BIGINT },
    );
    try {
      await this.#copy(connection, 'redacted', target, records);
    } finally {
      await connection.run('DROP TABLE IF EXISTS redacted');
    }
  }

  /** Cancels a running merge (it rejects); flushes are left to finish. */
  interruptMerge(): void {
    this.#merges.interrupt();
  }

  close(): void {
    this.#flushes.closeSync();
    this.#merges.closeSync();
    this.#instance.closeSync();
  }

  async #copy(connection: DuckDBConnection, source: string, target: string, records: number): Promise<void> {
    const result = await connection.runAndReadAll(`COPY ${source} TO ${literal(target)} (${PARQUET})`);
    const written = Number(result.getRows()[0]?.[0]);
    if (written !== records) {
      throw new BraidError('internal', `archive: DuckDB wrote ${written} rows to ${target} where ${records} were expected`);
    }
  }
}

/** A SQL string literal: COPY and read_parquet's file list take no bound parameters. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

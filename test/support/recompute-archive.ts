import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { BIGINT, DuckDBDataChunk, DuckDBInstance, INTEGER, VARCHAR, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { fileName, type ArchiveFile, type ArchiveLease } from '../../batch/archive/index.js';
import type { StoredEvent } from '../../shared/events/index.js';
import { sha256File } from '../../shared/files.js';
import type { Position } from '../../shared/log/types.js';
import type { ArchiveSource } from '../../batch/recompute/index.js';

/** One log record as the tests and the benchmark archive it. */
export interface TestRecord {
  readonly partition: number;
  readonly offset: number;
  readonly appendTime: number;
  readonly event: StoredEvent;
}

const CHUNK = 2_048; // DuckDB's vector size
const COLUMNS = [INTEGER, BIGINT, BIGINT, VARCHAR, VARCHAR, BIGINT, VARCHAR, VARCHAR];

/**
 * Writes an archive in the exact layout of batch/archive/format.ts (ARCHIVE_COLUMNS, one
 * contiguous offset range of one partition per file), without the archiver: the batch
 * tests must not depend on it. Records are added in offset order per partition.
 */
export class TestArchiveWriter {
  readonly #dir: string;
  readonly #perFile: number;
  readonly #instance: DuckDBInstance;
  readonly #connection: DuckDBConnection;
  readonly #pending = new Map<number, TestRecord[]>();
  readonly files: ArchiveFile[] = [];

  private constructor(dir: string, perFile: number, instance: DuckDBInstance, connection: DuckDBConnection) {
    this.#dir = dir;
    this.#perFile = perFile;
    this.#instance = instance;
    this.#connection = connection;
  }

  static async create(dir: string, recordsPerFile = 1_000): Promise<TestArchiveWriter> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
    return new TestArchiveWriter(dir, recordsPerFile, instance, await instance.connect());
  }

  async add(record: TestRecord): Promise<void> {
    let list = this.#pending.get(record.partition);
    if (!list) this.#pending.set(record.partition, (list = []));
    list.push(record);
    if (list.length >= this.#perFile) await this.#flush(record.partition);
  }

  /** Flushes what is pending and returns every file written, sorted like a manifest. */
  async close(): Promise<ArchiveFile[]> {
    for (const p of [...this.#pending.keys()]) await this.#flush(p);
    this.#connection.closeSync();
    this.#instance.closeSync();
    return this.files.sort((a, b) => a.partition - b.partition || a.from - b.from);
  }

  async #flush(partition: number): Promise<void> {
    const records = this.#pending.get(partition) ?? [];
    if (records.length === 0) return;
    this.#pending.set(partition, []);
    const from = records[0]!.offset;
    const to = records.at(-1)!.offset + 1;
    const relative = fileName(partition, from, to);
    const target = path.join(this.#dir, relative);
    await mkdir(path.dirname(target), { recursive: true });
    const c = this.#connection;
    await c.run(`CREATE OR REPLACE TEMP TABLE rows (partition INTEGER, "offset" BIGINT, append_time BIGINT, id VARCHAR, type VARCHAR, time BIGINT, key VARCHAR, data VARCHAR)`);
    const appender = await c.createAppender('rows');
    const chunk = DuckDBDataChunk.create(COLUMNS, CHUNK);
    for (let start = 0; start < records.length; start += CHUNK) {
      const slice = records.slice(start, start + CHUNK);
      const columns: DuckDBValue[][] = COLUMNS.map(() => []);
      for (const r of slice) {
        const e = r.event;
        const values: DuckDBValue[] = [r.partition, BigInt(r.offset), BigInt(r.appendTime), e.id, e.type, BigInt(e.time), e.key ?? null, e.data === undefined ? null : JSON.stringify(e.data)];
        values.forEach((v, i) => columns[i]!.push(v));
      }
      chunk.rowCount = slice.length;
      chunk.setColumns(columns);
      appender.appendDataChunk(chunk);
    }
    appender.flushSync();
    appender.closeSync();
    await c.run(`COPY rows TO $target (FORMAT parquet, COMPRESSION zstd)`, { target });
    const maxAppendTime = records.reduce((m, r) => Math.max(m, r.appendTime), -Infinity);
    this.files.push({ path: relative, partition, from, to, records: records.length, bytes: (await stat(target)).size, sha256: await sha256File(target), maxAppendTime });
  }
}

/** Writes `records` (offset order per partition) and returns the files. */
export async function writeTestArchive(dir: string, records: Iterable<TestRecord>, recordsPerFile = 1_000): Promise<ArchiveFile[]> {
  const writer = await TestArchiveWriter.create(dir, recordsPerFile);
  for (const r of records) await writer.add(r);
  return writer.close();
}

/** The archive's next offset per partition. */
export function archivePosition(files: readonly ArchiveFile[]): Position {
  const position: Position = {};
  for (const f of files) position[f.partition] = Math.max(position[f.partition] ?? 0, f.to);
  return position;
}

/** An archive that already covers everything it holds; `files()` may be swapped by a test. */
export function testArchive(dir: string, files: () => readonly ArchiveFile[]): ArchiveSource & { released: number } {
  const source = {
    released: 0,
    waitFor: async () => undefined,
    lease(): ArchiveLease {
      const list = files();
      return {
        generation: 1,
        files: list,
        paths: list.map((f) => path.join(dir, f.path)),
        position: archivePosition(list),
        release: () => void source.released++,
      };
    },
  };
  return source;
}

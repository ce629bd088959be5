import path from 'node:path';
import { packBytes, unpackBytes, type PackedBytes } from '../../shared/threads/packed.js';
import { WorkerPool } from '../../shared/threads/pool.js';
import type { ParquetWriterOptions } from './parquet-writer.js';
import type { ArchiveRecord } from './row.js';

/**
 * A flush's records as plain data for the writing thread: the values packed in one buffer and
 * the rest in typed arrays, all transferred, not copied, by postMessage.
 */
export interface PackedRecords extends PackedBytes {
  readonly partitions: Uint32Array;
  readonly offsets: Float64Array;
  readonly appendTimes: Float64Array;
}

export type WriteJob =
  | { readonly kind: 'open'; readonly options: ParquetWriterOptions }
  // The options again: a thread that replaces one that died opens its writer at its first write.
  | { readonly kind: 'write'; readonly options: ParquetWriterOptions; readonly target: string; readonly records: PackedRecords }
  | { readonly kind: 'close' };

export function packRecords(records: readonly ArchiveRecord[], count: number): PackedRecords {
  const taken = records.slice(0, count);
  return {
    partitions: Uint32Array.from(taken, (r) => r.partition),
    offsets: Float64Array.from(taken, (r) => r.offset),
    appendTimes: Float64Array.from(taken, (r) => r.appendTime),
    ...packBytes(taken.map((r) => r.value)),
  };
}

export function unpackRecords(packed: PackedRecords): ArchiveRecord[] {
  const { partitions, offsets, appendTimes } = packed;
  return unpackBytes(packed).map((value, i) => ({ partition: partitions[i]!, offset: offsets[i]!, appendTime: appendTimes[i]!, value }));
}

/**
 * The archive's flushes written in a worker thread (`archive.writeThreads: 1`): turning records
 * into rows and handing them to DuckDB's appender costs the event loop about a fifth of its
 * time under full ingest (the stored JSON decoded to strings, one native call per string
 * value), so the loop only packs the values into one buffer and the thread, with a DuckDB
 * instance of its own, does the rest. Same `ParquetWriter.write`, same files. `open` resolves
 * once the thread has its DuckDB (about half a second): an archiver that is up writes at once.
 * If the thread dies, its write fails (the archiver retries it) and a new thread takes over.
 */
export class ThreadedWriter {
  readonly #options: ParquetWriterOptions;
  readonly #pool: WorkerPool<WriteJob, null>;
  #closed: Promise<void> | undefined;

  private constructor(options: ParquetWriterOptions) {
    // Its own spill directory: two DuckDB instances must not share temp file names.
    this.#options = { ...options, tempDir: path.join(options.tempDir, 'thread') };
    this.#pool = new WorkerPool<WriteJob, null>({
      file: new URL('../../shared/threads/bootstrap.mjs', import.meta.url),
      module: '../../batch/archive/write-worker.ts',
      size: 1,
      // Flushes and repairs run one at a time (the archiver chains them), plus `open` and `close`.
      maxQueue: 4,
      name: 'archive writing',
    });
  }

  static async open(options: ParquetWriterOptions): Promise<ThreadedWriter> {
    const writer = new ThreadedWriter(options);
    try {
      await writer.#pool.run({ kind: 'open', options: writer.#options });
    } catch (err) {
      await writer.close();
      throw err;
    }
    return writer;
  }

  async write(records: readonly ArchiveRecord[], count: number, target: string): Promise<void> {
    const packed = packRecords(records, count);
    const transfer = [packed.partitions, packed.offsets, packed.appendTimes, packed.lengths, packed.bytes].map((a) => a.buffer as ArrayBuffer);
    await this.#pool.run({ kind: 'write', options: this.#options, target, records: packed }, transfer);
  }

  /** Closes the thread's DuckDB, then ends the thread. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#pool.run({ kind: 'close' }).catch(() => undefined).then(() => this.#pool.close());
    return this.#closed;
  }
}

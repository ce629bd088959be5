import { ParquetWriter } from './parquet-writer.js';
import { unpackRecords, type WriteJob } from './write-thread.js';

// One writer per thread, made at the first write (the options are the archive's, the same for every job).
let writer: Promise<ParquetWriter> | undefined;

/** One job of the archive's writing thread (shared/threads/pool.ts; batch/archive/write-thread.ts). */
export async function work(job: WriteJob): Promise<{ output: null; transfer: ArrayBuffer[] }> {
  if (job.kind === 'close') {
    const open = writer;
    writer = undefined;
    (await open?.catch(() => undefined))?.close();
    return { output: null, transfer: [] };
  }
  writer ??= ParquetWriter.create(job.options);
  const w = await writer.catch((err: unknown) => {
    writer = undefined; // the next job tries again
    throw err;
  });
  if (job.kind === 'open') return { output: null, transfer: [] };
  const records = unpackRecords(job.records);
  await w.write(records, records.length, job.target);
  return { output: null, transfer: [] };
}

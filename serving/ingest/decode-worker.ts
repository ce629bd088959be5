import { decodeIngest, type Decoded, type DecodeLimits, type IngestForm } from './decode.js';

/** One ingest body to decode in a worker thread (shared/threads/pool.ts). */
export interface DecodeJob {
  readonly body: Uint8Array;
  readonly form: IngestForm;
  readonly limits: DecodeLimits;
  readonly now: number;
}

export function work(job: DecodeJob): { output: Decoded; transfer: ArrayBuffer[] } {
  const output = decodeIngest(job.body, job.form, job.limits, job.now);
  // The stored bytes move to the main thread instead of being copied.
  return { output, transfer: output.ok ? [output.bytes.buffer as ArrayBuffer, output.lengths.buffer as ArrayBuffer] : [] };
}

import { withTimeout } from '../../shared/async.js';
import { BraidError } from '../../shared/errors.js';
import type { Appended, EventLog } from '../../shared/log/types.js';
import type { WorkerPool } from '../../shared/threads/pool.js';
import type { IngestBody } from '../body.js';
import { decodeIngest, recordsOf, type Decoded, type DecodeLimits } from './decode.js';
import type { DecodeJob } from './decode-worker.js';
import type { IngestMetrics } from '../metrics/index.js';

export interface IngestorOptions {
  /** The log, or undefined while it is still opening (requests then get 503). */
  readonly log: () => EventLog | undefined;
  readonly limits: DecodeLimits & {
    /** a request waits at most this long for the log (ms) */
    readonly appendTimeoutMs: number;
  };
  /** decoding threads (ingest.decodeThreads); without, bodies are decoded on the event loop */
  readonly decoders?: WorkerPool<DecodeJob, Decoded>;
  readonly metrics?: IngestMetrics;
  readonly now?: () => number;
}

export interface IngestResult {
  readonly accepted: number;
  readonly appended: Appended[];
}

/**
 * The write path: decode and validate a whole request (serving/ingest/decode.ts), then
 * append it to the log in one call. All-or-nothing for invalid input: nothing is appended
 * unless every event is valid. (A log failure after validation answers 503; whatever part of
 * the batch reached the log is harmless, since a client's retry of the same ids is
 * deduplicated downstream, contract §3.)
 */
export class Ingestor {
  readonly #options: IngestorOptions;
  readonly #limits: DecodeLimits;

  constructor(options: IngestorOptions) {
    this.#options = options;
    const { maxFutureMs, maxEventBytes, maxDepth, maxBatchEvents } = options.limits;
    // Only what decoding reads: this object goes to the decoding threads with every job.
    this.#limits = { maxFutureMs, maxEventBytes, maxDepth, maxBatchEvents };
  }

  /** The body decoded: its records, or the error to answer with (and how many events it held). */
  async decode(body: IngestBody): Promise<Decoded> {
    const now = this.#options.now?.() ?? Date.now();
    const pool = this.#options.decoders;
    if (!pool) return decodeIngest(body.bytes, body.form, this.#limits, now);
    return pool.run({ body: body.bytes, form: body.form, limits: this.#limits, now });
  }

  async append(decoded: Extract<Decoded, { ok: true }>): Promise<IngestResult> {
    const { limits, metrics } = this.#options;
    const log = this.#options.log();
    if (!log) throw new BraidError('not_ready', 'the log is not open yet; retry in a few seconds');
    const records = recordsOf(decoded);
    const stop = metrics?.appendSeconds.startTimer();
    const appended = await withTimeout(
      log.append(records),
      limits.appendTimeoutMs,
      () => new BraidError('log_unavailable', `the log did not acknowledge the append within ${limits.appendTimeoutMs} ms (ingest.appendTimeoutMs); retry the request, retries are deduplicated by id`),
    );
    stop?.();
    metrics?.bytes.inc(decoded.bytes.byteLength);
    return { accepted: appended.length, appended };
  }
}

/** A decoding error as the catalogue's error. */
export function decodeError(decoded: Extract<Decoded, { ok: false }>): BraidError {
  return new BraidError(decoded.error.code, decoded.error.message, decoded.error.details === undefined ? {} : { details: decoded.error.details });
}

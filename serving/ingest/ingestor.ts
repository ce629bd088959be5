import { withTimeout } from '../../shared/async.js';
import { BraidError } from '../../shared/errors.js';
import { recordKey, validateEvents, type EventLimits, type EventProblem } from '../../shared/events/index.js';
import type { Appended, EventLog } from '../../shared/log/types.js';
import type { IngestMetrics } from '../metrics/index.js';

export interface IngestorOptions {
  /** The log, or undefined while it is still opening (requests then get 503). */
  readonly log: () => EventLog | undefined;
  readonly limits: EventLimits & {
    readonly maxBatchEvents: number;
    /** a request waits at most this long for the log (ms) */
    readonly appendTimeoutMs: number;
  };
  readonly metrics?: IngestMetrics;
  readonly now?: () => number;
}

export interface IngestResult {
  readonly accepted: number;
  readonly appended: Appended[];
}

/**
 * The write path: validate a whole request, then append it to the log in one call.
 * All-or-nothing for invalid input: nothing is appended unless every event is valid.
 * (A log failure after validation answers 503; whatever part of the batch reached the
 * log is harmless, since a client's retry of the same ids is deduplicated downstream,
 * contract §3.)
 */
export class Ingestor {
  readonly #options: IngestorOptions;

  constructor(options: IngestorOptions) {
    this.#options = options;
  }

  /** `found`: problems already found in the request's text (number literals), reported with the rest. */
  async ingest(input: readonly unknown[], found: readonly EventProblem[] = []): Promise<IngestResult> {
    const { limits, metrics } = this.#options;
    if (input.length === 0) {
      throw new BraidError('invalid_body', 'the request holds no events; send at least one');
    }
    if (input.length > limits.maxBatchEvents) {
      throw new BraidError(
        'too_many_events',
        `the request holds ${input.length} events, over the limit of ${limits.maxBatchEvents} (ingest.maxBatchEvents); split it into smaller requests`,
      );
    }
    const now = this.#options.now?.() ?? Date.now();
    const result = validateEvents(input, limits, now);
    const problems = [...(result.ok ? [] : result.problems), ...found].sort((a, b) => a.index - b.index); // stable: each event's own order stays
    if (!result.ok || problems.length > 0) {
      const invalid = new Set(problems.map((p) => p.index)).size;
      throw new BraidError(
        'invalid_events',
        `${invalid} of ${input.length} events are invalid, so nothing was appended; fix the events listed in "problems" and resend the whole request`,
        { details: { problems } },
      );
    }
    const log = this.#options.log();
    if (!log) throw new BraidError('not_ready', 'the log is not open yet; retry in a few seconds');
    const records = result.events.map((e, i) => ({ key: recordKey(e), value: result.values[i]! }));
    const stop = metrics?.appendSeconds.startTimer();
    const appended = await withTimeout(
      log.append(records),
      limits.appendTimeoutMs,
      () => new BraidError('log_unavailable', `the log did not acknowledge the append within ${limits.appendTimeoutMs} ms (ingest.appendTimeoutMs); retry the request, retries are deduplicated by id`),
    );
    stop?.();
    metrics?.bytes.inc(records.reduce((n, r) => n + r.value.length, 0));
    return { accepted: appended.length, appended };
  }
}

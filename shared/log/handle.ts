import type { Logger } from 'pino';
import { isBraidError } from '../errors.js';
import type { EventLog } from './types.js';

export interface LogHandleOptions {
  readonly kind: 'embedded' | 'kafka';
  readonly open: () => Promise<EventLog>;
  readonly logger: Logger;
  /** first retry delay; doubles up to maxRetryMs */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
}

/**
 * Owns the opening of the log for a process: the API is up (healthz 200, readyz 503) while
 * the log opens, and a broker that is down at start-up is retried with backoff instead of
 * killing the process. Errors that retrying cannot fix (`canRetry: false`, e.g. a log locked
 * by another process or a config mismatch) reject `ready` so the process can exit with the
 * message.
 */
export class LogHandle {
  readonly kind: 'embedded' | 'kafka';
  readonly ready: Promise<EventLog>;
  #log: EventLog | undefined;
  #lastError: Error | undefined;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: LogHandleOptions) {
    this.kind = options.kind;
    const { open, logger } = options;
    const retryMs = options.retryMs ?? 500;
    const maxRetryMs = options.maxRetryMs ?? 10_000; // ten seconds
    this.ready = new Promise<EventLog>((resolve, reject) => {
      const attempt = (delay: number) => {
        if (this.#closed) return reject(new Error('closed before the log opened'));
        open().then(
          (log) => {
            if (this.#closed) {
              void log.close();
              return reject(new Error('closed before the log opened'));
            }
            this.#log = log;
            this.#lastError = undefined;
            resolve(log);
          },
          (err: Error) => {
            this.#lastError = err;
            if (isBraidError(err) && !err.canRetry) return reject(err);
            logger.warn({ err: err.message, retryInMs: delay }, `cannot open the ${this.kind} log yet; retrying`);
            this.#retryTimer = setTimeout(() => attempt(Math.min(delay * 2, maxRetryMs)), delay);
          },
        );
      };
      attempt(retryMs);
    });
    this.ready.catch(() => undefined);
  }

  current(): EventLog | undefined {
    return this.#log;
  }

  describeState(): string {
    if (this.#log) return 'open';
    if (this.#closed) return 'closed';
    return this.#lastError ? `opening; last error: ${this.#lastError.message}` : 'opening';
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const log = this.#log;
    this.#log = undefined;
    await log?.close();
  }
}

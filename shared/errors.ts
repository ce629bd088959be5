/**
 * The one catalogue of braid's errors. Layer code throws `BraidError`s by code and never
 * knows HTTP; the serving layer's error handler maps `status` to the response.
 * `canRetry` tells a client (or a consumer loop) that the same call may succeed later.
 */
export const ErrorCodes = {
  invalid_events: { status: 400, canRetry: false },
  invalid_body: { status: 400, canRetry: false },
  invalid_parameter: { status: 400, canRetry: false },
  unauthorized: { status: 401, canRetry: false },
  forbidden: { status: 403, canRetry: false },
  not_found: { status: 404, canRetry: false },
  request_timeout: { status: 408, canRetry: true },
  run_in_progress: { status: 409, canRetry: true },
  uri_too_long: { status: 414, canRetry: false },
  headers_too_large: { status: 431, canRetry: false },
  body_too_large: { status: 413, canRetry: false },
  too_many_events: { status: 413, canRetry: false },
  query_too_large: { status: 413, canRetry: false },
  unsupported_media_type: { status: 415, canRetry: false },
  rate_limited: { status: 429, canRetry: true },
  not_ready: { status: 503, canRetry: true },
  overloaded: { status: 503, canRetry: true },
  log_unavailable: { status: 503, canRetry: true },
  log_locked: { status: 503, canRetry: false },
  log_closed: { status: 503, canRetry: false },
  log_corrupt: { status: 500, canRetry: false },
  log_truncated: { status: 500, canRetry: false },
  archive_corrupt: { status: 500, canRetry: false },
  version_corrupt: { status: 500, canRetry: false },
  invalid_config: { status: 500, canRetry: false },
  internal: { status: 500, canRetry: false },
} as const satisfies Record<string, { status: number; canRetry: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class BraidError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly canRetry: boolean;
  /** Structured detail for the client, e.g. the list of invalid events. */
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BraidError';
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.canRetry = ErrorCodes[code].canRetry;
    this.details = options.details;
  }
}

export function isBraidError(err: unknown, code?: ErrorCode): err is BraidError {
  return err instanceof BraidError && (code === undefined || err.code === code);
}

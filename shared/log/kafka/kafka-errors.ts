import { BraidError, isBraidError } from '../../errors.js';

interface KafkaJsLikeError {
  name?: unknown;
  message?: unknown;
  retriable?: unknown;
  type?: unknown;
  cause?: unknown;
}

function rootCause(err: unknown): KafkaJsLikeError {
  let current = err as KafkaJsLikeError;
  for (let depth = 0; depth < 10 && current && typeof current === 'object' && current.cause; depth++) {
    current = current.cause as KafkaJsLikeError;
  }
  return current ?? {};
}

function describe(err: unknown): string {
  const root = rootCause(err);
  const outer = err as KafkaJsLikeError;
  const text = typeof root.message === 'string' && root.message ? root.message : String(outer?.message ?? err);
  return typeof root.type === 'string' ? `${root.type}: ${text}` : text;
}

/**
 * True when the broker answered and said no for good (e.g. MESSAGE_TOO_LARGE,
 * INVALID_REPLICATION_FACTOR, authorization): retrying the same call cannot help.
 * Everything else from kafkajs (refused or closed connections, request timeouts, retries
 * exhausted, leader elections) means the broker is not reachable right now.
 */
export function isPermanentKafkaError(err: unknown): boolean {
  const root = rootCause(err);
  return root.name === 'KafkaJSProtocolError' && root.retriable === false && !PRODUCER_STATE_ERRORS.has(String(root.type));
}

/**
 * The broker lost or rejected the idempotent producer's state (e.g. after a restart
 * without its data, or after a request that landed unanswered). Not permanent: the log
 * replaces the producer after any failed append, and the next one starts afresh.
 */
const PRODUCER_STATE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'DUPLICATE_SEQUENCE_NUMBER']);

/**
 * Maps a kafkajs error to braid's catalogue: `log_unavailable` (canRetry) when the broker
 * could not be reached, else `permanent` (`internal` for appends, `invalid_config` at open).
 */
export function fromKafkaError(err: unknown, what: string, permanent: 'internal' | 'invalid_config' = 'internal'): BraidError {
  if (isBraidError(err)) return err;
  if (isPermanentKafkaError(err)) {
    return new BraidError(permanent, `${what}: Kafka refused it (${describe(err)})`, { cause: err });
  }
  return unavailable(what, describe(err), err);
}

export function unavailable(what: string, reason: string, cause?: unknown): BraidError {
  return new BraidError('log_unavailable', `${what}: the Kafka broker could not be reached (${reason}); retry later`, { cause });
}

/**
 * For callers (the serving layer): did this fail because the log's broker is unreachable?
 * Such a call may succeed when retried.
 */
export function isLogUnavailable(err: unknown): err is BraidError {
  return isBraidError(err, 'log_unavailable');
}

/** A read from below what the topic still holds (log.retention deleted it; the archive has it). */
export function truncatedRead(partition: number, offset: number, start: number): BraidError {
  return new BraidError(
    'log_truncated',
    `Kafka no longer holds offset ${offset} of partition ${partition} (it starts at ${start}: older records were deleted under log.retention and are in the archive); read from the archive below it`,
  );
}

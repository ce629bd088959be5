import { BraidError, isBraidError, type ErrorCode } from '../../shared/errors.js';
import { changedNumberLiterals, childPath, firstInvalidUtf8, recordKey, validateEvents, type EventLimits, type EventProblem } from '../../shared/events/index.js';
import { packBytes, unpackBytes } from '../../shared/threads/packed.js';

/** How an ingest body is written: a JSON array or {"events": [...]}, or NDJSON. */
export type IngestForm = 'json' | 'ndjson';

export interface DecodeLimits extends EventLimits {
  readonly maxBatchEvents: number;
}

/**
 * An ingest request's body, decoded: the records to append (keys, and the stored bytes of
 * each event laid end to end in one buffer), or the error to answer with. Plain data, so it
 * crosses a thread boundary as it is (serving/ingest/decode-worker.ts).
 */
export type Decoded =
  | { readonly ok: true; readonly keys: string[]; readonly lengths: Uint32Array; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly details?: unknown }; readonly events: number };

/** What a body that is not one of the ingest forms is told. */
export const NOT_A_BATCH = 'expected a JSON array of events, an object {"events": [...]}, or NDJSON (Content-Type application/x-ndjson)';

const INGEST_FORMS = 'send a JSON array of events, {"events": [...]}, or NDJSON with Content-Type application/x-ndjson';

/**
 * Everything an ingest request needs before its append, in the order the contract gives: the
 * bytes are UTF-8, the body has a form, the event count is within the limit, every event is
 * valid (all problems at once, the number literals of the text among them). The same function
 * runs on the event loop or in a decoding thread (`ingest.decodeThreads`).
 */
export function decodeIngest(body: Uint8Array, form: IngestForm, limits: DecodeLimits, now: number): Decoded {
  let events = 0;
  try {
    const text = decodeUtf8(body);
    const { input, found } = form === 'ndjson' ? parseNdjson(text) : parseJsonBody(text);
    events = input.length;
    if (input.length === 0) throw new BraidError('invalid_body', 'the request holds no events; send at least one');
    if (input.length > limits.maxBatchEvents) {
      throw new BraidError('too_many_events', `the request holds ${input.length} events, over the limit of ${limits.maxBatchEvents} (ingest.maxBatchEvents); split it into smaller requests`);
    }
    const result = validateEvents(input, limits, now);
    const problems = [...(result.ok ? [] : result.problems), ...found].sort((a, b) => a.index - b.index); // stable: each event's own order stays
    if (!result.ok || problems.length > 0) {
      const invalid = new Set(problems.map((p) => p.index)).size;
      throw new BraidError('invalid_events', `${invalid} of ${input.length} events are invalid, so nothing was appended; fix the events listed in "problems" and resend the whole request`, {
        details: { problems },
      });
    }
    return { ok: true, keys: result.events.map(recordKey), ...packBytes(result.values) };
  } catch (err) {
    if (!isBraidError(err)) throw err;
    return { ok: false, error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) }, events };
  }
}

/** The records of a decoded body, each value a view of the one buffer. */
export function recordsOf(decoded: Extract<Decoded, { ok: true }>): { key: string; value: Buffer }[] {
  return unpackBytes(decoded).map((value, i) => ({ key: decoded.keys[i]!, value }));
}

/** The body as text, or a 400 naming the first byte that is not well-formed UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    throw new BraidError(
      'invalid_body',
      `the body is not well-formed UTF-8: the byte at offset ${bad} (0x${bytes[bad]!.toString(16).padStart(2, '0')}) does not start a valid sequence (overlong, surrogate, truncated or not UTF-8 at all); send the body as UTF-8, nothing was appended`,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** JSON.parse, its failure a 400 `invalid_body` with the parser's words and `hint`. */
export function parseJson(text: string, hint: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BraidError('invalid_body', `the body is not valid JSON (${(err as Error).message})${hint}`);
  }
}

function parseJsonBody(text: string): { input: unknown[]; found: EventProblem[] } {
  if (text.trim() === '') throw new BraidError('invalid_body', 'the body is empty; send a JSON array of events or {"events": [...]}');
  const body = parseJson(text, `; ${INGEST_FORMS}`);
  // A literal's path from the root: [i, ...] for an array, ['events', i, ...] for {"events": [...]}.
  const inEvents = (prefix: readonly string[]): EventProblem[] =>
    changedNumberLiterals(text).flatMap((p) => {
      const index = p.path[prefix.length];
      if (typeof index !== 'number' || prefix.some((k, i) => p.path[i] !== k)) return [];
      return [{ index, path: p.path.slice(prefix.length + 1).reduce<string>(childPath, '$'), reason: p.reason }];
    });
  if (Array.isArray(body)) return { input: body, found: inEvents([]) };
  if (body !== null && typeof body === 'object') {
    const obj = body as Record<string, unknown>;
    if (Array.isArray(obj.events)) {
      const extra = Object.keys(obj).filter((k) => k !== 'events');
      if (extra.length > 0) {
        throw new BraidError('invalid_body', `unknown top-level field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}; the body is {"events": [...]} only`);
      }
      return { input: obj.events, found: inEvents(['events']) };
    }
  }
  throw new BraidError('invalid_body', NOT_A_BATCH);
}

function parseNdjson(text: string): { input: unknown[]; found: EventProblem[] } {
  const input: unknown[] = [];
  const found: EventProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      input.push(JSON.parse(line));
    } catch (err) {
      throw new BraidError('invalid_body', `NDJSON line ${i + 1} is not valid JSON (${(err as Error).message}); send one JSON event per line`);
    }
    for (const p of changedNumberLiterals(line)) found.push({ index: input.length - 1, path: p.path.reduce<string>(childPath, '$'), reason: p.reason });
  }
  return { input, found };
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BraidError } from '../shared/errors.js';
import { changedNumberLiterals, childPath, firstInvalidUtf8, type EventProblem, type LiteralProblem } from '../shared/events/index.js';

/** A parsed NDJSON body, marked so that no JSON document can pose as one. */
class NdjsonBody {
  constructor(
    readonly events: unknown[],
    readonly problems: EventProblem[],
  ) {}
}

/** What a JSON body's number literals would lose in parsing, found before it is parsed. */
const literalProblems = new WeakMap<FastifyRequest, LiteralProblem[]>();

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson'];

const INGEST_ROUTE = '/v1/events';
const INGEST_FORMS = 'send a JSON array of events, {"events": [...]}, or NDJSON with Content-Type application/x-ndjson';

/**
 * Our own JSON and NDJSON parsers, over the body's bytes:
 * - bytes that are not well-formed UTF-8 are refused with the offset of the first bad one,
 *   before anything else (decoding would replace them, and change what the client sent);
 * - JSON.parse keeps a `__proto__` key as a plain own property (it never touches the
 *   prototype), so the event validator can refuse it with the event's index and path;
 * - number literals that parsing would change are found in the text (changedNumberLiterals)
 *   and reported with the events' other problems.
 * An empty JSON body is no body, except on the ingest route, where it is a mistake.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      const ingest = request.routeOptions.url === INGEST_ROUTE;
      const text = decodeUtf8(body as Buffer);
      if (text.trim() === '') {
        if (ingest) throw new BraidError('invalid_body', 'the body is empty; send a JSON array of events or {"events": [...]}');
        return done(null, undefined);
      }
      const value = parseJson(text, ingest ? `; ${INGEST_FORMS}` : '');
      literalProblems.set(request, changedNumberLiterals(text));
      done(null, value);
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseNdjson(decodeUtf8(body as Buffer)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

function decodeUtf8(bytes: Buffer): string {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    throw new BraidError(
      'invalid_body',
      `the body is not well-formed UTF-8: the byte at offset ${bad} (0x${bytes[bad]!.toString(16).padStart(2, '0')}) does not start a valid sequence (overlong, surrogate, truncated or not UTF-8 at all); send the body as UTF-8, nothing was appended`,
    );
  }
  return bytes.toString('utf8');
}

function parseJson(text: string, hint: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BraidError('invalid_body', `the body is not valid JSON (${(err as Error).message})${hint}`);
  }
}

function parseNdjson(text: string): NdjsonBody {
  const events: unknown[] = [];
  const problems: EventProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      events.push(JSON.parse(line));
    } catch (err) {
      throw new BraidError('invalid_body', `NDJSON line ${i + 1} is not valid JSON (${(err as Error).message}); send one JSON event per line`);
    }
    for (const p of changedNumberLiterals(line)) problems.push({ index: events.length - 1, path: p.path.reduce<string>(childPath, '$'), reason: p.reason });
  }
  return new NdjsonBody(events, problems);
}

/**
 * The three accepted body forms → the list of raw events, with the problems their number
 * literals have (by event index and path inside the event).
 */
export function eventsOfBody(request: FastifyRequest): { events: unknown[]; problems: EventProblem[] } {
  const body = request.body;
  if (body instanceof NdjsonBody) return { events: body.events, problems: body.problems };
  // A literal's path from the root: [i, ...] for an array, ['events', i, ...] for {"events": [...]}.
  const inEvents = (prefix: readonly string[]) =>
    (literalProblems.get(request) ?? []).flatMap((p) => {
      const index = p.path[prefix.length];
      if (typeof index !== 'number' || prefix.some((k, i) => p.path[i] !== k)) return [];
      return [{ index, path: p.path.slice(prefix.length + 1).reduce<string>(childPath, '$'), reason: p.reason }];
    });
  if (Array.isArray(body)) return { events: body, problems: inEvents([]) };
  if (body !== null && typeof body === 'object') {
    const obj = body as Record<string, unknown>;
    if (Array.isArray(obj.events)) {
      const extra = Object.keys(obj).filter((k) => k !== 'events');
      if (extra.length > 0) {
        throw new BraidError('invalid_body', `unknown top-level field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}; the body is {"events": [...]} only`);
      }
      return { events: obj.events, problems: inEvents(['events']) };
    }
  }
  throw new BraidError('invalid_body', 'expected a JSON array of events, an object {"events": [...]}, or NDJSON (Content-Type application/x-ndjson)');
}

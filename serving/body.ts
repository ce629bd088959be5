import type { FastifyInstance } from 'fastify';
import { BraidError } from '../shared/errors.js';

/** Marks a parsed NDJSON body, so no JSON document can pose as one. */
class NdjsonBody {
  constructor(readonly events: unknown[]) {}
}

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson'];

/**
 * Our own JSON and NDJSON parsers. JSON.parse keeps a `__proto__` key as a plain own
 * property (it never touches the prototype), so the event validator can reject it with
 * the event's index and path instead of a generic parser error.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, new NdjsonBody(parseNdjson(body as string)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new BraidError('invalid_body', 'the body is empty; send a JSON array of events or {"events": [...]}');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BraidError('invalid_body', `the body is not valid JSON (${(err as Error).message}); send a JSON array of events, {"events": [...]}, or NDJSON with Content-Type application/x-ndjson`);
  }
}

function parseNdjson(text: string): unknown[] {
  const events: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      events.push(JSON.parse(line));
    } catch (err) {
      throw new BraidError('invalid_body', `NDJSON line ${i + 1} is not valid JSON (${(err as Error).message}); send one JSON event per line`);
    }
  }
  return events;
}

/** The three accepted body forms → the list of raw events. */
export function eventsOfBody(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body !== null && typeof body === 'object') {
    if (body instanceof NdjsonBody) return body.events;
    const obj = body as Record<string, unknown>;
    if (Array.isArray(obj.events)) {
      const extra = Object.keys(obj).filter((k) => k !== 'events');
      if (extra.length > 0) {
        throw new BraidError('invalid_body', `unknown top-level field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}; the body is {"events": [...]} only`);
      }
      return obj.events;
    }
  }
  throw new BraidError('invalid_body', 'expected a JSON array of events, an object {"events": [...]}, or NDJSON (Content-Type application/x-ndjson)');
}

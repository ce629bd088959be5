import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BraidError } from '../shared/errors.js';
import { decodeUtf8, NOT_A_BATCH, parseJson, type IngestForm } from './ingest/decode.js';

/**
 * An ingest request's body as it came: decoded (UTF-8, form, count, every event) by
 * serving/ingest/decode.ts, on the event loop or in a decoding thread.
 */
export class IngestBody {
  constructor(
    readonly bytes: Buffer,
    readonly form: IngestForm,
  ) {}
}

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson'];

const INGEST_ROUTE = '/v1/events';

/**
 * Our own JSON and NDJSON parsers, over the body's bytes. The ingest route's body is kept
 * as bytes (IngestBody) and decoded by serving/ingest/decode.ts under the same rules:
 * - bytes that are not well-formed UTF-8 are refused with the offset of the first bad one,
 *   before anything else (decoding would replace them, and change what the client sent);
 * - JSON.parse keeps a `__proto__` key as a plain own property (it never touches the
 *   prototype), so the event validator can refuse it with the event's index and path;
 * - number literals that parsing would change are found in the text (changedNumberLiterals)
 *   and reported with the events' other problems.
 * An empty JSON body is no body, except on the ingest route, where it is a mistake.
 * An IngestBody is a class instance: no JSON document can pose as one.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      if (request.routeOptions.url === INGEST_ROUTE) return done(null, new IngestBody(body as Buffer, 'json'));
      const text = decodeUtf8(body as Buffer);
      if (text.trim() === '') return done(null, undefined);
      done(null, parseJson(text, ''));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'buffer' }, (_request, body, done) => done(null, new IngestBody(body as Buffer, 'ndjson')));
}

/** The ingest route's body; anything else (no body, another content type) is a 400 naming the forms. */
export function ingestBodyOf(request: FastifyRequest): IngestBody {
  if (request.body instanceof IngestBody) return request.body;
  throw new BraidError('invalid_body', NOT_A_BATCH);
}

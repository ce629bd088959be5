import type { FastifyError } from 'fastify';
import { BraidError, isBraidError } from '../shared/errors.js';

/** fastify's own errors (body limits, content types, schema validation) in braid's catalogue. */
export function toBraidError(err: FastifyError | BraidError): BraidError {
  if (isBraidError(err)) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BraidError('body_too_large', `the body is larger than the limit (ingest.maxBodyBytes); split it into smaller requests`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new BraidError('unsupported_media_type', 'unsupported Content-Type; send application/json or application/x-ndjson');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BraidError('invalid_body', 'the body is empty; send a JSON array of events or {"events": [...]}');
  }
  if (err.validation) {
    return new BraidError('invalid_parameter', `${err.validationContext ?? 'request'} ${err.message}`);
  }
  if (typeof err.statusCode === 'number' && err.statusCode < 500) {
    return new BraidError(err.statusCode === 413 ? 'body_too_large' : 'invalid_body', err.message);
  }
  return new BraidError('internal', 'internal error; see the server log', { cause: err });
}

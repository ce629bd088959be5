import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { isBraidError } from '../../shared/errors.js';
import { ingestBodyOf } from '../body.js';
import { toBraidError } from '../errors.js';
import { decodeError, type Ingestor } from '../ingest/ingestor.js';
import type { IngestMetrics } from '../metrics/index.js';
import { Accepted, ErrorBody } from '../schemas.js';

const Event = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128, description: 'Idempotency key.' }),
    type: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
    time: Type.Union([Type.String({ format: 'date-time' }), Type.Integer({ minimum: 0 })], { description: 'RFC 3339 with zone, or epoch ms.' }),
    key: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Entity; the partition key. Defaults to id.' })),
    data: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false },
);

export interface EventRoutesOptions {
  readonly ingestor: Ingestor;
  readonly metrics: IngestMetrics;
}

/** POST /v1/events: a write route (registered in the API-key scope, serving/auth.ts). */
export function eventRoutes({ ingestor, metrics }: EventRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/v1/events',
      {
        schema: {
          summary: 'Ingest events',
          description:
            'A JSON array of events, {"events": [...]}, or NDJSON (application/x-ndjson). All or nothing: 202 once every event is durable in the log; 400 lists every invalid event by index, JSON path and reason.',
          body: Type.Union([Type.Array(Event), Type.Object({ events: Type.Array(Event) })]),
          response: { 202: Accepted, '4xx': ErrorBody, '5xx': ErrorBody },
        },
        // The schema documents the API; validation is the event validator's, which reports
        // every problem of every event at once.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        let n = 0;
        try {
          const decoded = await ingestor.decode(ingestBodyOf(request));
          n = decoded.ok ? decoded.keys.length : decoded.events;
          if (!decoded.ok) throw decodeError(decoded);
          const result = await ingestor.append(decoded);
          metrics.requests.inc({ outcome: 'accepted' });
          metrics.events.inc({ outcome: 'accepted' }, result.accepted);
          return reply.status(202).send({ accepted: result.accepted });
        } catch (err) {
          const outcome = isBraidError(err) && err.status < 500 ? 'rejected' : 'failed';
          metrics.requests.inc({ outcome });
          if (n > 0) metrics.events.inc({ outcome }, n);
          metrics.rejections.inc({ reason: isBraidError(err) ? err.code : 'internal' });
          throw err;
        }
      },
    );

    // Rejections that happen before the handler (auth, body size, content type) count too.
    app.addHook('onError', async (request, _reply, err) => {
      if (request.routeOptions.url === '/v1/events' && request.body === undefined) {
        metrics.requests.inc({ outcome: 'rejected' });
        metrics.rejections.inc({ reason: toBraidError(err).code });
      }
    });
  };
}

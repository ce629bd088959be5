import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BraidError, isBraidError } from '../shared/errors.js';
import type { ResolvedConfig } from '../shared/config/index.js';
import type { LogHandle } from '../shared/log/handle.js';
import { registerBodyParsers } from './body.js';
import { createIngestMetrics } from './metrics.js';
import { Ingestor } from './ingest/ingestor.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';

export interface AppDeps {
  readonly config: ResolvedConfig;
  readonly log: LogHandle;
  readonly logger: Logger;
  readonly registry: Registry;
}

/** Builds the HTTP app without listening; tests use `app.inject`, the process calls `listen`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app's type the default one.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.ingest.maxBodyBytes,
    disableRequestLogging: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'braid', version: '0.1.0', description: 'Lambda-architecture analytics: ingest, views, verification.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  registerBodyParsers(app);
  app.setErrorHandler(errorHandler(deps.logger));
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url}; see /docs for the API` });
  });

  const ingestMetrics = createIngestMetrics(deps.registry);
  const ingestor = new Ingestor({
    log: () => deps.log.current(),
    limits: config.ingest,
    metrics: ingestMetrics,
  });
  await app.register(eventRoutes, { ingestor, metrics: ingestMetrics, apiKeys: config.auth.apiKeys });
  await app.register(healthRoutes, { log: deps.log, registry: deps.registry });
  return app;
}

/** Maps every error to `{ error, message }` with the catalogue's status; layer code never knows HTTP. */
function errorHandler(logger: Logger) {
  return (err: FastifyError | BraidError, _request: unknown, reply: FastifyReply) => {
    const mapped = toBraidError(err);
    if (mapped.status >= 500 && mapped.code !== 'log_unavailable' && mapped.code !== 'not_ready') {
      logger.error({ err }, 'request failed');
    }
    const details = mapped.details && typeof mapped.details === 'object' ? mapped.details : {};
    void reply.status(mapped.status).send({ error: mapped.code, message: mapped.message, ...details });
  };
}

function toBraidError(err: FastifyError | BraidError): BraidError {
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

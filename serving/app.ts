import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { BraidError } from '../shared/errors.js';
import { toBraidError } from './errors.js';
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

import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BraidError } from '../shared/errors.js';
import { toBraidError } from './errors.js';
import type { ResolvedConfig } from '../shared/config/index.js';
import type { LogHandle } from '../shared/log/handle.js';
import { registerBodyParsers } from './body.js';
import { createIngestMetrics, createQueryMetrics } from './metrics.js';
import { registerRoleMetrics } from './metrics-roles.js';
import { Ingestor } from './ingest/ingestor.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { viewRoutes } from './routes/views.js';
import { batchRoutes } from './routes/batch.js';
import { replayRoutes } from './routes/replays.js';
import { QueryService } from './query/service.js';
import type { BraidNode } from './node.js';

export interface AppDeps {
  readonly config: ResolvedConfig;
  readonly log: LogHandle;
  readonly logger: Logger;
  readonly registry: Registry;
  /** the batch and speed roles; absent in an ingest-only app */
  readonly node?: BraidNode;
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
  await app.register(healthRoutes, { log: deps.log, registry: deps.registry, ...(deps.node ? { node: deps.node } : {}) });
  const node = deps.node;
  // Kappa mode runs no archive and no batch layer (serving/node.ts).
  const lambda = config.mode !== 'kappa';
  registerRoleMetrics({
    registry: deps.registry,
    log: deps.log,
    ...(node ? { node } : {}),
    roles: { archive: lambda && config.roles.archive, batch: lambda && config.roles.batch, speed: config.roles.speed },
  });
  if (node) {
    // The roles start after the log opens; the routes look them up per request.
    const batch = { current: () => node.batch?.current() };
    const queries = new QueryService({
      views: node.views,
      mode: node.mode,
      batch,
      speed: { snapshot: (name) => node.speed?.snapshot(name) },
      kappa: {
        latest: () => {
          const replay = node.replayer?.latest();
          return replay?.tables ? { position: replay.info.target, tables: replay.tables } : undefined;
        },
      },
    });
    await app.register(viewRoutes, { queries, batch, metrics: createQueryMetrics(deps.registry) });
    await app.register(replayRoutes, { node, apiKeys: config.auth.apiKeys });
    await app.register(batchRoutes, {
      apiKeys: config.auth.apiKeys,
      runner: {
        start: (trigger) => requireBatch(node).start(trigger),
        getRun: (id) => requireBatch(node).getRun(id),
        runs: () => requireBatch(node).runs(),
      },
    });
  }
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

function requireBatch(node: BraidNode) {
  if (!node.batch) throw new BraidError('not_ready', 'the batch layer is not running in this process (roles.batch) or is still opening; retry shortly');
  return node.batch;
}

import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BraidError } from '../shared/errors.js';
import type { ResolvedConfig } from '../shared/config/index.js';
import type { LogHandle } from '../shared/log/handle.js';
import type { BraidNode } from '../lambda/index.js';
import { registerWrites } from './auth.js';
import { registerBodyParsers } from './body.js';
import { RequestLog } from './request-log.js';
import { toBraidError } from './errors.js';
import { Ingestor } from './ingest/ingestor.js';
import { createIngestMetrics, createQueryMetrics, registerRoleMetrics } from './metrics/index.js';
import { QueryService } from './query/service.js';
import { batchReadRoutes, batchWriteRoutes } from './routes/batch.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { replayReadRoutes, replayWriteRoutes } from './routes/replays.js';
import { verificationReadRoutes, verificationWriteRoutes } from './routes/verification.js';
import { viewRoutes } from './routes/views.js';

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
  const { config, node } = deps;
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app's type the default one.
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new RequestLog(config.logging.slowRequestMs),
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
  const ingestor = new Ingestor({ log: () => deps.log.current(), limits: config.ingest, metrics: ingestMetrics });
  // Kappa mode runs no archive and no batch layer (lambda/node.ts).
  const lambda = config.mode !== 'kappa';
  registerRoleMetrics({
    registry: deps.registry,
    log: deps.log,
    ...(node ? { node } : {}),
    roles: { archive: lambda && config.roles.archive, batch: lambda && config.roles.batch, speed: config.roles.speed },
  });
  await app.register(healthRoutes({ log: deps.log, registry: deps.registry, ...(node ? { roles: node } : {}) }));

  // The roles start after the log opens: the routes look them up per request.
  const writes = [eventRoutes({ ingestor, metrics: ingestMetrics })];
  if (node) {
    const batch = () => role(node.batch, 'the batch layer is not running in this process (roles.batch) or is still opening; retry shortly');
    const replays = () => role(node.replayer, 'replays start once the log is open; retry shortly');
    const verifier = () =>
      role(node.verifier, node.mode === 'kappa' ? 'mode kappa has no Lambda side to verify' : 'verification needs the speed role and starts once the log is open; retry shortly');
    writes.push(batchWriteRoutes(batch), replayWriteRoutes(replays), verificationWriteRoutes(verifier));
    const queries = new QueryService(node.sources);
    await app.register(viewRoutes({ queries, batch: () => node.batch?.current(), metrics: createQueryMetrics(deps.registry, node.views.map((v) => v.def.name)) }));
    await app.register(batchReadRoutes(batch));
    await app.register(replayReadRoutes(replays));
    await app.register(verificationReadRoutes(verifier));
  }
  await registerWrites(app, config.auth.apiKeys, writes);
  return app;
}

function role<T>(value: T | undefined, missing: string): T {
  if (value === undefined) throw new BraidError('not_ready', missing);
  return value;
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

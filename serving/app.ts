import { STATUS_CODES } from 'node:http';
import { PassThrough } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BraidError } from '../shared/errors.js';
import { parseSize, type ResolvedConfig } from '../shared/config/index.js';
import type { LogHandle } from '../shared/log/handle.js';
import type { BraidNode } from '../lambda/index.js';
import { registerScoped } from './auth.js';
import { registerBodyParsers } from './body.js';
import { RequestLog } from './request-log.js';
import { toBraidError } from './errors.js';
import { Ingestor } from './ingest/ingestor.js';
import type { Decoded } from './ingest/decode.js';
import type { DecodeJob } from './ingest/decode-worker.js';
import { WorkerPool } from '../shared/threads/pool.js';
import { createIngestMetrics, createQueryMetrics, registerRoleMetrics } from './metrics/index.js';
import { QueryService } from './query/service.js';
import { subjectEvents } from '../lambda/subjects.js';
import { erasureRoutes } from './routes/erasures.js';
import { registerAuditHooks } from './audit.js';
import { auditRoutes } from './routes/audit.js';
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
    // A backstop behind bodyTimeout below: Node's own limit on receiving a whole request.
    requestTimeout: config.server.bodyTimeoutMs + 5_000,
    // Errors fastify and Node answer before a route runs, in braid's shape too.
    frameworkErrors: (err, _request, reply) => {
      const mapped =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new BraidError('uri_too_long', 'a path segment of the URL is too long; a view name or job id is at most 100 characters')
          : new BraidError('invalid_parameter', `the URL is not valid (${err.message}); escape "%" as %25 and use valid percent-encoding`);
      void (reply as FastifyReply).status(mapped.status).send({ error: mapped.code, message: mapped.message });
    },
    clientErrorHandler: clientError,
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
  bodyTimeout(app, config.server.bodyTimeoutMs);
  app.setErrorHandler(errorHandler(deps.logger));
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url}; see /docs for the API` });
  });

  const ingestMetrics = createIngestMetrics(deps.registry);
  // Request bodies are decoded and validated off the event loop (issue 13): the loop keeps
  // acknowledging, folding and answering queries while another core parses.
  const decoders =
    config.ingest.decodeThreads > 0 && config.roles.ingest
      ? new WorkerPool<DecodeJob, Decoded>({ file: new URL('../shared/threads/bootstrap.mjs', import.meta.url), module: '../../serving/ingest/decode-worker.ts', size: config.ingest.decodeThreads, maxQueue: config.ingest.decodeQueue, name: 'ingest decoding' })
      : undefined;
  if (decoders) app.addHook('onClose', () => decoders.close());
  const ingestor = new Ingestor({ log: () => deps.log.current(), limits: config.ingest, metrics: ingestMetrics, ...(decoders ? { decoders } : {}) });
  // Kappa mode runs no archive and no batch layer (lambda/node.ts).
  const lambda = config.mode !== 'kappa';
  registerRoleMetrics({
    registry: deps.registry,
    log: deps.log,
    ...(node ? { node } : {}),
    roles: { archive: lambda && config.roles.archive, batch: lambda && config.roles.batch, speed: config.roles.speed },
  });
  // Probes and /metrics stay open; status is a read.
  const health = healthRoutes({ log: deps.log, registry: deps.registry, ...(node ? { roles: node } : {}) });
  await app.register(health.probes);

  // The roles start after the log opens: the routes look them up per request.
  const reads = [health.status];
  const admin = [];
  if (node) {
    const batch = () => role(node.batch, 'the batch layer is not running in this process (roles.batch) or is still opening; retry shortly');
    const replays = () => role(node.replayer, 'replays start once the log is open; retry shortly');
    const verifier = () =>
      role(node.verifier, node.mode === 'kappa' ? 'mode kappa has no Lambda side to verify' : 'verification needs the speed role and starts once the log is open; retry shortly');
    admin.push(batchWriteRoutes(batch), replayWriteRoutes(replays), verificationWriteRoutes(verifier));
    // The audit trail: entries of every write (and of rejected keys), the trail's reads, a subject's export.
    if (config.audit.enabled) registerAuditHooks(app, () => node.audit);
    const audit = () => role(node.audit, config.audit.enabled ? 'the audit trail is still opening; retry shortly' : 'the audit trail is off (audit.enabled)');
    const subjects = (subject: string) =>
      subjectEvents({ log: role(deps.log.current(), 'the log is not open yet; retry shortly'), ...(node.archiver ? { archiver: node.archiver } : {}), dedupeWindowMs: config.dedupeWindowMs, dedupeSkewMs: config.dedupeSkewMs }, subject);
    admin.push(auditRoutes(audit, subjects));
    const erasures = () =>
      role(
        node.erasures,
        node.mode === 'kappa'
          ? 'erasure needs mode lambda (the archive is the record it rewrites); mode kappa cannot erase yet'
          : 'erasure runs in the process with the archive and batch roles, once they are open; send it there, or retry shortly',
      );
    admin.push(erasureRoutes(erasures, (subject) => node.audit?.pseudonym(subject) ?? null));
    // Queries rest between their slices while an ingest request is being read or appended.
    let ingesting = 0;
    app.addHook('onRequest', async (request, reply) => {
      if (request.method !== 'POST' || !request.url.startsWith('/v1/events')) return;
      ingesting++;
      // 'close' comes once the response is sent or the connection is gone, whichever it is.
      reply.raw.once('close', () => ingesting--);
    });
    node.slices.restWhile(() => ingesting > 0);
    const queries = new QueryService(node.sources, {
      maxGroups: config.query.maxGroups,
      timeoutMs: config.query.timeoutMs,
      cacheBytes: parseSize(config.query.cacheMemory),
      concurrency: config.query.concurrency,
      maxQueued: config.query.maxQueued,
      pause: node.slices.pause,
      threads: config.query.threads,
    });
    app.addHook('onClose', () => queries.close());
    reads.push(
      viewRoutes({ queries, batch: () => node.batch?.current(), metrics: createQueryMetrics(deps.registry, node.views.map((v) => v.def.name)) }),
      batchReadRoutes(batch),
      replayReadRoutes(replays),
      verificationReadRoutes(verifier),
    );
  }
  await registerScoped(app, config.keys, 'ingest', [eventRoutes({ ingestor, metrics: ingestMetrics })]);
  await registerScoped(app, config.keys, 'admin', admin);
  await registerScoped(app, config.keys, config.auth.reads === 'key' ? 'read' : undefined, reads);
  return app;
}

/**
 * A body must arrive whole within `ms` of the request: a client that stalls mid-upload gets a
 * 408 and its connection is closed, instead of holding a connection (and shutdown) forever.
 */
function bodyTimeout(app: FastifyInstance, ms: number): void {
  app.addHook('preParsing', async (_request, reply, payload) => {
    // The body is read through a pass-through that the timer can fail: failing the request
    // stream itself would destroy the socket before the 408 is written.
    const body = new PassThrough();
    const timer = setTimeout(() => {
      reply.header('connection', 'close');
      payload.unpipe(body);
      body.destroy(new BraidError('request_timeout', `the body did not arrive whole within ${ms} ms (server.bodyTimeoutMs); send it again, faster or in smaller requests`));
    }, ms);
    timer.unref();
    const done = () => clearTimeout(timer);
    payload.once('end', done);
    payload.once('error', (err) => {
      done();
      body.destroy(err);
    });
    payload.once('close', done);
    payload.pipe(body);
    return body;
  });
}

function role<T>(value: T | undefined, missing: string): T {
  if (value === undefined) throw new BraidError('not_ready', missing);
  return value;
}

/** What Node's HTTP parser refuses before fastify sees a request: headers too large, a timeout, bad framing. */
function clientError(err: NodeJS.ErrnoException, socket: import('node:net').Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const mapped =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new BraidError('headers_too_large', 'the request headers are larger than the server takes (16 KiB); send fewer or shorter headers')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new BraidError('request_timeout', 'the request did not arrive whole in time (server.bodyTimeoutMs); send it again')
        : new BraidError('invalid_body', 'the request is not valid HTTP/1.1; check the client');
  const body = JSON.stringify({ error: mapped.code, message: mapped.message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${mapped.status} ${STATUS_CODES[mapped.status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
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

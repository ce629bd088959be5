import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import { BraidError } from '../../shared/errors.js';
import type { LogHandle } from '../../shared/log/handle.js';

export interface HealthRoutesOptions {
  readonly log: LogHandle;
  readonly registry: Registry;
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, { log, registry }) => {
  app.get('/healthz', { schema: { summary: 'Liveness: the process answers' } }, async () => ({ ok: true }));

  app.get('/readyz', { schema: { summary: 'Readiness: 503 until the log is open' } }, async () => {
    if (!log.current()) {
      throw new BraidError('not_ready', `the log is not open yet (${log.describeState()}); retry shortly`);
    }
    return { ready: true };
  });

  app.get('/v1/status', { schema: { summary: 'Log end position and the state of each layer' } }, async () => {
    const current = log.current();
    if (!current) {
      return { ready: false, log: { kind: log.kind, state: log.describeState() } };
    }
    const end = await current.endPosition();
    return {
      ready: true,
      log: { kind: current.kind, partitions: current.partitions, end, endTotal: Object.values(end).reduce((a, b) => a + b, 0) },
    };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', hide: false } }, async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
};

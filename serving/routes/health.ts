import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import { BraidError } from '../../shared/errors.js';
import type { LogHandle } from '../../shared/log/handle.js';
import { totalOffsets, type Position } from '../../shared/log/position.js';

/** What the probes and the status page read of the process' roles. */
export interface ProcessState {
  readiness(): { ready: boolean; reason?: string };
  /** each layer's position and lag against the log's end */
  status(end: Position): object;
}

export interface HealthRoutesOptions {
  readonly log: LogHandle;
  readonly registry: Registry;
  /** absent in an ingest-only app */
  readonly roles?: ProcessState;
}

/** Liveness, readiness and the Prometheus endpoint (`probes`, always open), and the status page (`status`, a read). */
export function healthRoutes({ log, registry, roles }: HealthRoutesOptions): { probes: FastifyPluginAsync; status: FastifyPluginAsync } {
  const probes: FastifyPluginAsync = async (app) => {
    app.get('/healthz', { schema: { summary: 'Liveness: the process answers' } }, async () => ({ ok: true }));

    app.get('/readyz', { schema: { summary: 'Readiness: 503 until the log is open' } }, async () => {
      if (!log.current()) {
        throw new BraidError('not_ready', `the log is not open yet (${log.describeState()}); retry shortly`);
      }
      const state = roles?.readiness() ?? { ready: true };
      if (!state.ready) throw new BraidError('not_ready', `${state.reason}; retry shortly`);
      return { ready: true };
    });

    app.get('/metrics', { schema: { summary: 'Prometheus metrics', hide: false } }, async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    });
  };
  const status: FastifyPluginAsync = async (app) => {
    app.get('/v1/status', { schema: { summary: 'Log end position and the state of each layer' } }, async () => {
      const current = log.current();
      if (!current) {
        return { ready: false, log: { kind: log.kind, state: log.describeState() } };
      }
      const end = await current.endPosition();
      return {
        ready: roles?.readiness().ready ?? true,
        log: { kind: current.kind, partitions: current.partitions, end, endTotal: totalOffsets(end) },
        ...(roles ? roles.status(end) : { archive: null, batch: null, speed: null }),
      };
    });
  };
  return { probes, status };
}

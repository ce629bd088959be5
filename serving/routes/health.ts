import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import { BraidError } from '../../shared/errors.js';
import type { LogHandle } from '../../shared/log/handle.js';
import type { Position } from '../../shared/log/types.js';
import type { BraidNode } from '../node.js';

function total(p: Position): number {
  return Object.values(p).reduce((a, b) => a + b, 0);
}

/** per partition, records in the log not yet reached */
function lag(end: Position, at: Position): Record<number, number> {
  return Object.fromEntries(Object.entries(end).map(([k, v]) => [k, Math.max(0, v - (at[Number(k)] ?? 0))]));
}

export interface HealthRoutesOptions {
  readonly log: LogHandle;
  readonly registry: Registry;
  readonly node?: BraidNode;
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, { log, registry, node }) => {
  app.get('/healthz', { schema: { summary: 'Liveness: the process answers' } }, async () => ({ ok: true }));

  app.get('/readyz', { schema: { summary: 'Readiness: 503 until the log is open' } }, async () => {
    if (!log.current()) {
      throw new BraidError('not_ready', `the log is not open yet (${log.describeState()}); retry shortly`);
    }
    const roles = node?.readiness() ?? { ready: true };
    if (!roles.ready) throw new BraidError('not_ready', `${roles.reason}; retry shortly`);
    return { ready: true };
  });

  app.get('/v1/status', { schema: { summary: 'Log end position and the state of each layer' } }, async () => {
    const current = log.current();
    if (!current) {
      return { ready: false, log: { kind: log.kind, state: log.describeState() } };
    }
    const end = await current.endPosition();
    const version = node?.batch?.current();
    const speed = node?.speed?.ready ? node.speed.stats() : undefined;
    return {
      ready: node?.readiness().ready ?? true,
      log: { kind: current.kind, partitions: current.partitions, end, endTotal: total(end) },
      archive: node?.archiver ? { position: node.archiver.position(), lag: lag(end, node.archiver.position()) } : null,
      batch: version
        ? { version: version.version, snapshot: version.snapshot, createdAt: version.createdAt, snapshotAgeSeconds: Math.round((Date.now() - Date.parse(version.createdAt)) / 1000) }
        : null,
      speed: speed
        ? { position: speed.position, lag: lag(end, speed.position), segments: speed.segments, groups: speed.groups, dedupeEntries: speed.dedupeEntries, readySeconds: speed.readySeconds, rebuilding: speed.rebuilding }
        : null,
    };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', hide: false } }, async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
};

import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { BatchVersion } from '../../shared/views/index.js';
import type { QueryService } from '../query/service.js';
import { Sources } from '../query/index.js';
import type { QueryMetrics } from '../metrics/index.js';
import { ErrorBody } from '../schemas.js';

export interface ViewRoutesOptions {
  readonly queries: QueryService;
  /** the serving batch version, for each view's freshness */
  readonly batch: () => BatchVersion | undefined;
  readonly now?: () => number;
  readonly metrics?: QueryMetrics;
}

/** GET /v1/views (the catalogue) and GET /v1/views/:name (a query, contract §8). */
export function viewRoutes({ queries, batch, now = Date.now, metrics }: ViewRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    if (metrics) {
      app.addHook('onResponse', async (request, reply) => {
        if (request.routeOptions.url !== '/v1/views/:name') return;
        const labels = {
          view: metrics.viewLabel((request.params as { name?: string }).name ?? ''),
          source: metrics.sourceLabel((request.query as { source?: unknown }).source ?? 'lambda'),
        };
        metrics.answers.inc({ ...labels, status: String(reply.statusCode) });
        if (reply.statusCode < 400) metrics.seconds.observe(labels, reply.elapsedTime / 1000);
      });
    }
    app.get('/v1/views', { schema: { summary: 'The views, their definitions and freshness' } }, async () => {
      const version = batch();
      return {
        views: queries.views().map((v) => ({
          name: v.def.name,
          definitionVersion: v.version,
          definition: v.def,
          batch: version
            ? {
                version: version.version,
                snapshot: version.snapshot,
                createdAt: version.createdAt,
                ageSeconds: Math.max(0, Math.round((now() - Date.parse(version.createdAt)) / 1000)),
                rows: version.tables.get(v.def.name)?.size ?? 0,
              }
            : null,
        })),
      };
    });

    app.get(
      '/v1/views/:name',
      {
        schema: {
          summary: 'Query a view',
          description:
            'from/to: RFC 3339 or epoch ms, half-open [from, to). granularity: the view\'s or coarser. group_by: comma-separated subset of the dimensions ("" for none). where.<dimension>=v1,v2. source: lambda (default), batch, speed or kappa. limit: 1–100000.',
          params: Type.Object({ name: Type.String() }),
          querystring: Type.Object(
            {
              from: Type.Optional(Type.String()),
              to: Type.Optional(Type.String()),
              granularity: Type.Optional(Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')])),
              group_by: Type.Optional(Type.String()),
              source: Type.Optional(Type.Union(Sources.map((s) => Type.Literal(s)))),
              limit: Type.Optional(Type.String()),
            },
            { additionalProperties: true },
          ),
          response: { '4xx': ErrorBody, '5xx': ErrorBody },
        },
        // parseViewQuery checks every parameter against the view and names the bad one.
        validatorCompiler: () => () => true,
      },
      async (request) => {
        const { name } = request.params as { name: string };
        return queries.answer(name, request.query as Record<string, unknown>);
      },
    );
  };
}

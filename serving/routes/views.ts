import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { QueryService, BatchViews, SpeedViews } from '../query/service.js';
import { Sources } from '../query/index.js';
import type { QueryMetrics } from '../metrics.js';

export interface ViewRoutesOptions {
  readonly queries: QueryService;
  readonly batch?: BatchViews;
  readonly speed?: SpeedViews;
  readonly now?: () => number;
  readonly metrics?: QueryMetrics;
}

const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() }, { additionalProperties: true });

export const viewRoutes: FastifyPluginAsync<ViewRoutesOptions> = async (app, { queries, batch, now = Date.now, metrics }) => {
  if (metrics) {
    // Labels only from the config's view names and the known sources: a client's typo
    // must not create a time series.
    const known = new Set(queries.views().map((v) => v.def.name));
    // Every view and source from the start, so rate() sees the first answers too.
    for (const view of known) for (const source of Sources) metrics.seconds.zero({ view, source });
    app.addHook('onResponse', async (request, reply) => {
      if (request.routeOptions.url !== '/v1/views/:name') return;
      const name = (request.params as { name?: string }).name ?? '';
      const asked = (request.query as { source?: unknown }).source ?? 'lambda';
      const labels = {
        view: known.has(name) ? name : 'unknown',
        source: (Sources as readonly unknown[]).includes(asked) ? (asked as string) : 'unknown',
      };
      metrics.answers.inc({ ...labels, status: String(reply.statusCode) });
      if (reply.statusCode < 400) metrics.seconds.observe(labels, reply.elapsedTime / 1000);
    });
  }
  app.get(
    '/v1/views',
    { schema: { summary: 'The views, their definitions and freshness' } },
    async () => {
      const version = batch?.current();
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
    },
  );

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

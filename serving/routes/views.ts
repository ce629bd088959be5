import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { BatchVersion } from '../../shared/views/index.js';
import type { QueryService } from '../query/service.js';
import { Sources, toCsv, type QueryRequest } from '../query/index.js';
import type { QueryMetrics } from '../metrics/index.js';
import { ErrorBody } from '../schemas.js';

const Values = Type.Record(Type.String(), Type.Array(Type.Union([Type.String(), Type.Null()])));
/** POST /v1/views/:name/query: the query of the query string, as JSON. */
const QueryBody = Type.Object(
  {
    from: Type.Optional(Type.Union([Type.String(), Type.Integer()])),
    to: Type.Optional(Type.Union([Type.String(), Type.Integer()])),
    granularity: Type.Optional(Type.String()),
    groupBy: Type.Optional(Type.Array(Type.String())),
    where: Type.Optional(Values),
    whereNot: Type.Optional(Values),
    having: Type.Optional(Type.Array(Type.Object({ measure: Type.String(), op: Type.String(), value: Type.Number() }))),
    orderBy: Type.Optional(Type.Array(Type.Object({ key: Type.String(), desc: Type.Optional(Type.Boolean()) }))),
    limit: Type.Optional(Type.Integer()),
    offset: Type.Optional(Type.Integer()),
    source: Type.Optional(Type.String()),
    format: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

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
        if (request.routeOptions.url !== '/v1/views/:name' && request.routeOptions.url !== '/v1/views/:name/query') return;
        const asked = request.method === 'POST' ? (request.body as { source?: unknown } | undefined)?.source : (request.query as { source?: unknown }).source;
        const labels = {
          view: metrics.viewLabel((request.params as { name?: string }).name ?? ''),
          source: metrics.sourceLabel(asked ?? 'lambda'),
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

    // An answer shared by identical queries (QueryService batches them) is serialised once.
    const serialised = new WeakMap<object, string>();
    /** JSON, or CSV when asked for (format=csv, or Accept: text/csv). */
    const reply = (answer: Awaited<ReturnType<QueryService['answer']>>, accept: string | undefined, res: import('fastify').FastifyReply) => {
      const { format, groupBy, answeredWith, ...body } = answer;
      if (format === 'csv' || (accept !== undefined && /\btext\/csv\b/.test(accept) && !/application\/json/.test(accept))) {
        return res.type('text/csv; charset=utf-8').send(toCsv(answeredWith, groupBy, body.rows));
      }
      let json = serialised.get(answer);
      if (json === undefined) serialised.set(answer, (json = JSON.stringify(body)));
      return res.type('application/json; charset=utf-8').send(json);
    };

    app.get(
      '/v1/views/:name',
      {
        schema: {
          summary: 'Query a view',
          description:
            'from/to: RFC 3339 or epoch ms, half-open [from, to). granularity: the view\'s, a coarser one, or all (one bucket); a view of granularity none (an entity view: no time buckets, bucket null) takes none or all and no from/to. group_by: comma-separated subset of the dimensions ("" for none). where.<dimension>=v1,v2 (repeat the parameter to give values holding commas); where_not.<dimension>=v1,v2. having.<measure>=gt:N (gte, lt, lte, eq, ne; quantiles as having.name.q). order_by=-revenue,data.country (a measure, name.q, a dimension or bucket; - descending; ties by bucket then dimensions; nulls last). offset, limit: 1–100000. source: lambda (default), batch, speed or kappa. format: json (default) or csv. The answer says how many groups there were (groups) and whether limit cut them (truncated).',
          params: Type.Object({ name: Type.String() }),
          querystring: Type.Object(
            {
              from: Type.Optional(Type.String()),
              to: Type.Optional(Type.String()),
              granularity: Type.Optional(Type.Union(['minute', 'hour', 'day', 'none', 'all'].map((g) => Type.Literal(g)))),
              group_by: Type.Optional(Type.String()),
              order_by: Type.Optional(Type.String()),
              offset: Type.Optional(Type.String()),
              limit: Type.Optional(Type.String()),
              source: Type.Optional(Type.Union(Sources.map((s) => Type.Literal(s)))),
              format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
            },
            { additionalProperties: true },
          ),
          response: { '4xx': ErrorBody, '5xx': ErrorBody },
        },
        // checkQuery checks every parameter against the view and names the bad one.
        validatorCompiler: () => () => true,
      },
      async (request, res) => {
        const { name } = request.params as { name: string };
        return reply(await queries.answer(name, request.query as Record<string, unknown>), request.headers.accept, res);
      },
    );

    app.post(
      '/v1/views/:name/query',
      {
        schema: {
          summary: 'Query a view with a JSON body',
          description: 'The query of GET /v1/views/:name as JSON, for programs and for values awkward in a URL (null may stand among where values).',
          params: Type.Object({ name: Type.String() }),
          body: QueryBody,
          response: { '4xx': ErrorBody, '5xx': ErrorBody },
        },
        validatorCompiler: () => () => true,
      },
      async (request, res) => {
        const { name } = request.params as { name: string };
        return reply(await queries.answerRequest(name, (request.body ?? {}) as QueryRequest), request.headers.accept, res);
      },
    );
  };
}

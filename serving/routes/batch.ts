import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { BraidError } from '../../shared/errors.js';
import { BatchRunBody, BatchRunRequest, ErrorBody } from '../schemas.js';

/** The part of the batch runner the API drives. */
export interface BatchRuns {
  start(trigger: 'api' | 'cli', options?: { full?: boolean }): { id: string };
  getRun(id: string): object | undefined;
  runs(): readonly object[];
}

const Id = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** POST /v1/batch/runs: a write route. */
export function batchWriteRoutes(runs: () => BatchRuns): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/v1/batch/runs',
      {
        schema: {
          summary: 'Start a batch run',
          description:
            'Computes every view up to a new snapshot: incrementally (the records after the serving version\'s snapshot, merged into it) unless `{"full": true}` or a changed definition asks for every record again. 202 with the run; 409 while another run is going (runs never overlap).',
          querystring: Type.Object({ trigger: Type.Optional(Type.Union([Type.Literal('api'), Type.Literal('cli')])) }),
          body: BatchRunRequest,
          response: { 202: BatchRunBody, '4xx': ErrorBody, '5xx': ErrorBody },
        },
        // The body is optional (fastify would hold an absent one against the schema): checked here.
        validatorCompiler: () => () => true,
      },
      async (request: FastifyRequest, reply) => {
        if (request.body !== undefined && request.body !== null && !Value.Check(BatchRunRequest, request.body)) {
          const [first] = Value.Errors(BatchRunRequest, request.body);
          throw new BraidError('invalid_parameter', `body${first?.path.replace(/\//g, '.') ?? ''}: ${first?.message ?? 'not a batch run request'}; send {} or {"full": true}`);
        }
        // The route's own validator is off (for the optional body), so the query is checked here.
        const trigger = (request.query as { trigger?: string }).trigger ?? 'api';
        if (trigger !== 'api' && trigger !== 'cli') throw new BraidError('invalid_parameter', `trigger: "${String(trigger).slice(0, 40)}" is not a trigger; use api or cli (or leave it out)`);
        const runner = runs();
        const run = runner.start(trigger, { full: (request.body as BatchRunRequest | undefined)?.full === true });
        return reply.status(202).header('location', `/v1/batch/runs/${run.id}`).send(runner.getRun(run.id));
      },
    );
  };
}

/** GET /v1/batch/runs and /v1/batch/runs/:id. */
export function batchReadRoutes(runs: () => BatchRuns): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/batch/runs', { schema: { summary: 'Recent batch runs, newest first', response: { 200: Type.Object({ runs: Type.Array(BatchRunBody) }) } } }, async () => ({ runs: runs().runs() }));
    app.get(
      '/v1/batch/runs/:id',
      { schema: { summary: 'A batch run: state, progress, snapshot, error', params: Id, response: { 200: BatchRunBody, '4xx': ErrorBody } } },
      async (request) => {
        const { id } = request.params as { id: string };
        const run = runs().getRun(id);
        if (!run) throw new BraidError('not_found', `no batch run "${id}"; GET /v1/batch/runs lists recent runs`);
        return run;
      },
    );
  };
}

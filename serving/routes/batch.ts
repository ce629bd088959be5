import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BraidError } from '../../shared/errors.js';
import { apiKeyGuard } from '../auth.js';

/** The part of the batch runner the API drives. */
export interface BatchRuns {
  start(trigger: 'schedule' | 'api' | 'cli'): { id: string };
  getRun(id: string): object | undefined;
  runs(): readonly object[];
}

export interface BatchRoutesOptions {
  readonly runner: BatchRuns;
  readonly apiKeys: readonly string[];
}

export const batchRoutes: FastifyPluginAsync<BatchRoutesOptions> = async (app, { runner, apiKeys }) => {
  const guard = apiKeyGuard(apiKeys);
  app.post(
    '/v1/batch/runs',
    {
      ...(guard ? { onRequest: guard } : {}),
      schema: {
        summary: 'Start a batch run',
        description: 'Recomputes every view from the archive up to a new snapshot. 202 with the run; 409 while another run is going (runs never overlap).',
        querystring: Type.Object({ trigger: Type.Optional(Type.Union([Type.Literal('api'), Type.Literal('cli')])) }),
        ...(guard ? { security: [{ apiKey: [] }, { bearer: [] }] } : {}),
      },
    },
    async (request: FastifyRequest, reply) => {
      const trigger = (request.query as { trigger?: 'api' | 'cli' }).trigger ?? 'api';
      const run = runner.start(trigger);
      return reply.status(202).header('location', `/v1/batch/runs/${run.id}`).send(runner.getRun(run.id));
    },
  );

  app.get('/v1/batch/runs', { schema: { summary: 'Recent batch runs, newest first' } }, async () => ({ runs: runner.runs() }));

  app.get(
    '/v1/batch/runs/:id',
    { schema: { summary: 'A batch run: state, progress, snapshot, error', params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } },
    async (request) => {
      const { id } = request.params as { id: string };
      const run = runner.getRun(id);
      if (!run) throw new BraidError('not_found', `no batch run "${id}"; GET /v1/batch/runs lists recent runs`);
      return run;
    },
  );
};

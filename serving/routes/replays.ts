import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/types.js';
import { apiKeyGuard } from '../auth.js';
import type { BraidNode } from '../node.js';

export interface ReplayRoutesOptions {
  readonly node: BraidNode;
  readonly apiKeys: readonly string[];
}

/** Kappa replays and Lambda-vs-Kappa verification (design section 7). */
export const replayRoutes: FastifyPluginAsync<ReplayRoutesOptions> = async (app, { node, apiKeys }) => {
  const guard = apiKeyGuard(apiKeys);
  const writes = guard ? { onRequest: guard } : {};
  const security = guard ? { security: [{ apiKey: [] as string[] }, { bearer: [] as string[] }] as Array<Record<string, string[]>> } : {};
  const replayer = () => {
    if (!node.replayer) throw new BraidError('not_ready', 'replays start once the log is open; retry shortly');
    return node.replayer;
  };
  const verifier = () => {
    if (!node.verifier) {
      throw new BraidError('not_ready', node.mode === 'kappa' ? 'mode kappa has no Lambda side to verify' : 'verification needs the speed role and starts once the log is open; retry shortly');
    }
    return node.verifier;
  };

  app.post(
    '/v1/replays',
    {
      ...writes,
      schema: {
        summary: 'Start a Kappa replay',
        description: 'Reads the log from its beginning to `until` (a position; default the log end now) through the speed layer\'s fold into a separate store. 202 with its progress.',
        body: Type.Optional(Type.Object({ until: Type.Optional(Type.Record(Type.String({ pattern: '^\\d+$' }), Type.Integer({ minimum: 0 }))) }, { additionalProperties: false })),
        ...security,
      },
    },
    async (request, reply) => {
      const until = (request.body as { until?: Record<string, number> } | undefined)?.until;
      const info = await replayer().start(until as Position | undefined);
      return reply.status(202).header('location', `/v1/replays/${info.id}`).send(info);
    },
  );
  app.get('/v1/replays', { schema: { summary: 'Recent replays, newest first' } }, async () => ({ replays: replayer().replays() }));
  app.get(
    '/v1/replays/:id',
    { schema: { summary: 'A replay: state, progress (records, rate, ETA), position', params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } },
    async (request) => {
      const { id } = request.params as { id: string };
      const info = replayer().getReplay(id);
      if (!info) throw new BraidError('not_found', `no replay "${id}"; GET /v1/replays lists recent ones`);
      return info;
    },
  );

  app.get('/v1/verification', { schema: { summary: 'The last Lambda-vs-Kappa comparison (or the one going on)' } }, async () => {
    const v = verifier().current();
    if (!v) throw new BraidError('not_found', 'no verification has run yet; start one with POST /v1/verification or braid verify');
    return v;
  });
  app.get('/v1/verification/history', { schema: { summary: 'Past verifications, newest first' } }, async () => ({ verifications: verifier().history() }));
  app.get(
    '/v1/verification/:id',
    { schema: { summary: 'One verification', params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } },
    async (request) => {
      const { id } = request.params as { id: string };
      const v = verifier().get(id);
      if (!v) throw new BraidError('not_found', `no verification "${id}"; GET /v1/verification/history lists them`);
      return v;
    },
  );
  app.post('/v1/verification', { ...writes, schema: { summary: 'Start a Lambda-vs-Kappa verification', ...security } }, async (request, reply) => {
    const trigger = (request.query as { trigger?: string }).trigger === 'cli' ? 'cli' : 'api';
    const { id } = verifier().start(trigger);
    return reply.status(202).header('location', `/v1/verification/${id}`).send(verifier().get(id));
  });
};

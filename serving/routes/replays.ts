import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { BraidError } from '../../shared/errors.js';
import type { Position } from '../../shared/log/position.js';
import { ErrorBody, ReplayBody, ReplayRequest } from '../schemas.js';

/** The part of the replayer the API drives. */
export interface Replays {
  start(until?: Position): Promise<{ id: string }>;
  getReplay(id: string): object | undefined;
  replays(): readonly object[];
}

/** POST /v1/replays: a write route. */
export function replayWriteRoutes(replays: () => Replays): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/v1/replays',
      {
        schema: {
          summary: 'Start a Kappa replay',
          description: 'Reads the log from its beginning to `until` (a position; default the log end now) through the speed layer\'s fold into a separate store. 202 with its progress.',
          body: ReplayRequest,
          response: { 202: ReplayBody, '4xx': ErrorBody, '5xx': ErrorBody },
        },
        // The body is optional (fastify would hold an absent one against the schema): checked here.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        if (request.body !== undefined && !Value.Check(ReplayRequest, request.body)) {
          const [first] = Value.Errors(ReplayRequest, request.body);
          throw new BraidError('invalid_parameter', `body${first?.path.replace(/\//g, '.') ?? ''}: ${first?.message ?? 'not a replay request'}; send {} or {"until": {"0": 1200}}`);
        }
        const until = (request.body as ReplayRequest | undefined)?.until;
        const info = await replays().start(until as Position | undefined);
        return reply.status(202).header('location', `/v1/replays/${info.id}`).send(info);
      },
    );
  };
}

/** GET /v1/replays and /v1/replays/:id. */
export function replayReadRoutes(replays: () => Replays): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/replays', { schema: { summary: 'Recent replays, newest first', response: { 200: Type.Object({ replays: Type.Array(ReplayBody) }) } } }, async () => ({ replays: replays().replays() }));
    app.get(
      '/v1/replays/:id',
      { schema: { summary: 'A replay: state, progress (records, rate, ETA), position', params: Type.Object({ id: Type.String({ maxLength: 64 }) }), response: { 200: ReplayBody, '4xx': ErrorBody } } },
      async (request) => {
        const { id } = request.params as { id: string };
        const info = replays().getReplay(id);
        if (!info) throw new BraidError('not_found', `no replay "${id}"; GET /v1/replays lists recent ones`);
        return info;
      },
    );
  };
}

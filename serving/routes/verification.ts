import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BraidError } from '../../shared/errors.js';
import { ErrorBody, VerificationBody } from '../schemas.js';

/** The part of the verifier the API drives. */
export interface Verifications {
  start(trigger: 'api' | 'cli'): { id: string };
  get(id: string): object | undefined;
  current(): object | undefined;
  history(): readonly object[];
}

/** POST /v1/verification: a write route. */
export function verificationWriteRoutes(verifier: () => Verifications): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/v1/verification',
      { schema: { summary: 'Start a Lambda-vs-Kappa verification', response: { 202: VerificationBody, '4xx': ErrorBody, '5xx': ErrorBody } } },
      async (request, reply) => {
        const trigger = (request.query as { trigger?: string }).trigger === 'cli' ? 'cli' : 'api';
        const v = verifier();
        const { id } = v.start(trigger);
        return reply.status(202).header('location', `/v1/verification/${id}`).send(v.get(id));
      },
    );
  };
}

/** GET /v1/verification, its history and one by id (contract §7). */
export function verificationReadRoutes(verifier: () => Verifications): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/verification', { schema: { summary: 'The last Lambda-vs-Kappa comparison (or the one going on)', response: { 200: VerificationBody, '4xx': ErrorBody } } }, async () => {
      const v = verifier().current();
      if (!v) throw new BraidError('not_found', 'no verification has run yet; start one with POST /v1/verification or braid verify');
      return v;
    });
    app.get('/v1/verification/history', { schema: { summary: 'Past verifications, newest first', response: { 200: Type.Object({ verifications: Type.Array(VerificationBody) }) } } }, async () => ({
      verifications: verifier().history(),
    }));
    app.get(
      '/v1/verification/:id',
      { schema: { summary: 'One verification', params: Type.Object({ id: Type.String({ maxLength: 64 }) }), response: { 200: VerificationBody, '4xx': ErrorBody } } },
      async (request) => {
        const { id } = request.params as { id: string };
        const v = verifier().get(id);
        if (!v) throw new BraidError('not_found', `no verification "${id}"; GET /v1/verification/history lists them`);
        return v;
      },
    );
  };
}

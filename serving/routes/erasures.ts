import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BraidError } from '../../shared/errors.js';
import { ErasureStates, ErasureSteps, type ErasureInfo } from '../../lambda/erasure.js';
import { ErrorBody } from '../schemas.js';

/** The part of the erasures the API drives (lambda/erasure.ts). */
export interface ErasureJobs {
  request(subject: string): Promise<{ job: ErasureInfo; created: boolean }>;
  get(id: string): ErasureInfo | undefined;
  list(): ErasureInfo[];
}

const Position = Type.Record(Type.String({ pattern: '^[0-9]+$' }), Type.Integer({ minimum: 0 }));
const Step = Type.Object({
  state: Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('done')]),
  records: Type.Optional(Type.Integer()),
  files: Type.Optional(Type.Integer()),
  version: Type.Optional(Type.Integer()),
  run: Type.Optional(Type.String()),
  replay: Type.Optional(Type.String()),
});
export const ErasureBody = Type.Object({
  id: Type.String(),
  kind: Type.Literal('erasure'),
  state: Type.Union(ErasureStates.map((s) => Type.Literal(s))),
  subject: Type.Union([Type.String(), Type.Null()], { description: "the subject's keyed pseudonym (as in the audit), null with the audit off" }),
  requestedAt: Type.String(),
  startedAt: Type.Optional(Type.String()),
  finishedAt: Type.Optional(Type.String()),
  until: Type.Optional(Position),
  partition: Type.Integer(),
  progress: Type.Object({
    stepsDone: Type.Integer(),
    stepsTotal: Type.Integer(),
    stores: Type.Object(Object.fromEntries(ErasureSteps.map((s) => [s, Step]))),
  }),
  error: Type.Optional(Type.String()),
  errorCode: Type.Optional(Type.String()),
});

const Subject = Type.Object({ subject: Type.String({ minLength: 1, maxLength: 1_024 }) });

/** DELETE /v1/subjects/{subject}, GET /v1/erasures and /v1/erasures/{id}: admin routes. */
export function erasureRoutes(erasures: () => ErasureJobs, pseudonym: (subject: string) => string | null): FastifyPluginAsync {
  return async (app) => {
    app.delete(
      '/v1/subjects/:subject',
      {
        schema: {
          summary: "Erase a subject: every stored event of it (an event's key, or its id without one), from every store",
          description:
            'Starts an erasure job (202, Location: /v1/erasures/{id}) that erases the records of the subject below the log end now from the archive, the log, the batch versions, the speed layer and the replays; when it is `completed` every answer equals the answer without those events. Events sent for the subject later are new data. A request for a subject whose job has not completed returns that job.',
          params: Subject,
          response: { 202: ErasureBody, '4xx': ErrorBody, '5xx': ErrorBody },
        },
      },
      async (request, reply) => {
        const { subject } = request.params as Static<typeof Subject>;
        const { job, created } = await erasures().request(subject);
        // The audit names the subject only by its pseudonym.
        request.auditDetails = { subject: pseudonym(subject), erasure: job.id, created };
        return reply.status(202).header('location', `/v1/erasures/${job.id}`).send(job);
      },
    );
    app.get('/v1/erasures', { schema: { summary: 'Erasure jobs, newest first', response: { 200: Type.Object({ erasures: Type.Array(ErasureBody) }) } } }, async () => ({ erasures: erasures().list() }));
    app.get(
      '/v1/erasures/:id',
      { schema: { summary: "An erasure job: its state and each store's progress", params: Type.Object({ id: Type.String({ maxLength: 64 }) }), response: { 200: ErasureBody, '4xx': ErrorBody } } },
      async (request) => {
        const { id } = request.params as { id: string };
        const job = erasures().get(id);
        if (!job) throw new BraidError('not_found', `no erasure "${id}"; GET /v1/erasures lists them`);
        return job;
      },
    );
  };
}

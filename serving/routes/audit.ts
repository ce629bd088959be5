import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AuditActions } from '../../shared/audit/audit-log.js';
import { BraidError } from '../../shared/errors.js';
import { ErrorBody } from '../schemas.js';
import type { AuditQuery } from '../../lambda/audit-trail.js';
import type { SubjectEvent } from '../../lambda/subjects.js';

/** What the routes need of the audit trail and of the subjects' data. */
export interface AuditReads {
  query(q: AuditQuery): Promise<{ entries: object[]; total: number }>;
  verify(): Promise<object>;
  head(): { seq: number; hash: string };
  pseudonym(subject: string): string;
  readonly anomalies: { active(): object[] };
}

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Integer({ minimum: 0 })], { description: 'ISO 8601 or epoch ms' });
const AuditQueryString = Type.Object(
  {
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    action: Type.Optional(Type.Union(AuditActions.map((a) => Type.Literal(a)))),
    actor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);
type AuditQueryString = Static<typeof AuditQueryString>;

const Subject = Type.Object({ subject: Type.String({ minLength: 1, maxLength: 1_024 }) });

const toMs = (t: string | number | undefined, name: string): number | undefined => {
  if (t === undefined) return undefined;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) throw new BraidError('invalid_parameter', `${name}: "${t}" is not a time; use ISO 8601 (2026-12-02T10:00:00Z) or epoch ms`);
  return ms;
};

/** GET /v1/audit, GET /v1/audit/verify, GET /v1/subjects/{subject}/events: admin routes. */
export function auditRoutes(audit: () => AuditReads, subjects: (subject: string) => Promise<SubjectEvent[]>): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/v1/audit',
      {
        schema: {
          summary: 'The audit trail: every write and admin action, oldest first, filtered and paged',
          querystring: AuditQueryString,
          response: { '4xx': ErrorBody },
        },
      },
      async (request) => {
        const q = request.query as AuditQueryString;
        const from = toMs(q.from, 'from');
        const to = toMs(q.to, 'to');
        const { entries, total } = await audit().query({
          ...(from === undefined ? {} : { from }),
          ...(to === undefined ? {} : { to }),
          ...(q.action ? { action: q.action } : {}),
          ...(q.actor ? { actor: q.actor } : {}),
          limit: q.limit ?? 100,
          offset: q.offset ?? 0,
        });
        return { entries, total, head: audit().head() };
      },
    );
    app.get(
      '/v1/audit/anomalies',
      {
        schema: {
          summary: 'Suspicious activity in the audit stream now: keys used from many addresses, failed authentications, export and erasure rates above audit.anomalies',
          response: { '4xx': ErrorBody },
        },
      },
      async () => ({ active: audit().anomalies.active() }),
    );
    app.get(
      '/v1/audit/verify',
      { schema: { summary: 'Walks the audit chain and reports the first broken link', response: { '4xx': ErrorBody } } },
      async () => audit().verify(),
    );
    app.get(
      '/v1/subjects/:subject/events',
      {
        schema: {
          summary: "Every stored event of a subject (an event's key, or its id without one), in log order, as NDJSON",
          description: 'From the archive and the log after it; each line adds partition, offset, appendTime and whether it counted (false: a duplicate by the dedupe rule).',
          params: Subject,
          response: { '4xx': ErrorBody },
        },
      },
      async (request, reply) => {
        const { subject } = request.params as Static<typeof Subject>;
        const events = await subjects(subject);
        // The audit names the subject only by its pseudonym.
        request.auditDetails = { subject: audit().pseudonym(subject), events: events.length };
        return reply.type('application/x-ndjson; charset=utf-8').send(Readable.from(events.map((e) => `${JSON.stringify(e)}\n`)));
      },
    );
  };
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditAction, AuditInput } from '../shared/audit/audit-log.js';
import { BraidError } from '../shared/errors.js';

/** What the app needs of the audit trail (lambda/audit-trail.ts). */
export interface AuditSink {
  record(input: AuditInput): Promise<void>;
  pseudonym(subject: string): string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** details a route adds to its audit entry (e.g. a subject's pseudonym, the events exported) */
    auditDetails?: Record<string, string | number | boolean | null>;
    /** its audit entry is written (or being written) */
    audited?: boolean;
  }
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Admin reads that are audited too: the trail itself and a subject's data. */
const auditedRead = (url: string) => url.startsWith('/v1/audit') || url.startsWith('/v1/subjects/');

/**
 * Every write, every admin read of personal data or of the trail, and every rejected
 * authentication is an entry of the audit trail, written before the response is sent (so
 * an acknowledged request is in the trail): actor (the key's name), client address, user
 * agent, request id, route, status and what the route adds. While the trail is not open a
 * write is refused (503) rather than left out of it. A failure to write the entry fails the
 * request (503): the events of an ingest request are in the log by then, and its retry is
 * deduplicated.
 */
export function registerAuditHooks(app: FastifyInstance, trail: () => AuditSink | undefined): void {
  app.addHook('onRequest', async (request) => {
    if (WRITES.has(request.method) && !trail()) throw new BraidError('not_ready', 'the audit trail is opening; retry shortly');
  });
  registerAuditEntries(app, trail);
}

/** The entries alone, without refusing writes while the trail opens (an app whose node runs no audit). */
function registerAuditEntries(app: FastifyInstance, trail: () => AuditSink | undefined): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const sink = trail();
    const status = reply.statusCode;
    const rejectedAuth = status === 401 || status === 403;
    if (!sink || !(WRITES.has(request.method) || rejectedAuth || auditedRead(request.url))) return payload;
    // Once per request: when writing the entry fails, fastify sends the 503 through onSend again.
    if (request.audited) return payload;
    request.audited = true;
    try {
      await sink.record(entryOf(request, reply, payload, rejectedAuth));
    } catch (err) {
      request.log.error({ err }, 'audit: could not append the entry of a request');
      throw new BraidError('log_unavailable', 'the audit trail could not be written, so the request is not acknowledged; retry (ingest is deduplicated by id)');
    }
    return payload;
  });
}

function entryOf(request: FastifyRequest, reply: FastifyReply, payload: unknown, rejectedAuth: boolean): AuditInput {
  const status = reply.statusCode;
  // The route's pattern, never the path: a path can name a subject, and the trail must not.
  // An unmatched path is named by its first two segments only.
  const route = request.routeOptions.url ?? `${request.url.split('?')[0]!.split('/').slice(0, 3).join('/')}/… (no such route)`;
  const action: AuditAction = rejectedAuth ? 'auth_rejected' : route === '/v1/events' ? 'ingest' : route.startsWith('/v1/subjects/:') ? (request.method === 'DELETE' ? 'erasure' : 'export') : 'admin';
  const answer = typeof payload === 'string' && payload.startsWith('{') && payload.length < 100_000 ? safeJson(payload) : undefined;
  const ua = request.headers['user-agent'];
  return {
    action,
    actor: request.apiKeyName ?? 'anonymous',
    outcome: status < 400 ? 'ok' : status < 500 ? 'rejected' : 'failed',
    details: {
      method: request.method,
      route,
      status,
      requestId: request.id,
      client: request.ip,
      userAgent: typeof ua === 'string' ? ua.slice(0, 200) : null,
      ...(typeof answer?.accepted === 'number' ? { events: answer.accepted } : {}),
      ...(typeof answer?.id === 'string' ? { job: answer.id } : {}),
      ...(typeof answer?.error === 'string' ? { error: answer.error } : {}),
      ...request.auditDetails,
    },
  };
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

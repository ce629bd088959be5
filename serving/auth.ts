import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ApiKey, Scope } from '../shared/config/index.js';
import { BraidError } from '../shared/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** the name of the API key the request presented, once checked (never the key) */
    apiKeyName?: string;
  }
}

/**
 * API keys with scopes (contract §8): `ingest` for POST /v1/events; `admin` for batch runs,
 * replays and verifications; `read` for queries, job and status reads when `auth.reads` is
 * `key`. Keys are compared as SHA-256 digests in constant time, so neither a key's length nor
 * its prefix leaks through timing; a request names its key only by the key's name.
 */
export function apiKeyGuard(keys: readonly ApiKey[], scope: Scope): ((request: FastifyRequest) => Promise<void>) | undefined {
  if (keys.length === 0) return undefined;
  const digests = keys.map((k) => ({ name: k.name, scopes: k.scopes, digest: digest(k.key) }));
  const what = scope === 'read' ? 'this read' : 'this write';
  return async (request) => {
    const presented = presentedKey(request);
    if (presented === undefined) {
      throw new BraidError('unauthorized', `${what} needs an API key with the ${scope} scope: send "Authorization: Bearer <key>" or "X-API-Key: <key>"`);
    }
    const d = digest(presented);
    // Every digest is compared, so the time does not tell which one matched.
    let found: (typeof digests)[number] | undefined;
    for (const k of digests) if (timingSafeEqual(k.digest, d)) found = k;
    if (!found) throw new BraidError('forbidden', 'the API key is not valid for this server; check auth.apiKeys');
    // Named even when refused for its scope: the audit says which key tried.
    request.apiKeyName = found.name;
    if (!found.scopes.includes(scope)) {
      throw new BraidError('forbidden', `the API key "${found.name}" has the scopes ${found.scopes.join(', ')}, not ${scope}, which ${what} needs; use a key with the ${scope} scope`);
    }
  };
}

/**
 * Registers `routes` in one encapsulated scope whose `onRequest` hook checks the API key
 * for `scope` before the body is read (fastify's encapsulation: a plugin's hooks apply to its
 * routes alone), and marks each of them as secured in the OpenAPI document. Every guarded
 * route is registered through here; there is no per-route check to forget. With no keys
 * configured (or `scope` undefined: open reads) the routes are open.
 */
export async function registerScoped(app: FastifyInstance, keys: readonly ApiKey[], scope: Scope | undefined, routes: readonly FastifyPluginAsync[]): Promise<void> {
  await app.register(async (child) => {
    const guard = scope ? apiKeyGuard(keys, scope) : undefined;
    if (guard) {
      child.addHook('onRequest', guard);
      child.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, security: [{ apiKey: [] }, { bearer: [] }] };
      });
    }
    for (const plugin of routes) await child.register(plugin);
  });
}

function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header;
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  return undefined;
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

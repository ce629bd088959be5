import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { BraidError } from '../shared/errors.js';

/**
 * API keys on writes (contract §8). Keys are compared as SHA-256 digests in constant
 * time, so neither the key's length nor its prefix leaks through timing.
 */
export function apiKeyGuard(apiKeys: readonly string[]): ((request: FastifyRequest) => Promise<void>) | undefined {
  if (apiKeys.length === 0) return undefined;
  const digests = apiKeys.map(digest);
  return async (request) => {
    const presented = presentedKey(request);
    if (presented === undefined) {
      throw new BraidError('unauthorized', 'this write needs an API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    }
    const d = digest(presented);
    if (!digests.some((k) => timingSafeEqual(k, d))) {
      throw new BraidError('forbidden', 'the API key is not valid for this server; check auth.apiKeys');
    }
  };
}

/**
 * Registers `routes` in one encapsulated scope whose `onRequest` hook checks the API key
 * before the body is read (fastify's encapsulation: a plugin's hooks apply to its routes
 * alone), and marks each of them as secured in the OpenAPI document. Every write route is
 * registered through here; there is no per-route check to forget.
 */
export async function registerWrites(app: FastifyInstance, apiKeys: readonly string[], routes: readonly FastifyPluginAsync[]): Promise<void> {
  await app.register(async (scope) => {
    const guard = apiKeyGuard(apiKeys);
    if (guard) {
      scope.addHook('onRequest', guard);
      scope.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, security: [{ apiKey: [] }, { bearer: [] }] };
      });
    }
    for (const plugin of routes) await scope.register(plugin);
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

import { request } from 'undici';
import type { RawEvent } from '../shared/demo/generator.js';

export interface PostOptions {
  readonly url: string;
  readonly apiKey?: string;
  /** attempts for retryable answers (429, 503, connection errors) */
  readonly attempts?: number;
}

export class PostError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`braid answered ${status}: ${typeof body === 'object' && body && 'message' in body ? String((body as { message: unknown }).message) : JSON.stringify(body)}`);
  }
}

/**
 * Posts one batch as NDJSON. Retries 429/503 and connection failures with backoff:
 * resending the same events is safe because braid deduplicates by id.
 */
export async function postEvents(events: readonly RawEvent[], options: PostOptions): Promise<number> {
  const body = events.map((e) => JSON.stringify(e)).join('\n');
  const attempts = options.attempts ?? 8;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await request(new URL('/v1/events', options.url), {
        method: 'POST',
        headers: {
          'content-type': 'application/x-ndjson',
          ...(options.apiKey ? { 'x-api-key': options.apiKey } : {}),
        },
        body,
      });
      const answer = (await res.body.json().catch(() => undefined)) as { accepted?: number } | undefined;
      if (res.statusCode === 202) return answer?.accepted ?? events.length;
      if ((res.statusCode !== 429 && res.statusCode !== 503) || attempt >= attempts) throw new PostError(res.statusCode, answer);
    } catch (err) {
      if (err instanceof PostError || attempt >= attempts) throw err;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5_000);
  }
}

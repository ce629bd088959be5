import type { ErasureInfo } from '../lambda/erasure.js';
import { request } from 'undici';
import { sleep } from '../shared/async.js';
import type { RawEvent } from '../shared/demo/generator.js';
import type { Accepted, BatchRunBody, BatchRunRequest, ErrorBody, ReplayBody, ReplayRequest, VerificationBody } from '../serving/schemas.js';

export interface ClientOptions {
  /** the braid server, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly apiKey?: string;
  /** attempts for retryable answers (429, 503, connection errors) of a write */
  readonly attempts?: number;
  /** how often a job is polled while followed, ms */
  readonly pollMs?: number;
}

/** An answer other than the one asked for, with braid's `{ error, message }` when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`braid answered ${status}: ${typeof body === 'object' && body && 'message' in body ? String((body as ErrorBody).message) : JSON.stringify(body)}`);
  }
}

/**
 * The one client of braid's HTTP API that the CLI uses, typed from the same schemas the
 * routes declare (serving/schemas.ts).
 */
export class BraidClient {
  readonly #options: ClientOptions;

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  /**
   * Posts one batch as NDJSON; resolves with the events accepted. Retries 429/503 and
   * connection failures with backoff: resending the same events is safe because braid
   * deduplicates by id.
   */
  async postEvents(events: readonly RawEvent[]): Promise<number> {
    const body = events.map((e) => JSON.stringify(e)).join('\n');
    const attempts = this.#options.attempts ?? 8;
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.#call<Accepted>('POST', '/v1/events', 202, { type: 'application/x-ndjson', text: body });
        return answer.accepted;
      } catch (err) {
        const retryable = !(err instanceof ApiError) || err.status === 429 || err.status === 503;
        if (!retryable || attempt >= attempts) throw err;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }

  startBatchRun(request: BatchRunRequest = {}): Promise<BatchRunBody> {
    return this.#call('POST', '/v1/batch/runs?trigger=cli', 202, { type: 'application/json', text: JSON.stringify(request) });
  }

  batchRun(id: string): Promise<BatchRunBody> {
    return this.#call('GET', `/v1/batch/runs/${encodeURIComponent(id)}`, 200);
  }

  startReplay(request: ReplayRequest = {}): Promise<ReplayBody> {
    return this.#call('POST', '/v1/replays', 202, { type: 'application/json', text: JSON.stringify(request) });
  }

  replay(id: string): Promise<ReplayBody> {
    return this.#call('GET', `/v1/replays/${encodeURIComponent(id)}`, 200);
  }

  startVerification(): Promise<VerificationBody> {
    return this.#call('POST', '/v1/verification?trigger=cli', 202);
  }

  verification(id: string): Promise<VerificationBody> {
    return this.#call('GET', `/v1/verification/${encodeURIComponent(id)}`, 200);
  }

  auditVerification(): Promise<{ ok: boolean; entries: number; head: string; broken?: { offset: number; seq?: number; problem: string } }> {
    return this.#call('GET', '/v1/audit/verify', 200);
  }

  /** A subject's events as the server streams them (NDJSON), written to `out` as they come. */
  async subjectEvents(subject: string, out: NodeJS.WritableStream): Promise<number> {
    const { apiKey } = this.#options;
    const res = await request(new URL(`/v1/subjects/${encodeURIComponent(subject)}/events`, this.#options.url), { headers: apiKey ? { 'x-api-key': apiKey } : {} });
    if (res.statusCode !== 200) throw new ApiError(res.statusCode, await res.body.json().catch(() => undefined));
    let lines = 0;
    for await (const chunk of res.body) {
      const text = Buffer.from(chunk as Uint8Array).toString('utf8');
      for (const c of text) if (c === '\n') lines++;
      out.write(text);
    }
    return lines;
  }

  /** `DELETE /v1/subjects/{subject}`: the erasure job (a new one, or the one not completed yet). */
  eraseSubject(subject: string): Promise<ErasureInfo> {
    return this.#call('DELETE', `/v1/subjects/${encodeURIComponent(subject)}`, 202);
  }

  erasure(id: string): Promise<ErasureInfo> {
    return this.#call('GET', `/v1/erasures/${encodeURIComponent(id)}`, 200);
  }

  /** Polls a job until it has finished, telling `onUpdate` each state seen; resolves with the last. */
  async follow<J extends { id: string; finishedAt?: string }>(first: J, get: (id: string) => Promise<J>, onUpdate?: (job: J) => void): Promise<J> {
    let job = first;
    while (job.finishedAt === undefined) {
      await sleep(this.#options.pollMs ?? 250);
      job = await get(job.id);
      onUpdate?.(job);
    }
    return job;
  }

  async #call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, expect: number, body?: { type: string; text: string }): Promise<T> {
    const { apiKey } = this.#options;
    const res = await request(new URL(path, this.#options.url), {
      method,
      headers: { ...(apiKey ? { 'x-api-key': apiKey } : {}), ...(body ? { 'content-type': body.type } : {}) },
      ...(body ? { body: body.text } : {}),
    });
    const answer = (await res.body.json().catch(() => undefined)) as unknown;
    if (res.statusCode !== expect) throw new ApiError(res.statusCode, answer);
    return answer as T;
  }
}

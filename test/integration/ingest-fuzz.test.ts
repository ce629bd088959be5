import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { makeTestApp, type TestApp } from '../support/app.js';

/**
 * The ingest parser and validator under arbitrary input (fast-check): arbitrary bytes, and
 * arbitrary JSON in and around the shape of events. Never a 500 and never a hang; every
 * refusal names its code and a reason (every problem of an invalid event its path and
 * reason); and every event acknowledged with 202 reads back from the log byte for byte as
 * the canonical form of what was sent: `{"id","type","time" as epoch ms,"key"?,"data"?}`.
 */
describe('ingest under arbitrary input', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ ingest: { maxEventBytes: 4_096, maxBodyBytes: 65_536, maxBatchEvents: 50, maxDepth: 8 } });
    await t.handle.ready;
  });
  afterAll(() => t.close());

  const accepted: string[] = [];

  async function post(body: Buffer | string, contentType: string) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': contentType }, payload: body });
    expect(res.statusCode, res.body).not.toBeGreaterThanOrEqual(500);
    const answer = res.json() as { error?: string; message?: string; accepted?: number; problems?: Array<{ index: number; path: string; reason: string }> };
    if (res.statusCode === 202) return answer;
    expect([400, 413, 415]).toContain(res.statusCode);
    expect(answer.error, res.body).toMatch(/^[a-z_]+$/);
    expect(answer.message!.length, res.body).toBeGreaterThan(20);
    for (const p of answer.problems ?? []) {
      expect(p.index, res.body).toBeGreaterThanOrEqual(0);
      expect(p.path, res.body).toMatch(/^\$/);
      expect(p.reason.length, res.body).toBeGreaterThan(5);
    }
    return answer;
  }

  it('answers arbitrary bytes with a 4xx that names what is wrong', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('application/json', 'application/x-ndjson'), async (bytes, type) => {
        await post(Buffer.from(bytes), type);
      }),
      { numRuns: 300 },
    );
  });

  // Strings with every kind of code point, numbers of every size, values in and out of the event's shape.
  const text = fc.string({ unit: 'binary', maxLength: 12 });
  const scalar = fc.oneof(text, fc.double(), fc.integer(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => ({ big: n })), fc.boolean(), fc.constant(null));
  const data = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(text, tie('value'), { maxKeys: 3 })),
  })).value;
  const time = fc.oneof(
    fc.integer({ min: -1, max: Date.now() + 7_200_000 }),
    fc.date({ min: new Date(-1), max: new Date(Date.now() + 7_200_000), noInvalidDate: true }).map((d) => d.toISOString()),
    text,
  );
  const event = fc.record(
    {
      id: fc.oneof(text, fc.integer()),
      type: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/), text),
      time,
      key: fc.oneof(text, fc.constant(undefined)),
      data: fc.oneof(fc.dictionary(text, data, { maxKeys: 5 }), data),
      extra: data,
    },
    { requiredKeys: ['id', 'type', 'time'] },
  );

  // Events that are mostly valid (a full Unicode id and key, data of any JSON), so that the
  // property also sees many acknowledged: what they become in the log is the point.
  const wellFormed = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
  const validish = fc.record(
    {
      id: wellFormed,
      type: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
      time: fc.oneof(fc.integer({ min: 0, max: Date.now() }), fc.date({ min: new Date(0), max: new Date(), noInvalidDate: true }).map((d) => d.toISOString())),
      key: wellFormed,
      data: fc.dictionary(wellFormed, data, { maxKeys: 5 }),
    },
    { requiredKeys: ['id', 'type', 'time'] },
  );

  /** JSON text with bigints written as the integer literals they are (JSON.stringify cannot). */
  const toJson = (value: unknown): string =>
    JSON.stringify(value, (_k, v) => (v && typeof v === 'object' && 'big' in v && typeof (v as { big: unknown }).big === 'bigint' ? `BIG${(v as { big: bigint }).big}BIG` : v)).replace(/"BIG(-?\d+)BIG"/g, '$1');

  it('refuses or stores arbitrary events; what it stores is the canonical form of what was sent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ arbitrary: validish, weight: 4 }, { arbitrary: event, weight: 1 }), { minLength: 1, maxLength: 4 }), fc.boolean(), async (events, ndjson) => {
        const body = ndjson ? events.map(toJson).join('\n') : toJson(events);
        const answer = await post(body, ndjson ? 'application/x-ndjson' : 'application/json');
        if (answer.accepted === undefined) return;
        expect(answer.accepted).toBe(events.length);
        // The canonical form of each, from the text sent: parsed, time as epoch ms, fields in order.
        for (const sent of JSON.parse(`[${ndjson ? body.split('\n').join(',') : body.slice(1, -1)}]`) as Array<Record<string, unknown>>) {
          const ms = typeof sent.time === 'number' ? sent.time : Date.parse(sent.time as string);
          accepted.push(JSON.stringify({ id: sent.id, type: sent.type, time: ms, ...(sent.key !== undefined ? { key: sent.key } : {}), ...(sent.data !== undefined ? { data: sent.data } : {}) }));
        }
      }),
      { numRuns: 600 },
    );
    const stored: string[] = [];
    for await (const batch of t.log().read({ until: await t.log().endPosition() })) for (const r of batch) stored.push(r.value.toString('utf8'));
    expect(stored).toEqual(accepted);
    expect(accepted.length, 'the generator makes some valid events too').toBeGreaterThan(20);
  });
});

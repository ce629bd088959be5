import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from 'node:net';
import { decodeEvent } from '../../shared/events/index.js';
import { makeTestApp, total, type TestApp } from '../support/app.js';
import { topicsPerFile } from '../support/archive-fixtures.js';

const brokers = inject('kafkaBrokers').split(',');
const newTopic = topicsPerFile(brokers);
const now = () => new Date().toISOString();
const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

/**
 * Input that a parser would silently change (issue: nothing silently changed): bytes that are
 * not UTF-8, numbers a double cannot keep, nesting deeper than the limit. Each is refused
 * with its status, code and what is wrong — and nothing of the request reaches the log.
 */
describe.each(['embedded', 'kafka'] as const)('hostile input on the %s log', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({
      ingest: { maxDepth: 64 },
      server: { bodyTimeoutMs: 400 },
      ...(kind === 'kafka' ? { log: { partitions: 2, kafka: { brokers, topic: newTopic('braid-hostile'), clientId: 'braid-hostile' } } } : {}),
    });
    await t.handle.ready;
    await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  /** POSTs raw bytes; the answer and how many records the log gained. */
  async function post(body: Buffer, contentType = 'application/json') {
    const before = total(await t.log().endPosition());
    const res = await t.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': contentType }, payload: body });
    return { status: res.statusCode, body: res.json() as Record<string, unknown>, appended: total(await t.log().endPosition()) - before };
  }

  describe('a body that is not well-formed UTF-8', () => {
    const id = (bytes: number[]) => Buffer.concat([Buffer.from('[{"id":"inv'), Buffer.from(bytes), Buffer.from(`","type":"t","time":"${now()}"}]`)]);
    it.each([
      ['a lone 0xff', [0xff]],
      ['a lone 0xfe', [0xfe]],
      ['an overlong "/" (C0 AF)', [0xc0, 0xaf]],
      ['an overlong three-byte form (E0 80 AF)', [0xe0, 0x80, 0xaf]],
      ['an encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
      ['a code point past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
      ['a sequence cut short (E2 82)', [0xe2, 0x82]],
      ['a continuation byte alone (80)', [0x80]],
    ])('is refused, with the byte offset: %s', async (_what, bytes) => {
      const res = await post(id(bytes));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_body');
      expect(res.body.message).toMatch(new RegExp(`not well-formed UTF-8: the byte at offset 11 \\(0x${bytes[0]!.toString(16).padStart(2, '0')}\\)`));
      expect(res.appended).toBe(0);
    });

    it('is refused at the offset of a sequence cut short at the very end', async () => {
      const body = Buffer.concat([Buffer.from(`[{"id":"x","type":"t","time":"${now()}"}]`), Buffer.from([0xf0, 0x9f, 0x98])]);
      const res = await post(body);
      expect(res.body.message).toMatch(new RegExp(`offset ${body.length - 3} `));
      expect(res.appended).toBe(0);
    });

    it('keeps two ids that differ only in their last character apart, as sent', async () => {
      // What a decoder that replaces bad bytes turned into one id (and one event dropped as a retry).
      const res = await post(json([
        { id: 'inv\u00ff', type: 't', time: now() },
        { id: 'inv\u00fe', type: 't', time: now() },
      ]));
      expect(res.status).toBe(202);
      expect(res.appended).toBe(2);
    });

    it('in NDJSON is refused the same way', async () => {
      const res = await post(Buffer.concat([Buffer.from(`{"id":"n1","type":"t","time":"${now()}"}\n{"id":"n`), Buffer.from([0xff]), Buffer.from(`","type":"t","time":"${now()}"}\n`)]), 'application/x-ndjson');
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/UTF-8: the byte at offset \d+ \(0xff\)/);
      expect(res.appended).toBe(0);
    });
  });

  describe('numbers a double would change', () => {
    const event = (data: string, id = 'num') => Buffer.from(`[{"id":"ok-${id}","type":"t","time":"${now()}","data":{"fine":1}},{"id":"${id}","type":"t","time":"${now()}","data":${data}}]`);
    it.each([
      ['1e309, beyond a double', '{"x":1e309}', '$.data.x', /beyond the range of a double/],
      ['-1e400', '{"a":{"b":-1e400}}', '$.data.a.b', /beyond the range of a double/],
      ['9007199254740993, beyond 2^53', '{"n":9007199254740993}', '$.data.n', /integer 9007199254740993 is beyond 2\^53 and would be stored as 9007199254740992/],
      ['-9007199254740995 in a list', '{"list":[1,-9007199254740995]}', '$.data.list[1]', /beyond 2\^53/],
      ['1e-400, which underflows to 0', '{"tiny":1e-400}', '$.data.tiny', /too small for a double and would be stored as 0/],
      ['a key that needs quoting', '{"a b":123456789012345678901}', '$.data["a b"]', /beyond 2\^53/],
    ])('refuses %s, naming the event and the path', async (_what, data, path, reason) => {
      const res = await post(event(data));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_events');
      expect(res.body.problems).toEqual([expect.objectContaining({ index: 1, path })]);
      expect((res.body.problems as Array<{ reason: string }>)[0]!.reason).toMatch(reason);
      expect(res.appended).toBe(0);
    });

    it('reports such a number beside the event\'s other problems, in {"events": [...]} and NDJSON too', async () => {
      const wrapped = await post(Buffer.from(`{"events":[{"id":"w","type":"bad type","time":"${now()}","data":{"n":9007199254740993}}]}`));
      expect(wrapped.status).toBe(400);
      expect((wrapped.body.problems as Array<{ path: string }>).map((p) => p.path).sort()).toEqual(['$.data.n', '$.type']);
      const ndjson = await post(Buffer.from(`{"id":"a","type":"t","time":"${now()}"}\n{"id":"b","type":"t","time":"${now()}","data":{"n":[9007199254740993]}}\n`), 'application/x-ndjson');
      expect(ndjson.body.problems).toEqual([expect.objectContaining({ index: 1, path: '$.data.n[0]' })]);
      expect(wrapped.appended + ndjson.appended).toBe(0);
    });

    it('keeps an integer beyond 2^53 that a double writes as sent, and stores the text sent', async () => {
      const res = await post(Buffer.from(`[{"id":"big-ok","type":"t","time":"${now()}","data":{"n":12345678901234567000,"m":9007199254740992,"s":"9007199254740993"}}]`));
      expect(res.status).toBe(202);
      const end = await t.log().endPosition();
      const stored: string[] = [];
      for await (const batch of t.log().read({ until: end })) for (const r of batch) if (decodeEvent(r.value).id === 'big-ok') stored.push(r.value.toString('utf8'));
      expect(stored).toHaveLength(1);
      expect(stored[0]).toContain('"data":{"n":12345678901234567000,"m":9007199254740992,"s":"9007199254740993"}');
    });
  });

  describe('data nested deeper than ingest.maxDepth', () => {
    const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}{"leaf":1}${'}'.repeat(levels - 1)}`;
    it('accepts data nested exactly to the limit', async () => {
      const res = await post(Buffer.from(`[{"id":"deep-64","type":"t","time":"${now()}","data":${nested(64)}}]`));
      expect(res.status).toBe(202);
      expect(res.appended).toBe(1);
    });

    it.each([65, 5_000, 100_000])('refuses %i levels with a 400 naming the path (not a 500)', async (levels) => {
      const res = await post(Buffer.from(`[{"id":"deep","type":"t","time":"${now()}","data":${nested(levels)}}]`));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_events');
      const [problem] = res.body.problems as Array<{ index: number; path: string; reason: string }>;
      expect(problem).toMatchObject({ index: 0, path: `$.data${'.a'.repeat(64)}` });
      expect(problem!.reason).toMatch(/deeper than 64 levels .*ingest\.maxDepth/);
      expect(res.appended).toBe(0);
    });
  });

  it('answers a stalled upload with 408 in braid\'s shape within server.bodyTimeoutMs, and appends nothing', async () => {
    const address = t.app.server.address() as { port: number };
    const before = total(await t.log().endPosition());
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(address.port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      // 30 of the 1,000 declared bytes, then nothing.
      socket.write('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"id":"stalled","type":"t",');
      setTimeout(() => reject(new Error(`no answer within 5 s: ${text}`)), 5_000).unref();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'request_timeout', message: expect.stringMatching(/server\.bodyTimeoutMs/) });
    expect(total(await t.log().endPosition())).toBe(before);
  });
});

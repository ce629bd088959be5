import { afterEach, describe, expect, it } from 'vitest';
import { isBraidError } from '../../shared/errors.js';
import { WorkerPool } from '../../shared/threads/pool.js';
import { decodeIngest, recordsOf, type Decoded, type DecodeLimits, type IngestForm } from '../../serving/ingest/decode.js';
import type { DecodeJob } from '../../serving/ingest/decode-worker.js';

const LIMITS: DecodeLimits = { maxFutureMs: 3_600_000, maxEventBytes: 200, maxDepth: 4, maxBatchEvents: 3 };
const NOW = Date.UTC(2026, 11, 2, 12);
const pools: WorkerPool<DecodeJob, Decoded>[] = [];

function pool(size: number, maxQueue: number): WorkerPool<DecodeJob, Decoded> {
  const p = new WorkerPool<DecodeJob, Decoded>({ file: new URL('../../shared/threads/bootstrap.mjs', import.meta.url), module: '../../serving/ingest/decode-worker.ts', size, maxQueue, name: 'ingest decoding' });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

/** Bodies of every outcome: accepted, each kind of 400 and the 413 of too many events. */
const BODIES: Array<[string, IngestForm, string | Buffer]> = [
  ['an array', 'json', JSON.stringify([{ id: 'a', type: 't', time: '2026-12-02T11:00:00.5Z', key: 'k', data: { x: 1, s: 'é' } }, { id: 'b', type: 't', time: 5 }])],
  ['{"events": [...]}', 'json', JSON.stringify({ events: [{ id: 'c', type: 't', time: 7 }] })],
  ['NDJSON', 'ndjson', '{"id":"d","type":"t","time":1}\n\n{"id":"e","type":"t","time":2,"data":{"n":9007199254740993}}\n'],
  ['invalid events', 'json', '[{"id":"","type":"bad type","time":"yesterday","extra":1},{"id":"ok","type":"t","time":1,"data":{"big":1e-400}}]'],
  ['not JSON', 'json', '[{"id":'],
  ['not UTF-8', 'json', Buffer.from([0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d])],
  ['empty', 'json', ' '],
  ['too many events', 'json', JSON.stringify([1, 2, 3, 4].map((i) => ({ id: `i${i}`, type: 't', time: i })))],
  ['an oversized event', 'json', JSON.stringify([{ id: 'big', type: 't', time: 1, data: { s: 'x'.repeat(300) } }])],
  ['an unknown top-level field', 'json', '{"events":[],"more":1}'],
];

describe('ingest decoding threads (ingest.decodeThreads)', () => {
  it('decode in a worker exactly as on the event loop, every outcome', async () => {
    const decoders = pool(2, 64);
    for (const [what, form, body] of BODIES) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      const here = decodeIngest(bytes, form, LIMITS, NOW);
      const there = await decoders.run({ body: bytes, form, limits: LIMITS, now: NOW });
      expect(there, what).toEqual(here);
      if (here.ok && there.ok) expect(recordsOf(there).map((r) => [r.key, r.value.toString()]), what).toEqual(recordsOf(here).map((r) => [r.key, r.value.toString()]));
    }
    // The outcomes are what the table says, not all one kind.
    const outcomes = BODIES.map(([, form, body]) => {
      const d = decodeIngest(typeof body === 'string' ? Buffer.from(body) : body, form, LIMITS, NOW);
      return d.ok ? 'ok' : d.error.code;
    });
    expect(outcomes).toEqual(['ok', 'ok', 'invalid_events', 'invalid_events', 'invalid_body', 'invalid_body', 'invalid_body', 'too_many_events', 'invalid_events', 'invalid_body']);
  });

  it('bounds its queue: one body more than decodeQueue is a 503 overloaded, and the others are decoded', async () => {
    const decoders = pool(1, 2);
    await decoders.ready();
    const body = Buffer.from(JSON.stringify([{ id: 'a', type: 't', time: 1 }]));
    const jobs = [0, 1, 2].map(() => decoders.run({ body, form: 'json', limits: LIMITS, now: NOW }).then((d) => d, (err: unknown) => err));
    const [a, b, c] = await Promise.all(jobs);
    expect((a as Decoded).ok && (b as Decoded).ok).toBe(true);
    expect(isBraidError(c, 'overloaded')).toBe(true);
    expect((c as Error).message).toMatch(/2 requests are already waiting/);
    expect(decoders.queued).toBe(0);
  });

  it('after close, a body is refused with not_ready and no thread is left', async () => {
    const decoders = pool(1, 4);
    await decoders.ready();
    await decoders.close();
    const err = await decoders.run({ body: Buffer.from('[]'), form: 'json', limits: LIMITS, now: NOW }).catch((e: unknown) => e);
    expect(isBraidError(err, 'not_ready')).toBe(true);
  });
});

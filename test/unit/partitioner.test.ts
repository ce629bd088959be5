import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { murmur2, partitionFor } from '../../shared/log/partitioner.js';

describe('partitioner', () => {
  it("matches the Java client's murmur2 test vectors", () => {
    // From Apache Kafka's UtilsTest.testMurmur2.
    const vectors: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [input, expected] of vectors) expect(murmur2(Buffer.from(input, 'utf8'))).toBe(expected);
  });

  it("places every key where kafkajs' default (Java-compatible) partitioner does", () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 64 }), (key, n) => {
        const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
        expect(partitionFor(key, n)).toBe(kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } }));
      }),
      { numRuns: 2_000 },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBraidError } from '../../shared/errors.js';
import { decodeFrame, encodeFrame, MAX_FRAME_BYTES } from '../../shared/log/embedded/framing.js';
import { defaultEmbeddedLogOptions, resolveEmbeddedLogOptions } from '../../shared/log/embedded/options.js';
import { SparseIndex } from '../../shared/log/embedded/sparse-index.js';

const record = fc.record({
  offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  appendTime: fc.integer({ min: 0, max: 2 ** 48 }),
  key: fc.string({ unit: 'grapheme', maxLength: 40 }),
  value: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});

describe('frame encoding', () => {
  it('decodes what it encodes, back to back', () => {
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 5 }), (records) => {
        const buf = Buffer.concat(records.map(encodeFrame));
        let at = 0;
        for (const r of records) {
          const decoded = decodeFrame(buf, at);
          if (decoded.status !== 'ok') throw new Error(`status ${decoded.status}`);
          expect(decoded.record).toEqual(r);
          at += decoded.bytes;
        }
        expect(at).toBe(buf.length);
      }),
    );
  });

  it('reports every proper prefix of a frame as short', () => {
    const frame = encodeFrame({ offset: 7, appendTime: 1_700_000_000_000, key: 'user-1', value: Buffer.from('{"a":1}') });
    for (let n = 0; n < frame.length; n++) expect(decodeFrame(frame.subarray(0, n), 0).status).toBe('short');
  });

  it('never decodes a frame with a flipped byte', () => {
    const frame = encodeFrame({ offset: 7, appendTime: 1_700_000_000_000, key: 'user-1', value: Buffer.from('{"a":1}') });
    for (let i = 0; i < frame.length; i++) {
      const damaged = Buffer.from(frame);
      damaged[i] = damaged[i]! ^ 0x01;
      expect(decodeFrame(damaged, 0).status, `byte ${i}`).not.toBe('ok');
    }
  });

  it('calls a bad CRC and an impossible length corrupt', () => {
    const frame = encodeFrame({ offset: 0, appendTime: 0, key: 'k', value: Buffer.from('v') });
    const badCrc = Buffer.from(frame);
    badCrc.writeUInt32BE((badCrc.readUInt32BE(4) ^ 1) >>> 0, 4);
    expect(decodeFrame(badCrc, 0)).toEqual({ status: 'corrupt', reason: 'CRC mismatch' });
    const tooLong = Buffer.from(frame);
    tooLong.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
    expect(decodeFrame(tooLong, 0).status).toBe('corrupt');
    expect(decodeFrame(Buffer.alloc(16), 0).status).toBe('corrupt');
  });
});

describe('sparse offset index', () => {
  function indexOf(frames: [offset: number, position: number][], interval: number): SparseIndex {
    const index = new SparseIndex(100, interval);
    for (const [offset, position] of frames) index.add(offset, position);
    return index;
  }

  it('keeps the first frame and then one at least every interval bytes', () => {
    const index = indexOf([[100, 0], [101, 40], [102, 80], [103, 120], [104, 160], [105, 230]], 100);
    expect(index.length).toBe(3); // 100@0, 103@120, 105@230
    expect(index.floor(102)).toEqual({ offset: 100, position: 0 });
    expect(index.floor(103)).toEqual({ offset: 103, position: 120 });
    expect(index.floor(104)).toEqual({ offset: 103, position: 120 });
    expect(index.floor(1_000)).toEqual({ offset: 105, position: 230 });
    expect(new SparseIndex(100, 100).floor(150)).toEqual({ offset: 100, position: 0 });
  });

  it('forgets entries added after a mark', () => {
    const index = indexOf([[100, 0], [101, 100]], 100);
    index.truncate(1);
    expect(index.floor(101)).toEqual({ offset: 100, position: 0 });
  });

  it('round-trips through its sidecar bytes and rejects any damaged sidecar', () => {
    const index = indexOf(Array.from({ length: 50 }, (_, i) => [100 + i, i * 30] as [number, number]), 64);
    const bytes = index.encode({ endOffset: 150, segmentBytes: 1500 });
    const decoded = SparseIndex.decode(bytes, 64)!;
    expect(decoded.endOffset).toBe(150);
    expect(decoded.segmentBytes).toBe(1500);
    for (const o of [100, 117, 149]) expect(decoded.index.floor(o)).toEqual(index.floor(o));

    expect(SparseIndex.decode(bytes.subarray(0, bytes.length - 1), 64)).toBeUndefined();
    for (let i = 0; i < bytes.length; i += 7) {
      const damaged = Buffer.from(bytes);
      damaged[i] = damaged[i]! ^ 0x10;
      expect(SparseIndex.decode(damaged, 64), `byte ${i}`).toBeUndefined();
    }
  });
});

describe('embedded log options', () => {
  it('fills in the defaults and makes the directory absolute', () => {
    const options = resolveEmbeddedLogOptions({ dir: 'data/log', partitions: 3 });
    expect(options).toMatchObject({ ...defaultEmbeddedLogOptions, partitions: 3 });
    expect(options.dir.startsWith('/')).toBe(true);
    expect(resolveEmbeddedLogOptions({ dir: 'x', partitions: undefined }).partitions).toBe(1);
  });

  it.each([
    [{ partitions: 0 }, 'partitions'],
    [{ partitions: 1.5 }, 'partitions'],
    [{ segmentBytes: 100 }, 'segmentBytes'],
    [{ maxReadBatch: 0 }, 'maxReadBatch'],
    [{ dir: '' }, 'dir'],
  ])('rejects %o with invalid_config naming %s', (bad, name) => {
    let err: unknown;
    try {
      resolveEmbeddedLogOptions({ dir: 'x', ...bad });
    } catch (e) {
      err = e;
    }
    expect(isBraidError(err, 'invalid_config')).toBe(true);
    expect((err as Error).message).toContain(name);
  });
});

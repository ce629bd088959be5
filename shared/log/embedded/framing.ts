import { crc32 } from 'node:zlib';

/**
 * One record on disk:
 *
 *   u32 bodyBytes | u32 crc32(body) | body
 *   body = u8 format | u64 offset | u64 appendTime (epoch ms) | u32 keyBytes | key (UTF-8) | value
 *
 * Big-endian. The CRC covers the whole body, so a torn or overwritten frame never decodes.
 */
export const FRAME_HEADER_BYTES = 8;
const FORMAT = 1;
const BODY_FIXED_BYTES = 1 + 8 + 8 + 4;
/** A larger declared length can only be garbage (braid's events are at most a few MiB). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024; // 256 MiB

export interface FrameRecord {
  readonly offset: number;
  readonly appendTime: number;
  readonly key: string;
  readonly value: Buffer;
}

export type Decoded =
  | { readonly status: 'ok'; readonly record: FrameRecord; readonly bytes: number }
  /** The buffer ends inside the frame: a torn write, or a read that stopped short. */
  | { readonly status: 'short' }
  | { readonly status: 'corrupt'; readonly reason: string };

export function frameBytes(keyBytes: number, valueBytes: number): number {
  return FRAME_HEADER_BYTES + BODY_FIXED_BYTES + keyBytes + valueBytes;
}

/** Writes one frame at `at` in `target` (which must have room) and returns its size. */
export function encodeFrameInto(
  target: Buffer,
  at: number,
  record: { offset: number; appendTime: number; key: Buffer; value: Uint8Array },
): number {
  const bodyBytes = BODY_FIXED_BYTES + record.key.length + record.value.length;
  const body = at + FRAME_HEADER_BYTES;
  target.writeUInt32BE(bodyBytes, at);
  target.writeUInt8(FORMAT, body);
  writeUint64(target, record.offset, body + 1);
  writeUint64(target, record.appendTime, body + 9);
  target.writeUInt32BE(record.key.length, body + 17);
  record.key.copy(target, body + BODY_FIXED_BYTES);
  target.set(record.value, body + BODY_FIXED_BYTES + record.key.length);
  target.writeUInt32BE(crc32(target.subarray(body, body + bodyBytes)), at + 4);
  return FRAME_HEADER_BYTES + bodyBytes;
}

export function encodeFrame(record: { offset: number; appendTime: number; key: string; value: Uint8Array }): Buffer {
  const key = Buffer.from(record.key, 'utf8');
  const frame = Buffer.allocUnsafe(frameBytes(key.length, record.value.length));
  encodeFrameInto(frame, 0, { ...record, key });
  return frame;
}

/** Decodes the frame starting at `at`. The returned value shares memory with `buf`. */
export function decodeFrame(buf: Buffer, at: number): Decoded {
  if (buf.length - at < FRAME_HEADER_BYTES) return { status: 'short' };
  const bodyBytes = buf.readUInt32BE(at);
  if (bodyBytes < BODY_FIXED_BYTES || bodyBytes > MAX_FRAME_BYTES) {
    return { status: 'corrupt', reason: `impossible frame length ${bodyBytes}` };
  }
  const body = at + FRAME_HEADER_BYTES;
  if (buf.length - body < bodyBytes) return { status: 'short' };
  const end = body + bodyBytes;
  if (crc32(buf.subarray(body, end)) !== buf.readUInt32BE(at + 4)) return { status: 'corrupt', reason: 'CRC mismatch' };
  const format = buf.readUInt8(body);
  if (format !== FORMAT) return { status: 'corrupt', reason: `unknown frame format ${format}` };
  const keyBytes = buf.readUInt32BE(body + 17);
  const keyStart = body + BODY_FIXED_BYTES;
  if (keyBytes > end - keyStart) return { status: 'corrupt', reason: `key length ${keyBytes} exceeds the frame` };
  return {
    status: 'ok',
    bytes: FRAME_HEADER_BYTES + bodyBytes,
    record: {
      offset: readUint64(buf, body + 1),
      appendTime: readUint64(buf, body + 9),
      key: buf.toString('utf8', keyStart, keyStart + keyBytes),
      value: buf.subarray(keyStart + keyBytes, end),
    },
  };
}

// Offsets and epoch milliseconds stay below 2^53, so two u32 halves avoid BigInt per record.
function writeUint64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), at);
  buf.writeUInt32BE(value >>> 0, at + 4);
}

function readUint64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}

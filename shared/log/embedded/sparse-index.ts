import { crc32 } from 'node:zlib';

/**
 * A segment's sparse offset index: an entry (offset, file position of its frame) for the
 * segment's first frame and then for the first frame at least `intervalBytes` past the
 * previous entry. A read from offset o starts at the entry at or before o and decodes
 * forward at most about `intervalBytes`.
 *
 * The active segment's index lives in memory and grows with each append. When a segment is
 * sealed its index is also written beside it (`<base>.idx`, the sidecar below), so that
 * opening the log loads sealed segments from their small index files instead of decoding
 * every record. A sidecar is trusted only if its CRC holds and it describes the segment's
 * current size and end offset; otherwise the segment is scanned and the sidecar rewritten.
 * Sealed records are still CRC-checked whenever they are read.
 */
export class SparseIndex {
  private readonly offsets: number[] = [];
  private readonly positions: number[] = [];

  constructor(
    readonly baseOffset: number,
    private readonly intervalBytes: number,
  ) {}

  get length(): number {
    return this.offsets.length;
  }

  /** Offers the frame of `offset` at `position`; frames must come in order. */
  add(offset: number, position: number): void {
    const last = this.positions.length - 1;
    if (last < 0 || position - this.positions[last]! >= this.intervalBytes) {
      this.offsets.push(offset);
      this.positions.push(position);
    }
  }

  /** Drops the entries added since `length` was `mark` (an append that was undone). */
  truncate(mark: number): void {
    this.offsets.length = mark;
    this.positions.length = mark;
  }

  /** Where to start decoding to find `offset`: the last entry at or before it. */
  floor(offset: number): { offset: number; position: number } {
    let lo = 0;
    let hi = this.offsets.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid]! <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0
      ? { offset: this.baseOffset, position: 0 }
      : { offset: this.offsets[found]!, position: this.positions[found]! };
  }

  /**
   * The sidecar file: magic "BRIX", u32 version, f64 base offset, f64 end offset,
   * f64 segment bytes, u32 entry count, entries as (f64 offset, f64 position), u32 CRC32 of
   * everything before it. Big-endian.
   */
  encode(sealed: { endOffset: number; segmentBytes: number }): Buffer {
    const n = this.offsets.length;
    const buf = Buffer.allocUnsafe(HEADER_BYTES + n * 16 + 4);
    buf.write(MAGIC, 0, 'latin1');
    buf.writeUInt32BE(VERSION, 4);
    buf.writeDoubleBE(this.baseOffset, 8);
    buf.writeDoubleBE(sealed.endOffset, 16);
    buf.writeDoubleBE(sealed.segmentBytes, 24);
    buf.writeUInt32BE(n, 32);
    for (let i = 0; i < n; i++) {
      buf.writeDoubleBE(this.offsets[i]!, HEADER_BYTES + i * 16);
      buf.writeDoubleBE(this.positions[i]!, HEADER_BYTES + i * 16 + 8);
    }
    buf.writeUInt32BE(crc32(buf.subarray(0, buf.length - 4)), buf.length - 4);
    return buf;
  }

  /** The index in a sidecar file, or undefined when the bytes are not a whole, valid sidecar. */
  static decode(
    buf: Buffer,
    intervalBytes: number,
  ): { index: SparseIndex; endOffset: number; segmentBytes: number } | undefined {
    if (buf.length < HEADER_BYTES + 4 || buf.toString('latin1', 0, 4) !== MAGIC) return undefined;
    if (buf.readUInt32BE(4) !== VERSION) return undefined;
    const n = buf.readUInt32BE(32);
    if (buf.length !== HEADER_BYTES + n * 16 + 4) return undefined;
    if (crc32(buf.subarray(0, buf.length - 4)) !== buf.readUInt32BE(buf.length - 4)) return undefined;
    const index = new SparseIndex(buf.readDoubleBE(8), intervalBytes);
    for (let i = 0; i < n; i++) {
      index.offsets.push(buf.readDoubleBE(HEADER_BYTES + i * 16));
      index.positions.push(buf.readDoubleBE(HEADER_BYTES + i * 16 + 8));
    }
    return { index, endOffset: buf.readDoubleBE(16), segmentBytes: buf.readDoubleBE(24) };
  }
}

const MAGIC = 'BRIX';
const VERSION = 1;
const HEADER_BYTES = 36;

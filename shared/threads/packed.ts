/**
 * Byte strings laid end to end in one buffer of its own, with their lengths: how a batch of
 * values crosses a thread boundary by transfer instead of by copy (ingest decoding hands its
 * stored events to the event loop, the archiver hands a flush to its writing thread).
 */
export interface PackedBytes {
  readonly lengths: Uint32Array;
  readonly bytes: Uint8Array;
}

export function packBytes(values: readonly Uint8Array[]): PackedBytes {
  const lengths = new Uint32Array(values.length);
  let total = 0;
  for (let i = 0; i < values.length; i++) total += lengths[i] = values[i]!.length;
  // Not from Buffer's pool: the whole buffer may be handed to another thread.
  const bytes = new Uint8Array(new ArrayBuffer(total));
  let at = 0;
  for (const v of values) {
    bytes.set(v, at);
    at += v.length;
  }
  return { lengths, bytes };
}

/** The values again, each a view of the one buffer (no copy). */
export function unpackBytes({ lengths, bytes }: PackedBytes): Buffer[] {
  const out = new Array<Buffer>(lengths.length);
  let at = bytes.byteOffset;
  for (let i = 0; i < out.length; i++) {
    out[i] = Buffer.from(bytes.buffer, at, lengths[i]!);
    at += lengths[i]!;
  }
  return out;
}

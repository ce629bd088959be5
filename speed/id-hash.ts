/**
 * MurmurHash3 x86_128 of a string's UTF-16LE bytes, straight from its code units (no
 * encoding, no allocation): the dedupe state keeps these 128 bits instead of the id.
 *
 * Why 128 bits: two different ids collide with probability 2^-128 per pair, so among the
 * n ids of a dedupe window the chance of any collision is about n² / 2^129 — below 1e-24
 * for a billion ids, far below the chance of a hardware fault. A collision would make a new
 * event look like a retry, so it has to be that unlikely; 64 bits (1e-6 at 10 M) is not.
 */

/** The last hash, as four 32-bit words; read it before hashing the next id. */
export const ID_HASH = new Int32Array(4);

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Hashes `s` into ID_HASH (seed 0). Two code units make one little-endian 32-bit word. */
export function hashId(s: string): void {
  const n = s.length;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  let i = 0;
  for (const end = n - (n % 8); i < end; i += 8) {
    let k1 = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    let k2 = s.charCodeAt(i + 2) | (s.charCodeAt(i + 3) << 16);
    let k3 = s.charCodeAt(i + 4) | (s.charCodeAt(i + 5) << 16);
    let k4 = s.charCodeAt(i + 6) | (s.charCodeAt(i + 7) << 16);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul((rotl(h1, 19) + h2) | 0, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul((rotl(h2, 17) + h3) | 0, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul((rotl(h3, 15) + h4) | 0, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul((rotl(h4, 13) + h1) | 0, 5) + 0x32ac3b17) | 0;
  }
  // The tail: 0–7 code units, i.e. an even number of bytes, so words fill in pairs.
  const u = n - i;
  if (u >= 7) h4 ^= Math.imul(rotl(Math.imul(s.charCodeAt(i + 6), C4), 18), C1);
  if (u >= 5) h3 ^= Math.imul(rotl(Math.imul(s.charCodeAt(i + 4) | (u >= 6 ? s.charCodeAt(i + 5) << 16 : 0), C3), 17), C4);
  if (u >= 3) h2 ^= Math.imul(rotl(Math.imul(s.charCodeAt(i + 2) | (u >= 4 ? s.charCodeAt(i + 3) << 16 : 0), C2), 16), C3);
  if (u >= 1) h1 ^= Math.imul(rotl(Math.imul(s.charCodeAt(i) | (u >= 2 ? s.charCodeAt(i + 1) << 16 : 0), C1), 15), C2);

  const bytes = n * 2;
  h1 ^= bytes;
  h2 ^= bytes;
  h3 ^= bytes;
  h4 ^= bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  ID_HASH[0] = h1;
  ID_HASH[1] = h2;
  ID_HASH[2] = h3;
  ID_HASH[3] = h4;
}

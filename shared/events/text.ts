import { isUtf8 } from 'node:buffer';

/**
 * What a request's bytes must be before they are parsed, so that nothing the client sent is
 * silently changed on the way in: well-formed UTF-8 (a decoder would replace a bad byte by
 * U+FFFD, and two events whose ids differ only there would become one), and number literals
 * that a double keeps as written.
 */

/** The offset of the first byte that is not part of well-formed UTF-8, or -1 when all of it is. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // The length of the sequence, and the range its second byte must fall in: this is how
    // overlong forms (C0, C1, E0 80–9F, F0 80–8F), encoded surrogates (ED A0–BF) and code
    // points past U+10FFFF (F4 90–, F5–FF) are refused.
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k < n; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i; // truncated at the end
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += n;
  }
  return -1;
}

/** A JSON path as braid's messages write it: `$`, `$.data.amount`, `$.data["a b"]`, `$.data.list[3]`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return `${parent}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`;
}

export interface LiteralProblem {
  /** from the document's root: keys and array indexes */
  readonly path: readonly (string | number)[];
  readonly reason: string;
}

const TWO_53 = 2n ** 53n;
// Only a document with a long run of digits or a three-digit exponent can hold such a literal.
// An exponent follows a digit in JSON's grammar, so text such as an id "page-123" is not suspect.
const SUSPECT = /\d{16}|\d[eE][+-]?\d{3}/;

/**
 * Number literals of a JSON document (already known to parse) that the parser would change:
 * an integer beyond ±2^53 whose double is written differently (9007199254740993 would be
 * stored as 9007199254740992), and a non-zero literal that underflows to 0 (1e-400).
 * Literals that overflow (1e309) parse to Infinity and are refused with the value's path by
 * the validator. Most documents are ruled out by one regular expression.
 */
export function changedNumberLiterals(text: string): LiteralProblem[] {
  if (!SUSPECT.test(text)) return [];
  const problems: LiteralProblem[] = [];
  const NUMBER = /-?(\d+)(\.\d+)?([eE][+-]?\d+)?/y;
  // The path to the value being read: object keys, and array indexes that `,` advances.
  const path: (string | number)[] = [];
  const frames: Array<'object' | 'array'> = [];
  let i = 0;
  const readString = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '{') {
      frames.push('object');
      path.push('');
      i++;
    } else if (c === '[') {
      frames.push('array');
      path.push(0);
      i++;
    } else if (c === '}' || c === ']') {
      frames.pop();
      path.pop();
      i++;
    } else if (c === ',') {
      if (frames.at(-1) === 'array') path[path.length - 1] = (path.at(-1) as number) + 1;
      i++;
    } else if (c === '"') {
      const s = readString();
      // A string in an object followed by ':' is a key.
      let j = i;
      while (text[j] === ' ' || text[j] === '\t' || text[j] === '\n' || text[j] === '\r') j++;
      if (frames.at(-1) === 'object' && text[j] === ':') path[path.length - 1] = s;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text)!;
      const literal = m[0];
      i += literal.length;
      const value = Number(literal);
      // (An integer of more than 309 digits overflows to Infinity: the validator refuses it.)
      if (m[2] === undefined && m[3] === undefined && Number.isFinite(value)) {
        const big = BigInt(literal);
        if ((big > TWO_53 || big < -TWO_53) && String(value) !== literal) {
          problems.push({ path: [...path], reason: `the integer ${clip(literal)} is beyond 2^53 and would be stored as ${value}; send it as a string to keep every digit` });
        }
      } else if (value === 0 && /[1-9]/.test(`${m[1]}${m[2] ?? ''}`)) {
        problems.push({ path: [...path], reason: `${clip(literal)} is too small for a double and would be stored as 0; send it as a string, or as 0` });
      }
    } else i++;
  }
  return problems;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

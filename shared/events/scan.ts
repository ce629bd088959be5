import { decodeEvent, type StoredEvent } from './event.js';

/**
 * The fold's decoder (issue 13): a stored event's bytes read for only the fields the views
 * and the dedupe rule need, instead of `JSON.parse` of the whole event and every string of its
 * `data` (a fifth of the fold's time, and most of its garbage).
 *
 * `scan` returns a `StoredEvent` that every compiled reader of those paths reads exactly as
 * it reads `decodeEvent`'s: `id`, `type`, `time` and `key` always, and of `data` only the
 * subtrees the paths lead to. The bytes become one string (one call, as the full parse makes
 * too), scanned by character; strings without escapes are sliced from it, integers of up to 15
 * digits are summed digit by digit (exact), and strings with escapes, other numbers and whole
 * objects at a path go through `JSON.parse` / `Number`, so every value is the one the full
 * parse would give. Bytes that are not the
 * JSON braid writes (a scan that finds anything unexpected) fall back to `decodeEvent`.
 *
 * A key `__proto__` is an own key of the objects the scan builds, as `JSON.parse` makes it.
 */
export class EventScanner {
  readonly #data: PathNode | undefined;
  readonly #scan = new Scan();

  /** `paths` as views write them (contract §4): `id`, `type`, `key`, `data.a.b`. */
  constructor(paths: Iterable<string>) {
    let data: PathNode | undefined;
    for (const path of paths) {
      if (path === 'data') throw new RangeError('a path into data names a field: data.<field>');
      if (!path.startsWith('data.')) continue; // id, type and key are always read
      data ??= new PathNode();
      let node = data;
      for (const part of path.split('.').slice(1)) node = node.child(part);
      node.whole = true;
    }
    this.#data = data;
  }

  scan(bytes: Buffer): StoredEvent {
    try {
      const out = this.#scan.event(bytes.toString('utf8'), this.#data);
      if (out !== undefined) return out;
    } catch {
      // any surprise: the full parse below decides (and throws what it throws)
    }
    return decodeEvent(bytes);
  }
}

/** One key of a path: read whole (a path ends here), or only its children's keys. */
class PathNode {
  whole = false;
  readonly names: string[] = [];
  readonly nodes: PathNode[] = [];

  child(name: string): PathNode {
    const i = this.names.indexOf(name);
    if (i >= 0) return this.nodes[i]!;
    const node = new PathNode();
    this.names.push(name);
    this.nodes.push(node);
    return node;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** The result of a failed step: the whole scan gives up and the full parse decides. */
const UNEXPECTED = new Error('not the JSON braid stores');

/** One pass over one event's text. */
class Scan {
  t = '';
  i = 0;
  /** the last string's bounds (inside the quotes) and whether it holds an escape */
  s = 0;
  e = 0;
  escaped = false;

  event(text: string, data: PathNode | undefined): StoredEvent | undefined {
    this.t = text;
    this.i = 0;
    let id: unknown;
    let type: unknown;
    let time: unknown;
    let key: unknown;
    let dataValue: unknown;
    const t = this.t;
    this.expect(OPEN);
    if (this.peek() === CLOSE) return undefined;
    for (;;) {
      this.ws();
      this.string();
      if (this.escaped) return undefined; // an escaped top-level key: leave it to the full parse
      const k = this.topKey();
      this.expect(COLON);
      this.ws();
      if (k === 1) id = this.value();
      else if (k === 2) type = this.value();
      else if (k === 3) time = this.value();
      else if (k === 4) key = this.value();
      else if (k === 5) dataValue = data === undefined ? (this.skip(), EMPTY) : this.object(data);
      else this.skip();
      this.ws();
      const c = t.charCodeAt(this.i++);
      if (c === CLOSE) break;
      if (c !== COMMA) throw UNEXPECTED;
    }
    this.ws();
    if (this.i !== t.length) throw UNEXPECTED;
    // The shapes braid stores (validate.ts); anything else is left to the full parse.
    if (typeof id !== 'string' || typeof type !== 'string' || typeof time !== 'number') return undefined;
    if (key !== undefined && typeof key !== 'string') return undefined;
    const out: { id: string; type: string; time: number; key?: string; data?: Record<string, unknown> } = { id, type, time };
    if (key !== undefined) out.key = key;
    if (dataValue !== undefined) out.data = dataValue as Record<string, unknown>;
    return out;
  }

  /** The top-level key just read: 1 id, 2 type, 3 time, 4 key, 5 data, 0 any other. */
  topKey(): number {
    const { t, s } = this;
    const n = this.e - s;
    if (n === 2) return t.startsWith('id', s) ? 1 : 0;
    if (n === 3) return t.startsWith('key', s) ? 4 : 0;
    if (n !== 4) return 0;
    if (t.startsWith('type', s)) return 2;
    if (t.startsWith('time', s)) return 3;
    if (t.startsWith('data', s)) return 5;
    return 0;
  }

  /** An object value read for `node`'s children only; any other value is not an object to read into. */
  object(node: PathNode): Record<string, unknown> {
    const t = this.t;
    if (t.charCodeAt(this.i) !== OPEN) {
      // not an object: a path through it reads nothing, as a reader of the parsed value would
      this.skip();
      return EMPTY;
    }
    const out: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (t.charCodeAt(this.i) === CLOSE) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      this.string();
      const at = this.childIndex(node);
      this.expect(COLON);
      this.ws();
      if (at < 0) this.skip();
      else {
        const child = node.nodes[at]!;
        const name = node.names[at]!;
        if (child.whole) set(out, name, this.value());
        else if (t.charCodeAt(this.i) === OPEN) set(out, name, this.object(child));
        else {
          this.skip();
          delete out[name]; // a later duplicate key replaces an earlier one, as JSON.parse does
        }
      }
      this.ws();
      const c = t.charCodeAt(this.i++);
      if (c === CLOSE) return out;
      if (c !== COMMA) throw UNEXPECTED;
    }
  }

  /** Which of `node`'s children the key just read names, or -1. */
  childIndex(node: PathNode): number {
    const { t, s, e } = this;
    if (this.escaped) return node.names.indexOf(JSON.parse(t.slice(s - 1, e + 1)) as string);
    const n = e - s;
    const names = node.names;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      if (name.length === n && t.startsWith(name, s)) return k;
    }
    return -1;
  }

  /** Any value, decoded as JSON.parse decodes it. */
  value(): unknown {
    const t = this.t;
    const c = t.charCodeAt(this.i);
    if (c === QUOTE) {
      this.string();
      return this.escaped ? JSON.parse(t.slice(this.s - 1, this.e + 1)) : t.slice(this.s, this.e);
    }
    if ((c >= ZERO && c <= NINE) || c === MINUS) return this.number();
    const start = this.i;
    this.skip();
    if (c === OPEN || c === OPEN_ARRAY) return JSON.parse(t.slice(start, this.i));
    if (c === 0x74) return true;
    if (c === 0x66) return false;
    if (c === 0x6e) return null;
    throw UNEXPECTED;
  }

  /**
   * A number: an integer of up to 15 digits summed digit by digit (below 2^53, so exact);
   * any other by the same string-to-double rule as JSON.parse.
   */
  number(): number {
    const t = this.t;
    const start = this.i;
    let j = start;
    const negative = t.charCodeAt(j) === MINUS;
    if (negative) j++;
    let v = 0;
    const digits = j;
    for (;;) {
      const c = t.charCodeAt(j);
      if (c >= ZERO && c <= NINE) {
        v = v * 10 + (c - ZERO);
        j++;
      } else break;
    }
    const c = t.charCodeAt(j);
    if (j > digits && j - digits <= 15 && c !== 0x2e && c !== 0x65 && c !== 0x45) {
      this.i = j;
      return negative ? -v : v;
    }
    this.skip();
    return Number(t.slice(start, this.i));
  }

  /** Reads the string at `i`: its bounds go to s/e. */
  string(): void {
    const t = this.t;
    if (t.charCodeAt(this.i) !== QUOTE) throw UNEXPECTED;
    const s = this.i + 1;
    let j = s;
    let escaped = false;
    for (;;) {
      const c = t.charCodeAt(j);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        j += 2;
      } else if (Number.isNaN(c)) throw UNEXPECTED;
      else j++;
    }
    this.s = s;
    this.e = j;
    this.escaped = escaped;
    this.i = j + 1;
  }

  /** Passes over one value (braid checked the JSON when it was sent: only its extent matters). */
  skip(): void {
    const t = this.t;
    const c = t.charCodeAt(this.i);
    if (c === QUOTE) return this.string();
    if (c === OPEN || c === OPEN_ARRAY) {
      let depth = 0;
      for (;;) {
        const d = t.charCodeAt(this.i);
        if (Number.isNaN(d)) throw UNEXPECTED;
        if (d === QUOTE) {
          this.string();
          continue;
        }
        this.i++;
        if (d === OPEN || d === OPEN_ARRAY) depth++;
        else if (d === CLOSE || d === CLOSE_ARRAY) {
          if (--depth === 0) return;
        }
      }
    }
    // a number or a literal: up to the next delimiter
    const start = this.i;
    for (;;) {
      const d = t.charCodeAt(this.i);
      if (Number.isNaN(d) || d === COMMA || d === CLOSE || d === CLOSE_ARRAY || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
      this.i++;
    }
    if (this.i === start) throw UNEXPECTED;
  }

  expect(c: number): void {
    this.ws();
    if (this.t.charCodeAt(this.i) !== c) throw UNEXPECTED;
    this.i++;
  }

  peek(): number {
    this.ws();
    return this.t.charCodeAt(this.i);
  }

  ws(): void {
    const t = this.t;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else return;
    }
  }
}

/** `out[name] = value` as JSON.parse sets it: `__proto__` too is an own key, not the prototype. */
function set(out: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

/** `data` with nothing of it read (no view's path leads into it, or it is not an object). */
const EMPTY: Record<string, unknown> = Object.freeze({});

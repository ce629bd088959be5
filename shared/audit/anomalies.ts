import type { AuditEntry } from './audit-log.js';

/**
 * Detectors over the audit stream (the seed design's "suspicious activity"), each a count
 * over a sliding window against a threshold from the config:
 *   - key_addresses: one API key used from more than N client addresses within an hour;
 *   - failed_auth: more than N rejected authentications from one address within a minute;
 *   - exports / erasures: more than N subject exports (erasures) within an hour, all keys.
 * Memory is bounded: each window keeps only the entries it still counts, and at most
 * `maxTracked` keys or addresses (the least recently seen go first).
 */
export interface AnomalyThresholds {
  readonly keyAddressesPerHour: number;
  readonly failedAuthPerMinute: number;
  readonly exportsPerHour: number;
  readonly erasuresPerHour: number;
}

export const AnomalyKinds = ['key_addresses', 'failed_auth', 'exports', 'erasures'] as const;
export type AnomalyKind = (typeof AnomalyKinds)[number];

export interface Anomaly {
  readonly kind: AnomalyKind;
  /** the key's name, the client address, or `all` */
  readonly about: string;
  readonly count: number;
  readonly threshold: number;
  readonly windowSeconds: number;
  /** when the count first passed the threshold in this stretch, ISO 8601 */
  readonly since: string;
  /** the last entry that counted */
  readonly last: string;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Timestamps in a window, per subject of a detector; distinct values when `distinct`. */
class Window {
  readonly #ms: number;
  readonly #by = new Map<string, Array<{ t: number; v: string }>>();
  readonly #max: number;

  constructor(ms: number, max: number) {
    this.#ms = ms;
    this.#max = max;
  }

  /** Adds one observation and answers how many (distinct `v`s when asked) are in the window ending at `t`. */
  add(about: string, t: number, v: string, distinct: boolean): number {
    let list = this.#by.get(about);
    if (list) this.#by.delete(about); // re-inserted: the Map's order is the least recently seen first
    else list = [];
    list.push({ t, v });
    while (list.length > 0 && list[0]!.t <= t - this.#ms) list.shift();
    this.#by.set(about, list);
    while (this.#by.size > this.#max) this.#by.delete(this.#by.keys().next().value!);
    return distinct ? new Set(list.map((e) => e.v)).size : list.length;
  }

  /** The count of `about` at `now` (the window's entries after now − window). */
  count(about: string, now: number, distinct: boolean): number {
    const list = (this.#by.get(about) ?? []).filter((e) => e.t > now - this.#ms);
    return distinct ? new Set(list.map((e) => e.v)).size : list.length;
  }

  abouts(): string[] {
    return [...this.#by.keys()];
  }
}

export class AnomalyDetector {
  readonly #thresholds: AnomalyThresholds;
  readonly #windows: Record<AnomalyKind, Window>;
  /** anomalies whose count passed the threshold, by kind and subject: their stretch's start and last entry */
  readonly #open = new Map<string, { kind: AnomalyKind; about: string; since: number; last: number }>();
  readonly #now: () => number;

  constructor(thresholds: AnomalyThresholds, options: { maxTracked?: number; now?: () => number } = {}) {
    this.#thresholds = thresholds;
    const max = options.maxTracked ?? 10_000;
    this.#windows = { key_addresses: new Window(HOUR, max), failed_auth: new Window(MINUTE, max), exports: new Window(HOUR, 1), erasures: new Window(HOUR, 1) };
    this.#now = options.now ?? Date.now;
  }

  observe(entry: Pick<AuditEntry, 'at' | 'action' | 'actor' | 'details'>): void {
    const t = Date.parse(entry.at);
    const client = typeof entry.details.client === 'string' ? entry.details.client : 'unknown';
    if (entry.action === 'auth_rejected') this.#count('failed_auth', client, t, '', false);
    else if (entry.actor !== 'anonymous' && entry.actor !== 'system' && typeof entry.details.client === 'string') this.#count('key_addresses', entry.actor, t, client, true);
    if (entry.action === 'export') this.#count('exports', 'all', t, '', false);
    // Requests, not the jobs' own entries when they end (actor `system`).
    if (entry.action === 'erasure' && entry.actor !== 'system') this.#count('erasures', 'all', t, '', false);
  }

  #count(kind: AnomalyKind, about: string, t: number, v: string, distinct: boolean): void {
    const n = this.#windows[kind].add(about, t, v, distinct);
    if (n <= this.#threshold(kind)) return;
    const key = `${kind}\u0000${about}`;
    const open = this.#open.get(key);
    if (open) open.last = t;
    else this.#open.set(key, { kind, about, since: t, last: t });
  }

  #threshold(kind: AnomalyKind): number {
    const t = this.#thresholds;
    return kind === 'key_addresses' ? t.keyAddressesPerHour : kind === 'failed_auth' ? t.failedAuthPerMinute : kind === 'exports' ? t.exportsPerHour : t.erasuresPerHour;
  }

  /** The anomalies whose count is above its threshold now. */
  active(): Anomaly[] {
    const now = this.#now();
    const out: Anomaly[] = [];
    for (const [key, a] of this.#open) {
      const count = this.#windows[a.kind].count(a.about, now, a.kind === 'key_addresses');
      const threshold = this.#threshold(a.kind);
      if (count <= threshold) {
        this.#open.delete(key); // the stretch is over
        continue;
      }
      out.push({ kind: a.kind, about: a.about, count, threshold, windowSeconds: a.kind === 'failed_auth' ? 60 : 3_600, since: new Date(a.since).toISOString(), last: new Date(a.last).toISOString() });
    }
    return out;
  }
}

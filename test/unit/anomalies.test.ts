import { describe, expect, it } from 'vitest';
import { AnomalyDetector } from '../../shared/audit/anomalies.js';

const T0 = Date.UTC(2026, 11, 2, 10, 0);
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('audit anomaly detectors', () => {
  const thresholds = { keyAddressesPerHour: 3, failedAuthPerMinute: 5, exportsPerHour: 2, erasuresPerHour: 2 };

  it('flag a key used from more client addresses within an hour than allowed, and stop once the hour has passed', () => {
    let now = T0;
    const d = new AnomalyDetector(thresholds, { now: () => now });
    for (let i = 0; i < 3; i++) d.observe({ at: at(i * 1_000), action: 'ingest', actor: 'shop', details: { client: `10.0.0.${i}` } });
    // The same addresses again do not count twice.
    for (let i = 0; i < 3; i++) d.observe({ at: at(5_000 + i), action: 'ingest', actor: 'shop', details: { client: `10.0.0.${i}` } });
    now = T0 + 10_000;
    expect(d.active()).toEqual([]);
    d.observe({ at: at(10_000), action: 'ingest', actor: 'shop', details: { client: '10.0.0.9' } });
    d.observe({ at: at(10_000), action: 'ingest', actor: 'other', details: { client: '10.0.0.9' } });
    expect(d.active()).toEqual([{ kind: 'key_addresses', about: 'shop', count: 4, threshold: 3, windowSeconds: 3_600, since: at(10_000), last: at(10_000) }]);
    now = T0 + 3_600_000 + 6_000;
    expect(d.active()).toEqual([]);
  });

  it('flag an address with too many rejected authentications in a minute, not one spread over longer', () => {
    let now = T0;
    const d = new AnomalyDetector(thresholds, { now: () => now });
    for (let i = 0; i < 6; i++) d.observe({ at: at(i * 20_000), action: 'auth_rejected', actor: 'anonymous', details: { client: 'slow' } });
    for (let i = 0; i < 6; i++) d.observe({ at: at(i * 1_000), action: 'auth_rejected', actor: 'anonymous', details: { client: 'fast' } });
    now = T0 + 6_000;
    expect(d.active().map((a) => [a.kind, a.about, a.count])).toEqual([['failed_auth', 'fast', 6]]);
  });

  it('flag exports and erasures above their rate across all keys', () => {
    const d = new AnomalyDetector(thresholds, { now: () => T0 + 5_000 });
    for (let i = 0; i < 3; i++) d.observe({ at: at(i), action: 'export', actor: `k${i}`, details: {} });
    for (let i = 0; i < 2; i++) d.observe({ at: at(i), action: 'erasure', actor: 'k', details: {} });
    expect(d.active().map((a) => [a.kind, a.about, a.count])).toEqual([['exports', 'all', 3]]);
  });

  it('keep at most maxTracked keys, the least recently seen dropped first', () => {
    const d = new AnomalyDetector({ ...thresholds, keyAddressesPerHour: 1 }, { maxTracked: 2, now: () => T0 + 1_000 });
    d.observe({ at: at(0), action: 'ingest', actor: 'a', details: { client: '1' } });
    d.observe({ at: at(1), action: 'ingest', actor: 'b', details: { client: '1' } });
    d.observe({ at: at(2), action: 'ingest', actor: 'c', details: { client: '1' } });
    // 'a' was dropped: its second address starts a fresh count of one.
    d.observe({ at: at(3), action: 'ingest', actor: 'a', details: { client: '2' } });
    expect(d.active()).toEqual([]);
    d.observe({ at: at(4), action: 'ingest', actor: 'c', details: { client: '2' } });
    expect(d.active().map((a) => a.about)).toEqual(['c']);
  });
});

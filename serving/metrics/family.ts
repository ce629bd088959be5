import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * The two shapes of metric read at scrape time from a component's own state, so that no
 * component carries metric objects. Naming: `_total` counters, `_seconds` durations and
 * ages, `_bytes` sizes, `_timestamp_seconds` epoch times (0 = never).
 */

/**
 * A counter that follows a cumulative count a component keeps itself (read at scrape
 * time). If the count goes down, the component was replaced and counts from zero again.
 */
export function followingCounter(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      if (value === undefined) return;
      const delta = value >= last ? value - last : value;
      if (delta > 0) this.inc(delta);
      last = value;
    },
  });
}

/** A gauge set from the component's state at each scrape; absent while `read` gives undefined. */
export function stateGauge(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      if (value !== undefined) this.set(value);
    },
  });
}

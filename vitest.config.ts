import { defineConfig } from 'vitest/config';

// Tiers by folder: unit (pure logic, no I/O), integration (real embedded log on disk,
// real Kafka broker, real DuckDB), e2e (the braid process over HTTP). The Kafka broker is
// started once for the integration and e2e tiers by test/support/kafka-global-setup.ts.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Property walks of 100 000 steps take seconds on a busy 2-core machine.
          testTimeout: 30_000,
          // Unit tests first: they are fast and say most about a broken change.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/kafka-global-setup.ts'],
          testTimeout: 120_000, // two minutes: broker restarts and SIGKILL loops take time
          hookTimeout: 120_000,
          // Two cores: files run one or two at a time; they share one broker.
          maxWorkers: 2,
        },
      },
    ],
  },
});

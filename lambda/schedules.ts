import type { Logger } from 'pino';
import cron, { type ScheduledTask } from 'node-cron';
import { isBraidError } from '../shared/errors.js';

/**
 * The node-cron schedules of one process: batch runs (`batch.schedule`) and verifications
 * (`verify.schedule`). The expressions were checked when the config loaded.
 */
export class Schedules {
  readonly #tasks: ScheduledTask[] = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Runs `job` at every time `expression` names; "off" schedules nothing. */
  every(expression: string, what: string, job: () => unknown): void {
    if (expression === 'off') return;
    this.#tasks.push(
      cron.schedule(expression, () => {
        try {
          job();
        } catch (err) {
          // One still going when the next is due is the normal case of a short schedule.
          if (!isBraidError(err, 'run_in_progress')) this.#logger.error({ err }, `scheduled ${what} could not start`);
        }
      }),
    );
  }

  async stop(): Promise<void> {
    for (const task of this.#tasks.splice(0)) await task.stop();
  }
}

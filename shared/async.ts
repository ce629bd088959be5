/**
 * Bounds on waiting, shared by every layer: a deadline on a promise, and a promise that
 * gives up when a signal aborts. Neither cancels the work it waits for; the work's own
 * signal or close does that.
 */

/**
 * `work`, or `onTimeout()`'s error after `ms`, whichever comes first. `work` keeps running;
 * its late rejection is swallowed so it cannot surface as an unhandled rejection.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `promise`, or a rejection with the abort's reason as soon as `signal` aborts, whichever
 * comes first. The listener is removed when the promise settles, so a long-lived signal
 * does not collect one per wait.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Waits `ms`, or less when `signal` aborts first (then it resolves: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Slices long synchronous work so that it shares the event loop: the work calls `pause()`
 * every few thousand steps, and once the current slice has run `sliceMs` the pause yields.
 * The slice is shared by all work in the process, so two queries together still hold the
 * loop for about `sliceMs` at a time, not twice that. A yield is an immediate (pending I/O
 * runs first) or, while `busy()` says more urgent work is waiting (an ingest request being
 * read and appended takes several turns of the loop), a rest of `sliceMs` on a timer, so
 * that work gets every turn it needs before the next slice.
 */
export class Slices {
  readonly sliceMs: number;
  #sliceEnd = 0;
  /** a slice is running in this turn of the event loop (cleared by an immediate queued at its start) */
  #inTurn = false;
  #busy: () => boolean = () => false;

  constructor(sliceMs = 2) {
    this.sliceMs = sliceMs;
  }

  /** What says more urgent work is waiting (one source; set once the serving layer knows it). */
  restWhile(busy: () => boolean): void {
    this.#busy = busy;
  }

  #start(): void {
    this.#inTurn = true;
    this.#sliceEnd = performance.now() + this.sliceMs;
    setImmediate(() => {
      this.#inTurn = false;
    });
  }

  /** undefined while the slice lasts (no await needed); a promise to await once it is spent */
  pause = (): Promise<void> | undefined => {
    if (!this.#inTurn) {
      this.#start();
      return undefined;
    }
    if (performance.now() < this.#sliceEnd) return undefined;
    const resume = (resolve: () => void) => () => {
      if (!this.#inTurn) this.#start();
      resolve();
    };
    return new Promise((resolve) => (this.#busy() ? setTimeout(resume(resolve), this.sliceMs) : setImmediate(resume(resolve))));
  };
}

/** A worker module for the pool's tests: echoes its job, or ends its thread on 'exit'. */
export function work(job: string): { output: string; transfer: ArrayBuffer[] } {
  if (job === 'exit') process.exit(3); // in a worker thread this ends the thread, not the process
  return { output: `done ${job}`, transfer: [] };
}

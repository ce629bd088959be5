// A worker thread's entry: the sources are TypeScript, so the thread registers tsx's loader
// (as bin/braid.js does for the main thread; loader hooks are not inherited by workers), then
// loads the module named in workerData. That module exports `work(input)` and its transfer
// list (shared/threads/worker.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { work } = await import(new URL(workerData.module, import.meta.url).href);
parentPort.on('message', ({ id, input }) => {
  try {
    const { output, transfer } = work(input);
    parentPort.postMessage({ id, ok: true, output }, transfer);
  } catch (err) {
    parentPort.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
parentPort.postMessage({ ready: true });

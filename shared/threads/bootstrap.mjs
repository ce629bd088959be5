// A worker thread's entry: the sources are TypeScript, so the thread registers tsx's loader
// (as bin/braid.js does for the main thread; loader hooks are not inherited by workers), then
// loads the module named in workerData. That module exports `work(input)`, which returns (or
// resolves to) the output and its transfer list.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { work } = await import(new URL(workerData.module, import.meta.url).href);
// `work` may return a promise: jobs then overlap in the thread, each answered when it settles.
parentPort.on('message', async ({ id, input }) => {
  try {
    const { output, transfer } = await work(input);
    parentPort.postMessage({ id, ok: true, output }, transfer);
  } catch (err) {
    // A catalogued error keeps its code, so the main thread answers it as it would its own.
    parentPort.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err), code: typeof err?.code === 'string' ? err.code : undefined });
  }
});
parentPort.postMessage({ ready: true });

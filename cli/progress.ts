import { SingleBar, Presets } from 'cli-progress';

/** A progress bar on a terminal; plain periodic lines when stderr is not a TTY (CI, logs). */
export function progressBar(label: string, total: number) {
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`, stream: process.stderr },
      Presets.shades_classic,
    );
    bar.start(total, 0, { rate: 0 });
    const started = Date.now();
    return {
      update(value: number) {
        bar.update(value, { rate: Math.round(value / Math.max((Date.now() - started) / 1000, 0.001)) });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let last = 0;
  const started = Date.now();
  return {
    update(value: number) {
      if (Date.now() - last < 2_000 && value < total) return;
      last = Date.now();
      const rate = Math.round(value / Math.max((Date.now() - started) / 1000, 0.001));
      process.stderr.write(`${label}: ${value}/${total} (${Math.floor((100 * value) / Math.max(total, 1))}%), ${rate}/s\n`);
    },
    stop() {},
  };
}

import { SingleBar, Presets } from 'cli-progress';

export interface ProgressBar {
  /** `value` of `total` done; `rate` per second and `etaSeconds` when the server knows them better */
  update(value: number, known?: { rate?: number; etaSeconds?: number | null }): void;
  stop(): void;
}

/**
 * The one progress bar of the CLI: a bar on a terminal; plain lines every two seconds when
 * stderr is not a TTY (CI, logs), so long work shows progress either way.
 */
export function progressBar(label: string, total: number, unit = ''): ProgressBar {
  const started = Date.now();
  const rateOf = (value: number) => Math.round(value / Math.max((Date.now() - started) / 1000, 0.001));
  const per = unit ? ` ${unit}` : '';
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {percentage}% | {value}/{total}${per} | {rate}${per}/s | ETA {etaText}`, stream: process.stderr },
      Presets.shades_classic,
    );
    bar.start(Math.max(total, 1), 0, { rate: 0, etaText: '?' });
    return {
      update(value, known = {}) {
        const rate = known.rate ?? rateOf(value);
        const eta = known.etaSeconds !== undefined ? known.etaSeconds : rate > 0 ? Math.round((total - value) / rate) : null;
        bar.update(value, { rate, etaText: eta === null ? '?' : `${eta}s` });
      },
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update(value, known = {}) {
      if (Date.now() - last < 2_000 && value < total) return;
      last = Date.now();
      const eta = known.etaSeconds ?? null;
      process.stderr.write(`${label}: ${value}/${total}${per} (${Math.floor((100 * value) / Math.max(total, 1))}%), ${known.rate ?? rateOf(value)}${per}/s${eta !== null ? `, ETA ${eta}s` : ''}\n`);
    },
    stop() {},
  };
}

import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LoggerOptions {
  /** json lines, human-readable lines, or pretty when stdout is a terminal (auto) */
  readonly format?: 'auto' | 'json' | 'pretty';
}

/**
 * pino, with anything that could hold a secret redacted wherever it appears. On a terminal
 * the lines are human-readable (pino-pretty, written synchronously); elsewhere JSON.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'auto';
  const readable = format === 'pretty' || (format === 'auto' && destination === undefined && process.stdout.isTTY === true);
  return pino(
    {
      level,
      base: { service: 'braid' },
      redact: {
        paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'config.auth.apiKeys', 'apiKey', '*.apiKey'],
        censor: '[redacted]',
      },
    },
    readable ? pretty({ sync: true, singleLine: true, colorize: destination === undefined && process.stdout.isTTY === true, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l', ...(destination ? { destination } : {}) }) : destination,
  );
}

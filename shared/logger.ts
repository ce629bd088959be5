import { pino, type Logger } from 'pino';

/** pino, with anything that could hold a secret redacted wherever it appears. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'braid' },
      redact: {
        paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'config.auth.apiKeys', 'apiKey', '*.apiKey'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

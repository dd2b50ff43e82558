// The node's structured logger: pino to stdout and to <data_dir>/logs/ollama-distributed.log.
// Secrets never reach it: auth headers and config secrets are redacted at the logger.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { destination, multistream, pino, stdTimeFunctions, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger };

export const LOG_FILE = join('logs', 'ollama-distributed.log');

const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'config.security.auth.secret_key',
  '*.secret_key',
  '*.token',
  '*.apiKey',
];

export function createLogger(options: { level: string; dataDir?: string; name?: string }): Logger {
  const targets: DestinationStream[] = [destination({ fd: 1, sync: false })];
  if (options.dataDir) {
    mkdirSync(join(options.dataDir, 'logs'), { recursive: true });
    targets.push(destination({ dest: join(options.dataDir, LOG_FILE), sync: false, mkdir: true }));
  }
  const streams = multistream(targets.map((stream) => ({ stream, level: options.level as Level })));
  return pino(
    {
      level: options.level,
      base: { node: options.name },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: stdTimeFunctions.isoTime,
    },
    streams,
  );
}

/** A logger that writes nothing, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

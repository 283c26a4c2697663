// Logger factory: pino, JSON lines to stdout, level from the engine configuration.
// Log at start-up, shutdown, state changes and errors; never once per message on a hot path
// (count instead, and log the counters periodically or at shutdown).

import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type { Logger };

export interface LoggerOptions {
  /** Component name, logged as `name` on every line. */
  name?: string;
  /** Where the JSON lines go; default stdout (synchronous writes, so nothing is lost at exit). */
  destination?: DestinationStream;
}

export function createLogger(level: LogLevel, options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino({
    level,
    name: options.name ?? 'engine',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, destination);
}

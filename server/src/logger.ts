/**
 * The server's log: pino, JSON lines on stdout, at the level set by `--log-level` / FUSIONSEG_LOG_LEVEL
 * (default info). One process-wide logger, configured once at start-up.
 */
import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export let log: Logger = pino({ name: 'fusionseg', level: 'info' });

export function configureLog(level: LogLevel): Logger {
  log = pino({ name: 'fusionseg', level });
  return log;
}

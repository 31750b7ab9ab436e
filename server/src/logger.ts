/**
 * The server's log: pino, at the level set by `--log-level` / FUSIONSEG_LOG_LEVEL (default info), as JSON
 * lines on stdout for log collectors, or with `--log-format pretty` as readable lines for a terminal
 * (pino-pretty). One process-wide logger, configured once at start-up; streams log through child loggers
 * that add their stream id to every line.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export let log: Logger = pino({ name: 'fusionseg', level: 'info' });

export function configureLog(level: LogLevel, format: 'json' | 'pretty' = 'json'): Logger {
  log =
    format === 'pretty'
      ? pino({ name: 'fusionseg', level }, pretty({ sync: true, colorize: process.stdout.isTTY === true }))
      : pino({ name: 'fusionseg', level });
  return log;
}

/**
 * Loggers: pino, at a level (`--log-level` / FUSIONSEG_LOG_LEVEL, default info), as JSON lines on stdout for
 * log collectors, or with `--log-format pretty` as readable lines for a terminal (pino-pretty). This module
 * holds no logger of its own to configure: the process makes one with `createLogger` at start-up and hands
 * it to what logs (the engine's session pool, the fusion pool, the service); streams log through child
 * loggers that add their stream id to every line.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A new logger named "fusionseg": JSON lines on stdout, or pino-pretty lines with `format` "pretty". */
export function createLogger(level: LogLevel = 'info', format: 'json' | 'pretty' = 'json'): Logger {
  return format === 'pretty'
    ? pino({ name: 'fusionseg', level }, pretty({ sync: true, colorize: process.stdout.isTTY === true }))
    : pino({ name: 'fusionseg', level });
}

/** A logger that writes nothing (tests, tools that print their own output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

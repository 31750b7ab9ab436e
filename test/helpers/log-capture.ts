/** A logger for tests that keeps its lines (parsed JSON) instead of writing them. */
import { pino, type Logger } from 'pino';

export interface CapturedLog {
  readonly log: Logger;
  /** Every line logged so far, in order: pino's JSON (`level` is numeric: 40 warn, 50 error). */
  readonly lines: Record<string, unknown>[];
}

export function captureLog(level: pino.LevelWithSilent = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

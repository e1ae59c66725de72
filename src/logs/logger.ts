// drover's own log: one line per message, `ISO-TIME LEVEL message`, to a writer (stdout in the foreground,
// and the log file; see LogSink.mainLogWriter).

export const LEVELS = ['critical', 'error', 'warn', 'info', 'debug', 'trace', 'blather'] as const;
export type Level = (typeof LEVELS)[number];

export interface Logger {
  log(level: Level, message: string): void;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

/** A logger that drops messages below `minLevel` (supervisor's loglevel order). */
export function createLogger(out: { write(text: string): unknown }, minLevel: Level = 'info'): Logger {
  const limit = LEVELS.indexOf(minLevel);
  const log = (level: Level, message: string): void => {
    if (LEVELS.indexOf(level) > limit) return;
    out.write(`${new Date().toISOString()} ${level.toUpperCase()} ${message}\n`);
  };
  return {
    log,
    error: (m) => log('error', m),
    warn: (m) => log('warn', m),
    info: (m) => log('info', m),
    debug: (m) => log('debug', m),
  };
}

// The servers' structured logger: pino, one JSON object per line on stderr (stdout is
// reserved for the process's machine-readable events, see process-main.ts). Fields such as
// storeId and rangeId ride along on every line of a child logger.
//
//   const log = createLogger({ storeId: 1 }, { level: 'info' });
//   log.info('raft leader changed', { rangeId: 7, lead: 2 });
//   // {"level":"info","time":"2026-...Z","storeId":1,"rangeId":7,"lead":2,"msg":"raft leader changed"}
//   log.child({ rangeId: 7 }).warn('dropped', { err });      // Errors: {type, message, stack}
//
// A thin wrapper keeps the call shape `log.level(msg, fields)` (pino's own is
// `log.level(fields, msg)`). Writes are synchronous (pino.destination({fd: 2, sync: true})),
// so nothing is lost when the process exits right after a fatal error.
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Every LogLevel, most verbose first (the --log-level choices). */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  /** Whether lines at `level` are written (lets a caller skip building costly debug fields); absent: assume yes. */
  isLevelEnabled?(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Default: stderr, synchronous. Tests pass `{ write(line) {...} }`. */
  destination?: DestinationStream;
}

/** Error values under any key become {type, message, stack, ...} (pino's serializer does `err` itself). */
function withErrors(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const k in fields) {
    const v = fields[k];
    if (v instanceof Error && k !== 'err') {
      out ??= { ...fields };
      out[k] = pino.stdSerializers.err(v);
    }
  }
  return out ?? fields;
}

/** The wrapper over a pino logger. */
export function fromPino(p: PinoLogger): Logger {
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (!p.isLevelEnabled(level)) return;
    if (fields === undefined) p[level](msg);
    else p[level](withErrors(fields), msg);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => fromPino(p.child(withErrors(fields))),
    isLevelEnabled: (level) => p.isLevelEnabled(level),
  };
}

export function createPino(base: Record<string, unknown> = {}, opts: LoggerOptions = {}): PinoLogger {
  const dest = opts.destination ?? pino.destination({ fd: 2, sync: true });
  return pino({
    level: opts.level ?? 'info',
    base: null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, dest).child(base);
}

export function createLogger(base: Record<string, unknown> = {}, opts: LoggerOptions = {}): Logger {
  return fromPino(createPino(base, opts));
}

/** Discards everything (tests that do not look at logs). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

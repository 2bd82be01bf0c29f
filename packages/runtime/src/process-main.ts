// What the server entry points (the store's store-main, PD's pd-main) share: JSON events
// on stdout, graceful stop on SIGTERM / SIGINT, and admin commands (peers' addresses, ...)
// over --admin-stdin.
import { createInterface } from 'node:readline';
import type { Logger } from './logger.js';

/** One JSON event line on stdout (the process's machine-readable channel). */
export function emitEvent(e: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

/**
 * On SIGTERM or SIGINT: `stop()`, then the `stopped` event and exit 0 (1 when `failed()`
 * says a fatal error happened, or the stop itself failed). A signal that comes while the
 * stop runs is logged and ignored: a process often gets two (a supervisor that signals
 * the whole process group, `rangekv store` passing its own signal on; a terminal's Ctrl-C
 * reaching every process of the group), and the second must not cut the graceful stop
 * (the store's leadership drain) short. The stop is bounded; SIGKILL still ends it.
 */
export function exitOnStopSignals(o: { log: Logger; stop: () => Promise<void>; failed: () => boolean; stopped: Record<string, unknown> }): void {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) {
      o.log.info('already stopping: signal ignored', { signal });
      return;
    }
    stopping = true;
    o.log.info('stopping', { signal });
    o.stop().then(() => {
      emitEvent({ event: 'stopped', ...o.stopped });
      process.exit(o.failed() ? 1 : 0);
    }, (e: unknown) => {
      o.log.error('stop failed', { err: e });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

/**
 * One --admin-stdin command: gets the value under its key, returns the event answered on
 * stdout. Throwing logs the line as a bad command and answers nothing.
 */
export type AdminCommand = (arg: unknown) => Record<string, unknown>;

/**
 * --admin-stdin: JSON lines, each an object with one key naming a command
 * (`{"peers": {...}}`), handed to that command of `commands`. A line that does not parse
 * or names no command is logged and changes nothing; the reader never throws.
 */
export function readAdminStdin(log: Logger, commands: Readonly<Record<string, AdminCommand>>): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === '') return;
    try {
      const cmd: unknown = JSON.parse(line);
      const keys = typeof cmd === 'object' && cmd !== null && !Array.isArray(cmd) ? Object.keys(cmd) : [];
      const key = keys.length === 1 && Object.hasOwn(commands, keys[0]!) ? keys[0]! : null;
      if (key === null) throw new Error(`expected one command per line: ${Object.keys(commands).map((k) => `{"${k}": ...}`).join(' or ')}`);
      emitEvent(commands[key]!((cmd as Record<string, unknown>)[key]));
    } catch (e) {
      log.warn('bad admin command on stdin', { line, err: e });
    }
  });
}

/**
 * The peers command, `{"peers": {"ID": "ADDRESS", ...}}`: each pair goes to `setPeer`
 * (which throws on a bad id or address); answers `{"event":"peers","count":n}`. A bad pair
 * fails the command, and the pairs after it are not applied.
 */
export function peersCommand(setPeer: (id: string, address: unknown) => void): AdminCommand {
  return (peers) => {
    if (typeof peers !== 'object' || peers === null) throw new Error('expected {"peers": {...}}');
    let n = 0;
    for (const [id, addr] of Object.entries(peers)) {
      setPeer(id, addr);
      n++;
    }
    return { event: 'peers', count: n };
  };
}

/** --admin-stdin with the peers command only (PD). */
export function readPeersFromStdin(log: Logger, setPeer: (id: string, address: unknown) => void): void {
  readAdminStdin(log, { peers: peersCommand(setPeer) });
}

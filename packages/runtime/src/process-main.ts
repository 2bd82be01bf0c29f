// What the server entry points (the store's store-main, PD's pd-main) share: JSON events
// on stdout, graceful stop on SIGTERM / SIGINT, and peers' addresses over --admin-stdin.
import { createInterface } from 'node:readline';
import type { Logger } from './logger.js';

/** One JSON event line on stdout (the process's machine-readable channel). */
export function emitEvent(e: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

/**
 * On SIGTERM or SIGINT: `stop()`, then the `stopped` event and exit 0 (1 when `failed()`
 * says a fatal error happened, or the stop itself failed).
 */
export function exitOnStopSignals(o: { log: Logger; stop: () => Promise<void>; failed: () => boolean; stopped: Record<string, unknown> }): void {
  const onSignal = (signal: string): void => {
    o.log.info('stopping', { signal });
    o.stop().then(() => {
      emitEvent({ event: 'stopped', ...o.stopped });
      process.exit(o.failed() ? 1 : 0);
    }, (e: unknown) => {
      o.log.error('stop failed', { err: e });
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}

/**
 * --admin-stdin: JSON lines `{"peers": {"ID": "ADDRESS", ...}}`. Each pair goes to
 * `setPeer` (which throws on a bad id or address); a good line answers
 * `{"event":"peers","count":n}`, a bad one is logged and changes nothing after the bad pair.
 */
export function readPeersFromStdin(log: Logger, setPeer: (id: string, address: unknown) => void): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === '') return;
    try {
      const cmd = JSON.parse(line) as { peers?: Record<string, unknown> };
      if (typeof cmd.peers !== 'object' || cmd.peers === null) throw new Error('expected {"peers": {...}}');
      let n = 0;
      for (const [id, addr] of Object.entries(cmd.peers)) {
        setPeer(id, addr);
        n++;
      }
      emitEvent({ event: 'peers', count: n });
    } catch (e) {
      log.warn('bad admin command on stdin', { line, err: e });
    }
  });
}

// Ports for servers that a test kills and starts again on the same port.
//
// A port the kernel handed out for a listener (port 0) lies in its ephemeral range, the
// range it also takes the local ports of outgoing connections from. Between a kill and the
// restart any process's new connection may take that port, and the restart fails with
// EADDRINUSE (seen in CI: merge-kill.test.ts). A port below that range is never taken
// that way; another test may still pick the same one at random, which `withFreshPorts`
// survives on a first start by picking again.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The lowest port tried, and the most tries for one port. */
const LOWEST_PORT = 10_000;
const MAX_PICKS = 100;

/** The first port of the kernel's ephemeral range (32768 when unreadable). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1 now, below the ephemeral range; 0 (ephemeral) when that range starts too low to leave room. */
export async function stablePort(): Promise<number> {
  const end = ephemeralStart();
  if (end - LOWEST_PORT < 1_000) return 0;
  for (let i = 0; i < MAX_PICKS; i++) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (end - LOWEST_PORT));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in [${LOWEST_PORT}, ${end}) after ${MAX_PICKS} tries`);
}

/** Runs `start` with fresh stable ports, again (new ports) while it fails because one was taken meanwhile. */
export async function withFreshPorts<T>(count: number, start: (ports: number[]) => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    const ports: number[] = [];
    while (ports.length < count) {
      const p = await stablePort();
      if (p === 0 || !ports.includes(p)) ports.push(p);
    }
    try {
      return await start(ports);
    } catch (e) {
      if (i >= attempts || !/EADDRINUSE|address already in use/.test(e instanceof Error ? e.message : String(e))) throw e;
    }
  }
}

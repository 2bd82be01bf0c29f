// Network addresses as servers take and give them: "host:port", IPv6 hosts in brackets.
//
//   hostPort('127.0.0.1', 7001);          // '127.0.0.1:7001'
//   hostPort('::1', 7001);                // '[::1]:7001'  (what gRPC's bindAsync and clients expect)
//   parseAddress('--pd', '10.0.0.1:2379') // '10.0.0.1:2379', or throws FlagError naming --pd
import { FlagError } from './flag-error.js';

/** "host:port" for a listen host and a port; a bare IPv6 host gets its brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Checks "host:port" with a port in 1..65535 (IPv6 hosts in brackets) and returns it
 * unchanged; otherwise throws FlagError naming `what` (a flag, "peer 2", ...) and the value.
 */
export function parseAddress(what: string, v: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d+)$/.exec(v);
  if (!m) throw new FlagError(`${what}: "${v}" is not host:port`);
  const port = Number(m[2]);
  if (!Number.isSafeInteger(port) || port < 1 || port > 65535) throw new FlagError(`${what} port must be in [1, 65535], got ${m[2]}`);
  return v;
}

// Network addresses as servers take and give them: "host:port", IPv6 hosts in brackets.
//
//   hostPort('127.0.0.1', 7001);          // '127.0.0.1:7001'
//   hostPort('::1', 7001);                // '[::1]:7001'  (what gRPC's bindAsync and clients expect)
//   parseAddress('--pd', '10.0.0.1:2379') // '10.0.0.1:2379', or throws FlagError naming --pd
//   isWildcardHost('0.0.0.0')             // true: listens everywhere, no address to give others
//   parseHost('--advertise-host', 'pd-1') // 'pd-1', or throws FlagError (host:port, a wildcard, ...)
import { isIP } from 'node:net';
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

/** `[v6]` -> `v6`; anything else unchanged. */
function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * A listen host meaning "every interface": 0.0.0.0, or an all-zero IPv6 address (::, [::],
 * 0:0:0:0:0:0:0:0). A process listening there must be told which address to give others.
 */
export function isWildcardHost(host: string): boolean {
  const h = unbracket(host);
  return h === '0.0.0.0' || (isIP(h) === 6 && /^[0:]+$/.test(h));
}

/**
 * Checks a host that others are told to reach a process at (an --advertise-host): a name or
 * an IP address (IPv6 bare or in brackets), no port, not a wildcard; returns it unchanged,
 * otherwise throws FlagError naming `what` and the value.
 */
export function parseHost(what: string, v: string): string {
  const h = unbracket(v);
  const bracketed = h !== v;
  const ok = h !== '' && !/[\s/[\]@]/.test(h) && ((h.includes(':') || bracketed) ? isIP(h) === 6 : true);
  if (!ok) throw new FlagError(`${what}: "${v}" is not a host name or IP address (no port)`);
  if (isWildcardHost(h)) throw new FlagError(`${what}: "${v}" is a wildcard address; give the address others reach this process at`);
  return v;
}

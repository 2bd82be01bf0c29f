// Command-line flags of the PD process (pd-main.ts), parsed into plain data with errors
// that say what is wrong.
//
// Peers: --peers ID[=RAFTHOST:RAFTPORT/HOST:PORT],...  e.g. 2=10.0.0.2:7201/10.0.0.2:7200
// (raft address, then client address). A bare ID declares a member whose addresses come
// later over --admin-stdin (ephemeral ports in tests).
import { parseAddress, type LogLevel } from '@rangekv/store';
import type { PdPeerAddress } from './pd-server.js';

export interface PdFlags {
  id: number;
  dataDir: string;
  host: string;
  /** Client gRPC port (0 = ephemeral). */
  port: number;
  /** Raft port (0 = ephemeral). */
  raftPort: number;
  /** HTTP /health, /metrics; 0 = ephemeral, null = off. */
  httpPort: number | null;
  peers: Map<number, PdPeerAddress>;
  initialStores: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  adminStdin: boolean;
  logLevel: LogLevel;
  help: boolean;
}

export const PD_USAGE = `usage: pd-main --id N --data-dir DIR [options]
  --id N                  this PD node's id (positive integer)                 (required)
  --data-dir DIR          data directory (created if missing)                  (required)
  --host H                listen address for client gRPC, raft and HTTP       (default 127.0.0.1)
  --port P                client gRPC port (stores, clients), 0 = ephemeral    (default 0)
  --raft-port R           PD-to-PD raft port, 0 = ephemeral                    (default 0)
  --peers ID=RH:RP/CH:CP,..  the PD members: raft address / client address (this node's own
                          entry may be listed and is ignored); a bare ID gets its addresses
                          later via --admin-stdin (default: none, 1-node PD)
  --initial-stores N      stores that must join before range 1 is created      (default 3)
  --http-port P|off       /health, /metrics; 0 = ephemeral                     (default 0)
  --tick-ms MS            raft tick                                            (default 50)
  --election-ticks N      election timeout in ticks                            (default 10)
  --heartbeat-ticks N     heartbeat interval in ticks                          (default 2)
  --admin-stdin           read JSON lines on stdin: {"peers":{"2":"RH:RP/CH:CP"}}
  --log-level L           debug | info | warn | error                          (default info)
  --help                  this text
Every member must be started with the same member set (static membership).
Prints {"event":"ready","pdId":N,"port":P,"raftPort":R,"httpPort":H|null} on stdout when serving;
SIGTERM or SIGINT stops it gracefully (exit 0); bad flags exit 2.`;

export class PdFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PdFlagError';
  }
}

function int(flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(v)) throw new PdFlagError(`${flag} needs an integer, got "${v}"`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new PdFlagError(`${flag} must be in [${min}, ${max}], got ${v}`);
  return n;
}

function address(flag: string, v: string): string {
  try {
    return parseAddress(flag, v);
  } catch (e) {
    throw new PdFlagError(e instanceof Error ? e.message : String(e));
  }
}

/** "RAFTHOST:RAFTPORT/HOST:PORT" -> both addresses. */
export function parsePeerAddress(flag: string, v: string): PdPeerAddress {
  const slash = v.indexOf('/');
  if (slash < 0) throw new PdFlagError(`${flag}: "${v}" is not RAFTHOST:RAFTPORT/HOST:PORT`);
  return { raft: address(`${flag} raft`, v.slice(0, slash)), client: address(`${flag} client`, v.slice(slash + 1)) };
}

export function parsePdPeers(flag: string, v: string): Map<number, PdPeerAddress> {
  const peers = new Map<number, PdPeerAddress>();
  for (const part of v.split(',').filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    const id = int(`${flag} PD id`, eq < 0 ? part : part.slice(0, eq), 1);
    if (peers.has(id)) throw new PdFlagError(`${flag}: PD ${id} listed twice`);
    peers.set(id, eq < 0 ? { raft: '', client: '' } : parsePeerAddress(`${flag} PD ${id}`, part.slice(eq + 1)));
  }
  return peers;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function parsePdFlags(argv: readonly string[]): PdFlags {
  const seen = new Map<string, string>();
  const booleans = new Set(['--admin-stdin', '--help']);
  const known = new Set(['--id', '--data-dir', '--host', '--port', '--raft-port', '--peers', '--initial-stores', '--http-port',
    '--tick-ms', '--election-ticks', '--heartbeat-ticks', '--log-level', ...booleans]);
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    if (a === '-h') a = '--help';
    if (!known.has(a)) throw new PdFlagError(`unknown flag "${argv[i]!}"`);
    if (seen.has(a)) throw new PdFlagError(`${a} given twice`);
    if (booleans.has(a)) {
      if (inline !== undefined) throw new PdFlagError(`${a} takes no value`);
      seen.set(a, 'true');
      continue;
    }
    const v = inline ?? argv[i + 1];
    if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new PdFlagError(`${a} needs a value`);
    seen.set(a, v);
    if (inline === undefined) i++;
  }
  const help = seen.has('--help');
  const need = (f: string): string => {
    const v = seen.get(f);
    if (v === undefined) throw new PdFlagError(`${f} is required`);
    return v;
  };
  if (help) {
    return {
      id: 0, dataDir: '', host: '', port: 0, raftPort: 0, httpPort: null, peers: new Map(), initialStores: 3,
      tickMs: 50, electionTicks: 10, heartbeatTicks: 2, adminStdin: false, logLevel: 'info', help,
    };
  }
  const id = int('--id', need('--id'), 1, 2 ** 32 - 1);
  const dataDir = need('--data-dir');
  if (dataDir.trim() === '') throw new PdFlagError('--data-dir is empty');
  const peers = parsePdPeers('--peers', seen.get('--peers') ?? '');
  // Every member may get the same list (as etcd's --initial-cluster): this node's own entry is dropped.
  peers.delete(id);
  const logLevel = (seen.get('--log-level') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new PdFlagError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const electionTicks = int('--election-ticks', seen.get('--election-ticks') ?? '10', 2);
  const heartbeatTicks = int('--heartbeat-ticks', seen.get('--heartbeat-ticks') ?? '2', 1);
  if (heartbeatTicks >= electionTicks) throw new PdFlagError('--heartbeat-ticks must be below --election-ticks');
  const http = seen.get('--http-port') ?? '0';
  return {
    id, dataDir, host: seen.get('--host') ?? '127.0.0.1',
    port: int('--port', seen.get('--port') ?? '0', 0, 65535),
    raftPort: int('--raft-port', seen.get('--raft-port') ?? '0', 0, 65535),
    httpPort: http === 'off' ? null : int('--http-port', http, 0, 65535),
    peers,
    initialStores: int('--initial-stores', seen.get('--initial-stores') ?? '3', 1, 1000),
    tickMs: int('--tick-ms', seen.get('--tick-ms') ?? '50', 1, 60_000),
    electionTicks, heartbeatTicks,
    adminStdin: seen.has('--admin-stdin'),
    logLevel, help: false,
  };
}

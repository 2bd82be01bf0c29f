// Command-line flags of the store process (store-main.ts), parsed into plain data with
// errors that say what is wrong. Kept apart from the entry point so it can be tested.
import type { LogLevel } from './logger.js';

export interface StoreFlags {
  /** 0: from the data dir's identity file, else allocated by PD (only with --pd). */
  storeId: number;
  /** Placement driver endpoints; empty = static cluster (--peers / --bootstrap). */
  pd: string[];
  /** --help: print usage and exit 0. */
  help: boolean;
  dataDir: string;
  host: string;
  /** KV gRPC port (0 = ephemeral). */
  port: number;
  /** Raft transport port (0 = ephemeral). */
  raftPort: number;
  /** HTTP status port (/metrics, /health, /debug/ranges); 0 = ephemeral, null = off. */
  httpPort: number | null;
  /** Raft addresses of peer stores. */
  peers: Map<number, string>;
  /** Store ids of range 1's replicas: bootstrap an empty data dir first. */
  bootstrap: number[] | null;
  tickMs: number;
  /** Apply worker threads (0 = apply on the main thread). */
  applyWorkers: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Read admin commands (JSON lines) on stdin: {"peers": {"2": "127.0.0.1:7002"}}. */
  adminStdin: boolean;
  logLevel: LogLevel;
  /** Log compaction overrides (log-compactor.ts); absent = the defaults. */
  logCompaction: { logCompactionThresholdEntries?: number; logCompactionKeepEntries?: number; maxFollowerLagEntries?: number };
  /** Uninitialized replica overrides (uninitialized-replicas.ts); absent = the defaults. */
  uninitialized: { uninitializedIdleMs?: number; uninitializedGcAfterMs?: number };
}

export const STORE_USAGE = `usage: store-main --data-dir DIR (--store-id N | --pd H:P[,H:P]) [options]
  --data-dir DIR          data directory (created if missing)           (required)
  --store-id N            this store's id (positive integer); required without --pd;
                          with --pd: from the data dir, else allocated by PD
  --pd H:P[,H:P..]        placement driver endpoints: register, heartbeat, learn peers
                          and range 1's bootstrap from PD
  --host H                listen address for KV and raft                (default 127.0.0.1)
  --port P                KV gRPC port, 0 = ephemeral                   (default 0)
  --raft-port P           raft transport port, 0 = ephemeral            (default 0)
  --http-port P|off       /metrics, /health, /debug/ranges; 0 = ephemeral (default 0)
  --peers ID=HOST:PORT,.. raft addresses of the other stores
  --bootstrap ID,ID,..    create range 1 with replicas on these stores (empty data dir only)
  --tick-ms MS            raft tick                                     (default 50)
  --apply-workers N       apply worker threads, 0 = on the main thread  (default 1)
  --election-ticks N      election timeout in ticks                     (default 10)
  --heartbeat-ticks N     heartbeat interval in ticks                   (default 2)
  --admin-stdin           read admin JSON lines on stdin ({"peers":{"2":"127.0.0.1:7002"}})
  --log-level L           debug | info | warn | error                   (default info)
  --help                  this text
  --log-compaction-threshold-entries N  compact a log past N applied entries (default 10000)
  --log-compaction-keep-entries N       entries kept behind applied             (default 1000)
  --max-follower-lag-entries N          followers further behind get snapshots  (default 50000)
  --uninitialized-idle-ms MS            a replica created by message and silent this long goes dormant (default 30000)
  --uninitialized-gc-after-ms MS        a dormant one PD says is gone is destroyed after this long     (default 300000)
Prints {"event":"ready","storeId":N,"kvPort":P,"raftPort":P,"httpPort":P|null} on stdout when serving;
SIGTERM or SIGINT stops it gracefully.`;

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

function int(flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(v)) throw new FlagError(`${flag} needs an integer, got "${v}"`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new FlagError(`${flag} must be in [${min}, ${max}], got ${v}`);
  return n;
}

/** "host:port" with a port in 1..65535 (IPv6 hosts in brackets). */
export function parseAddress(flag: string, v: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d+)$/.exec(v);
  if (!m) throw new FlagError(`${flag}: "${v}" is not host:port`);
  int(`${flag} port`, m[2]!, 1, 65535);
  return v;
}

export function parsePeers(flag: string, v: string): Map<number, string> {
  const peers = new Map<number, string>();
  for (const part of v.split(',').filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new FlagError(`${flag}: "${part}" is not ID=HOST:PORT`);
    const id = int(`${flag} store id`, part.slice(0, eq), 1);
    if (peers.has(id)) throw new FlagError(`${flag}: store ${id} listed twice`);
    peers.set(id, parseAddress(`${flag} store ${id}`, part.slice(eq + 1)));
  }
  return peers;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function parseStoreFlags(argv: readonly string[]): StoreFlags {
  const seen = new Map<string, string>();
  const booleans = new Set(['--admin-stdin', '--help']);
  const known = new Set(['--pd', '--store-id', '--data-dir', '--host', '--port', '--raft-port', '--peers', '--bootstrap', '--http-port',
    '--tick-ms', '--apply-workers', '--election-ticks', '--heartbeat-ticks', '--log-level', ...booleans,
    '--log-compaction-threshold-entries', '--log-compaction-keep-entries', '--max-follower-lag-entries',
    '--uninitialized-idle-ms', '--uninitialized-gc-after-ms']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!known.has(a)) throw new FlagError(`unknown flag "${a}"`);
    if (seen.has(a)) throw new FlagError(`${a} given twice`);
    if (booleans.has(a)) {
      seen.set(a, 'true');
      continue;
    }
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new FlagError(`${a} needs a value`);
    seen.set(a, v);
    i++;
  }
  const need = (f: string): string => {
    const v = seen.get(f);
    if (v === undefined) throw new FlagError(`${f} is required`);
    return v;
  };
  const pd = parsePdEndpoints(seen.get('--pd'));
  if (seen.has('--help')) return { ...HELP_ONLY, help: true };
  const storeId = seen.has('--store-id') || pd.length === 0 ? int('--store-id', need('--store-id'), 1) : 0;
  const dataDir = need('--data-dir');
  if (pd.length > 0 && seen.has('--bootstrap')) throw new FlagError('--bootstrap is for clusters without PD (with --pd, PD bootstraps range 1)');
  if (dataDir.trim() === '') throw new FlagError('--data-dir is empty');
  const peers = parsePeers('--peers', seen.get('--peers') ?? '');
  if (peers.has(storeId)) throw new FlagError(`--peers lists this store (${storeId}) itself`);
  let bootstrap: number[] | null = null;
  const b = seen.get('--bootstrap');
  if (b !== undefined) {
    bootstrap = b.split(',').map((x) => int('--bootstrap', x, 1));
    if (new Set(bootstrap).size !== bootstrap.length) throw new FlagError('--bootstrap lists a store twice');
    if (!bootstrap.includes(storeId)) throw new FlagError(`--bootstrap must include this store (${storeId})`);
  }
  const logLevel = (seen.get('--log-level') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new FlagError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const electionTicks = int('--election-ticks', seen.get('--election-ticks') ?? '10', 2);
  const heartbeatTicks = int('--heartbeat-ticks', seen.get('--heartbeat-ticks') ?? '2', 1);
  if (heartbeatTicks >= electionTicks) throw new FlagError('--heartbeat-ticks must be below --election-ticks');
  return {
    storeId, pd, help: false, dataDir, host: seen.get('--host') ?? '127.0.0.1',
    port: int('--port', seen.get('--port') ?? '0', 0, 65535),
    raftPort: int('--raft-port', seen.get('--raft-port') ?? '0', 0, 65535),
    httpPort: seen.get('--http-port') === 'off' ? null : int('--http-port', seen.get('--http-port') ?? '0', 0, 65535),
    peers, bootstrap,
    tickMs: int('--tick-ms', seen.get('--tick-ms') ?? '50', 1, 60_000),
    applyWorkers: int('--apply-workers', seen.get('--apply-workers') ?? '1', 0, 16),
    electionTicks, heartbeatTicks,
    adminStdin: seen.has('--admin-stdin'),
    logLevel,
    logCompaction: logCompactionFlags(seen),
    uninitialized: uninitializedFlags(seen),
  };
}

function parsePdEndpoints(v: string | undefined): string[] {
  if (v === undefined) return [];
  const out = v.split(',').map((x) => parseAddress('--pd', x.trim()));
  if (new Set(out).size !== out.length) throw new FlagError('--pd lists an endpoint twice');
  return out;
}

const HELP_ONLY: StoreFlags = {
  storeId: 0, pd: [], help: true, dataDir: '', host: '', port: 0, raftPort: 0, httpPort: null, peers: new Map(), bootstrap: null,
  tickMs: 50, applyWorkers: 1, electionTicks: 10, heartbeatTicks: 2, adminStdin: false, logLevel: 'info', logCompaction: {},
  uninitialized: {},
};

function uninitializedFlags(seen: ReadonlyMap<string, string>): StoreFlags['uninitialized'] {
  const out: StoreFlags['uninitialized'] = {};
  const i = seen.get('--uninitialized-idle-ms');
  if (i !== undefined) out.uninitializedIdleMs = int('--uninitialized-idle-ms', i, 1);
  const g = seen.get('--uninitialized-gc-after-ms');
  if (g !== undefined) out.uninitializedGcAfterMs = int('--uninitialized-gc-after-ms', g, 1);
  return out;
}

function logCompactionFlags(seen: ReadonlyMap<string, string>): StoreFlags['logCompaction'] {
  const out: StoreFlags['logCompaction'] = {};
  const t = seen.get('--log-compaction-threshold-entries');
  if (t !== undefined) out.logCompactionThresholdEntries = int('--log-compaction-threshold-entries', t, 1);
  const k = seen.get('--log-compaction-keep-entries');
  if (k !== undefined) out.logCompactionKeepEntries = int('--log-compaction-keep-entries', k, 0);
  const l = seen.get('--max-follower-lag-entries');
  if (l !== undefined) out.maxFollowerLagEntries = int('--max-follower-lag-entries', l, 0);
  return out;
}

// Flags of the PD process (pd-main.ts): declarations over @rangekv/runtime's flag parser
// (command line over RANGEKV_* environment over a --config file), then the checks between
// flags, into plain data. Loadable without PD (the rangekv CLI reads PD_FLAGS through
// "@rangekv/pd/pd-flags").
//
// Peers: --peers ID[=RAFTHOST:RAFTPORT/HOST:PORT],...  e.g. 2=10.0.0.2:7201/10.0.0.2:7200
// (raft address, then client address). A bare ID declares a member whose addresses come
// later over --admin-stdin (ephemeral ports in tests).
import {
  bool, custom, FlagError, flagUsage, int, intValue, isWildcardHost, list, LOG_LEVELS, oneOf, parseAddress, parseFlags, parseHost, port, str,
  TLS_FLAGS, type FlagSources, type LogLevel, type ParsedFlags, type TlsFlagValues,
} from '@rangekv/runtime';
import { DEFAULT_PD_LIMITS } from './pd-limits.js';
import type { PdPeerAddress } from './pd-server.js';

export interface PdFlags {
  id: number;
  dataDir: string;
  /** Listen host of the client gRPC, raft and HTTP servers (0.0.0.0 / :: = every interface). */
  host: string;
  /**
   * The host this node gives out as its client address (GetMembers, not_leader's leader
   * address), with the bound port: --advertise-host, else `host` (which is then no wildcard).
   */
  advertiseHost: string;
  /** Client gRPC port (0 = ephemeral). */
  port: number;
  /** Raft port (0 = ephemeral). */
  raftPort: number;
  /** HTTP /health, /metrics; 0 = ephemeral, null = off. */
  httpPort: number | null;
  peers: Map<number, PdPeerAddress>;
  /** Join a running PD cluster (an empty data dir waits to be added). */
  join: boolean;
  initialStores: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  adminStdin: boolean;
  /** The leader balance scheduler runs (not --no-leader-balance). */
  leaderBalance: boolean;
  /** PdLimits.leaderBalanceIntervalMs / leaderBalanceWarmupMs. */
  leaderBalanceIntervalMs: number;
  leaderBalanceWarmupMs: number;
  /** The replica checker runs (not --no-replica-checker). */
  replicaChecker: boolean;
  /** The replica balance scheduler runs (not --no-replica-balance). */
  replicaBalance: boolean;
  /** The split checker runs (not --no-split-checker); PdLimits.rangeSplitBytes / rangeSplitKeys. */
  splitChecker: boolean;
  /** The hot-range scheduler runs (not --no-hot-balance). */
  hotBalance: boolean;
  /** The merge checker runs (not --no-merge-checker); its limits are run-time settings (ctl config). */
  mergeChecker: boolean;
  /** Store label keys, outermost first, that replicas are spread over. */
  locationLabels: string[];
  rangeSplitBytes: number;
  rangeSplitKeys: number;
  /** PdLimits.replicaCount / maxStoreDownTimeMs / storeDownAfterMs. */
  replicaCount: number;
  maxStoreDownTimeMs: number;
  storeDownAfterMs: number;
  logLevel: LogLevel;
  help: boolean;
  /** TLS and admin token flags, loaded by runtime securityFrom() in the main. */
  tls: TlsFlagValues;
}

/** "RAFTHOST:RAFTPORT/HOST:PORT" -> both addresses. */
export function parsePeerAddress(flag: string, v: string): PdPeerAddress {
  const slash = v.indexOf('/');
  if (slash < 0) throw new FlagError(`${flag}: "${v}" is not RAFTHOST:RAFTPORT/HOST:PORT`);
  return { raft: parseAddress(`${flag} raft`, v.slice(0, slash)), client: parseAddress(`${flag} client`, v.slice(slash + 1)) };
}

export function parsePdPeers(flag: string, v: string): Map<number, PdPeerAddress> {
  const peers = new Map<number, PdPeerAddress>();
  for (const part of v.split(',').filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    const id = intValue(`${flag} PD id`, eq < 0 ? part : part.slice(0, eq), 1);
    if (peers.has(id)) throw new FlagError(`${flag}: PD ${id} listed twice`);
    peers.set(id, eq < 0 ? { raft: '', client: '' } : parsePeerAddress(`${flag} PD ${id}`, part.slice(eq + 1)));
  }
  return peers;
}

export const PD_FLAGS = {
  id: int({ help: "this PD node's id (positive integer)", min: 1, max: 2 ** 32 - 1, required: true }),
  dataDir: str({ help: 'data directory (created if missing)', value: 'DIR', required: true, nonEmpty: true }),
  host: str({ help: 'listen address for client gRPC, raft and HTTP (0.0.0.0 or ::\n= every interface: needs --advertise-host)', value: 'H', default: '127.0.0.1' }),
  advertiseHost: custom({
    help: 'host of this node\'s client address as PD gives it out (members,\nnot-leader redirects), with the bound --port; required when\n--host is a wildcard (other members\' addresses: --peers)',
    value: 'H', parse: parseHost, default: undefined as string | undefined, defaultText: '--host',
  }),
  port: port({ help: 'client gRPC port (stores, clients), 0 = ephemeral', default: 0 }),
  raftPort: port({ help: 'PD-to-PD raft port, 0 = ephemeral', value: 'R', default: 0 }),
  peers: custom({
    help: "the PD members: raft address / client address (this node's own\nentry may be listed and is ignored); a bare ID gets its addresses\nlater via --admin-stdin (default: none, 1-node PD)",
    value: 'ID=RH:RP/CH:CP,..', parse: parsePdPeers, default: new Map<number, PdPeerAddress>(),
  }),
  join: bool({
    help: 'join a running PD cluster: an empty data dir waits to be added\n(rangekv ctl pd members add) instead of starting a new cluster;\n--peers names the current members',
  }),
  initialStores: int({ help: 'stores that must join before range 1 is created', min: 1, max: 1000, default: 3 }),
  httpPort: port({ help: '/health, /metrics; 0 = ephemeral', off: true, default: 0 }),
  tickMs: int({ help: 'raft tick', value: 'MS', min: 1, max: 60_000, default: 50 }),
  electionTicks: int({ help: 'election timeout in ticks', min: 2, default: 10 }),
  heartbeatTicks: int({ help: 'heartbeat interval in ticks (below --election-ticks)', min: 1, default: 2 }),
  adminStdin: bool({ help: 'read JSON lines on stdin: {"peers":{"2":"RH:RP/CH:CP"}}' }),
  noLeaderBalance: bool({ help: 'do not run the leader balance scheduler (leaders stay where\nthey are put)' }),
  leaderBalanceIntervalMs: int({ help: 'how often the leader balance scheduler plans', value: 'MS', min: 1, max: 3_600_000, default: DEFAULT_PD_LIMITS.leaderBalanceIntervalMs }),
  leaderBalanceWarmupMs: int({
    help: 'a new PD leader waits this long for the stores\' range reports\nbefore balancing leaders', value: 'MS', min: 1, max: 3_600_000,
    default: DEFAULT_PD_LIMITS.leaderBalanceWarmupMs,
  }),
  noReplicaChecker: bool({ help: 'do not run the replica checker (ranges that lose a replica stay short)' }),
  locationLabels: list({
    help: 'store label keys, outermost first (zone,rack,host): a range\'s replicas go\nto stores with the most distinct values (stores send --labels)',
    value: 'K,K,..', item: (f, v) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(v)) throw new FlagError(`${f}: "${v}" is not a label key`);
      return v;
    }, unique: true,
  }),
  noHotBalance: bool({ help: 'do not run the hot-range scheduler (leaders are not moved for write load)' }),
  noSplitChecker: bool({ help: 'do not run the split checker (ranges are split only when asked)' }),
  noMergeChecker: bool({ help: 'do not run the merge checker (ranges are merged only when asked)' }),
  rangeSplitBytes: int({ help: 'the split checker splits a range this large (bytes, as its\nleader measured)', value: 'B', min: 1, max: 2 ** 40, default: DEFAULT_PD_LIMITS.rangeSplitBytes }),
  rangeSplitKeys: int({ help: '...or with this many keys', value: 'N', min: 1, max: 2 ** 40, default: DEFAULT_PD_LIMITS.rangeSplitKeys }),
  noReplicaBalance: bool({ help: 'do not run the replica balance scheduler (replicas stay where\nthey are put; a new store stays empty)' }),
  replicaCount: int({ help: 'voters every range should have', value: 'N', min: 1, max: 7, default: DEFAULT_PD_LIMITS.replicaCount }),
  maxStoreDownTimeMs: int({
    help: 'a store silent this long is dead: its replicas are replaced\non the other stores', value: 'MS', min: 1, max: 2 ** 31 - 1,
    default: DEFAULT_PD_LIMITS.maxStoreDownTimeMs,
  }),
  storeDownAfterMs: int({
    help: 'a store silent this long is DOWN: no new replicas or leaders\ngo to it', value: 'MS', min: 1, max: 2 ** 31 - 1,
    default: DEFAULT_PD_LIMITS.storeDownAfterMs,
  }),
  logLevel: oneOf({ help: 'debug | info | warn | error', value: 'L', choices: LOG_LEVELS, default: 'info' }),
  ...TLS_FLAGS,
};

export const PD_USAGE = flagUsage(PD_FLAGS, {
  synopsis: 'usage: pd-main --id N --data-dir DIR [flags]',
  footer: 'A new cluster\'s members all start with the same --peers; once the data dir holds PD\'s\nstate, the membership is the one PD keeps (changed at run time with rangekv ctl pd members).\nPrints {"event":"ready","pdId":N,"port":P,"raftPort":R,"httpPort":H|null} on stdout when serving;\nSIGTERM or SIGINT stops it gracefully (exit 0); bad flags exit 2.',
});

/** argv (and `sources.env`, and the --config file) -> PdFlags; FlagError naming what is wrong. */
export function parsePdFlags(argv: readonly string[], sources: FlagSources = {}): PdFlags {
  const r = parseFlags(PD_FLAGS, argv, sources);
  if (r.help) {
    return {
      id: 0, dataDir: '', host: '', advertiseHost: '', port: 0, raftPort: 0, httpPort: null, peers: new Map(), join: false, initialStores: 3,
      tickMs: 50, electionTicks: 10, heartbeatTicks: 2, adminStdin: false, leaderBalance: true,
      leaderBalanceIntervalMs: DEFAULT_PD_LIMITS.leaderBalanceIntervalMs, leaderBalanceWarmupMs: DEFAULT_PD_LIMITS.leaderBalanceWarmupMs,
      replicaChecker: true, replicaBalance: true, splitChecker: true, hotBalance: true, mergeChecker: true, locationLabels: [], rangeSplitBytes: DEFAULT_PD_LIMITS.rangeSplitBytes,
      rangeSplitKeys: DEFAULT_PD_LIMITS.rangeSplitKeys, replicaCount: DEFAULT_PD_LIMITS.replicaCount, maxStoreDownTimeMs: DEFAULT_PD_LIMITS.maxStoreDownTimeMs,
      storeDownAfterMs: DEFAULT_PD_LIMITS.storeDownAfterMs, logLevel: 'info', help: true, tls: { tlsClientAuth: 'require', tlsReloadCheckMs: 10_000 },
    };
  }
  return pdFlagsFrom(r);
}

/** The checks between flags, on parsed values (the CLI parses with its own defaults, then calls this). */
export function pdFlagsFrom(r: ParsedFlags<typeof PD_FLAGS>): PdFlags {
  const v = r.values;
  // Every member may get the same list (as etcd's --initial-cluster): this node's own entry is dropped.
  const peers = new Map(v.peers);
  peers.delete(v.id);
  if (v.heartbeatTicks >= v.electionTicks) throw new FlagError('--heartbeat-ticks must be below --election-ticks');
  if (v.maxStoreDownTimeMs < v.storeDownAfterMs) throw new FlagError('--max-store-down-time-ms must not be below --store-down-after-ms');
  const advertiseHost = v.advertiseHost ?? v.host;
  if (isWildcardHost(advertiseHost)) {
    throw new FlagError(`--host ${v.host} listens on every interface: --advertise-host is required (the address stores, clients and the other PD members reach this node at)`);
  }
  return {
    id: v.id, dataDir: v.dataDir, host: v.host, advertiseHost, port: v.port, raftPort: v.raftPort, httpPort: v.httpPort, peers, join: v.join,
    initialStores: v.initialStores, tickMs: v.tickMs, electionTicks: v.electionTicks, heartbeatTicks: v.heartbeatTicks,
    adminStdin: v.adminStdin, leaderBalance: !v.noLeaderBalance, leaderBalanceIntervalMs: v.leaderBalanceIntervalMs,
    leaderBalanceWarmupMs: v.leaderBalanceWarmupMs, replicaChecker: !v.noReplicaChecker, replicaBalance: !v.noReplicaBalance,
    splitChecker: !v.noSplitChecker, hotBalance: !v.noHotBalance, mergeChecker: !v.noMergeChecker, locationLabels: [...v.locationLabels], rangeSplitBytes: v.rangeSplitBytes, rangeSplitKeys: v.rangeSplitKeys,
    replicaCount: v.replicaCount,
    maxStoreDownTimeMs: v.maxStoreDownTimeMs, storeDownAfterMs: v.storeDownAfterMs, logLevel: v.logLevel, help: false,
    tls: {
      tlsCaFile: v.tlsCaFile, tlsCertFile: v.tlsCertFile, tlsKeyFile: v.tlsKeyFile, tlsClientAuth: v.tlsClientAuth,
      tlsReloadCheckMs: v.tlsReloadCheckMs, adminTokenFile: v.adminTokenFile, httpTls: v.httpTls,
    },
  };
}

// Flags of the store process (store-main.ts): declarations over @rangekv/runtime's flag
// parser (command line over RANGEKV_* environment over a --config file), then the checks
// between flags, into plain data. Kept apart from the entry point so it can be tested, and
// loadable without the store (the rangekv CLI reads STORE_FLAGS through
// "@rangekv/store/store-flags").
import {
  bool, custom, FlagError, flagUsage, int, intValue, isWildcardHost, list, LOG_LEVELS, oneOf, parseAddress, parseFlags, parseHost, port, str,
  TLS_FLAGS, DEFAULT_MALLOC_TRIM_INTERVAL_MS, MAX_MALLOC_TRIM_INTERVAL_MS, MIN_MALLOC_TRIM_INTERVAL_MS,
  DEFAULT_RECLAIM_GROWTH_BYTES, MAX_RECLAIM_GROWTH_BYTES, MIN_RECLAIM_GROWTH_BYTES,
  type FlagSources, type LogLevel, type ParsedFlags, type TlsFlagValues,
} from '@rangekv/runtime';

export interface StoreFlags {
  /** 0: from the data dir's identity file, else allocated by PD (only with --pd). */
  storeId: number;
  /** Placement driver endpoints; empty = static cluster (--peers / --bootstrap). */
  pd: string[];
  /** --help: print usage and exit 0. */
  help: boolean;
  dataDir: string;
  /** Listen host of the KV, raft and HTTP servers (0.0.0.0 / :: = every interface). */
  host: string;
  /**
   * The host PD, the other stores and clients are told to reach this store at (with the
   * bound ports): --advertise-host, else `host` (which is then no wildcard).
   */
  advertiseHost: string;
  /** KV gRPC port (0 = ephemeral). */
  port: number;
  /** Raft transport port (0 = ephemeral). */
  raftPort: number;
  /** HTTP status port (/metrics, /health, /debug/ranges); 0 = ephemeral, null = off. */
  httpPort: number | null;
  /** Raft addresses of peer stores. */
  peers: Map<number, string>;
  /** Location labels sent to PD (zone, rack, host, ...). */
  labels: Record<string, string>;
  /** Store ids of range 1's replicas: bootstrap an empty data dir first. */
  bootstrap: number[] | null;
  tickMs: number;
  /** Apply worker threads (0 = apply on the main thread). */
  /** Absent: StoreServer's default (defaultApplyWorkers: 1 with 4+ cores, else 0). */
  applyWorkers?: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Read admin commands (JSON lines) on stdin: {"peers": {"2": "127.0.0.1:7002"}}. */
  adminStdin: boolean;
  /** Tests: accept {"faults": {...}} admin lines (fault-injection.ts); needs adminStdin. */
  faultInjection: boolean;
  logLevel: LogLevel;
  /** Log compaction overrides (log-compactor.ts); absent = the defaults. */
  logCompaction: { logCompactionThresholdEntries?: number; logCompactionKeepEntries?: number; maxFollowerLagEntries?: number };
  /** Uninitialized replica overrides (uninitialized-replicas.ts); absent = the defaults. */
  uninitialized: { uninitializedIdleMs?: number; uninitializedGcAfterMs?: number };
  /** Replica GC overrides (replica-gc.ts, with --pd); absent = the defaults. */
  replicaGc: { replicaGcIntervalMs?: number };
  /** Size check overrides (size-check.ts); absent = the defaults. */
  sizeCheck: { splitCheckDiffBytes?: number };
  /** RocksDB memory overrides (storage limits, storage README "Memory"); absent = the defaults. */
  storageMemory: { memtableBudgetBytes?: number; blockCacheBytes?: number };
  /** How often freed heap memory is given back to the kernel (runtime MallocTrimmer); 0 = never. */
  mallocTrimIntervalMs: number;
  /** Reclaim after a burst once V8's used heap + external memory grew this much (runtime MallocTrimmer `reclaim`); 0 = never. */
  reclaimGrowthBytes: number;
  /** Scheduler overrides (multiraft SchedulerLimits); absent = the defaults. */
  scheduler: { maxDirectPersistGroups?: number };
  /** TLS and admin token flags, loaded by runtime securityFrom() in the main. */
  tls: TlsFlagValues;
}

/** Labels a store may carry (PD refuses more). */
export const MAX_STORE_LABELS = 8;

/** "zone=z1,rack=r1" -> labels; keys and values of 1-64 letters, digits, `_`, `.`, `-`. */
export function parseLabels(flag: string, v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',').filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const val = eq < 0 ? '' : part.slice(eq + 1);
    const ok = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
    if (!ok.test(k) || !ok.test(val)) throw new FlagError(`${flag}: "${part}" is not KEY=VALUE (1-64 of [A-Za-z0-9_.-] each)`);
    if (Object.hasOwn(out, k)) throw new FlagError(`${flag}: ${k} given twice`);
    out[k] = val;
  }
  if (Object.keys(out).length > MAX_STORE_LABELS) throw new FlagError(`${flag}: at most ${MAX_STORE_LABELS} labels`);
  return out;
}

/** "ID=HOST:PORT,..." -> store id -> raft address. */
export function parsePeers(flag: string, v: string): Map<number, string> {
  const peers = new Map<number, string>();
  for (const part of v.split(',').filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new FlagError(`${flag}: "${part}" is not ID=HOST:PORT`);
    const id = intValue(`${flag} store id`, part.slice(0, eq), 1);
    if (peers.has(id)) throw new FlagError(`${flag}: store ${id} listed twice`);
    peers.set(id, parseAddress(`${flag} store ${id}`, part.slice(eq + 1)));
  }
  return peers;
}

export const STORE_FLAGS = {
  dataDir: str({ help: 'data directory (created if missing)', value: 'DIR', required: true, nonEmpty: true }),
  storeId: int({ help: "this store's id (positive integer); required without --pd;\nwith --pd: from the data dir, else allocated by PD", min: 1 }),
  pd: list({ help: "placement driver endpoints: register, heartbeat, learn peers\nand range 1's bootstrap from PD", value: 'H:P[,H:P..]', item: parseAddress, unique: true }),
  host: str({ help: 'listen address for KV, raft and HTTP (0.0.0.0 or :: = every\ninterface: needs --advertise-host)', value: 'H', default: '127.0.0.1' }),
  advertiseHost: custom({
    help: 'host given to PD for this store\'s KV, raft and HTTP addresses\n(what clients and other stores dial), with the bound ports;\nrequired when --host is a wildcard',
    value: 'H', parse: parseHost, default: undefined as string | undefined, defaultText: '--host',
  }),
  port: port({ help: 'KV gRPC port, 0 = ephemeral', default: 0 }),
  raftPort: port({ help: 'raft transport port, 0 = ephemeral', default: 0 }),
  httpPort: port({ help: '/metrics, /health, /debug/ranges; 0 = ephemeral', off: true, default: 0 }),
  peers: custom({ help: 'raft addresses of the other stores', value: 'ID=HOST:PORT,..', parse: parsePeers, default: new Map<number, string>() }),
  labels: custom({
    help: 'where this store runs, for PD (with --pd): replicas of a range\ngo to stores with the most distinct values of PD\'s --location-labels',
    value: 'K=V,..', parse: parseLabels, default: {} as Record<string, string>,
  }),
  bootstrap: list({ help: 'create range 1 with replicas on these stores (empty data dir only)', value: 'ID,ID,..', item: (f, v) => intValue(f, v, 1), unique: true }),
  tickMs: int({ help: 'raft tick', value: 'MS', min: 1, max: 60_000, default: 50 }),
  applyWorkers: int({ help: 'apply worker threads, 0 = on the main thread', max: 16, defaultText: '1 with 4+ cores, else 0' }),
  electionTicks: int({ help: 'election timeout in ticks', min: 2, default: 10 }),
  heartbeatTicks: int({ help: 'heartbeat interval in ticks (below --election-ticks)', min: 1, default: 2 }),
  adminStdin: bool({ help: 'read admin JSON lines on stdin ({"peers":{"2":"127.0.0.1:7002"}})' }),
  faultInjection: bool({ help: 'for tests: accept {"faults":{...}} lines on stdin (cut raft traffic\nto/from stores, slow the disk); requires --admin-stdin' }),
  logLevel: oneOf({ help: 'debug | info | warn | error', value: 'L', choices: LOG_LEVELS, default: 'info' }),
  // Absent: the defaults of log-compactor.ts / uninitialized-replicas.ts (shown here as text,
  // so that reading the declarations loads neither).
  logCompactionThresholdEntries: int({ help: 'compact a log past N applied entries', min: 1, defaultText: '10000' }),
  logCompactionKeepEntries: int({ help: 'entries kept behind applied', defaultText: '1000' }),
  maxFollowerLagEntries: int({ help: 'followers further behind get snapshots', defaultText: '50000' }),
  uninitializedIdleMs: int({ help: 'a replica created by message and silent this long goes dormant', value: 'MS', min: 1, defaultText: '30000' }),
  uninitializedGcAfterMs: int({ help: 'a dormant one PD says is gone is destroyed after this long', value: 'MS', min: 1, defaultText: '300000' }),
  splitCheckDiffBytes: int({
    help: 'bytes written to a range led here that start a new size check\n(its size and middle key, reported to PD for splits)', value: 'B', min: 1,
    max: 2 ** 40, defaultText: String(8 << 20),
  }),
  memtableBudgetBytes: int({
    help: 'RocksDB memtables of the user-data column family\n(the raft log gets half, meta a quarter)', value: 'B', min: 4 << 20,
    max: 2 ** 40, defaultText: String(32 << 20),
  }),
  blockCacheBytes: int({
    help: 'RocksDB block cache of the user-data column family\n(the raft log gets half, meta a quarter)', value: 'B', min: 1,
    max: 0xffff_ffff, defaultText: String(8 << 20),
  }),
  mallocTrimIntervalMs: int({
    help: 'give freed heap memory back to the kernel (glibc malloc_trim,\non the thread pool) this often; 0 = never', value: 'MS', min: 0,
    max: MAX_MALLOC_TRIM_INTERVAL_MS, default: DEFAULT_MALLOC_TRIM_INTERVAL_MS,
  }),
  reclaimGrowthBytes: int({
    help: 'after a burst, once V8\'s used heap + external memory stands\nthis far above its low point and goes quiet: one full\ncollection (when started with --expose-gc) and a trim; 0 = never', value: 'B', min: 0,
    max: MAX_RECLAIM_GROWTH_BYTES, default: DEFAULT_RECLAIM_GROWTH_BYTES,
  }),
  maxDirectPersistGroups: int({
    help: 'ranges in a raft cycle whose persist the main thread may write\nand fsync itself while the log writer is idle (4 measured\nfastest); 0 = always the log-writer thread', value: 'N', min: 0,
    max: 1024, defaultText: '4', // the ready loop's DEFAULT_SCHEDULER_LIMITS (not imported: this module loads without the store)
  }),
  replicaGcIntervalMs: int({
    help: 'with --pd: how often replicas without a leader are checked\nwith PD and destroyed if removed from their range', value: 'MS', min: 1,
    max: 2 ** 31 - 1, defaultText: '10000',
  }),
  ...TLS_FLAGS,
};

export const STORE_USAGE = flagUsage(STORE_FLAGS, {
  synopsis: 'usage: store-main --data-dir DIR (--store-id N | --pd H:P[,H:P]) [flags]',
  footer: 'Prints {"event":"ready","storeId":N,"kvPort":P,"raftPort":P,"httpPort":P|null} on stdout when serving;\nSIGTERM or SIGINT stops it gracefully.',
});

const HELP_ONLY: StoreFlags = {
  storeId: 0, pd: [], help: true, dataDir: '', host: '', advertiseHost: '', port: 0, raftPort: 0, httpPort: null, peers: new Map(), labels: {}, bootstrap: null,
  tickMs: 50, electionTicks: 10, heartbeatTicks: 2, adminStdin: false, faultInjection: false, logLevel: 'info',
  logCompaction: {}, uninitialized: {}, replicaGc: {}, sizeCheck: {}, storageMemory: {}, mallocTrimIntervalMs: DEFAULT_MALLOC_TRIM_INTERVAL_MS,
  reclaimGrowthBytes: DEFAULT_RECLAIM_GROWTH_BYTES,
  scheduler: {},
  tls: { tlsClientAuth: 'require', tlsReloadCheckMs: 10_000 },
};

/** argv (and `sources.env`, and the --config file) -> StoreFlags; FlagError naming what is wrong. */
export function parseStoreFlags(argv: readonly string[], sources: FlagSources = {}): StoreFlags {
  const r = parseFlags(STORE_FLAGS, argv, sources);
  return r.help ? { ...HELP_ONLY, peers: new Map() } : storeFlagsFrom(r);
}

/** The checks between flags, on parsed values (the CLI parses with its own defaults, then calls this). */
export function storeFlagsFrom(r: ParsedFlags<typeof STORE_FLAGS>): StoreFlags {
  const v = r.values;
  if (v.storeId === undefined && v.pd.length === 0) throw new FlagError('--store-id is required');
  const storeId = v.storeId ?? 0;
  if (v.pd.length > 0 && v.bootstrap.length > 0) throw new FlagError('--bootstrap is for clusters without PD (with --pd, PD bootstraps range 1)');
  if (v.peers.has(storeId)) throw new FlagError(`--peers lists this store (${storeId}) itself`);
  if (v.bootstrap.length > 0 && !v.bootstrap.includes(storeId)) throw new FlagError(`--bootstrap must include this store (${storeId})`);
  if (v.heartbeatTicks >= v.electionTicks) throw new FlagError('--heartbeat-ticks must be below --election-ticks');
  if (v.faultInjection && !v.adminStdin) throw new FlagError('--fault-injection requires --admin-stdin (fault commands are read on stdin)');
  if (v.mallocTrimIntervalMs > 0 && v.mallocTrimIntervalMs < MIN_MALLOC_TRIM_INTERVAL_MS) {
    throw new FlagError(`--malloc-trim-interval-ms must be 0 (never) or at least ${MIN_MALLOC_TRIM_INTERVAL_MS}`);
  }
  if (v.reclaimGrowthBytes > 0 && v.reclaimGrowthBytes < MIN_RECLAIM_GROWTH_BYTES) {
    throw new FlagError(`--reclaim-growth-bytes must be 0 (never) or at least ${MIN_RECLAIM_GROWTH_BYTES}`);
  }
  const advertiseHost = v.advertiseHost ?? v.host;
  if (isWildcardHost(advertiseHost)) {
    throw new FlagError(`--host ${v.host} listens on every interface: --advertise-host is required (the address PD, the other stores and clients reach this store at)`);
  }
  const logCompaction: StoreFlags['logCompaction'] = {};
  if (v.logCompactionThresholdEntries !== undefined) logCompaction.logCompactionThresholdEntries = v.logCompactionThresholdEntries;
  if (v.logCompactionKeepEntries !== undefined) logCompaction.logCompactionKeepEntries = v.logCompactionKeepEntries;
  if (v.maxFollowerLagEntries !== undefined) logCompaction.maxFollowerLagEntries = v.maxFollowerLagEntries;
  const uninitialized: StoreFlags['uninitialized'] = {};
  if (v.uninitializedIdleMs !== undefined) uninitialized.uninitializedIdleMs = v.uninitializedIdleMs;
  if (v.uninitializedGcAfterMs !== undefined) uninitialized.uninitializedGcAfterMs = v.uninitializedGcAfterMs;
  const storageMemory: StoreFlags['storageMemory'] = {};
  if (v.memtableBudgetBytes !== undefined) storageMemory.memtableBudgetBytes = v.memtableBudgetBytes;
  if (v.blockCacheBytes !== undefined) storageMemory.blockCacheBytes = v.blockCacheBytes;
  return {
    storeId, pd: v.pd, help: false, dataDir: v.dataDir, host: v.host, advertiseHost, port: v.port, raftPort: v.raftPort, httpPort: v.httpPort,
    peers: new Map(v.peers), labels: { ...v.labels }, bootstrap: v.bootstrap.length > 0 ? v.bootstrap : null,
    tickMs: v.tickMs, applyWorkers: v.applyWorkers, electionTicks: v.electionTicks, heartbeatTicks: v.heartbeatTicks,
    adminStdin: v.adminStdin, faultInjection: v.faultInjection, logLevel: v.logLevel, logCompaction, uninitialized,
    replicaGc: v.replicaGcIntervalMs !== undefined ? { replicaGcIntervalMs: v.replicaGcIntervalMs } : {},
    sizeCheck: v.splitCheckDiffBytes !== undefined ? { splitCheckDiffBytes: v.splitCheckDiffBytes } : {},
    storageMemory, mallocTrimIntervalMs: v.mallocTrimIntervalMs, reclaimGrowthBytes: v.reclaimGrowthBytes,
    scheduler: v.maxDirectPersistGroups !== undefined ? { maxDirectPersistGroups: v.maxDirectPersistGroups } : {},
    tls: {
      tlsCaFile: v.tlsCaFile, tlsCertFile: v.tlsCertFile, tlsKeyFile: v.tlsKeyFile, tlsClientAuth: v.tlsClientAuth,
      tlsReloadCheckMs: v.tlsReloadCheckMs, adminTokenFile: v.adminTokenFile, httpTls: v.httpTls,
    },
  };
}

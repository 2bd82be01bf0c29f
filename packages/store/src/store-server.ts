// StoreServer: one store process: the Multi-Raft host (packages/multiraft) with the KV
// state machine plugged in, the KV and admin gRPC services, the PD link, HTTP status.
//
//   RaftHost (engine, ready loop, transport, ticks, liveness, snapshots) ── KvStoreService
//        ▲ applyEntries / reads / soft state                                  │
//        └── KvService, AdminService ◄── gRPC KV + admin server (clients)      └── PdLink
//
//   const s = await StoreServer.start({ storeId: 1, dataDir, peers: { 2: '127.0.0.1:7002' } });
//   s.kvPort; s.raftPort;  s.setPeer(3, '127.0.0.1:7003');
//   await s.stop();
//
// Start: claim the data dir (identity file), open the host (engine), build the services
// over it, start the host (a replica for every range on disk, transport, ticks), then the
// gRPC server and the PD link. Stop (graceful): move leaderships away, stop accepting KV
// calls, stop the host (in-flight persists and applies finish; what still waits is
// answered: writes ambiguous, reads unavailable; the apply workers close; the engine closes).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import * as grpc from '@grpc/grpc-js';
import { RangeExistsError, StorageEngine, type StorageEngineOptions } from '@rangekv/storage';
import { TransportFaults, type TransportLimits, type TransportMetrics } from '@rangekv/transport';
import {
  RaftHost, raftTransport, resolveSnapshotLimits, type HostCounters, type HostTiming, type LogCompactionLimits, type RaftScheduler,
  type RaftTuning, type RangeStatusSummary, type SchedulerLimits, type SnapshotLimits, type SnapshotShipper, type StoreLiveness,
  type Replica, type ReplicaGcLimits, type ReplicaGcQuery, type UninitializedLimits, type UninitializedReplicas,
} from '@rangekv/multiraft';
import {
  OPEN_ACCESS, channelCredentials, createLogger, hostPort, isWildcardHost, serverCredentials, type Logger, type Security,
} from '@rangekv/runtime';
import { bootstrapStore, claimDataDir, type BootstrapOptions } from './bootstrap.js';
import { PdLink, type PdLinkHost, type PdLinkLimits } from './pd-link.js';
import { DataDirUsage } from './data-dir-usage.js';
import { parseFaultCommand } from './fault-injection.js';
import { SyncLatency } from './sync-latency.js';
import { addAdminService } from './admin-grpc.js';
import type { AdminService } from './admin-service.js';
import { addKvService } from './kv-grpc.js';
import type { KvService } from './kv-service.js';
import { defaultApplyWorkers, type ApplyPoolLimits } from './apply-pool.js';
import type { KvResult } from './kv-state-machine.js';
import { KvStore } from './kv-store.js';
import type { SizeCheckLimits } from './size-check.js';
import { resolveStoreLimits, type StoreLimits } from './limits.js';
import { HttpStatusServer, type HttpStatusLimits, type RangesPage, type StatusSource, type StoreHealth } from './http-status.js';
import type { PendingReads } from './pending-reads.js';
import { StoreMetrics } from './store-metrics.js';

export type { RaftTuning, RangeStatusSummary } from '@rangekv/multiraft';

export interface StoreServerOptions {
  storeId: number;
  dataDir: string;
  /**
   * Placement driver endpoints ("host:port"): the store heartbeats PD, learns its peers'
   * raft addresses and range 1's bootstrap from it, and reports the ranges it leads.
   */
  pd?: readonly string[];
  pdLimits?: Partial<PdLinkLimits>;
  /** Interface of the KV server, the raft transport and HTTP (0.0.0.0 / :: = every interface); default 127.0.0.1. */
  listenHost?: string;
  /**
   * The host registered with PD (KV, raft and HTTP addresses, with the bound ports): what
   * clients and the other stores connect to. Default listenHost, which must then be no
   * wildcard (RangeError).
   */
  advertiseHost?: string;
  /** KV gRPC port; 0 (default) = ephemeral, read `kvPort`. */
  grpcPort?: number;
  /** Raft transport port; 0 (default) = ephemeral, read `raftPort`. */
  raftPort?: number;
  /** Raft address ("host:port") of a peer store; default: the `peers` map (see setPeer). */
  resolve?: (storeId: number) => string | undefined;
  /** Initial raft addresses of peer stores, by store id. */
  peers?: ReadonlyMap<number, string> | Readonly<Record<number, string>>;
  /** Milliseconds per raft tick; default 50. */
  tickMs?: number;
  /** Default 10 ticks. */
  electionTimeoutTicks?: number;
  /** Default 2 ticks. */
  heartbeatIntervalTicks?: number;
  /** Idle ranges stop ticking and heartbeating (quiescence.ts); default true. */
  quiescence?: boolean;
  /** Store liveness pings to every peer store this often; default 250 ms. */
  livenessIntervalMs?: number;
  /** A peer store not heard from this long (and for as many liveness polls) is declared down; default 2,000 ms. */
  livenessTimeoutMs?: number;
  limits?: Partial<StoreLimits>;
  raft?: RaftTuning;
  scheduler?: Partial<SchedulerLimits>;
  storage?: StorageEngineOptions;
  transportLimits?: Partial<TransportLimits>;
  /** Apply worker threads (piscina); 0 = apply inline on the main thread. Default defaultApplyWorkers(): 1 with 4+ cores, else 0. */
  applyWorkers?: number;
  /** Limits of the apply pool (tasks in flight, entries/bytes per task). */
  applyLimits?: Partial<Omit<ApplyPoolLimits, 'threads'>>;
  /** Tests: one TransportFaults shared by several stores; default a private one (applyFaults). */
  transportFaults?: TransportFaults;
  /** Snapshot stream bounds (multiraft snapshot-limits.ts). */
  snapshots?: Partial<SnapshotLimits>;
  /** Any other host timing (multiraft timing.ts: leaseMarginTicks, ...); the fields above win over it. */
  timing?: Partial<HostTiming>;
  /** Bounds and collection of replicas created by message (uninitialized-replicas.ts). */
  uninitialized?: Partial<UninitializedLimits>;
  /** Collection of replicas removed while this store was away (with `pd` only; replica-gc.ts). */
  replicaGc?: Partial<ReplicaGcLimits>;
  /** Size checks of the ranges led here, reported to PD (size-check.ts). */
  sizeCheck?: Partial<SizeCheckLimits>;
  /** Location labels sent to PD with every heartbeat (`--labels`). */
  labels?: Record<string, string>;
  /** When the store compacts raft logs (log-compactor.ts). */
  logCompaction?: Partial<LogCompactionLimits>;
  log?: Logger;
  /**
   * HTTP status server (/metrics, /health, /debug/ranges, see http-status.ts) on
   * listenHost: 0 (default) = ephemeral port, read `httpPort`; null = no HTTP server.
   */
  httpPort?: number | null;
  httpLimits?: Partial<HttpStatusLimits>;
  /** Export process metrics (CPU, RSS, event loop, GC) too; one store per process only (store-main). */
  processMetrics?: boolean;
  /** A disk failure or broken invariant: the store has stopped (or is stopping) itself. */
  onFatal?: (err: unknown) => void;
  /**
   * TLS and who may call what (runtime securityFrom). With certificates: the KV/admin port
   * serves TLS (client certificates per `clientCerts`), the raft port mutual TLS between
   * store certificates, and PD is called with this store's certificate. Default plaintext
   * with every call allowed.
   */
  security?: Pick<Security, 'certs' | 'clientCerts' | 'access'> & { httpTls?: boolean };
}


function peersMap(p: StoreServerOptions['peers']): Map<number, string> {
  if (p === undefined) return new Map();
  if (p instanceof Map) return new Map(p);
  return new Map(Object.entries(p).map(([k, v]) => [Number(k), v]));
}

/** Ids a store allocates itself: [storeId * 2^32, (storeId + 1) * 2^32), apart from every other store's and PD's (below 2^32). */
export function storeIdSpace(storeId: number): { first: number; limit: number; blockSize: number } {
  if (!Number.isSafeInteger(storeId) || storeId <= 0 || storeId >= 2 ** 20) throw new RangeError(`store id must be in 1..2^20-1, got ${storeId}`);
  return { first: storeId * 2 ** 32, limit: (storeId + 1) * 2 ** 32, blockSize: 64 };
}

/** Written once a store created range 1 from PD's bootstrap. */
export const PD_BOOTSTRAP_MARKER = 'pd-bootstrapped.json';

export class StoreServer {
  readonly storeId: number;
  readonly limits: StoreLimits;
  readonly log: Logger;
  /** The KV state machine on its Multi-Raft host (kv-store.ts). */
  readonly store: KvStore;
  private readonly peers: Map<number, string>;
  private grpcServer: grpc.Server | null = null;
  private stopping: Promise<void> | null = null;
  private pdLink: PdLink | null = null;
  private bootstrapping = false;
  private port = 0;
  /** Prometheus metrics of this store, in a registry of its own (store-metrics.ts). */
  readonly metrics: StoreMetrics;
  /** The disk's sync latency per store heartbeat, for PD's slow-store eviction. */
  private readonly syncLatency = new SyncLatency(() => this.engine.logWriter.oldestInflightId(), () => performance.now());
  private http: HttpStatusServer | null = null;
  /** Every part started: /health answers 200 from then until stop() or a fatal error. */
  private serving = false;

  /** Writes range 1 over the whole keyspace into an empty data dir (see bootstrap.ts). */
  static bootstrap(dataDir: string, opts: BootstrapOptions): Promise<void> {
    return bootstrapStore(dataDir, opts);
  }

  static async start(opts: StoreServerOptions): Promise<StoreServer> {
    const listen = opts.listenHost ?? '127.0.0.1';
    if (isWildcardHost(opts.advertiseHost ?? listen)) {
      throw new RangeError(`store ${opts.storeId}: ${opts.advertiseHost !== undefined ? `advertiseHost ${opts.advertiseHost}` : `listenHost ${listen} (every interface) without advertiseHost`}: no address to register with PD`);
    }
    const ident = claimDataDir(opts.dataDir, opts.storeId);
    const limits = resolveStoreLimits(opts.limits);
    const snapLimits = resolveSnapshotLimits(opts.snapshots);
    const log = (opts.log ?? createLogger()).child({ storeId: opts.storeId });
    const peers = peersMap(opts.peers);
    const resolve = (id: number): string | undefined => (opts.resolve ? opts.resolve(id) : peers.get(id));
    let pdLink: PdLink | null = null;
    const faults = opts.transportFaults ?? new TransportFaults(opts.storeId);
    const host = await RaftHost.open<KvResult>({
      storeId: opts.storeId, log,
      engine: () => StorageEngine.open(opts.dataDir, {
        ...(opts.storage ?? {}),
        limits: { maxSnapshotChunkBytes: snapLimits.snapshotChunkBytes, ...(opts.storage?.limits ?? {}) },
      }),
      transport: raftTransport({
        storeId: opts.storeId, listenHost: listen, listenPort: opts.raftPort ?? 0, resolve,
        ...(opts.transportLimits ? { limits: opts.transportLimits } : {}),
        faults,
        snapshotLimits: snapLimits,
        ...(opts.security?.certs ? { tls: { certs: opts.security.certs, peerRole: 'store' as const } } : {}),
      }),
      timing: {
        ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
        ...(opts.electionTimeoutTicks !== undefined ? { electionTimeoutTicks: opts.electionTimeoutTicks } : {}),
        ...(opts.heartbeatIntervalTicks !== undefined ? { heartbeatIntervalTicks: opts.heartbeatIntervalTicks } : {}),
        ...(opts.livenessIntervalMs !== undefined ? { livenessIntervalMs: opts.livenessIntervalMs } : {}),
        ...(opts.livenessTimeoutMs !== undefined ? { livenessTimeoutMs: opts.livenessTimeoutMs } : {}),
        ...(opts.timing ?? {}),
      },
      ...(opts.raft ? { raft: opts.raft } : {}),
      ...(opts.scheduler ? { scheduler: opts.scheduler } : {}),
      ...(opts.quiescence !== undefined ? { quiescence: opts.quiescence } : {}),
      ...(opts.logCompaction ? { logCompaction: opts.logCompaction } : {}),
      snapshots: snapLimits,
      ...(opts.uninitialized ? { uninitialized: opts.uninitialized } : {}),
      isGone: (rangeId) => pdLink?.rangeGone(rangeId) ?? Promise.resolve(null),
      ...(opts.pd && opts.pd.length > 0 ? {
        isRemoved: (q: ReplicaGcQuery) => pdLink?.replicaRemoved(q) ?? Promise.resolve(null),
        rangeVersion: (rangeId: number) => pdLink?.rangeVersion(rangeId) ?? Promise.resolve(null),
      } : {}),
      ...(opts.replicaGc ? { replicaGc: opts.replicaGc } : {}),
      knownPeers: () => (opts.resolve ? [] : peers.keys()),
    });
    const s = new StoreServer(opts, limits, host, peers, faults, ident.token, log);
    try {
      await s.startParts(opts, (l) => {
        pdLink = l;
      });
    } catch (e) {
      await s.stop().catch(() => {});
      throw e;
    }
    return s;
  }

  private constructor(
    private readonly opts: StoreServerOptions, limits: StoreLimits, host: RaftHost<KvResult>, peers: Map<number, string>,
    private readonly faults: TransportFaults, private readonly token: string, log: Logger,
  ) {
    this.storeId = opts.storeId;
    this.limits = limits;
    this.log = log;
    this.peers = peers;
    this.metrics = this.createMetrics(opts, host);
    this.store = new KvStore({
      storeId: opts.storeId, host, limits, log, metrics: this.metrics,
      applyWorkers: opts.applyWorkers ?? defaultApplyWorkers(),
      ...(opts.applyLimits ? { applyLimits: opts.applyLimits } : {}),
      ids: host.engine.idAllocator('range', storeIdSpace(opts.storeId)),
      storeKnown: (id) => this.resolvePeer(id) !== undefined,
      ...(opts.sizeCheck ? { sizeCheck: opts.sizeCheck } : {}),
      events: {
        onSplit: (left, right) => {
          this.pdLink?.rangeChanged(left.rangeId);
          this.pdLink?.rangeChanged(right.rangeId);
        },
        onMembership: (d) => this.pdLink?.rangeChanged(d.rangeId),
        onMerge: (merged) => this.pdLink?.rangeChanged(merged.rangeId),
        onBecameLeader: (rangeId) => this.pdLink?.rangeChanged(rangeId),
        onSizeChecked: (rangeId) => this.pdLink?.rangeChanged(rangeId),
        onFatal: (err) => {
          this.log.error('fatal store error: stopping', { err });
          void this.stop().catch((e: unknown) => this.log.error('stop after fatal error failed', { err: e }));
          this.opts.onFatal?.(err);
        },
      },
    });
  }

  // The parts, for tests and tools.
  get host(): RaftHost<KvResult> {
    return this.store.host;
  }

  get kv(): KvService {
    return this.store.kv;
  }

  get admin(): AdminService {
    return this.store.admin;
  }

  get reads(): PendingReads {
    return this.store.reads;
  }

  get engine(): StorageEngine {
    return this.host.engine;
  }

  get scheduler(): RaftScheduler<KvResult> {
    return this.host.scheduler;
  }

  get liveness(): StoreLiveness {
    return this.host.liveness;
  }

  get uninitialized(): UninitializedReplicas<KvResult> {
    return this.host.uninitialized;
  }

  get snapshots(): SnapshotShipper<KvResult> {
    return this.host.snapshots;
  }

  get counters(): HostCounters {
    return this.host.counters;
  }

  get failedRanges(): ReadonlyMap<number, string> {
    return this.host.failedRanges;
  }

  get snapshotLimits(): SnapshotLimits {
    return this.host.snapshotLimits;
  }

  /** The error that stopped the store (disk failure, broken invariant), or null. */
  get fatal(): unknown {
    return this.host.fatal;
  }

  get kvPort(): number {
    return this.port;
  }

  /** The host registered with PD (advertiseHost, else listenHost). */
  get advertiseHost(): string {
    return this.opts.advertiseHost ?? this.opts.listenHost ?? '127.0.0.1';
  }

  get raftPort(): number {
    return this.host.transport.port;
  }

  /** The HTTP status server's port; null when it is off (`httpPort: null`). */
  get httpPort(): number | null {
    return this.http === null ? null : this.http.port;
  }

  /** Where committed entries are applied: 'pool' (apply workers) or 'inline' (applyWorkers: 0). */
  get applyMode(): 'inline' | 'pool' {
    return this.store.applyMode;
  }

  /** A peer store's raft address: `opts.resolve`, else the peers map (setPeer). */
  private resolvePeer(storeId: number): string | undefined {
    return this.opts.resolve ? this.opts.resolve(storeId) : this.peers.get(storeId);
  }

  /** Sets (or changes) a peer store's raft address; used at its next (re)connect. */
  setPeer(storeId: number, address: string): void {
    this.peers.set(storeId, address);
  }

  /**
   * Fault injection (tests; store-main --fault-injection): `cmd` is checked whole
   * (fault-injection.ts), then applied: dropTo cuts this store's sends, dropFrom discards
   * what it receives, heal turns every transport fault off (for every store sharing a
   * `transportFaults`), syncDelayMs slows its log-writer thread. FaultCommandError on a bad
   * command, which changes nothing.
   */
  applyFaults(cmd: unknown): void {
    const c = parseFaultCommand(cmd, this.storeId);
    if (c.heal) this.faults.reset();
    for (const to of c.dropTo ?? []) this.faults.cutOneWay(this.storeId, to);
    for (const from of c.dropFrom ?? []) this.faults.blockInboundFrom(this.storeId, from);
    if (c.syncDelayMs !== undefined) this.engine.logWriter.setSyncDelay(c.syncDelayMs);
    this.log.warn('faults injected', { faults: c });
  }

  private async startParts(opts: StoreServerOptions, linked: (l: PdLink) => void): Promise<void> {
    const listen = opts.listenHost ?? '127.0.0.1';
    // First, so /health says "starting" while the ranges load.
    if (opts.httpPort !== null) this.http = await this.startHttp(listen, opts.httpPort ?? 0, opts.httpLimits ?? {});
    this.engine.logWriter.onSync = (us) => {
      this.metrics.walFsyncSeconds.observe(us / 1e6);
      this.syncLatency.observe(us);
    };
    await this.store.start();
    const server = new grpc.Server({
      // No channelz: it tracks every call (CPU per request) and nothing here reads it.
      'grpc.enable_channelz': 0,
      'grpc.max_receive_message_length': this.limits.maxGrpcMessageBytes,
      'grpc.max_send_message_length': this.limits.maxGrpcMessageBytes,
    });
    this.grpcServer = server;
    const observe = (method: string, code: string, sec: number): void => this.metrics.grpcSeconds.observe({ method, code }, sec);
    const sec = opts.security;
    const access = sec?.access ?? OPEN_ACCESS;
    addKvService(server, this.kv, this.log, observe, access);
    addAdminService(server, this.admin, this.log, observe, access);
    const creds = serverCredentials(sec?.certs ?? null, { requireClientCert: sec?.clientCerts ?? false });
    this.port = await new Promise<number>((res, rej) => {
      server.bindAsync(hostPort(listen, opts.grpcPort ?? 0), creds, (err, p) => (err ? rej(err) : res(p)));
    });
    if (opts.pd && opts.pd.length > 0) {
      this.pdLink = new PdLink(opts.pd, this.pdHost(this.advertiseHost), opts.pdLimits ?? {}, channelCredentials(sec?.certs ?? null));
      linked(this.pdLink);
      this.pdLink.start();
    }
    this.serving = true;
    this.log.info('store serving', {
      listenHost: listen, advertiseHost: this.advertiseHost, kvPort: this.port, raftPort: this.raftPort, httpPort: this.httpPort, ranges: this.scheduler.size,
    });
  }

  /** The raft transport's counters (heartbeat and liveness packets per peer, drops). */
  transportMetrics(): TransportMetrics {
    return this.host.transport.metrics();
  }

  /** Ranges on this store that are quiescent now. */
  get quiescentCount(): number {
    return this.scheduler.quiescentCount;
  }

  /** Plain-data view of every range on this store (tests, tools). */
  status(): RangeStatusSummary[] {
    return this.host.status();
  }

  /** What /health answers (http-status.ts): serving (200) or why not (503). */
  health(): StoreHealth {
    const storeId = this.storeId;
    const fatal = this.host.fatal;
    if (fatal !== null) return { storeId, status: 'failed', reason: `fatal error: ${fatal instanceof Error ? fatal.message : String(fatal)}` };
    if (this.stopping !== null) return { storeId, status: 'stopping', reason: 'store is stopping' };
    if (!this.serving) return { storeId, status: 'starting', reason: 'store is starting' };
    return { storeId, status: 'serving', ranges: this.scheduler.size, leaders: this.host.leaderCount };
  }

  /** status() of the ranges with id > after, at most `limit` (for /debug/ranges). */
  statusPage(after: number, limit: number): RangesPage {
    const all = this.status().filter((r) => r.rangeId > after);
    const ranges = all.slice(0, limit);
    return { ranges, next: all.length > limit ? ranges[ranges.length - 1]!.rangeId : null };
  }

  private createMetrics(opts: StoreServerOptions, host: RaftHost<KvResult>): StoreMetrics {
    return new StoreMetrics({
      replicas: () => host.scheduler.all(),
      transport: () => {
        try {
          return host.transport.metrics();
        } catch {
          return null; // before the host started
        }
      },
      snapshots: () => ({ sent: host.counters.snapshotsSent, received: host.counters.snapshotsReceived }),
      scheduler: () => host.scheduler.stats,
      logWriter: () => host.engine.writerStats(),
      reads: () => this.store.reads.counts,
      failedReplicas: () => host.failedRanges.size,
      uninitialized: () => ({ live: host.uninitialized.size, dormant: host.uninitialized.dormantCount }),
      replicaGc: () => ({
        checks: host.replicaGc?.counters.replicaGcChecks ?? 0, collected: host.replicaGc?.counters.replicasCollected ?? 0, keptForMerge: host.replicaGc?.counters.keptForMerge ?? 0,
      }),
    }, { processMetrics: opts.processMetrics ?? false });
  }

  private startHttp(host: string, port: number, limits: Partial<HttpStatusLimits>): Promise<HttpStatusServer> {
    const source: StatusSource = {
      storeId: this.storeId,
      health: () => this.health(),
      ranges: (after, limit) => this.statusPage(after, limit),
      metricsText: () => this.metrics.text(),
      metricsContentType: this.metrics.contentType,
    };
    const tls = this.opts.security?.httpTls ? this.opts.security.certs : null;
    return HttpStatusServer.start({ host, port, source, limits, tls, onError: (err) => this.log.error('http status handler failed', { err }) });
  }

  /**
   * Graceful stop; idempotent. First moves this store's leaderships to other stores
   * (unless `transferLeaders` is false, or after a fatal error), for at most
   * `leaderDrainMs`, while still serving; then stops.
   */
  stop(opts: { transferLeaders?: boolean } = {}): Promise<void> {
    if (this.stopping === null) this.stopping = this.doStop(opts.transferLeaders !== false && this.host.fatal === null);
    return this.stopping;
  }

  private async doStop(transferLeaders: boolean): Promise<void> {
    if (transferLeaders && this.serving) {
      await this.host.drainLeaders(this.limits.leaderDrainMs).catch((e: unknown) => this.log.warn('moving leaderships away failed', { err: e }));
    }
    this.pdLink?.stop();
    await this.store.stop(this.grpcServer ? this.shutdownGrpc(this.grpcServer) : Promise.resolve());
    if (this.http !== null) await this.http.stop();
    this.log.info('store stopped');
  }

  /** What the PD link reads from and does to this store; `host`: the advertised one. */
  private pdHost(host: string): PdLinkHost {
    const sched = this.scheduler;
    const usage = new DataDirUsage(this.opts.dataDir);
    const led = (r: Replica<KvResult>): ReturnType<PdLinkHost['ledRange']> => {
      const d = r.log.descriptor;
      if (!r.isLeader || r.destroyed || d === null) return null;
      return {
        rangeId: r.rangeId, descriptor: d, replicaId: r.node.id, term: r.node.status().term, applied: r.log.appliedIndex,
        size: this.store.sizeCheck.sizeOf(r.rangeId),
        reads: this.store.traffic.readsOf(r.rangeId),
      };
    };
    return {
      storeId: this.storeId,
      token: this.token,
      log: this.log,
      labels: this.opts.labels ?? {},
      addresses: () => ({
        address: hostPort(host, this.port), raftAddress: hostPort(host, this.raftPort),
        httpAddress: this.httpPort === null ? '' : hostPort(host, this.httpPort),
      }),
      stats: () => {
        let leaders = 0;
        for (const r of this.scheduler.all()) if (r.isLeader) leaders++;
        const t = this.store.traffic;
        return {
          ranges: this.scheduler.size, leaders, syncLatencyMicros: this.syncLatency.take(),
          snapshots: this.host.snapshots.inFlight,
          traffic: { writeBytes: t.writeBytes, writeKeys: t.writeKeys, readBytes: t.readBytes, readKeys: t.readKeys },
        };
      },
      disk: () => usage.figures(),
      ledRanges: function* (this: void) {
        for (const r of sched.all()) {
          const x = led(r);
          if (x !== null) yield x;
        }
      },
      ledRange: (rangeId) => {
        const r = this.scheduler.get(rangeId);
        return r ? led(r) : null;
      },
      setPeer: (storeId, addr) => {
        if (this.peers.get(storeId) !== addr) this.setPeer(storeId, addr);
      },
      bootstrap: (d) => this.bootstrapFromPd(d),
    };
  }

  /**
   * PD bootstrapped the cluster with range 1 on this store. Created once, only on a store
   * that never held a range (a marker file remembers it): a store whose replica of range 1
   * was removed later must not recreate it. The stores that bootstrapped first may already
   * have elected a leader whose message created this replica (uninitialized, to be filled
   * by snapshot): that replica stands for the bootstrap, and the marker is written all the
   * same.
   */
  private async bootstrapFromPd(d: RangeDescriptor): Promise<void> {
    if (this.bootstrapping || this.stopping !== null) return;
    const marker = join(this.opts.dataDir, PD_BOOTSTRAP_MARKER);
    if (existsSync(marker)) return;
    const me = d.replicas.find((x) => x.storeId === this.storeId);
    if (!me) return;
    this.bootstrapping = true;
    try {
      await this.host.uninitialized.settled(d.rangeId);
      if (this.stopping !== null) return;
      let created = false;
      if (this.engine.rangeIds().length === 0) {
        const voters = d.replicas.filter((x) => x.role === ReplicaRole.Voter).map((x) => x.replicaId);
        const learners = d.replicas.filter((x) => x.role === ReplicaRole.Learner).map((x) => x.replicaId);
        try {
          await this.engine.createRange({ descriptor: d, confState: { voters, learners, votersOutgoing: [], learnersNext: [], autoLeave: false } });
          created = true;
        } catch (e) {
          // A leader's message created it between the check and here.
          if (!(e instanceof RangeExistsError)) throw e;
        }
      }
      writeFileSync(marker, JSON.stringify({ rangeId: d.rangeId, at: new Date().toISOString(), created }) + '\n');
      if (created) {
        this.host.startReplica(d.rangeId);
        this.log.info('created range 1 from PD bootstrap', { rangeId: d.rangeId, replicas: d.replicas.length });
      } else if (this.engine.hasRange(d.rangeId)) {
        this.log.info('range 1 is already here (created by its leader\'s message, filled by snapshot): PD bootstrap done', { rangeId: d.rangeId });
      } else {
        this.log.info('this store already holds ranges: PD bootstrap skipped', { rangeId: d.rangeId });
      }
    } catch (e) {
      this.log.error('bootstrap from PD failed', { err: e });
    } finally {
      this.bootstrapping = false;
    }
  }

  private shutdownGrpc(server: grpc.Server): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.limits.stopGraceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

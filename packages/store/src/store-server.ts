// StoreServer: one store process's moving parts wired together.
//
//   StorageEngine (one RocksDB) ── RaftScheduler (one ready loop) ── Replica per range on disk
//        │                              │  send/flush                    ▲ step
//        │                              ▼                                │
//        │                         RaftTransport (gRPC streams to peer stores)
//        └── KvService (reads RocksDB) ◄── gRPC KV server (clients)
//
//   const s = await StoreServer.start({ storeId: 1, dataDir, peers: { 2: '127.0.0.1:7002' } });
//   s.kvPort; s.raftPort;  s.setPeer(3, '127.0.0.1:7003');
//   await s.stop();
//
// Start: claim the data dir (identity file), open the engine, recreate a Replica for
// every initialized range on disk (raft node id = this store's replica id in the range's
// descriptor, applied = the range's applied index), start the transport, the tick timer
// and the KV gRPC server. Stop (graceful): stop accepting KV calls, stop ticking, let
// the scheduler finish in-flight persists and applies, answer what still waits
// (writes: ambiguous, reads: unavailable), stop the transport, close the engine.
import { randomInt } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { metapb } from '@rangekv/proto';
import * as grpc from '@grpc/grpc-js';
import { MessageRefusedError, MessageType, Prng, RawNode, StateRole, type Message, type RaftConfig } from '@rangekv/raft';
import { ReplicaRole, StorageEngine, type IdAllocator, type RangeDescriptor, type RangeLogStore, type StorageEngineOptions } from '@rangekv/storage';
import { RaftTransport, type RangeMessage, type TransportFaults, type TransportLimits, type TransportMetrics } from '@rangekv/transport';
import { bootstrapStore, claimDataDir, type BootstrapOptions } from './bootstrap.js';
import { RangeErrorReply, UnavailableError } from './errors.js';
import { PdLink, type PdLinkHost, type PdLinkLimits } from './pd-link.js';
import { addAdminService } from './admin-grpc.js';
import { AdminService } from './admin-service.js';
import { applyInOrder } from './apply-order.js';
import { addKvService } from './kv-grpc.js';
import { KvService } from './kv-service.js';
import { DEFAULT_APPLY_WORKERS, PoolKvApplier, type ApplyPoolLimits } from './apply-pool.js';
import { InlineKvApplier, type KvApplier } from './kv-applier.js';
import type { KvResult } from './kv-state-machine.js';
import { resolveStoreLimits, type StoreLimits } from './limits.js';
import { HttpStatusServer, type HttpStatusLimits, type RangesPage, type StatusSource, type StoreHealth } from './http-status.js';
import { createLogger, hostPort, type Logger } from '@rangekv/runtime';
import { PendingReads } from './pending-reads.js';
import { descriptorFromProto, notLeader } from './range-errors.js';
import { isWakeReadCtx } from './quiescence.js';
import { RaftScheduler, type ApplyEntry, type GroupHost, type ReplicaFailedError, type SchedulerLimits } from './raft-scheduler.js';
import { applyRangeChange, type AdminApplyContext } from './range-admin-apply.js';
import { Replica } from './replica.js';
import { StoreLiveness } from './store-liveness.js';
import { StoreMetrics } from './store-metrics.js';
import { TickClock } from './tick-clock.js';
import { LogCompactor, resolveLogCompactionLimits, type LogCompactionLimits, type LogCompactorCounters } from './log-compactor.js';
import { SnapshotShipper, type SnapshotCounters } from './snapshot-shipper.js';
import { resolveSnapshotLimits, type SnapshotLimits } from './snapshot-limits.js';
import { UninitializedReplicas, createsReplica, resolveUninitializedLimits, type UninitializedLimits } from './uninitialized-replicas.js';

/** Raft knobs a store may set for all its groups (ids, storage and timing are the store's). */
export type RaftTuning = Partial<Pick<RaftConfig,
  | 'maxMsgBytes' | 'maxInflightMsgs' | 'maxInflightBytes' | 'maxUncommittedEntriesBytes' | 'maxApplyBytes'
  | 'maxEntryBytes' | 'maxPendingReads' | 'checkQuorum' | 'preVote' | 'leaseMarginTicks'>>;

export interface StoreServerOptions {
  storeId: number;
  dataDir: string;
  /**
   * Placement driver endpoints ("host:port"): the store heartbeats PD, learns its peers'
   * raft addresses and range 1's bootstrap from it, and reports the ranges it leads.
   */
  pd?: readonly string[];
  pdLimits?: Partial<PdLinkLimits>;
  /** Interface for both the KV server and the raft transport; default 127.0.0.1. */
  listenHost?: string;
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
  /** Apply worker threads (piscina); 0 = apply inline on the main thread. Default DEFAULT_APPLY_WORKERS. */
  applyWorkers?: number;
  /** Limits of the apply pool (tasks in flight, entries/bytes per task). */
  applyLimits?: Partial<Omit<ApplyPoolLimits, 'threads'>>;
  /** Tests: one TransportFaults shared by several stores. */
  transportFaults?: TransportFaults;
  /** Snapshot stream bounds (snapshot-limits.ts). */
  snapshots?: Partial<SnapshotLimits>;
  /** Bounds and collection of replicas created by message (uninitialized-replicas.ts). */
  uninitialized?: Partial<UninitializedLimits>;
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
}

export interface RangeStatusSummary {
  rangeId: number;
  replicaId: number;
  isLeader: boolean;
  /** Leader's replica id as this replica knows it (0 = unknown). */
  lead: number;
  term: number;
  commit: number;
  applied: number;
  descriptor: RangeDescriptor | null;
  /** Not ticking (quiescence.ts). */
  quiescent: boolean;
  /** Set when the replica failed (a committed entry it cannot apply): it serves nothing until a restart. */
  failed?: string;
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

/** At most one warn line per this many ms for refused inbound raft messages (a flood must not flood the log). */
const REJECT_LOG_INTERVAL_MS = 1_000;

/** Logs the first event of each interval with how many more there were since the last line. */
class RateLimitedWarn {
  private lastMs = -Infinity;
  private suppressed = 0;

  constructor(private readonly intervalMs: number, private readonly write: (first: Record<string, unknown>, suppressed: number) => void) {}

  note(fromStore: number, rangeId: number | null, reason: string): void {
    const now = performance.now();
    if (now - this.lastMs < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.write({ fromStore, rangeId, reason }, this.suppressed);
    this.lastMs = now;
    this.suppressed = 0;
  }
}

/** How often idle uninitialized replicas are collected (uninitialized-replicas.ts sweep). */
const UNINITIALIZED_SWEEP_MS = 1_000;

/** How often a stopping store re-asks its ranges to transfer leadership (a transfer can be dropped). */
const LEADER_DRAIN_RETRY_MS = 200;

/** The voter on another store with the highest match index (0 if none is known). */
function transferTarget(r: Replica<KvResult>, myStore: number): number {
  const d = r.log.descriptor;
  const progress = r.node.status().progress;
  if (d === null || progress === null) return 0;
  let best = 0;
  let bestMatch = -1;
  for (const x of d.replicas) {
    if (x.storeId === myStore || x.role !== ReplicaRole.Voter) continue;
    const m = progress.get(x.replicaId)?.match ?? -1;
    if (m > bestMatch) {
      best = x.replicaId;
      bestMatch = m;
    }
  }
  return best;
}

/** Written once a store created range 1 from PD's bootstrap. */
export const PD_BOOTSTRAP_MARKER = 'pd-bootstrapped.json';

function storeOfReplica(d: RangeDescriptor | null, replicaId: number): number | undefined {
  return d?.replicas.find((r) => r.replicaId === replicaId)?.storeId;
}

export class StoreServer {
  readonly storeId: number;
  readonly limits: StoreLimits;
  readonly log: Logger;
  readonly engine: StorageEngine;
  readonly scheduler: RaftScheduler<KvResult>;
  readonly reads: PendingReads;
  readonly kv: KvService;
  readonly admin: AdminService;
  /** Ids this store hands out itself (split's new ranges, added replicas when the caller gives none). */
  private readonly ids: IdAllocator;
  private readonly peers: Map<number, string>;
  private transport!: RaftTransport;
  private grpcServer!: grpc.Server;
  /** Raft time: one tick per slot, and whether tick-counted leases can be trusted now. */
  readonly clock: TickClock;
  /** Which peer stores are alive (store-liveness.ts); wakes quiescent ranges when one goes down. */
  readonly liveness: StoreLiveness;
  private stopping: Promise<void> | null = null;
  private pdLink: PdLink | null = null;
  private bootstrapping = false;
  /** Set once stop() has moved leaderships away: inbound raft messages are dropped from then on. */
  private closing = false;
  private port = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Raft messages the transport refused (malformed, out of range): one warn line per second at most. */
  private readonly rejectLog = new RateLimitedWarn(REJECT_LOG_INTERVAL_MS, (first, suppressed) =>
    this.log.warn('refused a malformed raft message from a peer', { ...first, alsoRefused: suppressed }));
  /** Prometheus metrics of this store, in a registry of its own (store-metrics.ts). */
  readonly metrics: StoreMetrics;
  private http: HttpStatusServer | null = null;
  /** Every part started: /health answers 200 from then until stop() or a fatal error. */
  private serving = false;
  /** Where committed entries are applied: inline until startParts starts the worker pool. */
  private applier: KvApplier;
  /** Counters for tests and (later) metrics. */
  readonly counters: Record<string, number> & SnapshotCounters & LogCompactorCounters & {
    inboundUnknownRange: number; inboundWrongReplica: number; inboundMalformed: number; inboundFailedRange: number;
    readHeartbeatsSent: number;
  } = {
    /** Inbound raft messages: for a range not here (a leader's may create an uninitialized replica), not addressed to our replica, refused by raft. */
    inboundUnknownRange: 0,
    inboundWrongReplica: 0,
    inboundMalformed: 0,
    /** Inbound raft messages for a replica that failed (failedRanges): dropped. */
    inboundFailedRange: 0,
    /** Heartbeats carrying a ReadIndex context (a quorum round for reads; lease reads send none). */
    readHeartbeatsSent: 0,
    // Snapshots over the wire (snapshot-shipper.ts) and log compaction (log-compactor.ts).
    snapshotsSent: 0, snapshotBytesSent: 0, snapshotSendsFailed: 0, snapshotSendsThrottled: 0,
    snapshotsReceived: 0, snapshotBytesReceived: 0, snapshotReceivesFailed: 0, snapshotsReceivedUnused: 0,
    logCompactions: 0, logEntriesCompacted: 0, logCompactionsFailed: 0,
  };
  readonly snapshotLimits: SnapshotLimits;
  /** Replicas created by message (uninitialized until a snapshot arrives). */
  readonly uninitialized: UninitializedReplicas<KvResult>;
  readonly snapshots: SnapshotShipper<KvResult>;
  readonly compactor: LogCompactor<KvResult>;
  fatal: unknown = null;
  /**
   * Replicas taken out because a committed entry could not be applied (EntryApplyError),
   * with the reason: they serve nothing and take no raft messages until a restart (which
   * meets the same entry and fails them again, without stopping the store).
   */
  readonly failedRanges = new Map<number, string>();

  /** Writes range 1 over the whole keyspace into an empty data dir (see bootstrap.ts). */
  static bootstrap(dataDir: string, opts: BootstrapOptions): Promise<void> {
    return bootstrapStore(dataDir, opts);
  }

  static async start(opts: StoreServerOptions): Promise<StoreServer> {
    const ident = claimDataDir(opts.dataDir, opts.storeId);
    const limits = resolveStoreLimits(opts.limits);
    const snapLimits = resolveSnapshotLimits(opts.snapshots);
    const engine = await StorageEngine.open(opts.dataDir, {
      ...(opts.storage ?? {}),
      limits: { maxSnapshotChunkBytes: snapLimits.snapshotChunkBytes, ...(opts.storage?.limits ?? {}) },
    });
    const s = new StoreServer(opts, limits, engine, ident.token);
    try {
      await s.startParts(opts);
    } catch (e) {
      await s.stop().catch(() => {});
      throw e;
    }
    return s;
  }

  private constructor(private readonly opts: StoreServerOptions, limits: StoreLimits, engine: StorageEngine, private readonly token: string) {
    this.storeId = opts.storeId;
    this.limits = limits;
    this.log = (opts.log ?? createLogger()).child({ storeId: opts.storeId });
    this.engine = engine;
    this.applier = new InlineKvApplier(engine);
    this.peers = peersMap(opts.peers);
    this.reads = new PendingReads(opts.storeId, limits);
    this.clock = new TickClock({
      tickMs: opts.tickMs ?? 50, windowTicks: opts.electionTimeoutTicks ?? 10, marginTicks: opts.raft?.leaseMarginTicks ?? 2,
    });
    this.scheduler = new RaftScheduler<KvResult>(engine, this.host(), opts.scheduler ?? {});
    this.liveness = new StoreLiveness({
      storeId: opts.storeId,
      livenessIntervalMs: opts.livenessIntervalMs ?? 250,
      livenessTimeoutMs: opts.livenessTimeoutMs ?? 2_000,
      peers: () => this.peerStores(),
      ping: (s) => this.transport.sendLiveness(s),
      flush: () => this.transport.flush(),
      onDown: (s) => this.onStoreDown(s),
    });
    this.metrics = this.createMetrics(opts);
    this.snapshotLimits = resolveSnapshotLimits(opts.snapshots);
    this.uninitialized = new UninitializedReplicas<KvResult>({
      engine, scheduler: this.scheduler, makeNode: (id, log) => this.makeNode(id, log),
      limits: resolveUninitializedLimits(opts.uninitialized), log: this.log,
      isGone: (rangeId) => this.pdLink?.rangeGone(rangeId) ?? Promise.resolve(null),
      busy: (rangeId) => this.snapshots.isReceiving(rangeId),
    });
    this.snapshots = new SnapshotShipper<KvResult>({
      storeId: this.storeId, engine, scheduler: this.scheduler, transport: () => this.transport,
      uninit: this.uninitialized, log: this.log, isStopping: () => this.stopping !== null, counters: this.counters,
    });
    this.compactor = new LogCompactor<KvResult>(engine, this.scheduler, resolveLogCompactionLimits(opts.logCompaction), this.log, this.counters);
    // Raft's lease is counted in ticks, and a quiescent group does not tick: see the
    // README ("Quiescence and leases").
    const leaseTicks = (opts.electionTimeoutTicks ?? 10) + (opts.raft?.leaseMarginTicks ?? 2);
    this.kv = new KvService({
      storeId: this.storeId, engine, scheduler: this.scheduler, reads: this.reads, limits, log: this.log,
      leaseUsable: (r) => this.clock.leaseUsable() && this.scheduler.ticksAwake(r) >= leaseTicks,
      metrics: this.metrics,
    });
    this.ids = engine.idAllocator('range', storeIdSpace(this.storeId));
    this.admin = new AdminService({
      storeId: this.storeId, scheduler: this.scheduler, limits, log: this.log, allocateId: () => this.ids.allocate(),
      storeKnown: (id) => this.resolvePeer(id) !== undefined,
      storeLive: (id) => id === this.storeId || this.liveness.isLive(id),
    });
  }

  get kvPort(): number {
    return this.port;
  }

  get raftPort(): number {
    return this.transport.port;
  }

  /** The HTTP status server's port; null when it is off (`httpPort: null`). */
  get httpPort(): number | null {
    return this.http === null ? null : this.http.port;
  }

  /** Where committed entries are applied: 'pool' (apply workers) or 'inline' (applyWorkers: 0). */
  get applyMode(): KvApplier['kind'] {
    return this.applier.kind;
  }

  /** A peer store's raft address: `opts.resolve`, else the peers map (setPeer). */
  private resolvePeer(storeId: number): string | undefined {
    return this.opts.resolve ? this.opts.resolve(storeId) : this.peers.get(storeId);
  }

  /** Sets (or changes) a peer store's raft address; used at its next (re)connect. */
  setPeer(storeId: number, address: string): void {
    this.peers.set(storeId, address);
  }

  private async startParts(opts: StoreServerOptions): Promise<void> {
    const host = opts.listenHost ?? '127.0.0.1';
    // First, so /health says "starting" while the ranges load.
    if (opts.httpPort !== null) this.http = await this.startHttp(host, opts.httpPort ?? 0, opts.httpLimits ?? {});
    this.engine.logWriter.onSync = (us) => this.metrics.walFsyncSeconds.observe(us / 1e6);
    const resolve = (id: number): string | undefined => this.resolvePeer(id);
    const applyWorkers = opts.applyWorkers ?? DEFAULT_APPLY_WORKERS;
    if (!Number.isSafeInteger(applyWorkers) || applyWorkers < 0) throw new RangeError(`applyWorkers must be an integer >= 0, got ${applyWorkers}`);
    if (applyWorkers > 0) this.applier = PoolKvApplier.create(this.engine, { ...opts.applyLimits, threads: applyWorkers }); // applies wait for its threads
    this.transport = await RaftTransport.start({
      storeId: this.storeId, listenHost: host, listenPort: opts.raftPort ?? 0, resolve,
      ...(opts.transportLimits ? { limits: opts.transportLimits } : {}),
      ...(opts.transportFaults ? { faults: opts.transportFaults } : {}),
      snapshotLimits: this.snapshotLimits,
      onSnapshot: (start) => this.snapshots.receive(start),
    }, (fromStore, msgs) => this.onInbound(fromStore, msgs));
    this.transport.onUnreachable((toStore) => this.onUnreachable(toStore));
    this.transport.onHeard((fromStore) => this.liveness.heard(fromStore));
    this.transport.onInboundReject((r) => this.rejectLog.note(r.fromStore, r.rangeId, r.reason));
    for (const rangeId of this.engine.rangeIds()) this.addReplica(rangeId);
    this.clock.start(() => {
      this.scheduler.tick();
      this.compactor.tick();
      this.snapshots.sweepStaged();
    });
    this.liveness.start();
    this.sweepTimer = setInterval(() => {
      void this.uninitialized.sweep().catch((e: unknown) => this.log.warn('uninitialized replica sweep failed', { err: e }));
    }, UNINITIALIZED_SWEEP_MS);
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': this.limits.maxGrpcMessageBytes,
      'grpc.max_send_message_length': this.limits.maxGrpcMessageBytes,
    });
    const observe = (method: string, code: string, sec: number): void => this.metrics.grpcSeconds.observe({ method, code }, sec);
    addKvService(this.grpcServer, this.kv, this.log, observe);
    addAdminService(this.grpcServer, this.admin, this.log, observe);
    this.port = await new Promise<number>((res, rej) => {
      this.grpcServer.bindAsync(hostPort(host, opts.grpcPort ?? 0), grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p)));
    });
    if (opts.pd && opts.pd.length > 0) {
      this.pdLink = new PdLink(opts.pd, this.pdHost(host), opts.pdLimits ?? {});
      this.pdLink.start();
    }
    this.serving = true;
    this.log.info('store serving', { kvPort: this.port, raftPort: this.transport.port, httpPort: this.httpPort, ranges: this.scheduler.size });
  }

  private addReplica(rangeId: number): Replica<KvResult> | null {
    const opts = this.opts;
    const log = this.engine.range(rangeId);
    const desc = log.descriptor;
    if (desc === null) {
      // Created to receive a snapshot: comes back when a leader's message names its replica.
      this.uninitialized.restore(rangeId);
      return null;
    }
    const me = desc.replicas.find((r) => r.storeId === this.storeId);
    if (!me) {
      this.log.warn('skipping range without a replica on this store', { rangeId });
      return null;
    }
    const replica = new Replica<KvResult>(rangeId, this.makeNode(me.replicaId, log, opts), log);
    this.scheduler.add(replica);
    return replica;
  }

  private makeNode(replicaId: number, log: RangeLogStore, opts: StoreServerOptions = this.opts): RawNode {
    return new RawNode({
      ...(opts.raft ?? {}),
      id: replicaId,
      storage: log,
      prng: new Prng(randomInt(0x7fffffff)),
      electionTimeoutTicks: opts.electionTimeoutTicks ?? 10,
      heartbeatIntervalTicks: opts.heartbeatIntervalTicks ?? 2,
      applied: log.applied.index,
    });
  }

  /** Applies one batch of a range's committed entries: KV runs and range changes in log order. */
  private applyEntries(replica: Replica<KvResult>, entries: readonly ApplyEntry[]): Promise<KvResult[]> {
    return applyInOrder(
      entries,
      (run) => {
        // Each run reads the descriptor left by the entries before it (a split cuts it).
        const desc = replica.log.descriptor;
        if (desc === null) throw new Error(`range ${replica.rangeId}: apply on an uninitialized range`);
        return this.applier.apply(replica.rangeId, desc, run);
      },
      (e) => applyRangeChange(this.adminApply(), replica, e),
    );
  }

  private adminApplyCtx: AdminApplyContext | null = null;

  private adminApply(): AdminApplyContext {
    this.adminApplyCtx ??= {
      storeId: this.storeId, engine: this.engine, scheduler: this.scheduler, log: this.log,
      takeUninitialized: async (rangeId) => {
        await this.uninitialized.settled(rangeId);
        return this.uninitialized.take(rangeId);
      },
      startReplica: (rangeId) => this.addReplica(rangeId),
      onSplit: (left, right) => {
        this.metrics.splits.inc();
        this.pdLink?.rangeChanged(left.rangeId);
        this.pdLink?.rangeChanged(right.rangeId);
      },
      onMembership: (d) => this.pdLink?.rangeChanged(d.rangeId),
      onRemoved: (rangeId) => setImmediate(() => void this.destroyReplica(rangeId)),
    };
    return this.adminApplyCtx;
  }

  /** This store's replica was removed from its range: stop it and delete its log and data. */
  private async destroyReplica(rangeId: number): Promise<void> {
    const r = this.scheduler.remove(rangeId);
    if (!r || this.stopping !== null) return;
    try {
      // Let in-flight persists and applies of this range finish first: nothing may write it after the destroy.
      await this.scheduler.whenPersisted();
      await r.whenApplyIdle();
      if (this.stopping !== null) return;
      const { whenDeleted } = await this.engine.destroyRange(rangeId, { clearData: true });
      this.log.info('replica removed from range: destroyed', { rangeId });
      void whenDeleted.catch((e: unknown) => this.log.warn('background delete of a removed replica failed', { rangeId, err: e }));
    } catch (e) {
      this.log.error('destroying a removed replica failed', { rangeId, err: e });
    }
  }

  private host(): GroupHost<KvResult> {
    const quiescence = this.opts.quiescence !== false;
    return {
      ...(quiescence ? { mayQuiesce: (replica: Replica<KvResult>, asLeader: boolean) => this.mayQuiesce(replica, asLeader) } : {}),
      send: (replica, msgs) => this.send(replica, msgs),
      flush: () => this.transport.flush(),
      applyEntries: (replica, entries) => this.applyEntries(replica, entries),
      onReadStates: (replica, states) => this.reads.onReadStates(replica.rangeId, replica.log.applied.index, states),
      onSoftState: (replica, ss) => {
        // Info when this replica gains or loses leadership; other changes at debug (many ranges).
        const level = ss.role === StateRole.Leader || replica.isLeader ? 'info' : 'debug';
        if (ss.lead !== 0 && ss.lead !== replica.lead) this.metrics.leaderChanges.inc();
        this.log[level]('raft leader changed', { rangeId: replica.rangeId, lead: ss.lead, role: ss.role });
        if (ss.role === StateRole.Leader) this.pdLink?.rangeChanged(replica.rangeId);
        this.reads.failUnconfirmed(replica.rangeId, () =>
          new RangeErrorReply(notLeader(replica.rangeId, replica.log.descriptor, ss.lead, 'leadership changed while the read waited')));
      },
      onApplied: (replica) => this.reads.onApplied(replica.rangeId, replica.log.applied.index),
      onFatal: (err) => this.onFatal(err),
      onReplicaFailed: (replica, err) => this.onReplicaFailed(replica, err),
      observeApplySeconds: (sec) => this.metrics.applySeconds.observe(sec),
    };
  }

  private send(replica: Replica<KvResult>, msgs: readonly Message[]): void {
    const desc = replica.log.descriptor;
    for (const m of msgs) {
      const toStore = storeOfReplica(desc, m.to) ?? this.uninitialized.storeOf(replica.rangeId, m.to);
      if (toStore === undefined || toStore === this.storeId) {
        this.log.warn('no store for raft message target', { rangeId: replica.rangeId, to: m.to });
        continue;
      }
      if (m.type === MessageType.Snap) {
        // Raft's snapshot data is a build request: the shipper builds and streams it.
        this.snapshots.send(replica, m, toStore);
        continue;
      }
      if (m.type === MessageType.Heartbeat && m.context !== null && !isWakeReadCtx(m.context)) this.counters.readHeartbeatsSent++;
      // A quiescent replica sends heartbeats only as its last ones before quiescing.
      const quiesce = replica.quiescent && m.type === MessageType.Heartbeat;
      if (!this.transport.send(toStore, replica.rangeId, m, quiesce)) replica.node.reportUnreachable(m.to);
    }
  }

  private onInbound(fromStore: number, msgs: ReadonlyArray<RangeMessage>): void {
    if (this.closing) return;
    for (const { rangeId, msg, quiesce } of msgs) {
      const r = this.scheduler.get(rangeId);
      if (!r && this.failedRanges.has(rangeId)) {
        this.counters.inboundFailedRange++;
        continue;
      }
      if (!r) {
        this.counters.inboundUnknownRange++;
        // A leader's message for a range not here: create an uninitialized replica (bounded).
        if (createsReplica(msg.type)) this.stepIntoNewReplica(fromStore, rangeId, msg);
        continue;
      }
      if (r.log.descriptor === null && msg.to === r.node.id) {
        this.uninitialized.heard(rangeId);
        const known = this.uninitialized.storeOf(rangeId, msg.from);
        if (known === undefined || known === fromStore) this.uninitialized.learn(rangeId, msg.from, fromStore);
      }
      if (msg.to !== r.node.id || (storeOfReplica(r.log.descriptor, msg.from) ?? this.uninitialized.storeOf(rangeId, msg.from)) !== fromStore) {
        this.counters.inboundWrongReplica++;
        continue;
      }
      this.stepFromPeer(fromStore, rangeId, msg, quiesce === true);
    }
  }

  private stepIntoNewReplica(fromStore: number, rangeId: number, msg: Message): void {
    void this.uninitialized.ensure(rangeId, msg, fromStore).then((r) => {
      if (r === null || this.stopping !== null || r.node.id !== msg.to) return;
      this.stepFromPeer(fromStore, rangeId, msg, false);
    });
  }

  /** Steps a peer's message; one raft refuses (MessageRefusedError) is counted, logged and dropped. */
  private stepFromPeer(fromStore: number, rangeId: number, msg: Message, quiesce: boolean): void {
    try {
      this.scheduler.step(rangeId, msg, quiesce);
    } catch (e) {
      if (!(e instanceof MessageRefusedError)) throw e;
      this.counters.inboundMalformed++;
      this.log.warn('dropped a raft message raft refused', { rangeId, fromStore, type: msg.type, reason: e.reason });
    }
  }

  private onUnreachable(toStore: number): void {
    // Declares the store down first: wakes the quiescent ranges that need it.
    this.liveness.unreachable(toStore);
    for (const r of this.scheduler.all()) {
      if (r.quiescent) continue; // nothing in flight to it; reporting would wake it
      const rep = r.log.descriptor?.replicas.find((x) => x.storeId === toStore);
      if (rep) this.scheduler.withNode(r.rangeId, (x) => x.node.reportUnreachable(rep.replicaId));
    }
  }

  /** Quiescence: the store's conditions (the scheduler checks raft's). */
  private mayQuiesce(r: Replica<KvResult>, asLeader: boolean): boolean {
    if (this.reads.pending(r.rangeId) > 0) return false;
    if (!asLeader) return true;
    const d = r.log.descriptor;
    if (d === null) return false;
    for (const rep of d.replicas) {
      if (rep.storeId !== this.storeId && !this.liveness.isLive(rep.storeId)) return false;
    }
    return true;
  }

  /**
   * A peer store was declared down: wake every quiescent range whose leader is there
   * (it must elect another) and every quiescent range we lead with a follower there
   * (check-quorum and replication must see it).
   */
  private onStoreDown(storeId: number): void {
    if (this.stopping !== null) return;
    this.log.info('peer store declared down', { downStore: storeId });
    const et = this.opts.electionTimeoutTicks ?? 10;
    for (const r of this.scheduler.all()) {
      if (!r.quiescent) continue;
      const d = r.log.descriptor;
      if (r.isLeader) {
        if (d?.replicas.some((x) => x.storeId === storeId)) this.scheduler.unquiesce(r, 'follower-store-down');
      } else if (storeOfReplica(d, r.lead) === storeId) {
        this.scheduler.wakeForLostLeader(r, et);
      }
    }
  }

  /** Every store holding a replica of a range here, but this one (liveness pings). */
  private peerStores(): Set<number> {
    const out = new Set<number>(this.peers.keys());
    for (const r of this.scheduler.all()) {
      for (const rep of r.log.descriptor?.replicas ?? []) out.add(rep.storeId);
    }
    out.delete(this.storeId);
    return out;
  }

  /** The raft transport's counters (heartbeat and liveness packets per peer, drops). */
  transportMetrics(): TransportMetrics {
    return this.transport.metrics();
  }

  /** Ranges on this store that are quiescent now. */
  get quiescentCount(): number {
    return this.scheduler.quiescentCount;
  }

  private onReplicaFailed(r: Replica<KvResult>, err: ReplicaFailedError): void {
    this.failedRanges.set(r.rangeId, err.reason);
    this.log.error('replica failed: the range is no longer served by this store until a restart', {
      rangeId: r.rangeId, reason: err.reason, applied: r.log.applied.index,
    });
    this.reads.failAll(() => new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, 0, 'replica failed on this store')), r.rangeId);
  }

  private onFatal(err: unknown): void {
    if (this.fatal !== null) return;
    this.fatal = err;
    this.log.error('fatal store error: stopping', { err });
    void this.stop().catch((e: unknown) => this.log.error('stop after fatal error failed', { err: e }));
    this.opts.onFatal?.(err);
  }

  /** Plain-data view of every range on this store (tests, tools). */
  status(): RangeStatusSummary[] {
    const out: RangeStatusSummary[] = [];
    for (const r of this.scheduler.all()) {
      const st = r.node.status();
      out.push({
        rangeId: r.rangeId, replicaId: r.node.id, isLeader: r.isLeader, lead: r.lead, term: st.term, commit: st.commit,
        applied: r.log.applied.index, descriptor: r.log.descriptor, quiescent: r.quiescent,
      });
    }
    for (const [rangeId, failed] of this.failedRanges) {
      const log = this.engine.hasRange(rangeId) ? this.engine.range(rangeId) : null;
      out.push({
        rangeId, replicaId: 0, isLeader: false, lead: 0, term: log?.hardState.term ?? 0, commit: log?.hardState.commit ?? 0,
        applied: log?.applied.index ?? 0, descriptor: log?.descriptor ?? null, quiescent: false, failed,
      });
    }
    return out.sort((a, b) => a.rangeId - b.rangeId);
  }

  /** What /health answers (http-status.ts): serving (200) or why not (503). */
  health(): StoreHealth {
    const storeId = this.storeId;
    if (this.fatal !== null) {
      return { storeId, status: 'failed', reason: `fatal error: ${this.fatal instanceof Error ? this.fatal.message : String(this.fatal)}` };
    }
    if (this.stopping !== null) return { storeId, status: 'stopping', reason: 'store is stopping' };
    if (!this.serving) return { storeId, status: 'starting', reason: 'store is starting' };
    let leaders = 0;
    for (const r of this.scheduler.all()) if (r.isLeader) leaders++;
    return { storeId, status: 'serving', ranges: this.scheduler.size, leaders };
  }

  /** status() of the ranges with id > after, at most `limit` (for /debug/ranges). */
  statusPage(after: number, limit: number): RangesPage {
    const all = this.status().filter((r) => r.rangeId > after);
    const ranges = all.slice(0, limit);
    return { ranges, next: all.length > limit ? ranges[ranges.length - 1]!.rangeId : null };
  }

  private createMetrics(opts: StoreServerOptions): StoreMetrics {
    // Counters other parts of the store may add (snapshots over the wire); 0 until they do.
    const counter = (name: string): number => (this.counters as Record<string, number | undefined>)[name] ?? 0;
    return new StoreMetrics({
      replicas: () => this.scheduler.all(),
      transport: () => (this.transport ? this.transport.metrics() : null),
      snapshots: () => ({ sent: counter('snapshotsSent'), received: counter('snapshotsReceived') }),
      scheduler: () => this.scheduler.stats,
      reads: () => this.reads.counts,
      failedReplicas: () => this.failedRanges.size,
      uninitialized: () => ({ live: this.uninitialized.size, dormant: this.uninitialized.dormantCount }),
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
    return HttpStatusServer.start({ host, port, source, limits, onError: (err) => this.log.error('http status handler failed', { err }) });
  }

  /**
   * Graceful stop; idempotent. First moves this store's leaderships to other stores
   * (unless `transferLeaders` is false, or after a fatal error), for at most
   * `leaderDrainMs`, while still serving; then stops.
   */
  stop(opts: { transferLeaders?: boolean } = {}): Promise<void> {
    if (this.stopping === null) this.stopping = this.doStop(opts.transferLeaders !== false && this.fatal === null);
    return this.stopping;
  }

  private async doStop(transferLeaders: boolean): Promise<void> {
    if (transferLeaders && this.serving) await this.drainLeaders().catch((e: unknown) => this.log.warn('moving leaderships away failed', { err: e }));
    this.pdLink?.stop();
    this.closing = true;
    const grpcDone = this.grpcServer ? this.shutdownGrpc(this.grpcServer) : Promise.resolve();
    this.clock.stop();
    this.liveness.stop();
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    await this.scheduler.stop().catch((e: unknown) => this.log.error('scheduler stop failed', { err: e }));
    for (const r of this.scheduler.all()) r.failAll('store stopping before the entry applied');
    this.reads.failAll(() => new UnavailableError('store stopping; safe to retry elsewhere'));
    await grpcDone;
    if (this.transport) await this.transport.stop();
    await this.snapshots.stop();
    await this.compactor.stop();
    // Every apply finished with the scheduler; the workers never close the DB they share.
    await this.applier.close().catch((e: unknown) => this.log.error('apply pool close failed', { err: e }));
    await this.engine.close();
    if (this.http !== null) await this.http.stop();
    this.log.info('store stopped');
  }

  /** What the PD link reads from and does to this store. */
  private pdHost(host: string): PdLinkHost {
    const sched = this.scheduler;
    const led = (r: Replica<KvResult>): ReturnType<PdLinkHost['ledRange']> => {
      const d = r.log.descriptor;
      if (!r.isLeader || r.destroyed || d === null) return null;
      return { rangeId: r.rangeId, descriptor: d, replicaId: r.node.id, term: r.node.status().term, applied: r.log.applied.index };
    };
    return {
      storeId: this.storeId,
      token: this.token,
      log: this.log,
      addresses: () => ({
        address: hostPort(host, this.port), raftAddress: hostPort(host, this.transport.port),
        httpAddress: this.httpPort === null ? '' : hostPort(host, this.httpPort),
      }),
      stats: () => {
        let leaders = 0;
        for (const r of this.scheduler.all()) if (r.isLeader) leaders++;
        return { ranges: this.scheduler.size, leaders };
      },
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
   * was removed later must not recreate it.
   */
  private async bootstrapFromPd(wire: metapb.RangeDescriptor.$Properties): Promise<void> {
    if (this.bootstrapping || this.stopping !== null) return;
    const marker = join(this.opts.dataDir, PD_BOOTSTRAP_MARKER);
    if (existsSync(marker) || this.engine.rangeIds().length > 0) return;
    const d = descriptorFromProto(wire);
    const me = d.replicas.find((x) => x.storeId === this.storeId);
    if (!me) return;
    this.bootstrapping = true;
    try {
      const voters = d.replicas.filter((x) => x.role === ReplicaRole.Voter).map((x) => x.replicaId);
      const learners = d.replicas.filter((x) => x.role === ReplicaRole.Learner).map((x) => x.replicaId);
      await this.engine.createRange({ descriptor: d, confState: { voters, learners, votersOutgoing: [], learnersNext: [], autoLeave: false } });
      writeFileSync(marker, JSON.stringify({ rangeId: d.rangeId, at: new Date().toISOString() }) + '\n');
      this.addReplica(d.rangeId);
      this.log.info('created range 1 from PD bootstrap', { rangeId: d.rangeId, replicas: d.replicas.length });
    } catch (e) {
      this.log.error('bootstrap from PD failed', { err: e });
    } finally {
      this.bootstrapping = false;
    }
  }

  /**
   * Asks every range this store leads to hand leadership to its most caught-up voter on
   * another store, again every `leaderDrainRetryMs`, until none is led here or
   * `leaderDrainMs` passed. Ranges with no other voter keep their leader.
   */
  private async drainLeaders(): Promise<void> {
    const deadline = Date.now() + this.limits.leaderDrainMs;
    const movable = (): Replica<KvResult>[] => [...this.scheduler.all()].filter((r) =>
      r.isLeader && !r.destroyed && (r.log.descriptor?.replicas.some((x) => x.storeId !== this.storeId && x.role === ReplicaRole.Voter) ?? false));
    let leaders = movable();
    if (leaders.length === 0) return;
    const initially = leaders.length;
    this.log.info('moving leaderships away before stopping', { leaders: initially });
    while (leaders.length > 0 && Date.now() < deadline) {
      for (const r of leaders) {
        const target = transferTarget(r, this.storeId);
        if (target !== 0) this.scheduler.withNode(r.rangeId, (x) => x.node.transferLeader(target));
      }
      await new Promise((res) => setTimeout(res, Math.min(LEADER_DRAIN_RETRY_MS, Math.max(1, deadline - Date.now()))));
      leaders = movable();
    }
    this.log.info('leaderships moved', { moved: initially - leaders.length, kept: leaders.length });
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

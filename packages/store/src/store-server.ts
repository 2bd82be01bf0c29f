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
import * as grpc from '@grpc/grpc-js';
import { MessageType, Prng, RawNode, StateRole, type Message, type RaftConfig } from '@rangekv/raft';
import { StorageEngine, type RangeDescriptor, type StorageEngineOptions } from '@rangekv/storage';
import { RaftTransport, type RangeMessage, type TransportFaults, type TransportLimits, type TransportMetrics } from '@rangekv/transport';
import { bootstrapStore, claimDataDir, type BootstrapOptions } from './bootstrap.js';
import { RangeErrorReply, UnavailableError } from './errors.js';
import { addKvService } from './kv-grpc.js';
import { KvService } from './kv-service.js';
import { applyKvEntries, type KvResult } from './kv-state-machine.js';
import { resolveStoreLimits, type StoreLimits } from './limits.js';
import { createLogger, type Logger } from './logger.js';
import { PendingReads } from './pending-reads.js';
import { notLeader } from './range-errors.js';
import { isWakeReadCtx } from './quiescence.js';
import { RaftScheduler, type GroupHost, type SchedulerLimits } from './raft-scheduler.js';
import { Replica } from './replica.js';
import { StoreLiveness } from './store-liveness.js';
import { TickClock } from './tick-clock.js';

/** Raft knobs a store may set for all its groups (ids, storage and timing are the store's). */
export type RaftTuning = Partial<Pick<RaftConfig,
  | 'maxMsgBytes' | 'maxInflightMsgs' | 'maxInflightBytes' | 'maxUncommittedEntriesBytes' | 'maxApplyBytes'
  | 'maxEntryBytes' | 'maxPendingReads' | 'checkQuorum' | 'preVote' | 'leaseMarginTicks'>>;

export interface StoreServerOptions {
  storeId: number;
  dataDir: string;
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
  /** A peer store not heard from this long is declared down; default 1,000 ms. */
  livenessTimeoutMs?: number;
  limits?: Partial<StoreLimits>;
  raft?: RaftTuning;
  scheduler?: Partial<SchedulerLimits>;
  storage?: StorageEngineOptions;
  transportLimits?: Partial<TransportLimits>;
  /** Tests: one TransportFaults shared by several stores. */
  transportFaults?: TransportFaults;
  log?: Logger;
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
}

function peersMap(p: StoreServerOptions['peers']): Map<number, string> {
  if (p === undefined) return new Map();
  if (p instanceof Map) return new Map(p);
  return new Map(Object.entries(p).map(([k, v]) => [Number(k), v]));
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

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
  private readonly peers: Map<number, string>;
  private transport!: RaftTransport;
  private grpcServer!: grpc.Server;
  /** Raft time: one tick per slot, and whether tick-counted leases can be trusted now. */
  readonly clock: TickClock;
  /** Which peer stores are alive (store-liveness.ts); wakes quiescent ranges when one goes down. */
  readonly liveness: StoreLiveness;
  private stopping: Promise<void> | null = null;
  private port = 0;
  /** Counters for tests and (later) metrics. */
  readonly counters = {
    /** Inbound raft messages dropped: no such range here, not addressed to our replica, refused by raft. */
    inboundUnknownRange: 0,
    inboundWrongReplica: 0,
    inboundMalformed: 0,
    /** Snap messages raft wanted sent (not possible yet: no snapshot stream). */
    snapshotsNotSent: 0,
    /** Heartbeats carrying a ReadIndex context (a quorum round for reads; lease reads send none). */
    readHeartbeatsSent: 0,
  };
  fatal: unknown = null;

  /** Writes range 1 over the whole keyspace into an empty data dir (see bootstrap.ts). */
  static bootstrap(dataDir: string, opts: BootstrapOptions): Promise<void> {
    return bootstrapStore(dataDir, opts);
  }

  static async start(opts: StoreServerOptions): Promise<StoreServer> {
    claimDataDir(opts.dataDir, opts.storeId);
    const limits = resolveStoreLimits(opts.limits);
    const engine = await StorageEngine.open(opts.dataDir, opts.storage ?? {});
    const s = new StoreServer(opts, limits, engine);
    try {
      await s.startParts(opts);
    } catch (e) {
      await s.stop().catch(() => {});
      throw e;
    }
    return s;
  }

  private constructor(private readonly opts: StoreServerOptions, limits: StoreLimits, engine: StorageEngine) {
    this.storeId = opts.storeId;
    this.limits = limits;
    this.log = (opts.log ?? createLogger()).child({ storeId: opts.storeId });
    this.engine = engine;
    this.peers = peersMap(opts.peers);
    this.reads = new PendingReads(opts.storeId, limits);
    this.clock = new TickClock({
      tickMs: opts.tickMs ?? 50, windowTicks: opts.electionTimeoutTicks ?? 10, marginTicks: opts.raft?.leaseMarginTicks ?? 2,
    });
    this.scheduler = new RaftScheduler<KvResult>(engine, this.host(), opts.scheduler ?? {});
    this.liveness = new StoreLiveness({
      storeId: opts.storeId,
      livenessIntervalMs: opts.livenessIntervalMs ?? 250,
      livenessTimeoutMs: opts.livenessTimeoutMs ?? 1_000,
      peers: () => this.peerStores(),
      ping: (s) => this.transport.sendLiveness(s),
      flush: () => this.transport.flush(),
      onDown: (s) => this.onStoreDown(s),
    });
    // Raft's lease is counted in ticks, and a quiescent group does not tick: see
    // leaseTicksOk and the README ("Quiescence and leases").
    const leaseTicks = (opts.electionTimeoutTicks ?? 10) + (opts.raft?.leaseMarginTicks ?? 2);
    this.kv = new KvService({
      storeId: this.storeId, engine, scheduler: this.scheduler, reads: this.reads, limits, log: this.log,
      leaseUsable: (r) => this.clock.leaseUsable() && this.scheduler.ticksAwake(r) >= leaseTicks,
    });
  }

  get kvPort(): number {
    return this.port;
  }

  get raftPort(): number {
    return this.transport.port;
  }

  /** Sets (or changes) a peer store's raft address; used at its next (re)connect. */
  setPeer(storeId: number, address: string): void {
    this.peers.set(storeId, address);
  }

  private async startParts(opts: StoreServerOptions): Promise<void> {
    const host = opts.listenHost ?? '127.0.0.1';
    const resolve = opts.resolve ?? ((id: number) => this.peers.get(id));
    this.transport = await RaftTransport.start({
      storeId: this.storeId, listenHost: host, listenPort: opts.raftPort ?? 0, resolve,
      ...(opts.transportLimits ? { limits: opts.transportLimits } : {}),
      ...(opts.transportFaults ? { faults: opts.transportFaults } : {}),
    }, (fromStore, msgs) => this.onInbound(fromStore, msgs));
    this.transport.onUnreachable((toStore) => this.onUnreachable(toStore));
    this.transport.onHeard((fromStore) => this.liveness.heard(fromStore));
    for (const rangeId of this.engine.rangeIds()) this.addReplica(rangeId, opts);
    this.clock.start(() => this.scheduler.tick());
    this.liveness.start();
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': this.limits.maxGrpcMessageBytes,
      'grpc.max_send_message_length': this.limits.maxGrpcMessageBytes,
    });
    addKvService(this.grpcServer, this.kv, this.log);
    this.port = await new Promise<number>((res, rej) => {
      this.grpcServer.bindAsync(hostPort(host, opts.grpcPort ?? 0), grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p)));
    });
    this.log.info('store serving', { kvPort: this.port, raftPort: this.transport.port, ranges: this.scheduler.size });
  }

  private addReplica(rangeId: number, opts: StoreServerOptions): void {
    const log = this.engine.range(rangeId);
    const desc = log.descriptor;
    if (desc === null) {
      // Created to receive a snapshot; needs the snapshot path (not wired yet).
      this.log.warn('skipping uninitialized range', { rangeId });
      return;
    }
    const me = desc.replicas.find((r) => r.storeId === this.storeId);
    if (!me) {
      this.log.warn('skipping range without a replica on this store', { rangeId });
      return;
    }
    const node = new RawNode({
      ...(opts.raft ?? {}),
      id: me.replicaId,
      storage: log,
      prng: new Prng(randomInt(0x7fffffff)),
      electionTimeoutTicks: opts.electionTimeoutTicks ?? 10,
      heartbeatIntervalTicks: opts.heartbeatIntervalTicks ?? 2,
      applied: log.applied.index,
    });
    this.scheduler.add(new Replica<KvResult>(rangeId, node, log));
  }

  private host(): GroupHost<KvResult> {
    const quiescence = this.opts.quiescence !== false;
    return {
      ...(quiescence ? { mayQuiesce: (replica: Replica<KvResult>, asLeader: boolean) => this.mayQuiesce(replica, asLeader) } : {}),
      send: (replica, msgs) => this.send(replica, msgs),
      flush: () => this.transport.flush(),
      applyEntries: (replica, entries) => applyKvEntries(this.engine, replica.rangeId, entries),
      onReadStates: (replica, states) => this.reads.onReadStates(replica.rangeId, replica.log.applied.index, states),
      onSoftState: (replica, ss) => {
        // Info when this replica gains or loses leadership; other changes at debug (many ranges).
        const level = ss.role === StateRole.Leader || replica.isLeader ? 'info' : 'debug';
        this.log[level]('raft leader changed', { rangeId: replica.rangeId, lead: ss.lead, role: ss.role });
        this.reads.failUnconfirmed(replica.rangeId, () =>
          new RangeErrorReply(notLeader(replica.rangeId, replica.log.descriptor, ss.lead, 'leadership changed while the read waited')));
      },
      onApplied: (replica) => this.reads.onApplied(replica.rangeId, replica.log.applied.index),
      onFatal: (err) => this.onFatal(err),
    };
  }

  private send(replica: Replica<KvResult>, msgs: readonly Message[]): void {
    const desc = replica.log.descriptor;
    for (const m of msgs) {
      const toStore = storeOfReplica(desc, m.to);
      if (toStore === undefined || toStore === this.storeId) {
        this.log.warn('no store for raft message target', { rangeId: replica.rangeId, to: m.to });
        continue;
      }
      if (m.type === MessageType.Snap) {
        // The snapshot data raft hands out is a build request (see storage README); the
        // chunked snapshot stream that turns it into data is not wired yet.
        this.counters.snapshotsNotSent++;
        this.log.warn('snapshot needed but snapshots over the wire are not implemented', { rangeId: replica.rangeId, to: m.to });
        replica.node.reportSnapshot(m.to, false);
        continue;
      }
      if (m.type === MessageType.Heartbeat && m.context !== null && !isWakeReadCtx(m.context)) this.counters.readHeartbeatsSent++;
      // A quiescent replica sends heartbeats only as its last ones before quiescing.
      const quiesce = replica.quiescent && m.type === MessageType.Heartbeat;
      if (!this.transport.send(toStore, replica.rangeId, m, quiesce)) replica.node.reportUnreachable(m.to);
    }
  }

  private onInbound(fromStore: number, msgs: ReadonlyArray<RangeMessage>): void {
    if (this.stopping !== null) return;
    for (const { rangeId, msg, quiesce } of msgs) {
      const r = this.scheduler.get(rangeId);
      if (!r) {
        this.counters.inboundUnknownRange++;
        continue;
      }
      if (msg.to !== r.node.id || storeOfReplica(r.log.descriptor, msg.from) !== fromStore) {
        this.counters.inboundWrongReplica++;
        continue;
      }
      try {
        this.scheduler.step(rangeId, msg, quiesce === true);
      } catch (e) {
        this.counters.inboundMalformed++;
        this.log.warn('dropped a raft message raft refused', { rangeId, fromStore, type: msg.type, err: e });
      }
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
    return out.sort((a, b) => a.rangeId - b.rangeId);
  }

  /** Graceful stop; idempotent. */
  stop(): Promise<void> {
    if (this.stopping === null) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const grpcDone = this.grpcServer ? this.shutdownGrpc(this.grpcServer) : Promise.resolve();
    this.clock.stop();
    this.liveness.stop();
    await this.scheduler.stop().catch((e: unknown) => this.log.error('scheduler stop failed', { err: e }));
    for (const r of this.scheduler.all()) r.failAll('store stopping before the entry applied');
    this.reads.failAll(() => new UnavailableError('store stopping; safe to retry elsewhere'));
    await grpcDone;
    if (this.transport) await this.transport.stop();
    await this.engine.close();
    this.log.info('store stopped');
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

// PdServer: one PD node: its raft group (pd-raft.ts), the PD service (pd-service.ts) on a
// gRPC server for clients and stores, and an optional HTTP status server.
//
//   const pd = await PdServer.start({ pdId: 1, dataDir, port: 0, raftPort: 0 });     // 1 node
//   const pd = await PdServer.start({ pdId: 1, dataDir, peers: new Map([[2, { raft: 'h:r', client: 'h:p' }], ...]) });
//   pd.port; pd.raftPort; pd.setPeer(2, { raft, client });   // addresses known later (ephemeral ports)
//   await pd.stop();
import * as grpc from '@grpc/grpc-js';
import {
  OPEN_ACCESS, adminTokenMetadata, channelCredentials, createLogger, hostPort, isWildcardHost, serverCredentials, type Logger, type Security,
} from '@rangekv/runtime';
import type { LogCompactionLimits, SnapshotLimits } from '@rangekv/multiraft';
import type { StorageEngineOptions } from '@rangekv/storage';
import type { TransportFaults } from '@rangekv/transport';
import { PdHttpServer } from './pd-http.js';
import { addPdService } from './pd-grpc.js';
import { DEFAULT_PD_LIMITS, pdLimitsProblem, type PdLimits } from './pd-limits.js';
import { PdRaftGroup } from './pd-raft.js';
import { PdService } from './pd-service.js';
import type { OperatorLimits } from './operator-runner.js';
import type { PdMembershipLimits } from './pd-membership.js';
import { StoreAdminClients, type StoreAdminCaller } from './store-admin-client.js';
import { OperatorStatus } from './types.js';

export interface PdPeerAddress {
  /** PD-to-PD raft transport ("host:port"); empty when not known yet. */
  raft: string;
  /** Client gRPC address ("host:port"); empty when not known yet. */
  client: string;
}

export interface PdServerOptions {
  pdId: number;
  dataDir: string;
  /** Listen address of the client gRPC, raft and HTTP servers (0.0.0.0 / :: = every interface); default 127.0.0.1. */
  listenHost?: string;
  /**
   * The host of this node's client address as PD gives it out (GetMembers, not_leader's
   * leader address), with the bound port. Default listenHost, which must then be no
   * wildcard (RangeError).
   */
  advertiseHost?: string;
  /** Client gRPC port; 0 (default) = ephemeral, read `port`. */
  port?: number;
  /** Raft port; 0 (default) = ephemeral, read `raftPort`. */
  raftPort?: number;
  /**
   * The other PD members this node knows at start: a new cluster's members (none = a
   * 1-node PD), or, with `join`, the current members of the cluster it joins. Once PD's
   * data dir holds a membership, that one is used (it changes at run time, AddPdMember /
   * RemovePdMember) and these give addresses only.
   */
  peers?: ReadonlyMap<number, PdPeerAddress>;
  /** Join a running PD cluster (empty data dir): wait to be added with AddPdMember instead of starting a new group. */
  join?: boolean;
  /** Limits of run-time membership changes (catch-up and joint-configuration waits, member count). */
  membership?: Partial<PdMembershipLimits>;
  /** Stores that must heartbeat before PD bootstraps range 1; default 3. */
  initialStores?: number;
  /** HTTP /health and /metrics: null (default) = off, 0 = ephemeral. */
  httpPort?: number | null;
  /** Export process metrics on /metrics (one PD per process only). */
  processMetrics?: boolean;
  tickMs?: number;
  electionTimeoutTicks?: number;
  heartbeatIntervalTicks?: number;
  limits?: Partial<PdLimits>;
  /** When PD's raft log is compacted (the store's LogCompactionLimits). */
  logCompaction?: Partial<LogCompactionLimits>;
  /** PD-to-PD snapshot streams (the store's SnapshotLimits). */
  snapshots?: Partial<SnapshotLimits>;
  operatorLimits?: Partial<OperatorLimits>;
  /** Run the leader balance scheduler (default true); off for callers that place leaders themselves. */
  leaderBalance?: boolean;
  /** Run the replica checker (default true): ranges short of replicaCount voters, or with one on a dead store, are repaired. */
  replicaChecker?: boolean;
  /** Run the replica balance scheduler (default true): replicas per store kept near the mean. */
  replicaBalance?: boolean;
  /** Run the split checker (default true): ranges past rangeSplitBytes / rangeSplitKeys are split. */
  splitChecker?: boolean;
  /** Run the hot-range scheduler (default true): leaders move off a store taking far more writes. */
  hotBalance?: boolean;
  /** Run the merge checker (default true): small, quiet adjacent ranges are merged. */
  mergeChecker?: boolean;
  /** Location levels, outermost first: replicas go to stores with the most distinct label values. */
  locationLabels?: readonly string[];
  storage?: StorageEngineOptions;
  /** Store admin calls (tests may pass their own). */
  admin?: StoreAdminCaller;
  transportFaults?: TransportFaults;
  log?: Logger;
  onFatal?: (err: unknown) => void;
  /**
   * TLS and who may call what (runtime securityFrom). With certificates: the client port
   * serves TLS (client certificates per `clientCerts`), PD nodes talk mutual TLS with PD
   * certificates, and stores' admin RPCs are called with this node's certificate. Store
   * heartbeats are then taken only from the store the certificate names; operators and
   * configuration need an admin certificate or the admin token. Default plaintext, open.
   */
  security?: Pick<Security, 'certs' | 'clientCerts' | 'access'> & { httpTls?: boolean; adminToken?: string | null };
}

export class PdServer {
  readonly pdId: number;
  readonly group: PdRaftGroup;
  readonly service: PdService;
  readonly log: Logger;
  private readonly members: Map<number, string>;
  private grpcServer: grpc.Server | null = null;
  private http: PdHttpServer | null = null;
  private admin: StoreAdminCaller;
  private stopping: Promise<void> | null = null;
  port = 0;
  /** How long a stopping leader waits for its leadership transfer. */
  private readonly leaderHandOffMs: number;

  private constructor(opts: PdServerOptions, group: PdRaftGroup, members: Map<number, string>, log: Logger) {
    this.pdId = opts.pdId;
    this.group = group;
    this.members = members;
    this.log = log;
    this.admin = opts.admin ?? new StoreAdminClients(channelCredentials(opts.security?.certs ?? null), adminTokenMetadata(opts.security?.adminToken ?? null));
    this.leaderHandOffMs = Math.max(2_000, (opts.tickMs ?? 50) * (opts.electionTimeoutTicks ?? 10) * 2);
    this.service = new PdService({
      group, members, initialStores: opts.initialStores ?? 3, admin: this.admin, log, ...(opts.membership ? { membership: opts.membership } : {}),
      ownRaftAddress: () => hostPort(opts.advertiseHost ?? opts.listenHost ?? '127.0.0.1', group.raftPort),
      limits: opts.limits ?? {}, operatorLimits: opts.operatorLimits ?? {}, leaderBalance: opts.leaderBalance ?? true,
      replicaChecker: opts.replicaChecker ?? true, replicaBalance: opts.replicaBalance ?? true, splitChecker: opts.splitChecker ?? true,
      hotBalance: opts.hotBalance ?? true, mergeChecker: opts.mergeChecker ?? true,
      ...(opts.locationLabels ? { locationLabels: opts.locationLabels } : {}),
      onOperatorCreated: (by) => this.http?.countOperatorCreated(by),
      onOperatorFinished: (by, status) => this.http?.countOperatorFinished(by, status),
    });
  }

  static async start(opts: PdServerOptions): Promise<PdServer> {
    const log = (opts.log ?? createLogger()).child({ pdId: opts.pdId });
    const host = opts.listenHost ?? '127.0.0.1';
    if (isWildcardHost(opts.advertiseHost ?? host)) {
      throw new RangeError(`PD ${opts.pdId}: ${opts.advertiseHost !== undefined ? `advertiseHost ${opts.advertiseHost}` : `listenHost ${host} (every interface) without advertiseHost`}: no address to give out`);
    }
    const initialStores = opts.initialStores ?? 3;
    if (!Number.isSafeInteger(initialStores) || initialStores < 1) throw new RangeError(`initialStores must be >= 1, got ${initialStores}`);
    // Checked before the raft group starts, so a bad limit leaves nothing running.
    const limitsProblem = pdLimitsProblem({ ...DEFAULT_PD_LIMITS, ...(opts.limits ?? {}) });
    if (limitsProblem !== null) throw new RangeError(limitsProblem);
    const peers = opts.peers ?? new Map<number, PdPeerAddress>();
    const members = new Map<number, string>();
    const raftPeers = new Map<number, string>();
    for (const [id, a] of peers) {
      if (id === opts.pdId) throw new RangeError(`PD ${id} lists itself as a peer`);
      members.set(id, a.client);
      if (a.raft !== '') raftPeers.set(id, a.raft);
    }
    let server: PdServer | null = null;
    const group = await PdRaftGroup.start({
      pdId: opts.pdId, members: [opts.pdId, ...peers.keys()], ...(opts.join ? { join: true } : {}), dataDir: opts.dataDir, listenHost: host,
      raftPort: opts.raftPort ?? 0, peers: raftPeers, log,
      ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
      ...(opts.electionTimeoutTicks !== undefined ? { electionTimeoutTicks: opts.electionTimeoutTicks } : {}),
      ...(opts.heartbeatIntervalTicks !== undefined ? { heartbeatIntervalTicks: opts.heartbeatIntervalTicks } : {}),
      ...(opts.storage ? { storage: opts.storage } : {}),
      ...(opts.logCompaction ? { logCompaction: opts.logCompaction } : {}),
      ...(opts.snapshots ? { snapshots: opts.snapshots } : {}),
      ...(opts.transportFaults ? { transportFaults: opts.transportFaults } : {}),
      certs: opts.security?.certs ?? null,
      onServingChange: (s) => server?.service.onServingChange(s),
      onFatal: (e) => {
        opts.onFatal?.(e);
        void server?.stop();
      },
    });
    server = new PdServer(opts, group, members, log);
    try {
      await server.startParts(opts, host);
    } catch (e) {
      await server.stop().catch(() => {});
      throw e;
    }
    // Serving may have started before the service existed (a 1-node PD elects itself at once).
    if (group.serving) server.service.onServingChange(true);
    // A 1-node PD elected itself at start: answer its first request instead of not_leader.
    const voters = group.config.voters;
    if (voters.length === 1 && voters[0] === opts.pdId) await server.waitServing(5_000).catch(() => undefined);
    return server;
  }

  /** Resolves once this node is the serving leader; rejects after `timeoutMs`. */
  async waitServing(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.group.serving) {
      if (Date.now() > end) throw new Error(`PD ${this.pdId} is not serving after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private async startParts(opts: PdServerOptions, host: string): Promise<void> {
    const limits = { ...DEFAULT_PD_LIMITS, ...(opts.limits ?? {}) };
    if (opts.httpPort !== undefined && opts.httpPort !== null) {
      this.http = await PdHttpServer.start(host, opts.httpPort, {
        health: () => ({
          status: this.stopping ? 'stopping' : 'serving', pdId: this.pdId, isLeader: this.group.serving,
          leaderId: this.group.leaderId, term: this.group.term,
        }),
        counts: () => {
          const ops = [...this.group.state.operators.values()];
          return {
            stores: this.group.state.stores.size, ranges: this.group.state.ranges.size,
            runningOperators: ops.filter((o) => o.status === OperatorStatus.RUNNING).length, operators: ops.length,
          };
        },
        clusterHealth: () => this.service.clusterHealth(),
      }, opts.processMetrics ?? false, opts.security?.httpTls ? opts.security.certs : null);
    }
    this.grpcServer = new grpc.Server({
      // No channelz: it tracks every call (CPU per request) and nothing here reads it.
      'grpc.enable_channelz': 0,
      'grpc.max_receive_message_length': limits.maxGrpcMessageBytes,
      'grpc.max_send_message_length': limits.maxGrpcMessageBytes,
    });
    const sec = opts.security;
    addPdService(this.grpcServer, this.service, this.log, (method, code, sec) => this.http?.observeGrpc(method, code, sec), sec?.access ?? OPEN_ACCESS);
    const creds = serverCredentials(sec?.certs ?? null, { requireClientCert: sec?.clientCerts ?? false });
    this.port = await new Promise<number>((resolve, reject) => {
      this.grpcServer!.bindAsync(hostPort(host, opts.port ?? 0), creds, (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.members.set(this.pdId, hostPort(opts.advertiseHost ?? host, this.port));
    this.log.info('PD serving', { listenHost: host, address: this.address, port: this.port, raftPort: this.group.raftPort, httpPort: this.httpPort, members: [...this.members.keys()] });
  }

  get raftPort(): number {
    return this.group.raftPort;
  }

  get httpPort(): number | null {
    return this.http?.port ?? null;
  }

  /** The client address of this node ("host:port"). */
  get address(): string {
    return this.members.get(this.pdId) ?? '';
  }

  /** Sets a peer's addresses (either may be empty: unchanged). */
  setPeer(pdId: number, a: PdPeerAddress): void {
    if (pdId === this.pdId || !this.members.has(pdId)) throw new RangeError(`PD ${pdId} is not a peer of PD ${this.pdId}`);
    if (a.raft !== '') this.group.setPeer(pdId, a.raft);
    if (a.client !== '') this.members.set(pdId, a.client);
  }

  /**
   * Graceful stop. A leader first hands leadership over (`transferLeadership`, default
   * true), so PD is unavailable for one transfer instead of an election timeout.
   */
  stop(opts: { transferLeadership?: boolean } = {}): Promise<void> {
    this.stopping ??= this.doStop(opts.transferLeadership ?? true);
    return this.stopping;
  }

  private async doStop(transferLeadership: boolean): Promise<void> {
    if (transferLeadership) await this.group.handOffLeadership(this.leaderHandOffMs).catch(() => undefined);
    this.service.stop();
    if (this.grpcServer) {
      const g = this.grpcServer;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          g.forceShutdown();
          resolve();
        }, 2_000);
        g.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await this.group.stop();
    this.admin.close();
    if (this.http) await this.http.stop();
    this.log.info('PD stopped');
  }
}

// RaftHost: many raft groups on one storage engine, driven by one ready loop, talking to
// peer hosts over one transport. It knows range ids, not keys: a service (the KV store, PD's
// metadata) plugs in through HostService and decides what entries mean.
//
//   const host = await RaftHost.open({ storeId, engine: () => StorageEngine.open(dir), transport: raftTransport({...}), log });
//   const svc = new MyService(host);                 // may use host.engine, host.scheduler
//   await host.start(svc);                          // replicas of every range on disk, transport, ticks
//   host.scheduler.propose(rangeId, data, done);    // ...
//   await host.stop();                              // drained, stopped in order, engine closed
//
// What it owns: the engine, the scheduler (one ready loop), the transport, the tick clock,
// store liveness, quiescence policy, log compaction, snapshot shipping, replicas created by
// message (uninitialized) and their collection, failed replicas, and the routing of raft
// messages both ways. Everything that waits or runs later goes through the injected clock
// and transport, so the simulation (packages/testkit) runs this same code.
import { randomInt } from 'node:crypto';
import { MessageRefusedError, MessageType, Prng, RawNode, type Message, type RaftConfig, type ReadState, type SoftState } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { compareKeys, type RangeLogStore, type StorageEngine } from '@rangekv/storage';
import type { RangeMessage } from '@rangekv/transport';
import { every, realClock, type HostClock, type TimerHandle } from './host-clock.js';
import type { HostTransport, TransportFactory } from './host-transport.js';
import { LogCompactor, resolveLogCompactionLimits, type LogCompactionLimits, type LogCompactorCounters } from './log-compactor.js';
import type { Logger } from '@rangekv/runtime';
import { isWakeReadCtx } from './quiescence.js';
import {
  RaftScheduler, type ApplyEntry, type GroupHost, type ReplicaFailedError, type SchedulerLimits,
} from './raft-scheduler.js';
import { Replica, type WriteStages } from './replica.js';
import { DEFAULT_REPLICA_GC_LIMITS, ReplicaGc, type ReplicaGcLimits, type ReplicaGcQuery } from './replica-gc.js';
import { resolveSnapshotLimits, type SnapshotLimits } from './snapshot-limits.js';
import { SnapshotShipper, type SnapshotCounters } from './snapshot-shipper.js';
import { StoreLiveness } from './store-liveness.js';
import { TickClock } from './tick-clock.js';
import { leaseWakeTicks, resolveTiming, type HostTiming } from './timing.js';
import { UninitializedReplicas, createsReplica, resolveUninitializedLimits, type UninitializedLimits } from './uninitialized-replicas.js';

/** Raft knobs a host may set for all its groups (ids, storage and timing are the host's). */
export type RaftTuning = Partial<Pick<RaftConfig,
  | 'maxMsgBytes' | 'maxInflightMsgs' | 'maxInflightBytes' | 'maxUncommittedEntriesBytes' | 'maxApplyBytes'
  | 'maxEntryBytes' | 'maxPendingReads' | 'checkQuorum' | 'preVote' | 'lazyCommitBroadcast' | 'skipHeartbeatsAfterAppends' | 'earlyVoteRequests'>>;

/** What a service plugs into the host: the meaning of entries, and what it wants to hear. */
export interface HostService<R> {
  /** Applies committed entries (in order, one call at a time per range) and returns one result per entry. */
  applyEntries(replica: Replica<R>, entries: readonly ApplyEntry[]): R[] | Promise<R[]>;
  /** ReadIndex answers (before the same Ready's soft state). */
  onReadStates?(replica: Replica<R>, states: ReadState[]): void;
  /** Leader or role changed; replica.lead / role still hold the previous values. */
  onSoftState?(replica: Replica<R>, ss: SoftState): void;
  /** The range's applied state moved. */
  onApplied?(replica: Replica<R>): void;
  /** The service's own conditions for quiescing (e.g. no reads waiting); absent: always. */
  mayQuiesce?(replica: Replica<R>, asLeader: boolean): boolean;
  /** A replica failed (ReplicaFailedError) and left the loop; the host remembers it in failedRanges. */
  onReplicaFailed?(replica: Replica<R>, err: ReplicaFailedError): void;
  /** Metrics: one applyEntries call took `seconds`. */
  observeApplySeconds?(seconds: number): void;
  /** Metrics: a proposal made here applied as proposed; when it reached each stage. */
  observeWriteStages?(stages: WriteStages): void;
  /** After the loop stopped (every persist and apply finished), before the engine closes. */
  onLoopStopped?(): Promise<void>;
  /** The host cannot go on (disk error): it stops; the service should report failure. */
  onFatal(err: unknown): void;
}

export interface RaftHostOptions {
  storeId: number;
  /** The engine, or how to open it (production: StorageEngine.open; simulation: in memory). Closed by stop(). */
  engine: StorageEngine | (() => Promise<StorageEngine>);
  transport: TransportFactory;
  clock?: HostClock;
  /** Seeds for the raft nodes' PRNGs; default crypto random (the simulation passes its seeded source). */
  randomSeed?: () => number;
  timing?: Partial<HostTiming>;
  raft?: RaftTuning;
  scheduler?: Partial<SchedulerLimits>;
  /** Idle groups stop ticking and heartbeating (quiescence.ts); default true. */
  quiescence?: boolean;
  logCompaction?: Partial<LogCompactionLimits>;
  snapshots?: Partial<SnapshotLimits>;
  /** Bounds of replicas created by message; false: never create one (PD's group always exists). */
  uninitialized?: Partial<UninitializedLimits> | false;
  /** Which ranges a message may create (default: any); PD's host creates only its own range when joining. */
  mayCreateByMessage?: (rangeId: number) => boolean;
  /** Whether the cluster's record (PD) says `rangeId` has no replica here (collection of dormant replicas). */
  isGone?: (rangeId: number) => Promise<boolean | null>;
  /**
   * Whether the cluster's record (PD) says this initialized replica was removed from its
   * range (replica-gc.ts); absent: removed replicas that never learn it are kept.
   */
  isRemoved?: (q: ReplicaGcQuery) => Promise<boolean | null>;
  /**
   * The cluster's record (PD) of a range's current epoch version (null: cannot tell, or gone).
   * Replica GC keeps a removed replica while the replica before it here is not current (a
   * merge may need it); absent: such replicas are kept whenever one precedes them.
   */
  rangeVersion?: (rangeId: number) => Promise<number | null>;
  replicaGc?: Partial<ReplicaGcLimits>;
  /** Peer hosts known by address (pinged by store liveness even before they share a range). */
  knownPeers?: () => Iterable<number>;
  log: Logger;
}

/** Plain data about one replica on this host. */
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
  /** Set when the replica failed: it serves nothing until a restart. */
  failed?: string;
}

export interface HostCounters extends SnapshotCounters, LogCompactorCounters {
  /** Inbound raft messages for a range not here (a leader's may create an uninitialized replica). */
  inboundUnknownRange: number;
  /** Not addressed to our replica, or from a store the descriptor does not place the sender on. */
  inboundWrongReplica: number;
  /**
   * Leader messages (App, Heartbeat) stepped although the replica's descriptor does not
   * name their sender: a leader added while this replica was away (see onInbound).
   */
  inboundFromNewLeader: number;
  /** Refused by raft (MessageRefusedError). */
  inboundMalformed: number;
  /** For a failed replica. */
  inboundFailedRange: number;
  /** For a removed replica whose log and data are still being deleted (dropped; see destroyReplica). */
  inboundDestroyingRange: number;
  /** Messages to a replica this host destroyed (a removed one's raft id): dropped, no replica created. */
  inboundTombstoned: number;
  /** Heartbeats carrying a ReadIndex context (a quorum round for reads; lease reads send none). */
  readHeartbeatsSent: number;
  /** Heartbeats of a wake round (WAKE_READ_CTX: a woken leader telling its followers; quiescence.ts). */
  wakeHeartbeatsSent: number;
  /** Replicas brought back quiescent at start (startReplica, "dormant at start"). */
  restoredDormant: number;
}

/**
 * Routes (replica id -> store) learned per initialized range from leaders its descriptor
 * does not name yet; more are not learned (a leader is one replica, a handful of
 * changes at most happen while a replica is away).
 */
const MAX_LEARNED_ROUTES_PER_RANGE = 4;
/** How often idle uninitialized replicas are collected (uninitialized-replicas.ts sweep). */
const UNINITIALIZED_SWEEP_MS = 1_000;
/** How often a draining host re-asks its ranges to transfer leadership (a transfer can be dropped). */
const LEADER_DRAIN_RETRY_MS = 200;
/** At most one warn line per this many ms for refused inbound raft messages. */
const REJECT_LOG_INTERVAL_MS = 1_000;

/** Raft messages traced at debug level (elections, transfers, refused appends); heartbeats and plain appends are too many. */
function traced(m: Message): boolean {
  switch (m.type) {
    case MessageType.Vote: case MessageType.VoteResp: case MessageType.PreVote: case MessageType.PreVoteResp:
    case MessageType.TimeoutNow: case MessageType.TransferLeader: case MessageType.Snap:
      return true;
    case MessageType.App: case MessageType.AppResp:
      return m.reject;
    default:
      return false;
  }
}

function traceFields(rangeId: number, m: Message): Record<string, unknown> {
  return { rangeId, type: m.type, from: m.from, to: m.to, term: m.term, logTerm: m.logTerm, index: m.index, commit: m.commit, reject: m.reject };
}

function storeOfReplica(d: RangeDescriptor | null, replicaId: number): number | undefined {
  return d?.replicas.find((r) => r.replicaId === replicaId)?.storeId;
}

/** Logs the first event of each interval with how many more there were since the last line. */
class RateLimitedWarn {
  private lastMs = -Infinity;
  private suppressed = 0;

  constructor(private readonly clock: HostClock, private readonly write: (first: Record<string, unknown>, suppressed: number) => void) {}

  note(fields: Record<string, unknown>): void {
    const now = this.clock.now();
    if (now - this.lastMs < REJECT_LOG_INTERVAL_MS) {
      this.suppressed++;
      return;
    }
    this.write(fields, this.suppressed);
    this.lastMs = now;
    this.suppressed = 0;
  }
}

/** Merged-away ranges whose messages a host drops (takeForMerge); older ones are forgotten. */
export const MAX_MERGED_AWAY_REMEMBERED = 4_096;
/**
 * Destroyed replicas whose raft id a host remembers (range id -> replica id), most recent
 * first: a message to one of them creates no replica (see `tombstones`).
 */
export const MAX_TOMBSTONES_REMEMBERED = 4_096;

export class RaftHost<R> implements GroupHost<R> {
  readonly storeId: number;
  readonly engine: StorageEngine;
  readonly timing: HostTiming;
  readonly scheduler: RaftScheduler<R>;
  /** Raft time: one tick per slot, and whether tick-counted leases can be trusted now. */
  readonly ticks: TickClock;
  readonly liveness: StoreLiveness;
  readonly compactor: LogCompactor<R>;
  readonly snapshots: SnapshotShipper<R>;
  readonly uninitialized: UninitializedReplicas<R>;
  readonly snapshotLimits: SnapshotLimits;
  readonly counters: HostCounters = {
    inboundUnknownRange: 0, inboundWrongReplica: 0, inboundFromNewLeader: 0, inboundMalformed: 0, inboundFailedRange: 0, inboundDestroyingRange: 0, inboundTombstoned: 0, readHeartbeatsSent: 0, wakeHeartbeatsSent: 0, restoredDormant: 0,
    snapshotsSent: 0, snapshotBytesSent: 0, snapshotSendsFailed: 0, snapshotSendsThrottled: 0,
    snapshotsReceived: 0, snapshotBytesReceived: 0, snapshotReceivesFailed: 0, snapshotsReceivedUnused: 0,
    logCompactions: 0, logEntriesCompacted: 0, logCompactionsFailed: 0,
  };
  /** Replicas that failed (range -> reason): they take no messages until a restart. */
  readonly failedRanges = new Map<number, string>();
  /**
   * Ranges whose removed replica is being destroyed: out of the scheduler, its log still on
   * disk until the engine deletes it. A message for one must not create a replica on that
   * log (it would be deleted under the new replica, or bring the removed one back).
   */
  private readonly destroying = new Set<number>();
  /** Ranges merged away here (takeForMerge), oldest first: their messages are dropped. */
  private readonly mergedAway = new Set<number>();
  /**
   * Range id -> the raft id of the replica this host destroyed last (removed, GCed or
   * merged away), among the last MAX_TOMBSTONES_REMEMBERED; the destroy also stores it
   * (`engine.tombstoneOf`, read on a miss here, so it holds across restarts). A leader's message addressed
   * to that id or a lower one creates no uninitialized replica: re-adding a store to a
   * range allocates a new replica id, so such a message comes from a leader that has not
   * learned of the removal. Without this, a stale leader's heartbeat recreated the removed
   * replica with an empty log, whose vote then elected that stale leader under its old
   * configuration, and writes the range had acknowledged were lost (store-sim seed 4326).
   * CockroachDB keeps the same fact as a range tombstone.
   */
  private readonly tombstones = new Map<number, number>();
  /**
   * Initialized ranges: replica id -> store of leaders not in the replica's descriptor,
   * learned from their messages (onInbound), to route the answers. Forgotten when the
   * replica leaves; at most MAX_LEARNED_ROUTES_PER_RANGE per range.
   */
  private readonly learnedRoutes = new Map<number, Map<number, number>>();
  readonly clock: HostClock;
  private readonly log: Logger;
  private readonly rejectLog: RateLimitedWarn;
  private readonly createByMessage: boolean;
  private service: HostService<R> | null = null;
  private transportImpl: HostTransport | null = null;
  private stopSweep: (() => void) | null = null;
  /** The one check of dormant replicas after the start (startReplica). */
  private dormantCheck: TimerHandle | null = null;
  private stopReplicaGc: (() => void) | null = null;
  /** null without an `isRemoved` authority. */
  readonly replicaGc: ReplicaGc<R> | null;
  /** Set once stop() begins after draining: inbound raft messages are dropped from then on. */
  private closing = false;
  private stopping: Promise<void> | null = null;
  private fatalErr: unknown = null;
  /** Debug logging of election messages, refused appends, sends dropped and unreachable peers (the log's level is debug). */
  private readonly traceMessages: boolean;
  /** GroupHost.mayQuiesce: absent (groups never quiesce) when quiescence is off. */
  readonly mayQuiesce?: (replica: Replica<R>, asLeader: boolean) => boolean;

  private constructor(private readonly opts: RaftHostOptions, engine: StorageEngine) {
    this.storeId = opts.storeId;
    this.engine = engine;
    this.log = opts.log;
    this.traceMessages = opts.log.isLevelEnabled?.('debug') === true;
    this.clock = opts.clock ?? realClock;
    this.timing = resolveTiming(opts.timing);
    const t = this.timing;
    this.scheduler = new RaftScheduler<R>(engine, this, opts.scheduler ?? {}, this.clock);
    this.ticks = new TickClock({ tickMs: t.tickMs, windowTicks: t.electionTimeoutTicks, marginTicks: t.leaseMarginTicks, clock: this.clock });
    this.liveness = new StoreLiveness({
      storeId: opts.storeId, livenessIntervalMs: t.livenessIntervalMs, livenessTimeoutMs: t.livenessTimeoutMs, clock: this.clock,
      peers: () => this.peerStores(),
      ping: (s) => this.transport.sendLiveness(s),
      flush: () => this.transport.flush(),
      onDown: (s) => this.onStoreDown(s),
      onUp: (s) => this.onStoreUp(s),
    });
    this.snapshotLimits = resolveSnapshotLimits(opts.snapshots);
    this.createByMessage = opts.uninitialized !== false;
    const uninitLimits = opts.uninitialized === false
      ? resolveUninitializedLimits({ maxUninitializedReplicas: 0, maxUninitializedReplicasPerPeer: 0, maxUninitializedReplicasOnDisk: 0 })
      : resolveUninitializedLimits(opts.uninitialized);
    this.uninitialized = new UninitializedReplicas<R>({
      engine, scheduler: this.scheduler, makeNode: (id, log) => this.makeNode(id, log), limits: uninitLimits, log: this.log,
      now: () => this.clock.now(),
      ...(opts.isGone ? { isGone: opts.isGone } : {}),
      busy: (rangeId) => this.snapshots.isReceiving(rangeId),
    });
    this.snapshots = new SnapshotShipper<R>({
      storeId: this.storeId, engine, scheduler: this.scheduler, transport: () => this.transport,
      uninit: this.uninitialized, log: this.log, isStopping: () => this.stopping !== null, counters: this.counters, clock: this.clock,
      onSubsumed: (rangeId, byRangeId) => {
        const r = this.scheduler.get(rangeId);
        if (r === undefined || (this.awaitedByLeft(r) && !this.mergeSuperseded(r, byRangeId))) return;
        this.log.warn('replica covered by a snapshot of a range it merged into: destroying it', { rangeId, mergedInto: byRangeId });
        void this.destroyReplica(rangeId, { clearData: true });
      },
      onOverlap: (rangeId) => {
        const r = this.scheduler.get(rangeId);
        if (r !== undefined && this.replicaGc !== null) {
          void this.replicaGc.checkSoon(r).catch((e: unknown) => this.log.warn('replica GC check of an overlapping replica failed', { rangeId, err: e }));
        }
      },
    });
    this.replicaGc = opts.isRemoved === undefined ? null : new ReplicaGc<R>({
      replicas: () => this.scheduler.all(),
      isRemoved: opts.isRemoved,
      rangeVersion: opts.rangeVersion ?? (() => Promise.resolve(null)),
      preceding: (r) => this.precedingReplica(r),
      destroy: async (r) => {
        if (this.scheduler.get(r.rangeId) !== r || this.awaitedByLeft(r)) return false;
        await this.destroyReplica(r.rangeId, { clearData: true });
        return true;
      },
      log: this.log,
      now: () => this.clock.now(),
    }, { ...DEFAULT_REPLICA_GC_LIMITS, ...(opts.replicaGc ?? {}) });
    this.compactor = new LogCompactor<R>(engine, this.scheduler, resolveLogCompactionLimits(opts.logCompaction), this.log, this.counters);
    if (opts.quiescence !== false) this.mayQuiesce = (r, asLeader) => this.quiescable(r, asLeader);
    this.rejectLog = new RateLimitedWarn(this.clock, (first, suppressed) =>
      this.log.warn('refused a malformed raft message from a peer', { ...first, alsoRefused: suppressed }));
  }

  /** Opens the engine and builds the host; nothing runs until start(). */
  static async open<R>(opts: RaftHostOptions): Promise<RaftHost<R>> {
    const engine = typeof opts.engine === 'function' ? await opts.engine() : opts.engine;
    try {
      return new RaftHost<R>(opts, engine);
    } catch (e) {
      await engine.close();
      throw e;
    }
  }

  /** Starts the transport, the replicas of every range on disk, ticks, liveness and collection. */
  async start(service: HostService<R>): Promise<void> {
    if (this.service !== null) throw new Error('RaftHost.start called twice');
    this.service = service;
    this.transportImpl = await this.opts.transport({
      onMessages: (from, msgs) => this.onInbound(from, msgs),
      onSnapshot: (start) => this.snapshots.receive(start),
      onUnreachable: (s) => this.onUnreachable(s),
      onHeard: (s) => this.liveness.heard(s),
      onInboundReject: (r) => this.rejectLog.note({ fromStore: r.fromStore, rangeId: r.rangeId, reason: r.reason }),
    });
    for (const rangeId of this.engine.rangeIds()) {
      if (this.startReplica(rangeId, { restored: true })?.quiescent === true) this.counters.restoredDormant++;
    }
    if (this.counters.restoredDormant > 0) {
      this.log.info('replicas restored dormant (quiescent followers until woken)', { dormant: this.counters.restoredDormant, ranges: this.scheduler.size });
      // Once every live peer has had time to be heard: wake the dormant replicas that may
      // have no leader to wake them (see startReplica).
      this.dormantCheck = this.clock.setTimer(this.timing.livenessTimeoutMs, () => {
        this.dormantCheck = null;
        this.wakeDormantLeaderless();
      });
    }
    this.ticks.start(() => {
      this.scheduler.tick();
      this.compactor.tick();
      this.snapshots.sweepStaged();
    });
    this.liveness.start();
    if (this.createByMessage) {
      this.stopSweep = every(this.clock, UNINITIALIZED_SWEEP_MS, () => {
        void this.uninitialized.sweep().catch((e: unknown) => this.log.warn('uninitialized replica sweep failed', { err: e }));
      });
    }
    const gc = this.replicaGc;
    if (gc !== null) {
      this.stopReplicaGc = every(this.clock, gc.limits.replicaGcIntervalMs, () => {
        void gc.round().catch((e: unknown) => this.log.warn('replica GC round failed', { err: e }));
      });
    }
  }

  get transport(): HostTransport {
    if (this.transportImpl === null) throw new Error('RaftHost: transport used before start()');
    return this.transportImpl;
  }

  /** The error that stopped the host (disk failure), or null. */
  get fatal(): unknown {
    return this.fatalErr;
  }

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  /**
   * Creates and schedules the raft group of a range whose log store exists on disk (at
   * start, after a split or a bootstrap). An uninitialized range comes back dormant.
   *
   * Dormant at start (`restored`, quiescence on): a replica that applied its whole log
   * comes back quiescent and does not tick, as every replica of an idle range did before
   * the restart. (Entries it holds but has not applied may be committed: the commit index
   * a follower learns is not synced, so it starts awake to hear the commit from the
   * leader; a dormant one would serve STALE reads without them until the range's next
   * write.) Woken by any raft message (the leader's next append or heartbeat, a
   * candidate's vote request), a request, a peer store declared down that it may have
   * led (onStoreDown), or, once, at the liveness timeout of the start
   * (wakeDormantLeaderless) if it still knows no leader and a peer store was not heard
   * or it voted for itself in its last term. Without this a store restarting with 10,000
   * replicas ticked all of them and each pre-voted after an election timeout, waking
   * every range's leader and followers: seconds of a saturated loop (store README,
   * "Restart"). A replica that voted for itself (it led or stood in its last term) is
   * dormant too: if it led and was down long enough for its peers to elect another
   * leader, that leader's append catches it up and wakes it (onStoreUp there), and a
   * campaign of its own would only be refused and wake the range's other replicas; if
   * it led and came back before its peers noticed, they still follow it and nobody else
   * campaigns, so the liveness-timeout check (or a request) wakes it to campaign, and
   * they vote for it at once (raft README, "Check-quorum"). One that never saw a term (a
   * new cluster's first election) and a range with no other voter start awake: without
   * their campaign there may be no leader. Raft's safety does not depend on who ticks;
   * only how soon a leader is found does.
   */
  startReplica(rangeId: number, opts: { restored?: boolean } = {}): Replica<R> | null {
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
    const replica = new Replica<R>(rangeId, this.makeNode(me.replicaId, log), log);
    const others = desc.replicas.some((x) => x.replicaId !== me.replicaId && x.role !== ReplicaRole.Learner);
    const hs = log.hardState;
    const allApplied = log.appliedIndex >= log.lastIndex();
    if (opts.restored === true && this.mayQuiesce !== undefined && others && hs.term > 0 && allApplied) {
      this.scheduler.addDormant(replica);
    } else {
      this.scheduler.add(replica);
    }
    return replica;
  }

  /**
   * A request found `r` not leading: if it knows no leader (dormant since the start, see
   * startReplica), wake it with catch-up ticks so it finds or elects one soon; the caller
   * still answers "not leader". Without this a range whose every replica came back
   * dormant (no replica led in its last term) would wait for a peer store to go down.
   */
  wakeLeaderless(r: Replica<R>): void {
    if (r.quiescent && !r.isLeader && r.lead === 0 && !r.destroyed) this.scheduler.wakeForLostLeader(r, this.timing.electionTimeoutTicks);
  }

  /**
   * A dormant replica (startReplica) knows no leader. Those of its ranges with a replica on
   * a peer store not heard since the start (down, or never back) are woken with catch-up
   * ticks, so a range whose leader is gone elects one without waiting for a request.
   * Those it led or stood for in its last term that no leader has reached since are woken
   * through the paced queue, without catch-up ticks: each campaigns an election timeout
   * after its wake unless a leader reaches it first. Usually one does: its peers elected
   * another leader while this store was down and are catching this store up, paced, which
   * at 10,000 ranges can take longer than the liveness timeout; woken all at once with
   * catch-up ticks, those replicas campaigned in thousands (refused, and waking the
   * ranges' other replicas: the storm of store README, "Restart").
   */
  private wakeDormantLeaderless(): void {
    const et = this.timing.electionTimeoutTicks;
    for (const r of this.scheduler.all()) {
      if (!r.quiescent || r.isLeader || r.lead !== 0 || r.destroyed) continue;
      if (r.log.descriptor?.replicas.some((x) => x.storeId !== this.storeId && !this.liveness.isLive(x.storeId))) {
        this.scheduler.wakeForLostLeader(r, et);
      } else if (r.log.hardState.vote === r.node.id) {
        this.scheduler.wakePaced(r, 'led-before-restart');
      }
    }
  }

  private makeNode(replicaId: number, log: RangeLogStore): RawNode {
    const t = this.timing;
    return new RawNode({
      // With quiescence the quiesce heartbeat carries an idle group's last commit: no empty appends for it.
      lazyCommitBroadcast: this.opts.quiescence !== false,
      // Proposals taken in one turn reach each follower in one App (raft's coalesce.ts).
      coalesceAppends: true,
      // A follower sent entries since the last heartbeat round is not heartbeat in it.
      skipHeartbeatsAfterAppends: true,
      // A candidate's vote requests leave while its own vote is being persisted.
      earlyVoteRequests: true,
      ...(this.opts.raft ?? {}),
      id: replicaId,
      storage: log,
      prng: new Prng(this.opts.randomSeed ? this.opts.randomSeed() : randomInt(0x7fffffff)),
      electionTimeoutTicks: t.electionTimeoutTicks,
      heartbeatIntervalTicks: t.heartbeatIntervalTicks,
      leaseMarginTicks: t.leaseMarginTicks,
      applied: log.appliedIndex,
    });
  }

  /**
   * Takes this host's replica of `rangeId` out of the loop for a merge into its left-hand
   * neighbour: once this resolves no persist, apply, tick or message touches it. The caller
   * destroys it (StorageEngine.mergeRanges). Messages for it (from a store that has not
   * applied the merge yet) are dropped while it is among the last MAX_MERGED_AWAY_REMEMBERED
   * merged away here and the process runs: its id is never reused.
   */
  async takeForMerge(rangeId: number): Promise<void> {
    const r = this.scheduler.remove(rangeId);
    this.learnedRoutes.delete(rangeId);
    if (r) this.tombstone(rangeId, r.node.id);
    this.mergedAway.add(rangeId);
    if (this.mergedAway.size > MAX_MERGED_AWAY_REMEMBERED) this.mergedAway.delete(this.mergedAway.values().next().value!);
    if (!r) return;
    await this.scheduler.whenPersisted();
    await r.whenApplyIdle();
  }

  /**
   * A snapshot of `byRangeId` that holds frozen source `r`'s start key at a newer version
   * makes the merge `r` waits for moot when `byRangeId` is that merge's left range and its
   * replica here has applied everything it knows committed and applies nothing now: the
   * snapshot already holds the merge (only a merge moves a range's start key into another),
   * so that replica takes it instead of applying `CommitMerge`. Without this, a left
   * replica whose leader compacted its log past the merge could only catch up by that
   * snapshot, which `r` refused for as long as `r` waited for the left replica: the store
   * simulation's stricter convergence check found a range left on two of its three
   * replicas for good (seed 42948). A left replica with a committed entry not yet applied
   * (`CommitMerge` may be it, waiting for `r` to reach the freeze) keeps `r`. Left open: a
   * `CommitMerge` in its uncommitted tail committed between `r`'s destruction and the
   * snapshot's retry, which needs its leader to know it matches that tail while sending it
   * a snapshot (multiraft README, "Removed replicas").
   */
  private mergeSuperseded(r: Replica<R>, byRangeId: number): boolean {
    const f = r.log.mergeFreeze;
    if (f === null || f.leftRangeId !== byRangeId) return false;
    const l = this.scheduler.get(f.leftRangeId);
    if (l === undefined) return true;
    return !l.applying && l.applyQueue.length === 0 && l.node.status().commit === l.log.appliedIndex;
  }

  /** The initialized replica here with the greatest start key below `r`'s (replica GC's merge guard). */
  private precedingReplica(r: Replica<R>): Replica<R> | undefined {
    const start = r.log.descriptor?.startKey;
    if (start === undefined) return undefined;
    let best: Replica<R> | undefined;
    for (const o of this.scheduler.all()) {
      const d = o.log.descriptor;
      if (o === r || o.destroyed || d === null || compareKeys(d.startKey, start) >= 0) continue;
      if (best === undefined || compareKeys(d.startKey, best.log.descriptor!.startKey) > 0) best = o;
    }
    return best;
  }

  /**
   * Whether `r` is the frozen right range of a merge that the left range's replica on this
   * store has not recorded as committed yet: that replica may still apply the commit from
   * its log, which needs `r` up to the freeze. So `r` is not destroyed for a snapshot that
   * subsumes it (unless it is of that left range: mergeSuperseded) or by replica GC
   * meanwhile (once the left one applied the commit, `r` is gone
   * anyway; once it holds any outcome by a snapshot of its own, it will not apply it).
   */
  awaitedByLeft(r: Replica<R>): boolean {
    const f = r.log.mergeFreeze;
    if (f === null) return false;
    const l = this.scheduler.get(f.leftRangeId);
    if (l === undefined || l.destroyed || l.log.descriptor === null) return false;
    const state = l.log.mergeOutcomes.find((o) => o.mergeId === f.mergeId)?.state;
    return state === undefined || state === 'pending';
  }

  /** This host's replica left its range: stop it and delete its log (and data, `clearData`). */
  async destroyReplica(rangeId: number, opts: { clearData: boolean }): Promise<void> {
    const r = this.scheduler.remove(rangeId);
    this.learnedRoutes.delete(rangeId);
    if (r) this.tombstone(rangeId, r.node.id);
    if (!r || this.stopping !== null) return;
    this.destroying.add(rangeId);
    try {
      // Let in-flight persists and applies of this range finish first: nothing may write it after the destroy.
      await this.scheduler.whenPersisted();
      await r.whenApplyIdle();
      if (this.stopping !== null) return;
      const { whenDeleted } = await this.engine.destroyRange(rangeId, { ...opts, tombstoneReplicaId: r.node.id });
      this.log.info('replica removed from range: destroyed', { rangeId });
      void whenDeleted.catch((e: unknown) => this.log.warn('background delete of a removed replica failed', { rangeId, err: e }));
    } catch (e) {
      this.log.error('destroying a removed replica failed', { rangeId, err: e });
    } finally {
      this.destroying.delete(rangeId);
    }
  }

  /** Remembers that replica `replicaId` of `rangeId` is gone from this host for good. */
  private tombstone(rangeId: number, replicaId: number): void {
    this.tombstones.delete(rangeId);
    this.tombstones.set(rangeId, Math.max(replicaId, this.tombstones.get(rangeId) ?? 0));
    if (this.tombstones.size > MAX_TOMBSTONES_REMEMBERED) this.tombstones.delete(this.tombstones.keys().next().value!);
  }

  /**
   * Whether `replica` may serve from its raft lease now: the tick clock tracks real time,
   * and the group has ticked a lease window since it last woke (a quiescent group does not
   * tick, so a stamp from before quiescence would look fresh for ever; README).
   */
  leaseUsable(replica: Replica<R>): boolean {
    return this.ticks.leaseUsable() && this.scheduler.ticksAwake(replica) >= leaseWakeTicks(this.timing);
  }

  // ---- GroupHost (what the scheduler calls) ----------------------------------------------

  send(replica: Replica<R>, msgs: readonly Message[]): void {
    const desc = replica.log.descriptor;
    const t = this.transport;
    for (const m of msgs) {
      const toStore = storeOfReplica(desc, m.to) ?? this.uninitialized.storeOf(replica.rangeId, m.to) ?? this.learnedRoutes.get(replica.rangeId)?.get(m.to);
      if (toStore === undefined || toStore === this.storeId) {
        this.log.warn('no store for raft message target', { rangeId: replica.rangeId, to: m.to });
        continue;
      }
      if (m.type === MessageType.Snap) {
        // Raft's snapshot data is a build request: the shipper builds and streams it.
        this.snapshots.send(replica, m, toStore);
        continue;
      }
      if (m.type === MessageType.Heartbeat && m.context !== null) {
        if (isWakeReadCtx(m.context)) this.counters.wakeHeartbeatsSent++;
        else this.counters.readHeartbeatsSent++;
      }
      // A quiescent replica sends heartbeats only as its last ones before quiescing.
      const quiesce = replica.quiescent && m.type === MessageType.Heartbeat;
      const sent = t.send(toStore, replica.rangeId, m, quiesce);
      if (this.traceMessages && (traced(m) || !sent)) this.log.debug(sent ? 'raft message sent' : 'raft message dropped at send', { ...traceFields(replica.rangeId, m), toStore });
      if (!sent) replica.node.reportUnreachable(m.to);
    }
  }

  flush(): void {
    this.transportImpl?.flush();
  }

  applyEntries(replica: Replica<R>, entries: readonly ApplyEntry[]): R[] | Promise<R[]> {
    return this.svc().applyEntries(replica, entries);
  }

  onReadStates(replica: Replica<R>, states: ReadState[]): void {
    this.svc().onReadStates?.(replica, states);
  }

  onSoftState(replica: Replica<R>, ss: SoftState): void {
    this.svc().onSoftState?.(replica, ss);
  }

  onApplied(replica: Replica<R>): void {
    this.svc().onApplied?.(replica);
  }

  observeApplySeconds(seconds: number): void {
    this.service?.observeApplySeconds?.(seconds);
  }

  observeWriteStages(stages: WriteStages): void {
    this.service?.observeWriteStages?.(stages);
  }

  onFatal(err: unknown): void {
    if (this.fatalErr !== null) return;
    this.fatalErr = err;
    this.log.error('fatal host error: stopping', { err });
    this.svc().onFatal(err);
  }

  onReplicaFailed(replica: Replica<R>, err: ReplicaFailedError): void {
    this.failedRanges.set(replica.rangeId, err.reason);
    this.log.error('replica failed: the range is no longer served by this store until a restart', {
      rangeId: replica.rangeId, reason: err.reason, applied: replica.log.appliedIndex,
    });
    this.svc().onReplicaFailed?.(replica, err);
  }

  /** Quiescence: the host's conditions (every follower's store live) and the service's. */
  private quiescable(r: Replica<R>, asLeader: boolean): boolean {
    const svc = this.svc();
    if (svc.mayQuiesce && !svc.mayQuiesce(r, asLeader)) return false;
    return r.log.descriptor !== null;
  }

  /** GroupHost.memberAbsent: the member's store is not live (declared down, or not heard since our start). */
  memberAbsent(r: Replica<R>, replicaId: number): boolean {
    const storeId = storeOfReplica(r.log.descriptor, replicaId);
    return storeId !== undefined && storeId !== this.storeId && !this.liveness.isLive(storeId);
  }

  private svc(): HostService<R> {
    if (this.service === null) throw new Error('RaftHost: used before start()');
    return this.service;
  }

  // ---- inbound -----------------------------------------------------------------------------

  private onInbound(fromStore: number, msgs: ReadonlyArray<RangeMessage>): void {
    if (this.closing) return;
    for (const { rangeId, msg, quiesce } of msgs) {
      if (msg.type === MessageType.Snap) {
        // Snapshots arrive only on the snapshot call (the shipper steps them with a ref to
        // data it staged); a Snap in a batch carries no such data and would stop the store
        // when raft handed it to storage.
        this.counters.inboundMalformed++;
        this.rejectLog.note({ fromStore, rangeId, type: msg.type, reason: 'a Snap message outside the snapshot call' });
        continue;
      }
      const r = this.scheduler.get(rangeId);
      if (!r && this.failedRanges.has(rangeId)) {
        this.counters.inboundFailedRange++;
        continue;
      }
      if (!r && (this.destroying.has(rangeId) || this.mergedAway.has(rangeId))) {
        this.counters.inboundDestroyingRange++;
        continue;
      }
      if (!r && msg.to <= (this.tombstones.get(rangeId) ?? this.engine.tombstoneOf(rangeId))) {
        this.counters.inboundTombstoned++;
        continue;
      }
      if (!r) {
        this.counters.inboundUnknownRange++;
        // A leader's message for a range not here: create an uninitialized replica (bounded).
        if (this.createByMessage && createsReplica(msg.type) && (this.opts.mayCreateByMessage?.(rangeId) ?? true)) {
          this.stepIntoNewReplica(fromStore, rangeId, msg);
        }
        continue;
      }
      if (r.log.descriptor === null && msg.to === r.node.id) {
        this.uninitialized.heard(rangeId);
        const known = this.uninitialized.storeOf(rangeId, msg.from);
        if (known === undefined || known === fromStore) this.uninitialized.learn(rangeId, msg.from, fromStore);
      }
      if (msg.to !== r.node.id) {
        this.counters.inboundWrongReplica++;
        continue;
      }
      const senderStore = storeOfReplica(r.log.descriptor, msg.from) ?? this.uninitialized.storeOf(rangeId, msg.from)
        ?? this.learnedRoutes.get(rangeId)?.get(msg.from);
      if (senderStore !== fromStore) {
        if (senderStore !== undefined || !this.fromNewLeader(r, msg, fromStore)) {
          this.counters.inboundWrongReplica++;
          continue;
        }
        this.counters.inboundFromNewLeader++;
      }
      this.stepFromPeer(fromStore, rangeId, msg, quiesce === true);
    }
  }

  /**
   * A leader message (App, Heartbeat) from a replica the descriptor does not name, at a
   * term not below ours: a replica added while this one was away (down, cut off), now
   * leading. The descriptor only catches up by applying the entries that leader sends, so
   * refusing it left the replica deaf until leadership moved to a member it knew (found
   * by the nemesis' kill-after-restart: 30 s, and a range without quorum when another
   * store died meanwhile). Raft itself takes a leader's message at its term from any id;
   * votes from unknown replicas stay refused (a removed replica must not disrupt the
   * range), and so does a sender the descriptor places on another store. The route is
   * learned to answer it. Only for initialized replicas (uninitialized ones learn routes
   * in uninitialized-replicas.ts).
   */
  private fromNewLeader(r: Replica<R>, msg: Message, fromStore: number): boolean {
    if (r.log.descriptor === null || !createsReplica(msg.type) || msg.from === 0) return false;
    if (msg.term < r.node.basicStatus().term) return false;
    let routes = this.learnedRoutes.get(r.rangeId);
    if (routes === undefined) {
      routes = new Map();
      this.learnedRoutes.set(r.rangeId, routes);
    }
    if (!routes.has(msg.from) && routes.size >= MAX_LEARNED_ROUTES_PER_RANGE) return false;
    routes.set(msg.from, fromStore);
    return true;
  }

  private stepIntoNewReplica(fromStore: number, rangeId: number, msg: Message): void {
    void this.uninitialized.ensure(rangeId, msg, fromStore).then((r) => {
      if (r === null || this.stopping !== null || r.node.id !== msg.to) return;
      this.stepFromPeer(fromStore, rangeId, msg, false);
    });
  }

  /** Steps a peer's message; one raft refuses (MessageRefusedError) is counted, logged and dropped. */
  private stepFromPeer(fromStore: number, rangeId: number, msg: Message, quiesce: boolean): void {
    if (this.traceMessages && traced(msg)) {
      const r = this.scheduler.get(rangeId);
      const st = r?.node.basicStatus();
      this.log.debug('raft message received', { ...traceFields(rangeId, msg), fromStore, quiescent: r?.quiescent, myTerm: st?.term, myLead: st?.lead, myCommit: st?.commit });
    }
    try {
      this.scheduler.step(rangeId, msg, quiesce);
    } catch (e) {
      if (!(e instanceof MessageRefusedError)) throw e;
      this.counters.inboundMalformed++;
      this.rejectLog.note({ fromStore, rangeId, type: msg.type, reason: e.reason });
    }
  }

  private onUnreachable(toStore: number): void {
    if (this.traceMessages) {
      const peer = this.transport.metrics().peers.find((p) => p.storeId === toStore);
      this.log.debug('peer store unreachable', { toStore, live: this.liveness.isLive(toStore), lastError: peer?.lastError });
    }
    // Declares the store down first: wakes the quiescent ranges that need it.
    this.liveness.unreachable(toStore);
    for (const r of this.scheduler.all()) {
      if (r.quiescent) continue; // nothing in flight to it; reporting would wake it
      const rep = r.log.descriptor?.replicas.find((x) => x.storeId === toStore);
      if (rep) this.scheduler.withNode(r.rangeId, (x) => x.node.reportUnreachable(rep.replicaId));
    }
  }

  /**
   * A peer store was declared down: wake every quiescent range whose leader is there (it
   * must elect another) and every quiescent range we lead with a follower there that is
   * left without a quorum of voters on live stores (check-quorum must see it and step
   * down). A range we lead that keeps a live quorum stays quiescent: it needs nothing from
   * the lost member until the store is back (onStoreUp).
   */
  private onStoreDown(storeId: number): void {
    this.log.info('peer store declared down', { downStore: storeId });
    const et = this.timing.electionTimeoutTicks;
    for (const r of this.scheduler.all()) {
      if (!r.quiescent) continue;
      const d = r.log.descriptor;
      if (r.isLeader) {
        if (d?.replicas.some((x) => x.storeId === storeId) && !this.liveQuorum(d)) this.scheduler.unquiesce(r, 'follower-store-down');
      } else if (r.lead === 0 ? d?.replicas.some((x) => x.storeId === storeId) === true : storeOfReplica(d, r.lead) === storeId) {
        // No known leader (dormant since the start): the down store may hold it.
        this.scheduler.wakeForLostLeader(r, et);
      }
    }
  }

  /** The range's voters on live stores (this one included) are a quorum of its voters. */
  private liveQuorum(d: RangeDescriptor): boolean {
    let voters = 0;
    let live = 0;
    for (const x of d.replicas) {
      if (x.role === ReplicaRole.Learner) continue;
      voters++;
      if (x.storeId === this.storeId || this.liveness.isLive(x.storeId)) live++;
    }
    return live * 2 > voters;
  }

  /**
   * A peer store is live again (or heard for the first time): wake every quiescent range
   * led here whose member on that store lags (a range may quiesce with a member on a store
   * that is not live, quiescence.ts), so raft catches it up, and every one with a learner
   * there (below). A voter that is caught up is left alone: a store back from a restart
   * finds those replicas dormant and they stay so; one that missed the last commit holds
   * entries it has not applied, starts awake and campaigns, which wakes the range.
   * The wakes are paced (maxPacedWakesPerTick): a store back from a restart may lag in
   * thousands of ranges, and waking them all at once sent it more heartbeats and appends
   * than it could answer, so the leaders stayed awake, heartbeating, for seconds (store
   * README, "Restart").
   */
  private onStoreUp(storeId: number): void {
    for (const r of this.scheduler.all()) {
      if (!r.quiescent || !r.isLeader || r.destroyed) continue;
      const member = r.log.descriptor?.replicas.find((x) => x.storeId === storeId);
      if (member === undefined) continue;
      // A learner is woken even when caught up: it may have missed the commit (the quiesce
      // heartbeat went to its store while down) and, unlike a voter, never campaigns, which
      // is what would wake the range for it.
      if (member.role === ReplicaRole.Learner) {
        this.scheduler.wakePaced(r, 'follower-store-up');
        continue;
      }
      const st = r.node.status();
      const pr = st.progress?.get(member.replicaId);
      if (pr !== undefined && pr.match < st.lastIndex) this.scheduler.wakePaced(r, 'follower-store-up');
    }
  }

  /** Every store holding a replica of a range here, and every known peer, but this one (liveness pings). */
  private peerStores(): Set<number> {
    const out = new Set<number>(this.opts.knownPeers ? this.opts.knownPeers() : []);
    for (const r of this.scheduler.all()) {
      for (const rep of r.log.descriptor?.replicas ?? []) out.add(rep.storeId);
    }
    out.delete(this.storeId);
    return out;
  }

  // ---- status, drain, stop -----------------------------------------------------------------

  /** Plain-data view of every replica here (failed ones included). */
  status(): RangeStatusSummary[] {
    const out: RangeStatusSummary[] = [];
    for (const r of this.scheduler.all()) {
      const st = r.node.status();
      out.push({
        rangeId: r.rangeId, replicaId: r.node.id, isLeader: r.isLeader, lead: r.lead, term: st.term, commit: st.commit,
        applied: r.log.appliedIndex, descriptor: r.log.descriptor, quiescent: r.quiescent,
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

  /** Ranges whose replica here leads. */
  get leaderCount(): number {
    let n = 0;
    for (const r of this.scheduler.all()) if (r.isLeader) n++;
    return n;
  }

  /**
   * Asks every range led here to hand leadership to its most caught-up voter on another
   * store, again every LEADER_DRAIN_RETRY_MS, until none is led here or `timeoutMs`
   * passed. Ranges with no other voter keep their leader.
   */
  async drainLeaders(timeoutMs: number): Promise<void> {
    const deadline = this.clock.now() + timeoutMs;
    const movable = (): Replica<R>[] => [...this.scheduler.all()].filter((r) =>
      r.isLeader && !r.destroyed && (r.log.descriptor?.replicas.some((x) => x.storeId !== this.storeId && x.role === ReplicaRole.Voter) ?? false));
    let leaders = movable();
    if (leaders.length === 0) return;
    const initially = leaders.length;
    this.log.info('moving leaderships away before stopping', { leaders: initially });
    while (leaders.length > 0 && this.clock.now() < deadline) {
      for (const r of leaders) {
        const target = transferTarget(r, this.storeId);
        if (target !== 0) this.scheduler.withNode(r.rangeId, (x) => x.node.transferLeader(target));
      }
      const wait = Math.min(LEADER_DRAIN_RETRY_MS, Math.max(1, deadline - this.clock.now()));
      await new Promise<void>((res) => this.clock.setTimer(wait, res));
      leaders = movable();
    }
    this.log.info('leaderships moved', { moved: initially - leaders.length, kept: leaders.length });
  }

  /**
   * Stops in order: inbound messages, ticks, liveness and collection; the loop (in-flight
   * persists and applies finish); what still waits on a proposal is told the outcome is
   * unknown; the service's onLoopStopped; the transport, snapshot sends, compaction; the
   * engine. Idempotent. Drain leaders first (drainLeaders) for a graceful stop.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.closing = true;
    this.ticks.stop();
    this.liveness.stop();
    this.stopSweep?.();
    this.stopReplicaGc?.();
    if (this.dormantCheck !== null) this.clock.clearTimer(this.dormantCheck);
    await this.scheduler.stop().catch((e: unknown) => this.log.error('scheduler stop failed', { err: e }));
    for (const r of this.scheduler.all()) r.failAll('store stopping before the entry applied');
    if (this.service?.onLoopStopped) await this.service.onLoopStopped().catch((e: unknown) => this.log.error('service stop failed', { err: e }));
    if (this.transportImpl) await this.transportImpl.stop();
    await this.snapshots.stop();
    await this.compactor.stop();
    await this.engine.close();
  }
}

/** The voter on another store with the highest match index (0 if none is known). */
function transferTarget<R>(r: Replica<R>, myStore: number): number {
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

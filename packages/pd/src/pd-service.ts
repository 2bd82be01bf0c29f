// The PD service's logic (proto/pd.proto), without gRPC: pd-grpc.ts serves it.
//
// Only the serving leader (PdRaftGroup.serving) answers; other nodes answer
// `header.error.not_leader` with the leader's id and client address (GetMembers is
// answered by any node: the member list is static). Persisted through raft: store
// addresses, range descriptors (only when a report carries a newer epoch), id counters,
// bootstrap, operators. In the leader's memory only: store stats and heartbeat times,
// each range's newest report (leader, term, stats). A new leader starts with empty memory:
// a store it has not heard from yet counts as heard at the moment it became leader.
import { createHash, randomInt } from 'node:crypto';
import { descriptorFromWire, descriptorToWire, replicaFromWire, ReplicaRole, replicaToWire, pdpb, type RangeDescriptor } from '@rangekv/proto';
import type { Logger } from '@rangekv/runtime';
import { PdRequestError, invalidArgument } from './errors.js';
import { MAX_KEY_BYTES, MAX_STORE_LABELS, rangeRecordProblem, storeIdProblem, storeProblem, storeTokenProblem } from './pd-validate.js';
import {
  DEFAULT_PD_LIMITS, effectiveLimitsProblem, isRuntimeConfigKey, pdLimitsProblem, RUNTIME_CONFIG_KEYS, runtimeConfigProblem, type PdLimits, type RuntimeConfigKey,
} from './pd-limits.js';
import { PdProposalError, type PdRaftGroup } from './pd-raft.js';
import { operatorToProto } from './pd-wire.js';
import { OperatorRunner, type OperatorLimits } from './operator-runner.js';
import { planLeaderTransfers, type BalanceRange, type LeaderBalanceView, type LeaderTransfer } from './balance-leader.js';
import { planReplicaFixes, type CheckerRange, type Placement, type ReplicaCheckView, type ReplicaFix } from './replica-checker.js';
import { planReplicaMoves, type ReplicaBalanceView, type ReplicaMove } from './balance-replica.js';
import {
  BALANCE_LEADER_SCHEDULER, BALANCE_REPLICA_SCHEDULER, EVICT_SLOW_STORE_SCHEDULER, REPLICA_CHECKER_SCHEDULER, SCHEDULER_NAMES, SchedulerLoop,
  SPLIT_CHECKER_SCHEDULER, BALANCE_HOT_SCHEDULER, MERGE_CHECKER_SCHEDULER,
} from './scheduler-loop.js';
import { planMerges, type MergeView, type PlannedMerge } from './merge-checker.js';
import { planHotMoves, type HotMove, type HotView } from './balance-hot.js';
import { planSplits, type PlannedSplit, type SplitView } from './split-checker.js';
import { SlowStores } from './slow-store.js';
import { clusterHealth, emptyClusterHealth, type ClusterHealth, type HealthRange, type HealthStore } from './cluster-health.js';
import type { StoreAdminCaller } from './store-admin-client.js';
import { PdMembership, type PdMembershipLimits } from './pd-membership.js';
import {
  compareBytes, compareReports, CREATED_BY_ADMIN, FIRST_RANGE_ID, isFinal, keyInSpan, OperatorKind, operatorRangeIds, OperatorStatus, spanContains, spansOverlap,
  type OperatorRecord, type RangeRecord, type RangeStats, type StoreMeta, type StoreStats,
} from './types.js';

type Header = pdpb.ResponseHeader.$Properties;
const pdpbStoreState = pdpb.StoreState;
/** What the replica checker's loop does: a replica fix, or the end of a decommission. */
type CheckerMove = ReplicaFix | { kind: 'tombstone'; storeId: number };

/** What PD keeps of a store token: its sha256, hex (the token itself is never stored). */
export function storeTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** A replica in a joint role: the configuration is changing. */
function isJointDescriptor(d: RangeDescriptor): boolean {
  return d.replicas.some((x) => x.role !== ReplicaRole.Voter && x.role !== ReplicaRole.Learner);
}

function sameSpan(a: RangeDescriptor, b: RangeDescriptor): boolean {
  return compareBytes(a.startKey, b.startKey) === 0 && compareBytes(a.endKey, b.endKey) === 0;
}

export interface PdServiceOptions {
  group: PdRaftGroup;
  /**
   * Client addresses of the PD members this node was started with, this one included (more
   * can be set later); members added at run time are found in PD's state.
   */
  members: Map<number, string>;
  /** Limits of PD membership changes (pd-membership.ts). */
  membership?: Partial<PdMembershipLimits>;
  /** This node's own raft address as others reach it (GetMembers); default unknown (''). */
  ownRaftAddress?: () => string;
  /** Stores that must have heartbeated before range 1 is created. */
  initialStores: number;
  limits?: Partial<PdLimits>;
  operatorLimits?: Partial<OperatorLimits>;
  admin: StoreAdminCaller;
  log: Logger;
  now?: () => number;
  /** Run the leader balance scheduler while serving (default true). */
  leaderBalance?: boolean;
  /** Run the replica checker while serving (default true). */
  replicaChecker?: boolean;
  /** Run the replica balance scheduler while serving (default true). */
  replicaBalance?: boolean;
  /** Run the split checker while serving (default true). */
  splitChecker?: boolean;
  /** Run the hot-range scheduler while serving (default true). */
  hotBalance?: boolean;
  /** Run the merge checker while serving (default true). */
  mergeChecker?: boolean;
  /** Location levels, outermost first (`--location-labels zone,rack,host`): replicas spread over the most distinct values. */
  locationLabels?: readonly string[];
  /** Called with createdBy of every operator this node commits (metrics). */
  onOperatorCreated?: (createdBy: string) => void;
  /** Called with createdBy and the final status ('succeeded', 'failed', 'timed_out') of every operator this node finishes. */
  onOperatorFinished?: (createdBy: string, status: string) => void;
}

interface LiveStore {
  lastHeartbeatMs: number;
  stats: StoreStats;
}

interface LiveRange extends RangeRecord {
  stats: RangeStats;
  /** When this leader last heard of the range (a report, or an operator's look-up). */
  seenAtMs: number;
}

const ZERO_STATS: StoreStats = {
  ranges: 0, leaders: 0, capacityBytes: 0, availableBytes: 0, usedBytes: 0, syncLatencyMicros: 0, snapshotsSending: 0, snapshotsReceiving: 0,
  writeBytesPerSecond: 0, writeKeysPerSecond: 0, readBytesPerSecond: 0, readKeysPerSecond: 0,
};

/** A range PD has no figures for yet. */
const UNKNOWN_RANGE_STATS: RangeStats = {
  approximateKeys: 0, approximateBytes: 0, sizeKnown: false, writesPerSecond: 0, readsPerSecond: 0, splitKey: new Uint8Array(0),
};

/** The size of ranges merged into one: the sum when every part's size is known, else unknown. No split key (none is known for the new span). */
function mergedSize(parts: readonly RangeStats[]): Pick<RangeStats, 'approximateBytes' | 'approximateKeys' | 'sizeKnown' | 'splitKey'> {
  const known = parts.every((p) => p.sizeKnown);
  return {
    approximateBytes: known ? parts.reduce((n, p) => n + p.approximateBytes, 0) : 0,
    approximateKeys: known ? parts.reduce((n, p) => n + p.approximateKeys, 0) : 0,
    sizeKnown: known,
    splitKey: new Uint8Array(0),
  };
}

/** A rate a store reports: a finite non-negative number, else 0. */
function rate(v: number | null | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

export class PdService {
  /** The process's limits (flags, defaults); `limits` adds the run-time settings (`ctl config set`). */
  private readonly baseLimits: PdLimits;
  readonly operators: OperatorRunner;
  /** null when leader balance is off. */
  readonly leaderBalancer: SchedulerLoop<LeaderTransfer> | null;
  /** null when the replica checker is off. */
  readonly replicaChecker: SchedulerLoop<CheckerMove> | null;
  /** null when replica balance is off. */
  readonly replicaBalancer: SchedulerLoop<ReplicaMove> | null;
  /** null when the split checker is off. */
  readonly splitChecker: SchedulerLoop<PlannedSplit> | null;
  /** null when hot-range scheduling is off. */
  readonly hotBalancer: SchedulerLoop<HotMove> | null;
  /** null when the merge checker is off. */
  readonly mergeChecker: SchedulerLoop<PlannedMerge> | null;
  private readonly group: PdRaftGroup;
  readonly membership: PdMembership;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly liveStores = new Map<number, LiveStore>();
  private readonly liveRanges = new Map<number, LiveRange>();
  /** Slow-disk detection from store heartbeats (leader memory, like liveStores). */
  private slowStores: SlowStores;
  private readonly pendingRanges = new Map<number, RangeRecord>();
  /** When this leader saw each range appear or shrink (a split); ranges not in it count from servingSinceMs. */
  private readonly splitAtMs = new Map<number, number>();
  /**
   * Ranges a merge absorbed (id -> the merged range's id), until PD's committed records no
   * longer hold them: a report of one sent before the merge and answered after it is
   * refused, rather than bringing the range back into the leader's memory.
   */
  private readonly mergedAway = new Map<number, number>();
  private flushing: Promise<void> | null = null;
  private bootstrapping: Promise<void> | null = null;
  private initializing: Promise<void> | null = null;
  private idBlock = { next: 0, end: 0 };
  private idLock: Promise<unknown> = Promise.resolve();
  private servingSinceMs = 0;

  constructor(private readonly opts: PdServiceOptions) {
    this.membership = new PdMembership(opts.group, opts.log, opts.membership ?? {});
    this.group = opts.group;
    this.log = opts.log;
    this.baseLimits = { ...DEFAULT_PD_LIMITS, ...(opts.limits ?? {}) };
    const limitsProblem = pdLimitsProblem(this.baseLimits);
    if (limitsProblem !== null) throw new RangeError(limitsProblem);
    this.now = opts.now ?? Date.now;
    const pausedFor = (name: string) => (): boolean => this.group.state.config.paused.has(name);
    this.slowStores = new SlowStores(this.limits, this.log);
    this.operators = new OperatorRunner({
      state: this.group.state,
      propose: (c) => this.group.propose(c),
      allocIds: (n) => this.allocFromBlock(n),
      admin: opts.admin,
      storeAddress: (id) => this.group.state.stores.get(id)?.address,
      storeUp: (id) => this.heartbeatAgeMs(id) <= this.limits.storeDownAfterMs,
      route: (id) => this.route(id),
      learned: (rec) => {
        if (this.learned(rec)) void this.flushRanges().catch(() => undefined);
      },
      persistLearned: () => this.flushRanges(),
      now: this.now,
      log: this.log,
      created: (op) => opts.onOperatorCreated?.(op.createdBy),
      finished: (op) => opts.onOperatorFinished?.(op.createdBy, OperatorStatus[op.status].toLowerCase()),
    }, opts.operatorLimits ?? {});
    this.leaderBalancer = opts.leaderBalance === false ? null : new SchedulerLoop<LeaderTransfer>({
      name: BALANCE_LEADER_SCHEDULER,
      paused: pausedFor(BALANCE_LEADER_SCHEDULER),
      plan: () => planLeaderTransfers(this.leaderBalanceView(), {
        tolerance: this.limits.leaderBalanceTolerance, maxOperators: this.limits.maxLeaderBalanceOperators,
      }),
      act: (t) => this.balanceTransfer(t),
      now: this.now,
      log: this.log,
    }, { intervalMs: this.limits.leaderBalanceIntervalMs, warmupMs: this.limits.leaderBalanceWarmupMs });
    this.replicaChecker = opts.replicaChecker === false ? null : new SchedulerLoop<CheckerMove>({
      name: REPLICA_CHECKER_SCHEDULER,
      paused: pausedFor(REPLICA_CHECKER_SCHEDULER),
      plan: () => [
        ...planReplicaFixes(this.replicaCheckView(), {
          replicaCount: this.limits.replicaCount, maxStoreDownTimeMs: this.limits.maxStoreDownTimeMs,
          maxOperators: this.limits.maxReplicaCheckerOperators,
        }),
        ...this.decommissioned().map((storeId) => ({ kind: 'tombstone' as const, storeId })),
      ],
      act: (f) => (f.kind === 'tombstone' ? this.tombstone(f.storeId) : this.replicaFix(f)),
      now: this.now,
      log: this.log,
    }, { intervalMs: this.limits.replicaCheckIntervalMs, warmupMs: this.limits.replicaCheckWarmupMs });
    this.replicaBalancer = opts.replicaBalance === false ? null : new SchedulerLoop<ReplicaMove>({
      name: BALANCE_REPLICA_SCHEDULER,
      paused: pausedFor(BALANCE_REPLICA_SCHEDULER),
      plan: () => planReplicaMoves(this.replicaBalanceView(), {
        tolerance: this.limits.replicaBalanceTolerance, maxOperators: this.limits.maxReplicaBalanceOperators,
        lowSpaceRatio: this.limits.lowSpaceRatio,
      }),
      act: (m) => this.replicaMove(m),
      now: this.now,
      log: this.log,
    }, { intervalMs: this.limits.replicaBalanceIntervalMs, warmupMs: this.limits.replicaCheckWarmupMs });
    this.splitChecker = opts.splitChecker === false ? null : new SchedulerLoop<PlannedSplit>({
      name: SPLIT_CHECKER_SCHEDULER,
      paused: pausedFor(SPLIT_CHECKER_SCHEDULER),
      plan: () => planSplits(this.splitView(), {
        rangeSplitBytes: this.limits.rangeSplitBytes, rangeSplitKeys: this.limits.rangeSplitKeys, maxOperators: this.limits.maxSplitCheckerOperators,
      }),
      act: (p) => this.splitBySize(p),
      now: this.now,
      log: this.log,
    }, { intervalMs: this.limits.splitCheckIntervalMs, warmupMs: 0 });
    this.hotBalancer = opts.hotBalance === false ? null : new SchedulerLoop<HotMove>({
      name: BALANCE_HOT_SCHEDULER,
      paused: pausedFor(BALANCE_HOT_SCHEDULER),
      plan: () => planHotMoves(this.hotView(), {
        hotLoadRatio: this.limits.hotLoadRatio, minHotWritesPerSecond: this.limits.minHotWritesPerSecond, maxOperators: this.limits.maxHotOperators,
      }),
      act: (m) => this.hotMove(m),
      now: this.now,
      log: this.log,
    }, { intervalMs: this.limits.hotBalanceIntervalMs, warmupMs: this.limits.replicaCheckWarmupMs });
    // No warm-up of its own: splitMergeIntervalMs counts from when this leader began serving.
    this.mergeChecker = opts.mergeChecker === false ? null : new SchedulerLoop<PlannedMerge>({
      name: MERGE_CHECKER_SCHEDULER,
      paused: pausedFor(MERGE_CHECKER_SCHEDULER),
      plan: () => {
        const l = this.limits;
        return planMerges(this.mergeView(), {
          mergeMaxSizeBytes: l.mergeMaxSizeBytes, mergeMaxKeys: l.mergeMaxKeys, splitMergeIntervalMs: l.splitMergeIntervalMs,
          minHotWritesPerSecond: l.minHotWritesPerSecond, rangeSplitBytes: l.rangeSplitBytes, rangeSplitKeys: l.rangeSplitKeys,
          maxOperators: l.mergeScheduleLimit,
        });
      },
      act: (m) => this.mergeSmall(m),
      now: this.now,
      log: this.log,
    }, { intervalMs: this.limits.mergeCheckIntervalMs, warmupMs: 0 });
  }

  /** The limits in force: the process's, with the run-time settings committed in PD's state over them. */
  get limits(): PdLimits {
    const o = this.group.state.config.overrides;
    return o.size === 0 ? this.baseLimits : { ...this.baseLimits, ...Object.fromEntries(o) };
  }

  /** Called by the owner when PdRaftGroup.serving changes. */
  onServingChange(serving: boolean): void {
    this.liveStores.clear();
    this.liveRanges.clear();
    this.slowStores = new SlowStores(this.limits, this.log);
    this.pendingRanges.clear();
    this.splitAtMs.clear();
    this.mergedAway.clear();
    this.idBlock = { next: 0, end: 0 };
    if (serving) {
      this.servingSinceMs = this.now();
      this.log.info('PD leader serving', { term: this.group.term });
      void this.ensureInit().catch((e: unknown) => this.log.warn('cluster id init failed', { err: e }));
      this.operators.start();
      this.leaderBalancer?.start();
      this.replicaChecker?.start();
      this.replicaBalancer?.start();
      this.splitChecker?.start();
      this.hotBalancer?.start();
      this.mergeChecker?.start();
    } else {
      this.mergeChecker?.stop();
      this.splitChecker?.stop();
      this.hotBalancer?.stop();
      this.leaderBalancer?.stop();
      this.replicaChecker?.stop();
      this.replicaBalancer?.stop();
      this.operators.stop();
    }
  }

  stop(): void {
    this.mergeChecker?.stop();
    this.splitChecker?.stop();
    this.hotBalancer?.stop();
    this.leaderBalancer?.stop();
    this.replicaChecker?.stop();
    this.replicaBalancer?.stop();
    this.operators.stop();
  }

  // ---- helpers ---------------------------------------------------------------------

  private header(): Header {
    return { clusterId: this.group.state.clusterId };
  }

  private notLeaderHeader(): Header {
    const id = this.group.leaderId;
    const address = id === 0 ? '' : this.clientAddressOf(id);
    return {
      clusterId: this.group.state.clusterId,
      error: {
        message: id === 0 ? `PD ${this.group.pdId} is not the leader (leader unknown)` : `PD ${this.group.pdId} is not the leader; leader is PD ${id} at ${address}`,
        notLeader: { leaderId: id, leaderAddress: address },
      },
    };
  }

  /** Runs `f` on the serving leader; otherwise (or if leadership is lost meanwhile) answers not_leader. */
  private async leaderOnly<R extends { header?: Header | null }>(f: () => Promise<R>): Promise<R> {
    if (!this.group.serving) return { header: this.notLeaderHeader() } as R;
    try {
      await this.ensureInit();
      return await f();
    } catch (e) {
      if (e instanceof PdProposalError) return { header: this.notLeaderHeader() } as R;
      throw e;
    }
  }

  private ensureInit(): Promise<void> {
    if (this.group.state.clusterId !== 0) return Promise.resolve();
    this.initializing ??= this.group.propose({ t: 'init', clusterId: randomInt(1, 2 ** 47) })
      .then(() => undefined)
      .finally(() => {
        this.initializing = null;
      });
    return this.initializing;
  }

  /** Ids from the leader's block, refilled through raft (one entry per idBlockSize ids). */
  private allocFromBlock(count: number): Promise<number> {
    const run = async (): Promise<number> => {
      if (this.idBlock.end - this.idBlock.next < count) {
        const n = Math.max(count, this.limits.idBlockSize);
        const res = await this.group.propose({ t: 'reserve', space: 'id', count: n });
        if (!res.ok) throw new PdRequestError('FAILED_PRECONDITION', res.error);
        this.idBlock = { next: res.first, end: res.first + n };
      }
      const first = this.idBlock.next;
      this.idBlock.next += count;
      return first;
    };
    const p = this.idLock.then(run, run);
    this.idLock = p.catch(() => undefined);
    return p;
  }

  /** The newest record of a range: PD's committed one or a newer report not yet committed. */
  route(rangeId: number): RangeRecord | null {
    const persisted = this.group.state.ranges.get(rangeId) ?? null;
    const live = this.liveRanges.get(rangeId);
    if (live && (!persisted || compareReports(live, persisted) >= 0)) return live;
    return persisted;
  }

  /**
   * A range record from a report or a store's answer: kept in memory; a newer epoch is
   * queued for raft. A new range or a narrower span is a split (remembered for the merge
   * checker's splitMergeIntervalMs); a wider one is a merge: the ranges it absorbed leave
   * the leader's memory, and without figures of its own the merged range's size is the sum
   * of the measured sizes it joined.
   */
  private learned(rec: RangeRecord, stats?: RangeStats): boolean {
    const d = rec.descriptor;
    const id = d.rangeId;
    if (this.mergedAway.has(id)) return false;
    const prev = this.route(id);
    const newer = prev === null || d.epoch.version > prev.descriptor.epoch.version;
    if (newer && (prev === null || (spanContains(prev.descriptor.startKey, prev.descriptor.endKey, d.startKey, d.endKey) && !sameSpan(prev.descriptor, d)))) {
      this.splitAtMs.set(id, this.now());
    }
    const live = this.liveRanges.get(id);
    let recStats = stats ?? live?.stats ?? UNKNOWN_RANGE_STATS;
    if (newer && prev !== null && !spanContains(prev.descriptor.startKey, prev.descriptor.endKey, d.startKey, d.endKey)) {
      const absorbed = this.dropAbsorbed(d);
      if (stats === undefined || !stats.sizeKnown) recStats = { ...recStats, ...mergedSize([live?.stats ?? UNKNOWN_RANGE_STATS, ...absorbed]) };
    }
    if (!live || compareReports(rec, live) >= 0) {
      this.liveRanges.set(id, { ...rec, stats: recStats, seenAtMs: this.now() });
    }
    const persisted = this.group.state.ranges.get(id);
    const queued = this.pendingRanges.get(id);
    const newerEpoch = (a: RangeRecord, b: RangeRecord | undefined): boolean =>
      !b || compareReports({ descriptor: a.descriptor, term: 0 }, { descriptor: b.descriptor, term: 0 }) > 0;
    if (newerEpoch(rec, persisted) && newerEpoch(rec, queued)) {
      this.pendingRanges.set(id, rec);
      return true;
    }
    return false;
  }

  /**
   * Forgets (leader memory, queued records) the ranges of an older version inside `d`'s
   * span, which a merge absorbed; returns their stats. PdState drops their committed
   * records when `d` is committed.
   */
  private dropAbsorbed(d: RangeDescriptor): RangeStats[] {
    const out: RangeStats[] = [];
    for (const [id, r] of this.liveRanges) {
      const o = r.descriptor;
      if (id === d.rangeId || o.epoch.version >= d.epoch.version || !spanContains(d.startKey, d.endKey, o.startKey, o.endKey)) continue;
      out.push(r.stats);
      this.liveRanges.delete(id);
      this.pendingRanges.delete(id);
      this.splitAtMs.delete(id);
      this.mergedAway.set(id, d.rangeId);
    }
    return out;
  }

  /** Commits the queued descriptor changes: one raft entry per maxRangesPerEntry records. */
  private async flushRanges(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (this.pendingRanges.size === 0) return;
    const recs = [...this.pendingRanges.values()];
    this.pendingRanges.clear();
    this.flushing = (async () => {
      for (let i = 0; i < recs.length; i += this.limits.maxRangesPerEntry) {
        await this.group.propose({ t: 'putRanges', ranges: recs.slice(i, i + this.limits.maxRangesPerEntry) });
      }
      for (const id of this.mergedAway.keys()) if (!this.group.state.ranges.has(id)) this.mergedAway.delete(id);
    })().finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  /** Since the store's last heartbeat to this leader (or since this node became leader). */
  private heartbeatAgeMs(storeId: number): number {
    return Math.max(0, this.now() - (this.liveStores.get(storeId)?.lastHeartbeatMs ?? this.servingSinceMs));
  }

  /**
   * The health gauges' counts (cluster-health.ts) on the serving leader: every registered
   * store by state, and PD's committed ranges (each as its newest record, route()). A
   * node that is not serving answers all zero: only the leader hears heartbeats.
   */
  clusterHealth(): ClusterHealth {
    if (!this.group.serving) return emptyClusterHealth();
    const now = this.now();
    const limits = this.limits;
    const stores: HealthStore[] = [...this.group.state.stores.values()].map((m) => ({ id: m.id, state: m.state, heartbeatAgeMs: this.heartbeatAgeMs(m.id) }));
    const ranges: HealthRange[] = [];
    for (const id of this.group.state.ranges.keys()) {
      const r = this.route(id);
      if (r === null) continue;
      const seen = this.liveRanges.get(id)?.seenAtMs ?? this.servingSinceMs;
      ranges.push({
        rangeId: id, replicas: r.descriptor.replicas, leaderStore: r.leader?.storeId ?? 0, reportAgeMs: Math.max(0, now - seen),
      });
    }
    return clusterHealth(stores, ranges, {
      storeDownAfterMs: limits.storeDownAfterMs, replicaCount: limits.replicaCount, maxReportAgeMs: limits.leaderBalanceMaxReportAgeMs,
    });
  }

  // ---- leader balance ----------------------------------------------------------------

  /**
   * What the leader balance scheduler sees: Up stores (registered and heartbeating to this
   * leader within storeDownAfterMs: unlike ListStores, a store not heard from since this
   * node became leader is not Up here), and the ranges with a known leader reported
   * within leaderBalanceMaxReportAgeMs (stale or leaderless ones are neither counted nor moved).
   */
  leaderBalanceView(): LeaderBalanceView {
    const now = this.now();
    const { runningOn, running } = this.runningOperators([BALANCE_LEADER_SCHEDULER, EVICT_SLOW_STORE_SCHEDULER]);
    const ranges: BalanceRange[] = [];
    for (const r of this.freshRanges(now)) {
      const op = runningOn.get(r.descriptor.rangeId);
      ranges.push({
        rangeId: r.descriptor.rangeId, leaderStore: r.leader!.storeId,
        voterStores: r.descriptor.replicas.filter((x) => x.role === ReplicaRole.Voter).map((x) => x.storeId),
        busy: op !== undefined || isJointDescriptor(r.descriptor),
        transferTo: op !== undefined && op.kind === OperatorKind.TRANSFER_LEADER ? op.toStore : 0,
      });
    }
    // An offline store's leaders go first, like a slow store's.
    const offline = [...this.group.state.stores.values()].filter((m) => m.state === 'offline').map((m) => m.id);
    return { upStores: this.upStoreIds(now), ranges, running, evictStores: [...this.slowStores.evicted(now), ...offline] };
  }

  /**
   * What the replica checker sees: every registered store with how long it has been silent
   * (counted from when this node began serving for a store it has not heard from), and the
   * ranges with a known leader reported within leaderBalanceMaxReportAgeMs.
   */
  replicaCheckView(): ReplicaCheckView {
    const now = this.now();
    const { runningOn, running } = this.runningOperators([REPLICA_CHECKER_SCHEDULER]);
    const stores = [...this.group.state.stores.values()].filter((m) => m.state !== 'tombstone').map((m) => {
      const downForMs = this.heartbeatAgeMs(m.id);
      return { id: m.id, up: downForMs <= this.limits.storeDownAfterMs, downForMs, offline: m.state === 'offline' };
    });
    return { stores, ranges: this.replicaRanges(now, runningOn), running, placement: this.placement() };
  }

  /** What replica balance sees: Up stores with their disk figures, the fresh ranges, its running moves. */
  replicaBalanceView(): ReplicaBalanceView {
    const now = this.now();
    const { runningOn } = this.runningOperators([]);
    const upStores = this.upStoreIds(now).map((id) => {
      const st = this.liveStores.get(id)?.stats ?? ZERO_STATS;
      return { id, capacityBytes: st.capacityBytes, availableBytes: st.availableBytes };
    });
    const running = [...runningOn.values()]
      .filter((op) => op.createdBy === BALANCE_REPLICA_SCHEDULER)
      .map((op) => ({ rangeId: op.rangeId, fromStore: op.fromStore, toStore: op.toStore }));
    return { upStores, ranges: this.replicaRanges(now, runningOn), running, placement: this.placement() };
  }

  /** The location levels and the stores' labels as PD has them (placement.ts). */
  private placement(): Placement {
    const stores = this.group.state.stores;
    return { levels: this.opts.locationLabels ?? [], labelsOf: (id) => stores.get(id)?.labels ?? {} };
  }

  /** The fresh ranges with their replicas, busy while an operator runs on them or their configuration is joint. */
  private replicaRanges(now: number, runningOn: ReadonlyMap<number, OperatorRecord>): CheckerRange[] {
    return this.freshRanges(now).map((r) => ({
      rangeId: r.descriptor.rangeId, leaderStore: r.leader!.storeId,
      replicas: r.descriptor.replicas.map((x) => ({ storeId: x.storeId, role: x.role })),
      busy: runningOn.has(r.descriptor.rangeId) || isJointDescriptor(r.descriptor),
    }));
  }

  /** What the split checker sees: the fresh ranges' size figures and split keys, and its running operators. */
  splitView(): SplitView {
    const { runningOn, running } = this.runningOperators([SPLIT_CHECKER_SCHEDULER]);
    const ranges = this.freshRanges(this.now()).map((r) => ({
      rangeId: r.descriptor.rangeId, approximateBytes: r.stats.approximateBytes, approximateKeys: r.stats.approximateKeys,
      splitKey: r.stats.splitKey, busy: runningOn.has(r.descriptor.rangeId) || isJointDescriptor(r.descriptor),
    }));
    return { ranges, running };
  }

  /** What the hot-range scheduler sees: serving Up stores, the fresh ranges with their write rates, its running operators. */
  hotView(): HotView {
    const now = this.now();
    const { runningOn, running } = this.runningOperators([BALANCE_HOT_SCHEDULER]);
    const ranges = this.freshRanges(now).map((r) => ({
      rangeId: r.descriptor.rangeId, leaderStore: r.leader!.storeId, writesPerSecond: r.stats.writesPerSecond, readsPerSecond: r.stats.readsPerSecond,
      voterStores: r.descriptor.replicas.filter((x) => x.role === ReplicaRole.Voter).map((x) => x.storeId),
      busy: runningOn.has(r.descriptor.rangeId) || isJointDescriptor(r.descriptor),
    }));
    return { upStores: this.upStoreIds(now), ranges, running };
  }

  /** One planned hot move as a TRANSFER_LEADER (or MOVE_REPLICA) operator, unless the leader moved since the plan. */
  private async hotMove(m: HotMove): Promise<boolean> {
    if (!this.group.serving || this.route(m.rangeId)?.leader?.storeId !== m.fromStore) return false;
    const move = m.kind === 'move';
    const op = await this.operators.create({
      kind: move ? OperatorKind.MOVE_REPLICA : OperatorKind.TRANSFER_LEADER, rangeId: m.rangeId, toStore: m.toStore, fromStore: move ? m.fromStore : 0,
      splitKey: new Uint8Array(0), timeoutMs: 0, createdBy: BALANCE_HOT_SCHEDULER,
    });
    this.log.info('hot-range scheduler: operator created', { operator: op.id, move: m });
    return true;
  }

  /** One planned split as a SPLIT operator (the key is checked against PD's descriptor again at creation). */
  private async splitBySize(p: PlannedSplit): Promise<boolean> {
    if (!this.group.serving || this.route(p.rangeId) === null) return false;
    const op = await this.operators.create({
      kind: OperatorKind.SPLIT, rangeId: p.rangeId, toStore: 0, fromStore: 0, splitKey: p.splitKey, timeoutMs: 0, createdBy: SPLIT_CHECKER_SCHEDULER,
    });
    // The size figures are the old range's: forget them until the halves report their own.
    const live = this.liveRanges.get(p.rangeId);
    if (live) live.stats = { ...live.stats, approximateBytes: 0, approximateKeys: 0, sizeKnown: false, splitKey: new Uint8Array(0) };
    this.log.info('split checker: operator created', { operator: op.id, rangeId: p.rangeId });
    return true;
  }

  /**
   * What the merge checker sees: the fresh ranges with their size figures (null when
   * unknown), load, time since PD saw them split, voters; busy with an operator, a learner
   * or a joint configuration. Its running operators.
   */
  mergeView(): MergeView {
    const now = this.now();
    const { runningOn, running } = this.runningOperators([MERGE_CHECKER_SCHEDULER]);
    const ranges = this.freshRanges(now).map((r) => {
      const d = r.descriptor;
      const known = r.stats.sizeKnown;
      return {
        rangeId: d.rangeId, startKey: d.startKey, endKey: d.endKey,
        approximateBytes: known ? r.stats.approximateBytes : null, approximateKeys: known ? r.stats.approximateKeys : null,
        loadPerSecond: r.stats.writesPerSecond + r.stats.readsPerSecond,
        sinceSplitMs: now - (this.splitAtMs.get(d.rangeId) ?? this.servingSinceMs),
        voters: d.replicas.filter((x) => x.role === ReplicaRole.Voter).length,
        busy: runningOn.has(d.rangeId) || d.replicas.some((x) => x.role !== ReplicaRole.Voter),
      };
    });
    return { ranges, running };
  }

  /** One planned merge as a MERGE operator, unless the two ranges are no longer neighbours (the rest is checked again at creation). */
  private async mergeSmall(m: PlannedMerge): Promise<boolean> {
    const left = this.route(m.rangeId)?.descriptor;
    const right = this.route(m.rightRangeId)?.descriptor;
    if (!this.group.serving || !left || !right || left.endKey.length === 0 || compareBytes(left.endKey, right.startKey) !== 0) return false;
    const op = await this.operators.create({
      kind: OperatorKind.MERGE, rangeId: m.rangeId, toStore: 0, fromStore: 0, splitKey: new Uint8Array(0), timeoutMs: 0, createdBy: MERGE_CHECKER_SCHEDULER,
    });
    this.log.info('merge checker: operator created', { operator: op.id, rangeId: m.rangeId, rightRangeId: m.rightRangeId });
    return true;
  }

  /** RUNNING operators by the ranges they hold (a MERGE holds two), and how many of them the named schedulers created. */
  private runningOperators(schedulers: readonly string[]): { runningOn: Map<number, OperatorRecord>; running: number } {
    const runningOn = new Map<number, OperatorRecord>();
    let running = 0;
    for (const op of this.group.state.operators.values()) {
      if (op.status !== OperatorStatus.RUNNING) continue;
      for (const id of operatorRangeIds(op)) runningOn.set(id, op);
      if (schedulers.includes(op.createdBy)) running++;
    }
    return { runningOn, running };
  }

  /** Ranges with a known leader whose newest report is within leaderBalanceMaxReportAgeMs (stale or leaderless ones are left alone). */
  private freshRanges(now: number): LiveRange[] {
    return [...this.liveRanges.values()].filter((r) => r.leader !== null && now - r.seenAtMs <= this.limits.leaderBalanceMaxReportAgeMs);
  }

  /** Registered serving stores (not offline or tombstone) heartbeating to this leader within storeDownAfterMs. */
  private upStoreIds(now: number): number[] {
    return [...this.group.state.stores.values()].filter((m) => {
      const live = this.liveStores.get(m.id);
      return m.state === 'serving' && live !== undefined && now - live.lastHeartbeatMs <= this.limits.storeDownAfterMs;
    }).map((m) => m.id);
  }

  /** Offline stores no range record (committed or newer in memory) places a replica on: ready for tombstone. */
  private decommissioned(): number[] {
    const offline = [...this.group.state.stores.values()].filter((m) => m.state === 'offline').map((m) => m.id);
    if (offline.length === 0) return [];
    const holding = new Set<number>();
    for (const id of new Set([...this.group.state.ranges.keys(), ...this.liveRanges.keys()])) {
      for (const x of this.route(id)?.descriptor.replicas ?? []) holding.add(x.storeId);
    }
    return offline.filter((id) => !holding.has(id));
  }

  /** An offline store that holds nothing any more becomes tombstone. */
  private async tombstone(storeId: number): Promise<boolean> {
    if (!this.group.serving) return false;
    const res = await this.group.propose({ t: 'setStoreState', storeId, state: 'tombstone' });
    if (!res.ok) throw new PdRequestError('FAILED_PRECONDITION', res.error);
    this.log.info('store decommissioned: tombstone', { store: storeId });
    return true;
  }

  /** One planned move as a TRANSFER_LEADER operator, unless the range's leader moved since the plan. */
  private async balanceTransfer(t: LeaderTransfer): Promise<boolean> {
    if (!this.group.serving || this.route(t.rangeId)?.leader?.storeId !== t.fromStore) return false;
    await this.operators.create({
      kind: OperatorKind.TRANSFER_LEADER, rangeId: t.rangeId, toStore: t.toStore, fromStore: 0,
      splitKey: new Uint8Array(0), timeoutMs: 0, createdBy: t.evict === true ? EVICT_SLOW_STORE_SCHEDULER : BALANCE_LEADER_SCHEDULER,
    });
    return true;
  }

  /** One planned balance move as a MOVE_REPLICA operator (its checks run again at creation). */
  private async replicaMove(m: ReplicaMove): Promise<boolean> {
    if (!this.group.serving || this.route(m.rangeId) === null) return false;
    const op = await this.operators.create({
      kind: OperatorKind.MOVE_REPLICA, rangeId: m.rangeId, toStore: m.toStore, fromStore: m.fromStore,
      splitKey: new Uint8Array(0), timeoutMs: 0, createdBy: BALANCE_REPLICA_SCHEDULER,
    });
    this.log.info('replica balance: operator created', { operator: op.id, move: m });
    return true;
  }

  /** One planned replica fix as an operator, unless the range changed since the plan. */
  private async replicaFix(f: ReplicaFix): Promise<boolean> {
    const rec = this.route(f.rangeId);
    if (!this.group.serving || rec === null) return false;
    const none = new Uint8Array(0);
    const input = f.kind === 'replace'
      ? { kind: OperatorKind.MOVE_REPLICA, toStore: f.toStore, fromStore: f.fromStore }
      : f.kind === 'add' ? { kind: OperatorKind.ADD_REPLICA, toStore: f.toStore, fromStore: 0 }
        : { kind: OperatorKind.REMOVE_REPLICA, toStore: 0, fromStore: f.fromStore };
    const op = await this.operators.create({ ...input, rangeId: f.rangeId, splitKey: none, timeoutMs: 0, createdBy: REPLICA_CHECKER_SCHEDULER });
    this.log.info('replica checker: operator created', { operator: op.id, fix: f });
    return true;
  }

  private storeToProto(s: StoreMeta): pdpb.Store.$Properties {
    const age = this.heartbeatAgeMs(s.id);
    const state = s.state === 'tombstone' ? pdpbStoreState.TOMBSTONE : s.state === 'offline' ? pdpbStoreState.OFFLINE
      : age > this.limits.storeDownAfterMs ? pdpbStoreState.DOWN : pdpbStoreState.UP;
    return {
      id: s.id, address: s.address, raftAddress: s.raftAddress, httpAddress: s.httpAddress, state, lastHeartbeatAgeMs: age,
      labels: Object.entries(s.labels).sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([key, value]) => ({ key, value })),
    };
  }

  private statsToProto(s: StoreStats): pdpb.StoreStats.$Properties {
    return {
      ranges: s.ranges, leaders: s.leaders, capacityBytes: s.capacityBytes, availableBytes: s.availableBytes, usedBytes: s.usedBytes,
      syncLatencyMicros: s.syncLatencyMicros, snapshotsSending: s.snapshotsSending, snapshotsReceiving: s.snapshotsReceiving,
      writeBytesPerSecond: s.writeBytesPerSecond, writeKeysPerSecond: s.writeKeysPerSecond,
      readBytesPerSecond: s.readBytesPerSecond, readKeysPerSecond: s.readKeysPerSecond,
    };
  }

  private routeToProto(r: RangeRecord): pdpb.RangeRoute.$Properties {
    return { descriptor: descriptorToWire(r.descriptor), leader: r.leader ? replicaToWire(r.leader) : { storeId: 0, replicaId: 0 } };
  }

  private notBootstrapped(): Header {
    return { clusterId: this.group.state.clusterId, error: { message: 'cluster not bootstrapped yet', notBootstrapped: true } };
  }

  // ---- stores ----------------------------------------------------------------------

  allocStoreId(_req: pdpb.AllocStoreIdRequest.$Properties): Promise<pdpb.AllocStoreIdResponse.$Properties> {
    return this.leaderOnly(async () => {
      const res = await this.group.propose({ t: 'reserve', space: 'store', count: 1 });
      if (!res.ok) throw new PdRequestError('FAILED_PRECONDITION', res.error);
      this.log.info('allocated a store id', { storeIdAllocated: res.first });
      return { header: this.header(), storeId: res.first };
    });
  }

  storeHeartbeat(req: pdpb.StoreHeartbeatRequest.$Properties): Promise<pdpb.StoreHeartbeatResponse.$Properties> {
    return this.leaderOnly(async () => {
      const s = req.store;
      if (!s) throw invalidArgument('store must be set');
      const id = Number(s.id ?? 0);
      const token = req.storeToken ?? '';
      const tokenProblem = storeTokenProblem(token);
      if (tokenProblem !== null) throw invalidArgument(tokenProblem);
      const wireLabels = s.labels ?? [];
      if (wireLabels.length > MAX_STORE_LABELS) throw invalidArgument(`store has ${wireLabels.length} labels, above ${MAX_STORE_LABELS}`);
      const labels: Record<string, string> = {};
      for (const l of wireLabels) {
        const k = l.key ?? '';
        if (Object.hasOwn(labels, k)) throw invalidArgument(`store label ${k.slice(0, 64)} given twice`);
        labels[k] = l.value ?? '';
      }
      const meta: StoreMeta = {
        id, address: s.address ?? '', raftAddress: s.raftAddress ?? '', httpAddress: s.httpAddress ?? '', tokenHash: storeTokenHash(token),
        state: 'serving', // putStore keeps the registered store's state
        labels,
      };
      const problem = storeProblem(meta);
      if (problem !== null) throw invalidArgument(problem);
      const known = this.checkStoreToken(id, token, false);
      const st = req.stats;
      const now = this.now();
      const stats: StoreStats = st ? {
        ranges: Number(st.ranges ?? 0), leaders: Number(st.leaders ?? 0),
        capacityBytes: Number(st.capacityBytes ?? 0), availableBytes: Number(st.availableBytes ?? 0), usedBytes: Number(st.usedBytes ?? 0),
        syncLatencyMicros: Number(st.syncLatencyMicros ?? 0),
        snapshotsSending: Number(st.snapshotsSending ?? 0), snapshotsReceiving: Number(st.snapshotsReceiving ?? 0),
        writeBytesPerSecond: rate(st.writeBytesPerSecond), writeKeysPerSecond: rate(st.writeKeysPerSecond),
        readBytesPerSecond: rate(st.readBytesPerSecond), readKeysPerSecond: rate(st.readKeysPerSecond),
      } : ZERO_STATS;
      this.liveStores.set(id, { lastHeartbeatMs: now, stats });
      this.slowStores.heartbeat(id, stats.syncLatencyMicros, now, this.upStoreIds(now));
      if (!known || known.address !== meta.address || known.raftAddress !== meta.raftAddress || known.httpAddress !== meta.httpAddress ||
        known.tokenHash !== meta.tokenHash || !sameLabels(known.labels, meta.labels)) {
        await this.group.propose({ t: 'putStore', store: meta });
        this.log.info('store registered', { store: id, address: meta.address, raftAddress: meta.raftAddress });
      }
      await this.maybeBootstrap();
      const state = this.group.state;
      const boot = state.bootstrapDescriptor;
      const res: pdpb.StoreHeartbeatResponse.$Properties = {
        header: this.header(),
        stores: [...state.stores.values()].sort((a, b) => a.id - b.id).map((x) => this.storeToProto(x)),
      };
      if (boot && this.bootstrapPending() && boot.replicas.some((r) => r.storeId === id)) res.bootstrap = { descriptor: descriptorToWire(boot) };
      return res;
    });
  }

  /**
   * A store's requests carry its token: a store id registered with another token is
   * refused (PERMISSION_DENIED), so nobody else can move its addresses or report for it.
   * A store registered before tokens adopts the first token it sends. `mustExist`: the
   * store must be registered already (range reports).
   */
  private checkStoreToken(id: number, token: string, mustExist: boolean): StoreMeta | undefined {
    const known = this.group.state.stores.get(id);
    if (known === undefined) {
      if (mustExist) throw new PdRequestError('FAILED_PRECONDITION', `store ${id} is not registered (StoreHeartbeat first)`);
      return undefined;
    }
    if (known.tokenHash !== '' && known.tokenHash !== storeTokenHash(token)) {
      throw new PdRequestError('PERMISSION_DENIED', `store ${id} is registered with another store token (another data dir?)`);
    }
    if (known.state === 'tombstone') {
      throw new PdRequestError('FAILED_PRECONDITION',
        `store ${id} is tombstone (decommissioned): it may not rejoin; start it on an empty data dir to join as a new store`);
    }
    return known;
  }

  /**
   * Whether range 1 is still as bootstrapped: no leader has reported it yet. Only then do
   * initial stores get `bootstrap`; later an initial store that missed it gets its replica
   * from the range's leader (raft message, then snapshot), and a store whose replica was
   * removed since can never recreate it from the initial descriptor.
   */
  private bootstrapPending(): boolean {
    const st = this.group.state;
    if (!st.bootstrapped || !st.bootstrapDescriptor) return false;
    const r = this.route(FIRST_RANGE_ID);
    return r !== null && r.term === 0 && compareReports(r, { descriptor: st.bootstrapDescriptor, term: 0 }) === 0;
  }

  private maybeBootstrap(): Promise<void> {
    const state = this.group.state;
    if (state.bootstrapped) return Promise.resolve();
    if (this.bootstrapping) return this.bootstrapping;
    const heard = [...this.liveStores.keys()].filter((id) => state.stores.has(id)).sort((a, b) => a - b);
    if (heard.length < this.opts.initialStores) return Promise.resolve();
    const chosen = heard.slice(0, this.opts.initialStores);
    this.bootstrapping = (async () => {
      const first = await this.allocFromBlock(chosen.length);
      const descriptor: RangeDescriptor = {
        rangeId: FIRST_RANGE_ID, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 },
        replicas: chosen.map((storeId, i) => ({ storeId, replicaId: first + i, role: ReplicaRole.Voter })),
      };
      const res = await this.group.propose({ t: 'bootstrap', descriptor });
      if (res.ok) this.log.info('cluster bootstrapped: range 1 committed', { stores: chosen });
    })().finally(() => {
      this.bootstrapping = null;
    });
    return this.bootstrapping;
  }

  getStore(req: pdpb.GetStoreRequest.$Properties): Promise<pdpb.GetStoreResponse.$Properties> {
    return this.leaderOnly(async () => {
      const id = Number(req.storeId ?? 0);
      const s = this.group.state.stores.get(id);
      if (!s) throw new PdRequestError('NOT_FOUND', `store ${id} is unknown to PD`);
      return { header: this.header(), store: this.storeToProto(s), stats: this.statsToProto(this.liveStores.get(id)?.stats ?? ZERO_STATS) };
    });
  }

  listStores(_req: pdpb.ListStoresRequest.$Properties): Promise<pdpb.ListStoresResponse.$Properties> {
    return this.leaderOnly(async () => ({
      header: this.header(),
      stores: [...this.group.state.stores.values()].sort((a, b) => a.id - b.id).map((s) => ({
        store: this.storeToProto(s), stats: this.statsToProto(this.liveStores.get(s.id)?.stats ?? ZERO_STATS),
      })),
    }));
  }

  /**
   * Decommission (or its cancel): the store goes OFFLINE; the replica checker moves every
   * replica off it and the leader balance planner its leaders, and once no range places a
   * replica there it becomes TOMBSTONE. A cancel brings an OFFLINE store back to serving.
   */
  decommissionStore(req: pdpb.DecommissionStoreRequest.$Properties): Promise<pdpb.DecommissionStoreResponse.$Properties> {
    return this.leaderOnly(async () => {
      const id = Number(req.storeId ?? 0);
      const idProblem = storeIdProblem(id);
      if (idProblem !== null) throw invalidArgument(idProblem);
      const s = this.group.state.stores.get(id);
      if (!s) throw new PdRequestError('NOT_FOUND', `store ${id} is unknown to PD`);
      const to = req.cancel === true ? 'serving' : 'offline';
      if (s.state === 'tombstone') throw new PdRequestError('FAILED_PRECONDITION', `store ${id} is tombstone (decommissioned already)`);
      if (to === 'serving' && s.state !== 'offline') throw new PdRequestError('FAILED_PRECONDITION', `store ${id} is not being decommissioned`);
      const res = await this.group.propose({ t: 'setStoreState', storeId: id, state: to });
      if (!res.ok) throw new PdRequestError('FAILED_PRECONDITION', res.error);
      this.log.info(to === 'offline' ? 'store decommission started: offline' : 'store decommission cancelled: serving', { store: id });
      return { header: this.header(), store: this.storeToProto(this.group.state.stores.get(id)!) };
    });
  }

  // ---- run-time settings and schedulers ---------------------------------------------

  private configEntry(key: RuntimeConfigKey): pdpb.ConfigEntry.$Properties {
    return { key, value: this.limits[key], overridden: this.group.state.config.overrides.has(key) };
  }

  private schedulerInfo(name: string): pdpb.SchedulerInfo.$Properties {
    const loop = [this.leaderBalancer, this.replicaChecker, this.replicaBalancer, this.splitChecker, this.hotBalancer, this.mergeChecker]
      .find((l) => l?.name === name);
    return { name, enabled: loop !== undefined, paused: this.group.state.config.paused.has(name) };
  }

  getConfig(_req: pdpb.GetConfigRequest.$Properties): Promise<pdpb.GetConfigResponse.$Properties> {
    return this.leaderOnly(async () => ({
      header: this.header(),
      entries: RUNTIME_CONFIG_KEYS.map((k) => this.configEntry(k)),
      schedulers: SCHEDULER_NAMES.map((n) => this.schedulerInfo(n)),
    }));
  }

  /** Sets (or with `reset` removes) a run-time setting, checked with every other limit; one raft entry. */
  setConfig(req: pdpb.SetConfigRequest.$Properties): Promise<pdpb.SetConfigResponse.$Properties> {
    return this.leaderOnly(async () => {
      const key = req.key ?? '';
      if (!isRuntimeConfigKey(key)) throw invalidArgument(`${key.slice(0, 64)} is not a setting that can change at run time (one of: ${RUNTIME_CONFIG_KEYS.join(', ')})`);
      const value = req.reset === true ? null : Number(req.value ?? 0);
      if (value !== null) {
        const problem = runtimeConfigProblem(key, value) ?? effectiveLimitsProblem({ ...this.limits, [key]: value });
        if (problem !== null) throw invalidArgument(problem);
      } else {
        const problem = effectiveLimitsProblem({ ...this.limits, [key]: this.baseLimits[key] });
        if (problem !== null) throw invalidArgument(`resetting ${key}: ${problem}`);
      }
      const res = await this.group.propose({ t: 'setConfig', key, value });
      if (!res.ok) throw new PdRequestError('FAILED_PRECONDITION', res.error);
      this.log.info(value === null ? 'setting reset to its flag' : 'setting changed', { key, value: this.limits[key] });
      return { header: this.header(), entry: this.configEntry(key) };
    });
  }

  setScheduler(req: pdpb.SetSchedulerRequest.$Properties): Promise<pdpb.SetSchedulerResponse.$Properties> {
    return this.leaderOnly(async () => {
      const name = req.name ?? '';
      if (!(SCHEDULER_NAMES as readonly string[]).includes(name)) throw invalidArgument(`no scheduler named ${name.slice(0, 64)} (one of: ${SCHEDULER_NAMES.join(', ')})`);
      const res = await this.group.propose({ t: 'setSchedulerPaused', name, paused: req.paused === true });
      if (!res.ok) throw new PdRequestError('FAILED_PRECONDITION', res.error);
      this.log.info(req.paused === true ? 'scheduler paused' : 'scheduler resumed', { scheduler: name });
      return { header: this.header(), scheduler: this.schedulerInfo(name) };
    });
  }

  // ---- ranges ----------------------------------------------------------------------

  rangeHeartbeat(req: pdpb.RangeHeartbeatRequest.$Properties): Promise<pdpb.RangeHeartbeatResponse.$Properties> {
    return this.leaderOnly(async () => {
      const storeId = Number(req.storeId ?? 0);
      const idProblem = storeIdProblem(storeId, 'store_id');
      if (idProblem !== null) throw invalidArgument(idProblem);
      this.checkStoreToken(storeId, req.storeToken ?? '', true);
      const reports = req.ranges ?? [];
      if (reports.length > this.limits.maxRangeReportsPerHeartbeat) {
        throw invalidArgument(`at most maxRangeReportsPerHeartbeat (${this.limits.maxRangeReportsPerHeartbeat}) reports per heartbeat`);
      }
      const rejected: pdpb.RejectedReport.$Properties[] = [];
      let changed = false;
      for (const r of reports) {
        if (!r.descriptor) {
          rejected.push({ rangeId: 0, reason: 'a report without a descriptor' });
          continue;
        }
        const rec: RangeRecord = {
          descriptor: descriptorFromWire(r.descriptor),
          leader: r.leader && Number(r.leader.storeId ?? 0) > 0 ? replicaFromWire(r.leader) : null,
          term: Number(r.term ?? 0),
        };
        const problem = this.reportProblem(storeId, rec);
        if (problem !== null) {
          rejected.push({ rangeId: rec.descriptor.rangeId, reason: problem });
          continue;
        }
        const s = r.stats;
        const splitKey = new Uint8Array(s?.splitKey ?? new Uint8Array(0));
        const d = rec.descriptor;
        const stats: RangeStats = {
          approximateKeys: Number(s?.approximateKeys ?? 0), approximateBytes: Number(s?.approximateBytes ?? 0),
          sizeKnown: s?.approximateBytes != null || s?.approximateKeys != null,
          writesPerSecond: rate(s?.writesPerSecond), readsPerSecond: rate(s?.readsPerSecond),
          // A split key that is not strictly inside the span (or too long) is dropped: never a split at it.
          splitKey: splitKey.length > 0 && splitKey.length <= MAX_KEY_BYTES && keyInSpan(splitKey, d.startKey, d.endKey) &&
            compareBytes(splitKey, d.startKey) !== 0 ? splitKey : new Uint8Array(0),
        };
        // A new leader's first report has no rates yet (it measures between two of its own
        // reports): the previous leader's figures stand until it has some.
        const live = this.liveRanges.get(rec.descriptor.rangeId);
        if (live && live.leader?.storeId !== rec.leader?.storeId && stats.writesPerSecond === 0 && stats.readsPerSecond === 0) {
          stats.writesPerSecond = live.stats.writesPerSecond;
          stats.readsPerSecond = live.stats.readsPerSecond;
        }
        // A leader that has not measured the span (a new leader, or one that has not written
        // since it started) sends no figures: PD's figures for the same span stand.
        if (!stats.sizeKnown && live && live.stats.sizeKnown && live.descriptor.epoch.version === d.epoch.version) {
          stats.approximateBytes = live.stats.approximateBytes;
          stats.approximateKeys = live.stats.approximateKeys;
          stats.sizeKnown = true;
          if (stats.splitKey.length === 0) stats.splitKey = live.stats.splitKey;
        }
        if (this.learned(rec, stats)) changed = true;
      }
      if (rejected.length > 0) {
        this.log.warn('range reports refused', { store: storeId, refused: rejected.length, first: rejected[0] });
      }
      if (changed || this.pendingRanges.size > 0) await this.flushRanges();
      return { header: this.header(), rejected };
    });
  }

  /**
   * Why PD does not take a range report from `storeId`, or null. The report must be well
   * formed, come from its leader's store, name registered stores, and agree with what PD
   * knows: a known range's newer epoch keeps its span (membership) or its start key and
   * shrinks (split); a range PD does not know must be the right-hand part of a split of
   * the range it lies in (newer version, a store of that range reporting). Older reports
   * are not errors (PD keeps the newest).
   */
  private reportProblem(storeId: number, rec: RangeRecord): string | null {
    const wellFormed = rangeRecordProblem(rec);
    if (wellFormed !== null) return wellFormed;
    const d = rec.descriptor;
    if (rec.leader === null || rec.leader.storeId !== storeId) return `range ${d.rangeId}: reported by store ${storeId}, which is not the leader it names`;
    const state = this.group.state;
    for (const x of d.replicas) if (!state.stores.has(x.storeId)) return `range ${d.rangeId}: replica on unregistered store ${x.storeId}`;
    const into = this.mergedAway.get(d.rangeId);
    if (into !== undefined) return `range ${d.rangeId} was merged into range ${into}`;
    const known = this.route(d.rangeId);
    if (known !== null) {
      const k = known.descriptor;
      if (d.epoch.version > k.epoch.version) {
        const split = spanContains(k.startKey, k.endKey, d.startKey, d.endKey);
        if (compareBytes(d.startKey, k.startKey) !== 0 || (!split && !this.mergeGrowth(k, d))) {
          return `range ${d.rangeId}: version ${d.epoch.version} must keep the start key and lie inside the span of version ${k.epoch.version} (split), `
            + 'or end where the ranges to its right that it merged end (merge)';
        }
      } else if (d.epoch.version === k.epoch.version && !sameSpan(d, k)) {
        return `range ${d.rangeId}: the span differs from PD's at the same version ${d.epoch.version}`;
      }
      return null;
    }
    // A range PD does not know: the right-hand part of a split. Either PD still knows the
    // range it was cut from (older, holds its span, starts before it), or PD already knows
    // the left-hand part (ends where it starts). No known range of its version or newer may
    // overlap it.
    let origin: RangeDescriptor | null = null;
    for (const r of state.ranges.values()) {
      const o = r.descriptor;
      const overlaps = spansOverlap(o.startKey, o.endKey, d.startKey, d.endKey);
      if (overlaps && o.epoch.version >= d.epoch.version) return `range ${d.rangeId} overlaps range ${o.rangeId} of a version as new or newer`;
      if (overlaps && compareBytes(o.startKey, d.startKey) < 0 && spanContains(o.startKey, o.endKey, d.startKey, d.endKey)) origin = o;
      else if (origin === null && o.endKey.length > 0 && compareBytes(o.endKey, d.startKey) === 0) origin = o;
    }
    if (origin === null) return `range ${d.rangeId} is unknown to PD and is not the right-hand part of a split PD can see`;
    const from = origin;
    if (!d.replicas.some((x) => from.replicas.some((y) => y.storeId === x.storeId))) {
      return `range ${d.rangeId} shares no store with range ${from.rangeId} it was split from`;
    }
    return null;
  }

  /**
   * Whether `d`, a newer version of `k` with the same start key and a wider span, is `k`
   * after merging the ranges PD knows to its right: from k's end, each next range starts
   * where the previous one ends, is of an older version than `d`, and the last one ends
   * where `d` ends. Every merge raises the version by at least one, so `d` can have merged
   * at most d.version - k.version ranges: a made-up wide span is not taken.
   */
  private mergeGrowth(k: RangeDescriptor, d: RangeDescriptor): boolean {
    let end = k.endKey;
    for (let merged = 0; merged < d.epoch.version - k.epoch.version; merged++) {
      if (end.length === 0) return false;
      const next = this.group.state.index.byKey(end)?.descriptor;
      if (!next || compareBytes(next.startKey, end) !== 0 || next.epoch.version >= d.epoch.version) return false;
      end = next.endKey;
      if (compareBytes(end, d.endKey) === 0) return true;
      if (end.length === 0 || (d.endKey.length > 0 && compareBytes(end, d.endKey) > 0)) return false;
    }
    return false;
  }

  getRange(req: pdpb.GetRangeRequest.$Properties): Promise<pdpb.GetRangeResponse.$Properties> {
    return this.leaderOnly(async () => {
      if (!this.group.state.bootstrapped) return { header: this.notBootstrapped() };
      const id = Number(req.rangeId ?? 0);
      const rec = this.route(id);
      if (rec === null) throw new PdRequestError('NOT_FOUND', `range ${id} is unknown to PD`);
      return { header: this.header(), route: this.routeToProto(rec) };
    });
  }

  getRangeByKey(req: pdpb.GetRangeByKeyRequest.$Properties): Promise<pdpb.GetRangeByKeyResponse.$Properties> {
    return this.leaderOnly(async () => {
      if (!this.group.state.bootstrapped) return { header: this.notBootstrapped() };
      const rec = this.group.state.index.byKey(req.key ?? new Uint8Array(0));
      if (!rec) throw new PdRequestError('NOT_FOUND', 'no range holds the key');
      return { header: this.header(), route: this.routeToProto(this.route(rec.descriptor.rangeId) ?? rec) };
    });
  }

  scanRanges(req: pdpb.ScanRangesRequest.$Properties): Promise<pdpb.ScanRangesResponse.$Properties> {
    return this.leaderOnly(async () => {
      if (!this.group.state.bootstrapped) return { header: this.notBootstrapped() };
      const limit = req.limit && req.limit > 0 ? Math.min(req.limit, this.limits.maxScanRanges) : this.limits.maxScanRanges;
      const { ranges, more } = this.group.state.index.scan(req.startKey ?? new Uint8Array(0), req.endKey ?? new Uint8Array(0), limit);
      return {
        header: this.header(),
        routes: ranges.map((r) => this.routeToProto(this.route(r.descriptor.rangeId) ?? r)),
        more,
      };
    });
  }

  allocIds(req: pdpb.AllocIdsRequest.$Properties): Promise<pdpb.AllocIdsResponse.$Properties> {
    return this.leaderOnly(async () => {
      const count = Number(req.count ?? 0);
      if (count < 1 || count > this.limits.maxAllocIdsCount) {
        throw invalidArgument(`count must be in 1..maxAllocIdsCount (${this.limits.maxAllocIdsCount}), got ${count}`);
      }
      const first = await this.allocFromBlock(count);
      return { header: this.header(), first, count };
    });
  }

  /** The client address of PD `id` as this node knows it (its flags, then PD's state), or ''. */
  private clientAddressOf(id: number): string {
    return this.opts.members.get(id) ?? this.group.state.pdMembers.get(id)?.client ?? '';
  }

  /** The members as this node knows them; match indexes only on the leader. */
  private memberList(): pdpb.PdMember.$Properties[] {
    const g = this.group;
    const cs = g.config;
    // A node that joined and has not got PD's state yet knows only the members it was given.
    const ids = g.initialized ? g.memberIds() : [...this.opts.members.keys()].sort((a, b) => a - b);
    const match = g.matchIndexes();
    const leader = g.leaderId;
    return ids.map((id) => ({
      id, address: this.clientAddressOf(id), isLeader: id === leader, raftAddress: id === g.pdId ? this.opts.ownRaftAddress?.() ?? '' : g.raftAddressOf(id),
      isLearner: cs.learners.includes(id) || cs.learnersNext.includes(id), matchIndex: match.get(id) ?? 0,
    }));
  }

  /** Answered by every member, so a client can find the leader (and every member's address) anywhere. */
  getMembers(_req: pdpb.GetMembersRequest.$Properties): Promise<pdpb.GetMembersResponse.$Properties> {
    return Promise.resolve({ header: this.header(), members: this.memberList(), commitIndex: this.group.isLeader ? this.group.commitIndex : 0 });
  }

  addPdMember(req: pdpb.AddPdMemberRequest.$Properties): Promise<pdpb.AddPdMemberResponse.$Properties> {
    return this.leaderOnly(async () => {
      await this.membership.add(
        { id: Number(req.id ?? 0), raft: req.raftAddress ?? '', client: req.clientAddress ?? '' }, Number(req.replaceId ?? 0));
      return { header: this.header(), members: this.memberList() };
    });
  }

  removePdMember(req: pdpb.RemovePdMemberRequest.$Properties): Promise<pdpb.RemovePdMemberResponse.$Properties> {
    return this.leaderOnly(async () => {
      await this.membership.remove(Number(req.id ?? 0));
      return { header: this.header(), members: this.memberList() };
    });
  }

  // ---- operators -------------------------------------------------------------------

  createOperator(req: pdpb.CreateOperatorRequest.$Properties): Promise<pdpb.CreateOperatorResponse.$Properties> {
    return this.leaderOnly(async () => {
      if (!this.group.state.bootstrapped) return { header: this.notBootstrapped() };
      const op = await this.operators.create({
        kind: req.kind ?? 0, rangeId: Number(req.rangeId ?? 0), toStore: Number(req.toStore ?? 0),
        fromStore: Number(req.fromStore ?? 0), splitKey: new Uint8Array(req.splitKey ?? new Uint8Array(0)),
        timeoutMs: Number(req.timeoutMs ?? 0), createdBy: CREATED_BY_ADMIN,
      });
      let out = op;
      if (req.wait) {
        // Bounded by the operator's own timeout (it is final by then) plus a step's grace.
        out = (await this.operators.waitFinal(op.id, op.timeoutMs + this.operators.limits.adminCallTimeoutMs)) ?? op;
        if (!isFinal(out.status) && !this.group.serving) return { header: this.notLeaderHeader() };
      }
      return { header: this.header(), operator: operatorToProto(out) };
    });
  }

  getOperator(req: pdpb.GetOperatorRequest.$Properties): Promise<pdpb.GetOperatorResponse.$Properties> {
    return this.leaderOnly(async () => {
      const op = this.group.state.operators.get(Number(req.id ?? 0));
      if (!op) throw new PdRequestError('NOT_FOUND', `operator ${String(req.id)} is unknown`);
      return { header: this.header(), operator: operatorToProto(op) };
    });
  }

  listOperators(_req: pdpb.ListOperatorsRequest.$Properties): Promise<pdpb.ListOperatorsResponse.$Properties> {
    return this.leaderOnly(async () => {
      const all = [...this.group.state.operators.values()];
      const running = all.filter((o) => o.status === OperatorStatus.RUNNING).sort((a, b) => a.id - b.id);
      const finished = all.filter((o) => o.status !== OperatorStatus.RUNNING).sort((a, b) => b.id - a.id)
        .slice(0, this.limits.maxListedFinishedOperators);
      return { header: this.header(), operators: [...running, ...finished].map(operatorToProto) };
    });
  }
}

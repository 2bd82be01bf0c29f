// The store admin service's logic (proto/admin.proto), independent of gRPC: split,
// leadership transfer, membership changes, and status of the ranges on this store.
//
// Changes go to the range's leader (others answer NotLeader with a hint) and check both
// epoch parts (EpochNotMatch otherwise). Split and membership changes go through the
// range's raft log and answer once applied on the leader, with the descriptor(s) after
// them; a transfer answers once started (RangeStatus shows the outcome).
//
//   split:     admin command entry -> every replica cuts the range at apply (range-admin-apply.ts)
//   add:       ConfChangeV2 AddLearnerNode / AddNode, context = {replicaId -> storeId}
//   remove:    RemoveNode (not the leader's own replica: transfer leadership first)
//   promote:   AddNode for a learner
//   replace:   AddNode for a learner + RemoveNode for a voter in one joint change (auto-leave)
import { ConfChangeTransition, ConfChangeType, DropReason, StateRole, type ConfChangeV2, type ProposeResult } from '@rangekv/raft';
import { adminpb, descriptorToWire, ReplicaRole, type metapb, type RangeDescriptor } from '@rangekv/proto';
import { encodeAdminCommand, encodeConfChangeContext, AdminCommandType } from './admin-command.js';
import { FailedPreconditionError, InvalidArgumentError, RangeErrorReply } from './errors.js';
import type { KvResult } from './kv-state-machine.js';
import { parseHeader, type Header, type ParsedHeader } from './kv-service.js';
import type { StoreLimits } from './limits.js';
import type { Logger } from '@rangekv/runtime';
import type { HostClock, ProposalOutcome, RaftScheduler } from '@rangekv/multiraft';
import { awaitProposal } from './proposal-outcome.js';
import { epochNotMatch, keyNotInRange, notLeader, rangeNotFound, serverBusy } from './range-errors.js';
import { isJoint, splitKeyProblem } from './range-descriptors.js';
import type { Replica } from '@rangekv/multiraft';
import { MergeCoordinator } from './merge-coordinator.js';
import { pendingMerge } from './merge-apply.js';
import type { MergeWatchdog } from './merge-watchdog.js';
import type { StoreMetrics } from './store-metrics.js';

export interface AdminStoreContext {
  storeId: number;
  /** A request found a replica not leading: wake it if it knows no leader (RaftHost.wakeLeaderless checks). */
  wakeLeaderless?: (replica: Replica<KvResult>) => void;
  scheduler: RaftScheduler<KvResult>;
  limits: StoreLimits;
  log: Logger;
  /** A cluster-unique id from this store's durable id space (new ranges, new replicas). */
  allocateId(): Promise<number>;
  /** Whether `storeId` is a store this store can reach: its raft address is known (from PD or --peers). */
  storeKnown(storeId: number): boolean;
  /** Whether `storeId` is live now (store liveness; this store itself always is). */
  storeLive(storeId: number): boolean;
  /** Whether `storeId` was declared down by store liveness and not heard since (a store never heard is not). */
  storeDown(storeId: number): boolean;
  /** Timers (proposal timeouts). */
  clock: HostClock;
  /** Frozen ranges and the merges coordinated here. */
  merges: MergeWatchdog;
  metrics?: Pick<StoreMetrics, 'merges' | 'mergeFrozenSeconds'>;
}

type RangeErrorProps = metapb.RangeError.$Properties;
type Bytes = Uint8Array | null | undefined;

/** Ids PD hands out stay below this; stores allocate their own from storeId * 2^32 up. */
const PD_ID_LIMIT = 2 ** 32;

/** ListRanges answers at most this many ranges per call. */
export const MAX_LIST_RANGES = 1000;

function buf(b: Bytes): Buffer {
  if (b === null || b === undefined) return Buffer.alloc(0);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function positiveId(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive integer, got ${String(v)}`);
  return v;
}

/** The stores of a descriptor's voters (incoming and demoting included: both halves of a joint config vote). */
function votersOf(d: RangeDescriptor): number[] {
  return d.replicas.filter((x) => x.role !== ReplicaRole.Learner).map((x) => x.storeId);
}

function roleToWire(role: number): adminpb.RaftRole {
  switch (role) {
    case StateRole.Leader: return adminpb.RaftRole.LEADER;
    case StateRole.Candidate: return adminpb.RaftRole.CANDIDATE;
    case StateRole.PreCandidate: return adminpb.RaftRole.PRE_CANDIDATE;
    default: return adminpb.RaftRole.FOLLOWER;
  }
}

export class AdminService {
  private readonly coordinator: MergeCoordinator;

  constructor(private readonly s: AdminStoreContext) {
    this.coordinator = new MergeCoordinator({
      storeId: s.storeId, scheduler: s.scheduler, limits: s.limits, log: s.log, clock: s.clock, merges: s.merges, allocateId: () => s.allocateId(),
      propose: (r, data) => this.outcome(r, (done) => s.scheduler.propose(r.rangeId, data, done, { broadcastCommit: true })),
      ...(s.metrics ? { metrics: s.metrics } : {}),
    });
  }

  /** Splits and membership changes wait while a merge involves the range (frozen, or coordinated here). */
  private notMerging(r: Replica<KvResult>): void {
    const f = r.log.mergeFreeze;
    if (f !== null) throw new RangeErrorReply(serverBusy(`range ${r.rangeId} is frozen by merge ${f.mergeId} into range ${f.leftRangeId}; retry`, 100));
    if (this.s.merges.isMerging(r.rangeId)) throw new RangeErrorReply(serverBusy(`range ${r.rangeId} is merging; retry`, 100));
  }

  /**
   * Membership changes of a left range also wait while a merge of it is pending: the right
   * range's stores read the merge's outcome from their replica of the left one, so the
   * left range keeps its stores until the merge is decided (the watchdog decides a stale one).
   */
  private noMergePending(r: Replica<KvResult>): void {
    const p = pendingMerge(r);
    if (p !== undefined) throw new RangeErrorReply(serverBusy(`range ${r.rangeId} has merge ${p.mergeId} pending; retry`, 100));
  }

  // ---- checks ---------------------------------------------------------------------------

  private replica(rangeId: number): Replica<KvResult> {
    const r = this.s.scheduler.get(rangeId);
    if (!r || r.destroyed || r.log.descriptor === null) throw new RangeErrorReply(rangeNotFound(rangeId, this.s.storeId));
    return r;
  }

  private leader(h: ParsedHeader, what: string): { r: Replica<KvResult>; d: RangeDescriptor } {
    const r = this.replica(h.rangeId);
    if (!r.isLeader) {
      this.s.wakeLeaderless?.(r);
      throw new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, r.lead, what));
    }
    const d = r.log.descriptor!;
    if (d.epoch.version !== h.epoch.version || d.epoch.confVer !== h.epoch.confVer) {
      const e = epochNotMatch(d, h.epoch);
      e.message = `range ${d.rangeId}: epoch {confVer ${h.epoch.confVer}, version ${h.epoch.version}} does not match current {confVer ${d.epoch.confVer}, version ${d.epoch.version}}`;
      throw new RangeErrorReply(e);
    }
    return { r, d };
  }

  private async answer<T>(f: () => Promise<T>): Promise<T | { rangeError: RangeErrorProps }> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof RangeErrorReply) return { rangeError: e.rangeError };
      throw e;
    }
  }

  /** Waits for a proposal's outcome on this replica, bounded by proposalTimeoutMs. */
  private outcome(r: Replica<KvResult>, propose: (done: (o: ProposalOutcome<KvResult>) => void) => ProposeResult): Promise<KvResult> {
    return awaitProposal(this.s.clock, r, this.s.limits.proposalTimeoutMs, propose, (res) => this.refused(r, res));
  }

  private refused(r: Replica<KvResult>, res: Extract<ProposeResult, { ok: false }>): Error {
    switch (res.reason) {
      case DropReason.NotLeader:
        return new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, res.leader, res.detail));
      case DropReason.InvalidConfChange:
        return new FailedPreconditionError(`range ${r.rangeId}: ${res.detail}`);
      default:
        return new RangeErrorReply(serverBusy(`range ${r.rangeId}: ${res.reason}: ${res.detail}`));
    }
  }

  private applied(result: KvResult, h: ParsedHeader): RangeDescriptor {
    switch (result.kind) {
      case 'conf-change': return result.descriptor;
      case 'epoch-not-match': throw new RangeErrorReply(epochNotMatch(result.descriptor, h.epoch));
      case 'refused': throw new FailedPreconditionError(result.reason);
      default: throw new Error(`admin change applied with result ${result.kind}`);
    }
  }

  // ---- split ----------------------------------------------------------------------------

  splitRange(req: adminpb.SplitRangeRequest.$Properties): Promise<adminpb.SplitRangeResponse.$Properties> {
    return this.answer(async () => {
      const h = parseHeader(req.header as Header);
      const key = buf(req.splitKey);
      if (key.length === 0) throw new InvalidArgumentError('split_key is empty');
      if (key.length > this.s.limits.maxKeyBytes) throw new InvalidArgumentError(`split_key is ${key.length} bytes, above maxKeyBytes (${this.s.limits.maxKeyBytes})`);
      const requestedId = req.newRangeId ?? 0;
      if (requestedId !== 0) positiveId(requestedId, 'new_range_id');
      if (requestedId >= PD_ID_LIMIT) throw new InvalidArgumentError(`new_range_id ${requestedId} is not below 2^32: ids a caller names come from PD's id space (stores allocate their own above it)`);
      const { r, d } = this.leader(h, 'splits are proposed on the leader');
      const problem = splitKeyProblem(d, key);
      if (problem !== null) {
        if (Buffer.compare(key, d.startKey) === 0) throw new InvalidArgumentError(problem);
        throw new RangeErrorReply(keyNotInRange(key, d));
      }
      if (isJoint(r.log.confState)) throw new RangeErrorReply(serverBusy(`range ${r.rangeId} is changing membership (joint configuration); retry`));
      this.notMerging(r);
      if (requestedId !== 0 && this.s.scheduler.get(requestedId)) throw new InvalidArgumentError(`new_range_id ${requestedId} is already a range on store ${this.s.storeId}`);
      const newRangeId = requestedId !== 0 ? requestedId : await this.s.allocateId();
      const data = encodeAdminCommand({ type: AdminCommandType.Split, confVer: d.epoch.confVer, version: d.epoch.version, splitKey: key, newRangeId });
      // The followers apply a split at once (not at the next heartbeat): the new range's
      // leader replicates to them as soon as it exists, and a follower without the range
      // would need a snapshot.
      const result = await this.outcome(r, (done) => this.s.scheduler.propose(r.rangeId, data, done, { broadcastCommit: true }));
      if (result.kind === 'split') return { left: descriptorToWire(result.left), right: descriptorToWire(result.right) };
      if (result.kind === 'epoch-not-match') throw new RangeErrorReply(epochNotMatch(result.descriptor, h.epoch));
      if (result.kind === 'refused') throw new FailedPreconditionError(result.reason);
      throw new Error(`split applied with result ${result.kind}`);
    });
  }

  // ---- merge ----------------------------------------------------------------------------

  /** MergeRanges: merges the right-hand neighbour into the header's range (merge-coordinator.ts). */
  mergeRanges(req: adminpb.MergeRangesRequest.$Properties): Promise<adminpb.MergeRangesResponse.$Properties> {
    return this.answer(async () => {
      const h = parseHeader(req.header as Header);
      const rightId = positiveId(req.rightRangeId ?? 0, 'right_range_id');
      const re = req.rightEpoch;
      let rightEpoch: { confVer: number; version: number } | null = null;
      if (re !== null && re !== undefined) {
        rightEpoch = { confVer: Number(re.confVer ?? 0), version: Number(re.version ?? 0) };
        for (const v of [rightEpoch.confVer, rightEpoch.version]) {
          if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(`right_epoch must hold integers below 2^53, got ${String(v)}`);
        }
      }
      const { r, d } = this.leader(h, 'merges are coordinated by the left range\'s leader');
      const merged = await this.coordinator.merge(r, d, rightId, rightEpoch);
      return { merged: descriptorToWire(merged) };
    });
  }

  // ---- leadership -----------------------------------------------------------------------

  transferLeader(req: adminpb.TransferLeaderRequest.$Properties): Promise<adminpb.TransferLeaderResponse.$Properties> {
    return this.answer(async () => {
      const h = parseHeader(req.header as Header);
      const toStore = positiveId(req.toStore ?? 0, 'to_store');
      const { r, d } = this.leader(h, 'transfers start on the leader');
      const target = d.replicas.find((x) => x.storeId === toStore);
      if (!target) throw new FailedPreconditionError(`range ${r.rangeId} has no replica on store ${toStore}`);
      if (target.role !== ReplicaRole.Voter) throw new FailedPreconditionError(`range ${r.rangeId}: the replica on store ${toStore} is not a voter`);
      if (toStore === this.s.storeId) return {};
      // Raft stops taking proposals while a transfer runs (up to an election timeout):
      // towards a dead store that is pure unavailability. PD learns a store is down 10 s
      // later than liveness does, and its balancer may still pick one.
      if (this.s.storeDown(toStore)) throw new FailedPreconditionError(`store ${toStore} is down (store liveness): no leadership transfer to it`);
      this.s.scheduler.withNode(r.rangeId, (x) => x.node.transferLeader(target.replicaId));
      this.s.log.info('leadership transfer started', { rangeId: r.rangeId, toStore, toReplica: target.replicaId });
      return {};
    });
  }

  // ---- membership -----------------------------------------------------------------------

  private async changeReplicas(
    req: { header?: metapb.RequestHeader.$Properties | null },
    plan: (d: RangeDescriptor, r: Replica<KvResult>) => { cc: ConfChangeV2; what: string },
  ): Promise<adminpb.ChangeReplicasResponse.$Properties | { rangeError: RangeErrorProps }> {
    return this.answer(async () => {
      const h = parseHeader(req.header as Header);
      const { r, d } = this.leader(h, 'membership changes are proposed on the leader');
      if (isJoint(r.log.confState)) throw new RangeErrorReply(serverBusy(`range ${r.rangeId} is leaving a joint configuration; retry`));
      this.notMerging(r);
      this.noMergePending(r);
      const { cc, what } = plan(d, r);
      this.s.log.info('membership change proposed', { rangeId: r.rangeId, change: what });
      const result = await this.outcome(r, (done) => this.s.scheduler.proposeConfChange(r.rangeId, cc, done));
      return { descriptor: descriptorToWire(this.applied(result, h)) };
    });
  }

  /**
   * A change that would leave fewer live voters than a quorum of the new voter set is
   * refused: adding voters on stores that are down (or do not exist) makes the range
   * unavailable, possibly for good.
   */
  private checkQuorumAfter(d: RangeDescriptor, votersAfter: readonly number[]): void {
    const live = votersAfter.filter((s) => this.s.storeLive(s)).length;
    const quorum = Math.floor(votersAfter.length / 2) + 1;
    if (live < quorum) {
      throw new FailedPreconditionError(
        `range ${d.rangeId}: after the change ${live} of ${votersAfter.length} voters would be on live stores, below a quorum of ${quorum}`);
    }
  }

  /**
   * A learner becomes a voter only once it can append: the leader `r` knows it holds some
   * of the log, within maxPromoteLagEntries of the leader's last index (etcd refuses to
   * promote a learner that is not ready, too). A voter that was never reached (a store
   * cut off since it was added, a replica not created yet) would count against the
   * quorum, and if the leader then stepped down the range could not elect one.
   */
  private checkLearnerReady(d: RangeDescriptor, r: Replica<KvResult>, learnerReplicaId: number, storeId: number): void {
    const st = r.node.status();
    const match = st.progress?.get(learnerReplicaId)?.match ?? 0;
    const lag = st.lastIndex - match;
    if (match === 0 || lag > this.s.limits.maxPromoteLagEntries) {
      throw new FailedPreconditionError(`range ${d.rangeId}: the learner ${learnerReplicaId} on store ${storeId} is not caught up `
        + `(it holds the log to index ${match}, the leader's last index is ${st.lastIndex}; maxPromoteLagEntries ${this.s.limits.maxPromoteLagEntries}); retry once it is`);
    }
  }

  async addReplica(req: adminpb.AddReplicaRequest.$Properties): Promise<adminpb.ChangeReplicasResponse.$Properties> {
    const storeId = positiveId(req.storeId ?? 0, 'store_id');
    if (storeId !== this.s.storeId && !this.s.storeKnown(storeId)) {
      throw new FailedPreconditionError(`store ${storeId} is not known to store ${this.s.storeId} (no raft address: not registered with PD, or not in --peers)`);
    }
    const role: ReplicaRole = req.role ?? ReplicaRole.Voter;
    if (role !== ReplicaRole.Voter && role !== ReplicaRole.Learner) throw new InvalidArgumentError('role must be VOTER or LEARNER');
    let replicaId = req.replicaId ?? 0;
    if (replicaId !== 0) positiveId(replicaId, 'replica_id');
    else replicaId = await this.s.allocateId();
    return this.changeReplicas(req, (d) => {
      if (d.replicas.some((x) => x.storeId === storeId)) throw new FailedPreconditionError(`range ${d.rangeId} already has a replica on store ${storeId}`);
      if (d.replicas.some((x) => x.replicaId === replicaId)) throw new FailedPreconditionError(`range ${d.rangeId} already has replica id ${replicaId}`);
      if (role === ReplicaRole.Voter) this.checkQuorumAfter(d, [...votersOf(d), storeId]);
      const type = role === ReplicaRole.Learner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
      return {
        cc: { transition: ConfChangeTransition.Auto, changes: [{ type, nodeId: replicaId }], context: encodeConfChangeContext(new Map([[replicaId, storeId]])) },
        what: `add ${role === ReplicaRole.Learner ? 'learner' : 'voter'} ${replicaId} on store ${storeId}`,
      };
    });
  }

  async removeReplica(req: adminpb.RemoveReplicaRequest.$Properties): Promise<adminpb.ChangeReplicasResponse.$Properties> {
    const storeId = positiveId(req.storeId ?? 0, 'store_id');
    return this.changeReplicas(req, (d) => {
      const x = d.replicas.find((y) => y.storeId === storeId);
      if (!x) throw new FailedPreconditionError(`range ${d.rangeId} has no replica on store ${storeId}`);
      if (storeId === this.s.storeId) throw new FailedPreconditionError(`range ${d.rangeId}: store ${storeId} holds the leader; transfer leadership away first`);
      return {
        cc: { transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.RemoveNode, nodeId: x.replicaId }], context: new Uint8Array(0) },
        what: `remove replica ${x.replicaId} on store ${storeId}`,
      };
    });
  }

  async promoteLearner(req: adminpb.PromoteLearnerRequest.$Properties): Promise<adminpb.ChangeReplicasResponse.$Properties> {
    const storeId = positiveId(req.storeId ?? 0, 'store_id');
    return this.changeReplicas(req, (d, r) => {
      const x = d.replicas.find((y) => y.storeId === storeId);
      if (!x || x.role !== ReplicaRole.Learner) throw new FailedPreconditionError(`range ${d.rangeId} has no learner on store ${storeId}`);
      this.checkQuorumAfter(d, [...votersOf(d), storeId]);
      this.checkLearnerReady(d, r, x.replicaId, storeId);
      return {
        cc: { transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddNode, nodeId: x.replicaId }], context: new Uint8Array(0) },
        what: `promote learner ${x.replicaId} on store ${storeId}`,
      };
    });
  }

  /**
   * Promotes the learner on `learner_store` and removes the voter on `voter_store` in one
   * joint change (raft enters the joint configuration and its leader leaves it on its
   * own): the voter count stays the same throughout. Both halves must keep a live quorum.
   */
  async replaceVoter(req: adminpb.ReplaceVoterRequest.$Properties): Promise<adminpb.ChangeReplicasResponse.$Properties> {
    const learnerStore = positiveId(req.learnerStore ?? 0, 'learner_store');
    const voterStore = positiveId(req.voterStore ?? 0, 'voter_store');
    if (learnerStore === voterStore) throw new InvalidArgumentError('learner_store and voter_store are the same store');
    return this.changeReplicas(req, (d, r) => {
      const learner = d.replicas.find((y) => y.storeId === learnerStore);
      if (!learner || learner.role !== ReplicaRole.Learner) throw new FailedPreconditionError(`range ${d.rangeId} has no learner on store ${learnerStore}`);
      const voter = d.replicas.find((y) => y.storeId === voterStore);
      if (!voter || voter.role !== ReplicaRole.Voter) throw new FailedPreconditionError(`range ${d.rangeId} has no voter on store ${voterStore}`);
      if (voterStore === this.s.storeId) throw new FailedPreconditionError(`range ${d.rangeId}: store ${voterStore} holds the leader; transfer leadership away first`);
      const after = [...votersOf(d).filter((s) => s !== voterStore), learnerStore];
      this.checkQuorumAfter(d, after);
      this.checkLearnerReady(d, r, learner.replicaId, learnerStore);
      return {
        cc: {
          transition: ConfChangeTransition.Auto,
          changes: [{ type: ConfChangeType.AddNode, nodeId: learner.replicaId }, { type: ConfChangeType.RemoveNode, nodeId: voter.replicaId }],
          context: new Uint8Array(0),
        },
        what: `replace voter ${voter.replicaId} on store ${voterStore} by learner ${learner.replicaId} on store ${learnerStore} (joint)`,
      };
    });
  }

  // ---- status ---------------------------------------------------------------------------

  rangeStatus(req: adminpb.RangeStatusRequest.$Properties): Promise<adminpb.RangeStatusResponse.$Properties> {
    return this.answer(async () => {
      const r = this.replica(positiveId(req.rangeId ?? 0, 'range_id'));
      const st = r.node.status();
      const progress: adminpb.ReplicaProgress.$Properties[] = [];
      if (st.progress) {
        for (const [id, p] of [...st.progress].sort((a, b) => a[0] - b[0])) {
          if (id === st.id) continue;
          progress.push({ replicaId: id, match: p.match, next: p.next, state: p.state, recentActive: false });
        }
      }
      return {
        status: {
          descriptor: descriptorToWire(r.log.descriptor!), replicaId: st.id, role: roleToWire(st.role), term: st.term,
          leaderReplicaId: st.lead, commit: st.commit, applied: r.log.appliedIndex, lastIndex: st.lastIndex,
          quiescent: (r as { quiescent?: boolean }).quiescent === true, leaseValid: false, progress,
        },
      };
    });
  }

  async listRanges(req: adminpb.ListRangesRequest.$Properties): Promise<adminpb.ListRangesResponse.$Properties> {
    const after = req.afterRangeId ?? 0;
    if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) throw new InvalidArgumentError('after_range_id must be a non-negative integer');
    const limit = req.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_LIST_RANGES) throw new InvalidArgumentError(`limit must be 0..${MAX_LIST_RANGES} (MAX_LIST_RANGES)`);
    const max = limit === 0 ? MAX_LIST_RANGES : limit;
    const ids = [...this.s.scheduler.all()].filter((r) => r.rangeId > after && r.log.descriptor !== null && !r.destroyed).map((r) => r.rangeId).sort((a, b) => a - b);
    const ranges = ids.slice(0, max).map((id) => {
      const r = this.s.scheduler.get(id)!;
      return { descriptor: descriptorToWire(r.log.descriptor!), role: roleToWire(r.role), leaderReplicaId: r.lead, quiescent: (r as { quiescent?: boolean }).quiescent === true };
    });
    return { ranges, more: ids.length > max };
  }
}

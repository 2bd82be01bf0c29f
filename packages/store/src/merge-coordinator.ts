// The coordinator of one range merge (admin MergeRanges; store README, "Merge"), run on
// the store that holds both leaders: the left range L's and the right range R's.
//
//   1. checks: adjacent, voters on the same stores, no learners, no joint configuration,
//      no pending membership change, neither frozen nor in another merge here;
//   2. BeginMerge(m) through L's log (L records m as pending and can no longer be frozen by
//      another merge), then Freeze(m) through R's log; its answer gives the freeze index;
//   3. waits until every replica of R holds R's log up to the freeze (R's leader sees their
//      match), bounded by mergeCatchUpMs;
//   4. CommitMerge(m) through L's log: applied, L covers both and R is gone;
//   5. on failure: AbortMerge(m) through L's log, then Unfreeze(m) through R's, once L's
//      log shows the merge can no longer commit. When this store cannot finish that (it
//      lost a leadership, it stopped), the merge watchdog of the stores holding the
//      leaders does (merge-watchdog.ts).
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import type { HostClock, RaftScheduler, Replica } from '@rangekv/multiraft';
import type { Logger } from '@rangekv/runtime';
import { AdminCommandType, encodeAdminCommand, type LeftEpoch } from './admin-command.js';
import { FailedPreconditionError, RangeErrorReply, UnavailableError } from './errors.js';
import type { KvResult } from './kv-state-machine.js';
import type { StoreLimits } from './limits.js';
import type { MergeWatchdog } from './merge-watchdog.js';
import { epochNotMatch, rangeNotFound, serverBusy } from './range-errors.js';
import { isJoint } from './range-descriptors.js';
import type { StoreMetrics } from './store-metrics.js';

/** How often the coordinator looks at the right range's followers while they catch up, in ms. */
const CATCH_UP_POLL_MS = 5;

export interface MergeCoordinatorContext {
  storeId: number;
  scheduler: RaftScheduler<KvResult>;
  limits: StoreLimits;
  log: Logger;
  clock: HostClock;
  merges: MergeWatchdog;
  metrics?: Pick<StoreMetrics, 'merges' | 'mergeFrozenSeconds'>;
  allocateId(): Promise<number>;
  /** Proposes `data` on `r` (broadcasting its commit) and waits for its result, bounded by proposalTimeoutMs. */
  propose(r: Replica<KvResult>, data: Uint8Array): Promise<KvResult>;
}

/** The stores of a descriptor's replicas, when every one is a plain voter; null otherwise. */
function voterStores(d: RangeDescriptor): number[] | null {
  if (d.replicas.some((x) => x.role !== ReplicaRole.Voter)) return null;
  return d.replicas.map((x) => x.storeId).sort((a, b) => a - b);
}

function sameStores(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class MergeCoordinator {
  constructor(private readonly s: MergeCoordinatorContext) {}

  /** Merges `rightRangeId` into `l` (whose leader is here and whose epoch the caller checked). */
  async merge(l: Replica<KvResult>, d: RangeDescriptor, rightRangeId: number, rightEpoch: { confVer: number; version: number } | null): Promise<RangeDescriptor> {
    const s = this.s;
    const r = s.scheduler.get(rightRangeId);
    if (!r || r.destroyed || r.log.descriptor === null) throw new RangeErrorReply(rangeNotFound(rightRangeId, s.storeId));
    const rd = r.log.descriptor;
    if (rightEpoch !== null && (rd.epoch.confVer !== rightEpoch.confVer || rd.epoch.version !== rightEpoch.version)) {
      throw new RangeErrorReply(epochNotMatch(rd, rightEpoch));
    }
    if (rightRangeId === l.rangeId) throw new FailedPreconditionError(`range ${l.rangeId} cannot merge with itself`);
    if (d.endKey.length === 0 || Buffer.compare(d.endKey, rd.startKey) !== 0) {
      throw new FailedPreconditionError(`range ${rightRangeId} does not start where range ${l.rangeId} ends: they are not adjacent`);
    }
    if (!r.isLeader) {
      const lead = rd.replicas.find((x) => x.replicaId === r.lead);
      throw new FailedPreconditionError(
        `the leader of range ${rightRangeId} is not on store ${s.storeId} (${lead ? `it is on store ${lead.storeId}` : 'unknown'}): transfer it to store ${s.storeId}, the left range's leader, first`);
    }
    const ls = voterStores(d);
    const rs = voterStores(rd);
    if (ls === null || rs === null) throw new FailedPreconditionError(`ranges ${l.rangeId} and ${rightRangeId} must have voters only (no learners, no joint roles) to merge`);
    if (!sameStores(ls, rs)) {
      throw new FailedPreconditionError(`ranges ${l.rangeId} (stores ${ls.join(',')}) and ${rightRangeId} (stores ${rs.join(',')}) must have replicas on the same stores to merge`);
    }
    if (r.log.mergeFreeze !== null) throw new FailedPreconditionError(`range ${rightRangeId} is frozen by merge ${r.log.mergeFreeze.mergeId} already`);
    if (l.log.mergeFreeze !== null) throw new FailedPreconditionError(`range ${l.rangeId} is frozen by merge ${l.log.mergeFreeze.mergeId}: it is merging into its own left neighbour`);
    if (!s.merges.begin(l.rangeId, rightRangeId)) throw new RangeErrorReply(serverBusy(`a merge of range ${l.rangeId} or ${rightRangeId} runs on this store; retry`, 100));
    try {
      const mergeId = await s.allocateId();
      // Re-checked after the wait: nothing may have changed since the plan.
      const planned: LeftEpoch = { leftConfVer: d.epoch.confVer, leftVersion: d.epoch.version };
      this.checkStill(l, d, r, rd);
      s.metrics?.merges.inc({ outcome: 'started' });
      s.log.info('merge started', { rangeId: l.rangeId, rightRangeId, mergeId });
      await this.begin(l, r, d, mergeId, planned);
      let frozenAt = s.clock.now();
      try {
        const freeze = await this.freeze(rd, r, l.rangeId, mergeId, planned);
        frozenAt = s.clock.now();
        await this.waitCatchUp(r, freeze.index);
        const res = await s.propose(l, encodeAdminCommand({
          type: AdminCommandType.CommitMerge, mergeId, ...planned, rightRangeId, rightVersion: rd.epoch.version, rightEndKey: rd.endKey,
          freezeIndex: freeze.index, freezeTerm: freeze.term,
        }));
        if (res.kind === 'merged') return this.done(res.descriptor, frozenAt);
        throw new FailedPreconditionError(res.kind === 'epoch-not-match'
          ? `range ${l.rangeId} changed while merging (epoch now {confVer ${res.descriptor.epoch.confVer}, version ${res.descriptor.epoch.version}})`
          : `the merge commit answered ${res.kind}`);
      } catch (e) {
        return await this.rollBack(l, r, mergeId, planned, frozenAt, e);
      }
    } finally {
      s.merges.end(l.rangeId, rightRangeId);
    }
  }

  private checkStill(l: Replica<KvResult>, d: RangeDescriptor, r: Replica<KvResult>, rd: RangeDescriptor): void {
    const s = this.s;
    if (s.scheduler.get(l.rangeId) !== l || !l.isLeader || l.log.descriptor !== d) throw new RangeErrorReply(serverBusy(`range ${l.rangeId} changed or lost its leader here; retry`));
    if (s.scheduler.get(r.rangeId) !== r || !r.isLeader || r.log.descriptor !== rd) throw new RangeErrorReply(serverBusy(`range ${r.rangeId} changed or lost its leader here; retry`));
    for (const x of [l, r]) {
      const st = x.node.status();
      if (isJoint(x.log.confState) || st.pendingConfIndex > x.log.appliedIndex) {
        throw new RangeErrorReply(serverBusy(`range ${x.rangeId} has a membership change pending; retry`, 100));
      }
    }
  }

  private async begin(l: Replica<KvResult>, r: Replica<KvResult>, d: RangeDescriptor, mergeId: number, planned: LeftEpoch): Promise<void> {
    let res: KvResult;
    try {
      res = await this.s.propose(l, encodeAdminCommand({ type: AdminCommandType.BeginMerge, mergeId, ...planned, rightRangeId: r.rangeId }));
    } catch (e) {
      // It may still apply: record the merge as aborted (best effort; the watchdog clears a stale pending one).
      await this.s.propose(l, encodeAdminCommand({ type: AdminCommandType.AbortMerge, mergeId, ...planned })).catch(() => {});
      throw e;
    }
    if (res.kind === 'merge-begun') return;
    if (res.kind === 'epoch-not-match') throw new RangeErrorReply(epochNotMatch(res.descriptor, d.epoch));
    throw new FailedPreconditionError(res.kind === 'refused' ? res.reason : `the merge's begin answered ${res.kind}`);
  }

  /** Freeze(m) on R. Any failure is rolled back by the caller (a freeze whose outcome is unknown may still apply). */
  private async freeze(rd: RangeDescriptor, r: Replica<KvResult>, leftRangeId: number, mergeId: number, planned: LeftEpoch): Promise<{ index: number; term: number }> {
    const res = await this.s.propose(r, encodeAdminCommand({
      type: AdminCommandType.Freeze, mergeId, leftRangeId, ...planned, confVer: rd.epoch.confVer, version: rd.epoch.version,
    }));
    if (res.kind === 'frozen') return res;
    if (res.kind === 'epoch-not-match') throw new RangeErrorReply(epochNotMatch(res.descriptor, rd.epoch));
    throw new FailedPreconditionError(res.kind === 'refused' ? res.reason : `the freeze answered ${res.kind}`);
  }

  /** Until every replica of `r` holds its log up to `index`, seen by r's leader (here). */
  private async waitCatchUp(r: Replica<KvResult>, index: number): Promise<void> {
    const s = this.s;
    const deadline = s.clock.now() + s.limits.mergeCatchUpMs;
    for (;;) {
      if (s.scheduler.get(r.rangeId) !== r || !r.isLeader) throw new UnavailableError(`range ${r.rangeId} lost its leader on store ${s.storeId} while merging`);
      const st = r.node.status();
      // The replica's cached role can lag raft's: without progress (no longer leader) nobody was checked.
      if (st.progress === null) throw new UnavailableError(`range ${r.rangeId} lost its leader on store ${s.storeId} while merging`);
      if (st.pendingConfIndex >= index) throw new FailedPreconditionError(`range ${r.rangeId} has a membership change after its freeze`);
      const members = [...st.config.voters, ...st.config.votersOutgoing, ...st.config.learners, ...st.config.learnersNext];
      const behind = members.filter((id) => (st.progress!.get(id)?.match ?? 0) < index).map((id) => `replica ${id} at ${st.progress!.get(id)?.match ?? 0}`);
      if (behind.length === 0) return;
      if (s.clock.now() >= deadline) {
        throw new FailedPreconditionError(`range ${r.rangeId}: ${behind.join(', ')} did not reach the freeze at ${index} within mergeCatchUpMs (${s.limits.mergeCatchUpMs} ms)`);
      }
      await new Promise<void>((resolve) => s.clock.setTimer(CATCH_UP_POLL_MS, resolve));
    }
  }

  private done(merged: RangeDescriptor, frozenAt: number): RangeDescriptor {
    this.s.metrics?.merges.inc({ outcome: 'committed' });
    this.s.metrics?.mergeFrozenSeconds.observe((this.s.clock.now() - frozenAt) / 1000);
    return merged;
  }

  /**
   * After a failure: makes the merge impossible in L's log (AbortMerge), then lifts R's
   * freeze. Answers the merged descriptor if the merge had committed after all; otherwise
   * throws: FailedPrecondition (rolled back, nothing changed) or Unavailable (outcome not
   * known here; the watchdog finishes it).
   */
  private async rollBack(l: Replica<KvResult>, r: Replica<KvResult>, mergeId: number, planned: LeftEpoch, frozenAt: number, cause: unknown): Promise<RangeDescriptor> {
    const s = this.s;
    let res: KvResult;
    try {
      res = await s.propose(l, encodeAdminCommand({ type: AdminCommandType.AbortMerge, mergeId, ...planned }));
    } catch (e) {
      s.metrics?.merges.inc({ outcome: 'unknown' });
      s.log.warn('merge failed and its rollback could not be proposed here: the merge watchdog finishes it', { rangeId: l.rangeId, mergeId, cause: message(cause), err: e });
      throw new UnavailableError(`merge ${mergeId} failed (${message(cause)}) and its outcome is not known yet: the stores finish or roll it back within mergeFrozenTimeoutMs; retry later`);
    }
    if (res.kind !== 'merge-aborted') {
      // The commit came first in L's log: the merge happened (the abort answers the recorded outcome).
      return this.done(l.log.descriptor ?? (res as { descriptor: RangeDescriptor }).descriptor, frozenAt);
    }
    try {
      await s.propose(r, encodeAdminCommand({ type: AdminCommandType.Unfreeze, mergeId }));
    } catch (e) {
      s.log.warn('merge rolled back but the right range could not be unfrozen here: the merge watchdog does it', { rangeId: r.rangeId, mergeId, err: e });
    }
    s.metrics?.merges.inc({ outcome: 'rolled_back' });
    s.metrics?.mergeFrozenSeconds.observe((s.clock.now() - frozenAt) / 1000);
    s.log.info('merge rolled back', { rangeId: l.rangeId, rightRangeId: r.rangeId, mergeId, cause: message(cause) });
    if (cause instanceof RangeErrorReply || cause instanceof FailedPreconditionError) throw cause;
    throw new FailedPreconditionError(`merge rolled back, nothing changed: ${message(cause)}`);
  }
}

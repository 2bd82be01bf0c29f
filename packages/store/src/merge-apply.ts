// Applying the entries of a range merge (store README, "Merge"), on the main thread in log
// order like a split (apply-order.ts). R is the right-hand range, L the left-hand one.
//
//   BeginMerge(m)   on L: records m as pending (the outcome list below), unless L's epoch moved,
//                   L is frozen (it is the right range of another merge) or another merge of
//                   L is pending. A range with a pending merge refuses to be frozen, so a
//                   left range cannot be merged away while its merge is undecided.
//   Freeze(m)       on R: refused when R's epoch moved since the plan, R is in a joint
//                   configuration, another merge froze it or R has a pending merge of its
//                   own as a left range; else the freeze row is written
//                   with the applied index. From here on R applies no KV entry (they answer
//                   merge-frozen) and serves no read but a STALE one (kv-service.ts).
//   Unfreeze(m)     on R: lifts a freeze by m (a rollback); a no-op otherwise.
//   CommitMerge(m)  on L: a no-op unless m is pending and L's epoch is still the planned one
//                   (an epoch moved before it records m as aborted). Then, on every
//                   store alike: the local R must hold its log up to the freeze (the
//                   coordinator saw every R replica there before proposing), so R's commit
//                   is moved there (the entry committed: L's log says so) and R applies up to
//                   it; R leaves the loop; L's widened descriptor, the outcome "m committed"
//                   and R's destroy (keeping its keys) are written in ONE sync batch.
//   AbortMerge(m)   on L: records "m aborted" unless m is decided; if L's epoch is still the
//                   planned one, its version moves too.
//
// Whichever of CommitMerge(m) and AbortMerge(m) comes first in L's log decides, and every
// replica sees the same log: the merge commits everywhere or nowhere. The outcome is kept
// in L's state (the last MAX_MERGE_OUTCOMES merges), on disk and in L's snapshots, and
// R's freeze is lifted only by a store whose L replica holds "m aborted": an epoch alone
// does not tell, as a replica that caught up by snapshot skipped the entries that moved it. A store whose R
// replica cannot reach the freeze (missing, or its log lacks the entry) fails its L
// replica (EntryApplyError) rather than widen L over keys it does not have.
import type { RangeDescriptor } from '@rangekv/proto';
import { MAX_MERGE_OUTCOMES, type MergeFreeze, type MergeOutcome, type StorageEngine } from '@rangekv/storage';
import { EntryApplyError, type ApplyEntry, type Replica } from '@rangekv/multiraft';
import type { Logger } from '@rangekv/runtime';
import type { AbortMergeCommand, BeginMergeCommand, CommitMergeCommand, FreezeCommand, UnfreezeCommand } from './admin-command.js';
import type { KvResult } from './kv-state-machine.js';
import { isJoint } from './range-descriptors.js';

export interface MergeApplyContext {
  storeId: number;
  engine: StorageEngine;
  log: Logger;
  /**
   * This store's replica of the right range once it has applied `index` (its log holds the
   * entry at `term`; its commit is moved there first), or why not. Bounded in time.
   */
  rightAtFreeze(rightRangeId: number, index: number, term: number): Promise<Replica<KvResult> | string>;
  /** Takes the right range's replica out of the loop (no persist or apply of it runs after). */
  takeForMerge(rightRangeId: number): Promise<void>;
  /** A freeze was written or lifted here (the merge watchdog tracks frozen ranges). */
  onFreezeChanged?(rangeId: number, freeze: MergeFreeze | null): void;
  /** A merge applied here (metrics, PD reports, routing of the right range's requests). */
  onMerged?(merged: RangeDescriptor, rightRangeId: number): void;
}

function descriptorOf(r: Replica<KvResult>): RangeDescriptor {
  const d = r.log.descriptor;
  if (d === null) throw new Error(`range ${r.rangeId}: merge entry applied on an uninitialized range`);
  return d;
}

function appliedOnly(ctx: MergeApplyContext, r: Replica<KvResult>, e: ApplyEntry): void {
  ctx.engine.apply(r.rangeId, { applied: { index: e.index, term: e.term } });
}

function leftEpochHolds(d: RangeDescriptor, c: { leftConfVer: number; leftVersion: number }): boolean {
  return d.epoch.confVer === c.leftConfVer && d.epoch.version === c.leftVersion;
}

/** The recorded outcome of merge `mergeId` on this (left) replica, if any. */
export function mergeOutcome(r: Replica<KvResult>, mergeId: number): MergeOutcome | undefined {
  return r.log.mergeOutcomes.find((o) => o.mergeId === mergeId);
}

/** The merge pending on this (left) replica, if any. */
export function pendingMerge(r: Replica<KvResult>): MergeOutcome | undefined {
  return r.log.mergeOutcomes.find((o) => o.state === 'pending');
}

/** The outcomes with `o` replacing m's entry (or added); beyond MAX_MERGE_OUTCOMES the oldest decided ones go. */
function withOutcome(r: Replica<KvResult>, o: MergeOutcome): MergeOutcome[] {
  const out = [...r.log.mergeOutcomes.filter((x) => x.mergeId !== o.mergeId), o];
  while (out.length > MAX_MERGE_OUTCOMES) {
    const i = out.findIndex((x) => x.state !== 'pending');
    out.splice(i < 0 ? 0 : i, 1);
  }
  return out;
}

/**
 * The merged range's outcomes: the right range's own (all decided: a frozen range has
 * none pending and begins none, so they are the same on every replica at the freeze)
 * before the left's. A range frozen by an earlier merge of R (as a left range) that was
 * rolled back reads its outcome here once R is gone (merge-watchdog.ts). At most
 * MAX_MERGE_OUTCOMES, the oldest decided ones dropped first.
 */
function inheritOutcomes(right: Replica<KvResult>, left: MergeOutcome[]): MergeOutcome[] {
  const ids = new Set(left.map((o) => o.mergeId));
  const out = [...right.log.mergeOutcomes.filter((o) => o.state !== 'pending' && !ids.has(o.mergeId)), ...left];
  while (out.length > MAX_MERGE_OUTCOMES) {
    const i = out.findIndex((x) => x.state !== 'pending');
    out.splice(i < 0 ? 0 : i, 1);
  }
  return out;
}

export function applyBeginMerge(ctx: MergeApplyContext, l: Replica<KvResult>, e: ApplyEntry, cmd: BeginMergeCommand): KvResult {
  const d = descriptorOf(l);
  const refuse = (reason: string): KvResult => {
    appliedOnly(ctx, l, e);
    return { kind: 'refused', reason, descriptor: d };
  };
  if (!leftEpochHolds(d, cmd)) {
    appliedOnly(ctx, l, e);
    return { kind: 'epoch-not-match', descriptor: d };
  }
  if (l.log.mergeFreeze !== null) return refuse(`range ${l.rangeId} is frozen by merge ${l.log.mergeFreeze.mergeId} into range ${l.log.mergeFreeze.leftRangeId}`);
  const pending = pendingMerge(l);
  if (pending !== undefined) return refuse(`range ${l.rangeId} has merge ${pending.mergeId} pending`);
  if (mergeOutcome(l, cmd.mergeId) !== undefined) return refuse(`merge ${cmd.mergeId} was decided already`);
  ctx.engine.apply(l.rangeId, { applied: { index: e.index, term: e.term }, mergeOutcomes: withOutcome(l, { mergeId: cmd.mergeId, state: 'pending' }) });
  return { kind: 'merge-begun' };
}

export function applyFreeze(ctx: MergeApplyContext, r: Replica<KvResult>, e: ApplyEntry, cmd: FreezeCommand): KvResult {
  const d = descriptorOf(r);
  const refuse = (reason: string): KvResult => {
    appliedOnly(ctx, r, e);
    return { kind: 'refused', reason, descriptor: d };
  };
  if (d.epoch.confVer !== cmd.confVer || d.epoch.version !== cmd.version) {
    appliedOnly(ctx, r, e);
    return { kind: 'epoch-not-match', descriptor: d };
  }
  const prior = r.log.mergeFreeze;
  if (prior !== null) return refuse(`range ${r.rangeId} is frozen by merge ${prior.mergeId} already`);
  const own = pendingMerge(r);
  if (own !== undefined) return refuse(`range ${r.rangeId} has merge ${own.mergeId} of its own pending (as the left range)`);
  if (isJoint(r.log.confState)) return refuse(`range ${r.rangeId} is in a joint configuration`);
  const freeze: MergeFreeze = {
    mergeId: cmd.mergeId, leftRangeId: cmd.leftRangeId, leftConfVer: cmd.leftConfVer, leftVersion: cmd.leftVersion, index: e.index, term: e.term,
  };
  ctx.engine.apply(r.rangeId, { applied: { index: e.index, term: e.term }, mergeFreeze: freeze });
  ctx.log.info('range frozen for a merge', { rangeId: r.rangeId, mergeId: cmd.mergeId, leftRangeId: cmd.leftRangeId, index: e.index });
  ctx.onFreezeChanged?.(r.rangeId, freeze);
  return { kind: 'frozen', index: e.index, term: e.term, descriptor: d };
}

export function applyUnfreeze(ctx: MergeApplyContext, r: Replica<KvResult>, e: ApplyEntry, cmd: UnfreezeCommand): KvResult {
  if (r.log.mergeFreeze?.mergeId !== cmd.mergeId) {
    appliedOnly(ctx, r, e);
    return { kind: 'unfrozen', changed: false };
  }
  ctx.engine.apply(r.rangeId, { applied: { index: e.index, term: e.term }, mergeFreeze: null });
  ctx.log.info('range unfrozen: merge rolled back', { rangeId: r.rangeId, mergeId: cmd.mergeId });
  ctx.onFreezeChanged?.(r.rangeId, null);
  return { kind: 'unfrozen', changed: true };
}

export function applyAbortMerge(ctx: MergeApplyContext, l: Replica<KvResult>, e: ApplyEntry, cmd: AbortMergeCommand): KvResult {
  const d = descriptorOf(l);
  const prior = mergeOutcome(l, cmd.mergeId);
  if (prior !== undefined && prior.state !== 'pending') {
    appliedOnly(ctx, l, e);
    return prior.state === 'committed' ? { kind: 'epoch-not-match', descriptor: d } : { kind: 'merge-aborted', descriptor: d };
  }
  // Undecided: aborted from here on. If the epoch already moved, no commit of it can apply
  // any more (it needs the planned epoch); if not, moving it makes sure.
  const next: RangeDescriptor = leftEpochHolds(d, cmd) ? { ...d, epoch: { confVer: d.epoch.confVer, version: d.epoch.version + 1 } } : d;
  ctx.engine.apply(l.rangeId, {
    applied: { index: e.index, term: e.term }, mergeOutcomes: withOutcome(l, { mergeId: cmd.mergeId, state: 'aborted' }),
    ...(next !== d ? { descriptor: next } : {}),
  });
  ctx.log.info('merge rolled back on the left range', { rangeId: l.rangeId, mergeId: cmd.mergeId, version: next.epoch.version });
  return { kind: 'merge-aborted', descriptor: next };
}

export async function applyCommitMerge(ctx: MergeApplyContext, l: Replica<KvResult>, e: ApplyEntry, cmd: CommitMergeCommand): Promise<KvResult> {
  const d = descriptorOf(l);
  const prior = mergeOutcome(l, cmd.mergeId);
  if (prior?.state !== 'pending') {
    // Decided already, or never begun here: nothing to commit.
    appliedOnly(ctx, l, e);
    return { kind: 'epoch-not-match', descriptor: d };
  }
  if (!leftEpochHolds(d, cmd) || l.log.mergeFreeze !== null) {
    // Something moved the epoch first: this merge can never commit.
    ctx.engine.apply(l.rangeId, { applied: { index: e.index, term: e.term }, mergeOutcomes: withOutcome(l, { mergeId: cmd.mergeId, state: 'aborted' }) });
    return { kind: 'epoch-not-match', descriptor: d };
  }
  const fail = (why: string): never => {
    throw new EntryApplyError(l.rangeId, e.index, `merge ${cmd.mergeId} of range ${cmd.rightRangeId} into ${l.rangeId} cannot apply on store ${ctx.storeId}: ${why}`);
  };
  const right = await ctx.rightAtFreeze(cmd.rightRangeId, cmd.freezeIndex, cmd.freezeTerm);
  if (typeof right === 'string') return fail(right);
  const rd = descriptorOf(right);
  if (Buffer.compare(rd.startKey, d.endKey) !== 0 || Buffer.compare(rd.endKey, cmd.rightEndKey) !== 0 || rd.epoch.version !== cmd.rightVersion) {
    return fail('the local right-hand replica does not have the span and version the merge was planned against');
  }
  if (right.log.mergeFreeze?.mergeId !== cmd.mergeId) return fail(`the local right-hand replica is not frozen by this merge (${right.log.mergeFreeze?.mergeId ?? 'not frozen'})`);
  await ctx.takeForMerge(cmd.rightRangeId);
  const merged: RangeDescriptor = {
    ...d, endKey: new Uint8Array(cmd.rightEndKey),
    epoch: { confVer: d.epoch.confVer, version: Math.max(d.epoch.version, cmd.rightVersion) + 1 },
  };
  const { whenDeleted } = await ctx.engine.mergeRanges(l.rangeId, {
    left: { applied: { index: e.index, term: e.term }, descriptor: merged, mergeOutcomes: inheritOutcomes(right, withOutcome(l, { mergeId: cmd.mergeId, state: 'committed' })) },
    rightId: cmd.rightRangeId,
    rightReplicaId: right.node.id,
  });
  void whenDeleted.catch((err: unknown) => ctx.log.warn('background delete of a merged-away range failed', { rangeId: cmd.rightRangeId, err }));
  ctx.log.info('ranges merged', { rangeId: l.rangeId, rightRangeId: cmd.rightRangeId, mergeId: cmd.mergeId, version: merged.epoch.version });
  ctx.onFreezeChanged?.(cmd.rightRangeId, null);
  ctx.onMerged?.(merged, cmd.rightRangeId);
  return { kind: 'merged', descriptor: merged, rightRangeId: cmd.rightRangeId };
}

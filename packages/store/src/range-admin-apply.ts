// Applying the entries that change a range itself (split, membership) on the main thread,
// in log order with the range's KV entries (apply-order.ts runs them in between).
//
// Split at apply, on every replica: re-check the epoch the proposer planned against (a
// membership change or another split may have come first: then the split is refused, the
// same way on every replica) and that raft is not in a joint configuration; cut the
// descriptor; create the right-hand range with the same replicas in the same batch
// (StorageEngine.splitRange); start its raft group. The replica that leads the left range
// campaigns for the right one at once, so it has a leader without waiting an election
// timeout. Proposals and reads on the left range for keys now on the right fail their
// re-check (EpochNotMatch / KeyNotInRange) and the client re-routes.
//
// Membership change at apply: raft's new ConfState (handed out by the scheduler) becomes
// the descriptor's replica list, confVer + 1, written with the applied index in one batch.
// When this store's replica is no longer in it, the replica is destroyed after the apply.
import type { HardState } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto';
import type { StorageEngine } from '@rangekv/storage';
import { decodeConfChange, EntryType } from '@rangekv/raft';
import { AdminCommandType, decodeAdminCommand, decodeConfChangeContext, type AdminCommand, type SplitCommand } from './admin-command.js';
import { applyAbortMerge, applyBeginMerge, applyCommitMerge, applyFreeze, applyUnfreeze, type MergeApplyContext } from './merge-apply.js';
import { KvCommandDecodeError } from './kv-command.js';
import type { KvResult } from './kv-state-machine.js';
import type { Logger } from '@rangekv/runtime';
import { EntryApplyError, type ApplyEntry, type RaftScheduler } from '@rangekv/multiraft';
import { descriptorAfterConfChange, isJoint, splitDescriptors, splitKeyProblem } from './range-descriptors.js';
import type { Replica } from '@rangekv/multiraft';

export interface AdminApplyContext extends MergeApplyContext {
  storeId: number;
  engine: StorageEngine;
  scheduler: RaftScheduler<KvResult>;
  log: Logger;
  /**
   * Removes this store's uninitialized replica of `rangeId` (created by a message from the
   * right range's leader, or dormant after a restart), waiting for a creation in progress.
   */
  takeUninitialized(rangeId: number): Promise<Replica<KvResult> | undefined>;
  /** Creates and schedules the raft group of a range whose log store exists here. */
  startReplica(rangeId: number): Replica<KvResult> | null;
  /** A split applied here (metrics, PD reports). */
  onSplit?(left: RangeDescriptor, right: RangeDescriptor): void;
  /** A membership change applied here (PD reports). */
  onMembership?(descriptor: RangeDescriptor): void;
  /** This store's replica of `rangeId` was removed from the range: destroy it (after this apply). */
  onRemoved(rangeId: number): void;
}

function noChange(engine: StorageEngine, r: Replica<KvResult>, e: ApplyEntry): void {
  engine.apply(r.rangeId, { applied: { index: e.index, term: e.term } });
}

export async function applySplit(ctx: AdminApplyContext, r: Replica<KvResult>, e: ApplyEntry, cmd: SplitCommand): Promise<KvResult> {
  const d = r.log.descriptor;
  if (d === null) throw new Error(`range ${r.rangeId}: split applied on an uninitialized range`);
  const refuse = (reason: string): KvResult => {
    noChange(ctx.engine, r, e);
    return { kind: 'refused', reason, descriptor: d };
  };
  if (d.epoch.version !== cmd.version || d.epoch.confVer !== cmd.confVer) {
    noChange(ctx.engine, r, e);
    return { kind: 'epoch-not-match', descriptor: d };
  }
  const problem = splitKeyProblem(d, cmd.splitKey);
  if (problem !== null) return refuse(problem);
  if (isJoint(r.log.confState)) return refuse(`range ${r.rangeId} is in a joint configuration`);
  if (r.log.mergeFreeze !== null) return refuse(`range ${r.rangeId} is frozen by merge ${r.log.mergeFreeze.mergeId}`);
  const { left, right } = splitDescriptors(d, cmd.splitKey, cmd.newRangeId);
  // An empty replica created by a message from the right range's leader: take it over.
  // Its last Readies may still be on their way to disk, and the right range's state is
  // written below on this thread: wait until they are written, or their hard state
  // (commit 0) would land over it. Meanwhile another message may create it again: repeat.
  let existing = await ctx.takeUninitialized(cmd.newRangeId);
  let takeOverHardState: HardState | undefined;
  while (existing) {
    const st = existing.node.status();
    takeOverHardState = newer(takeOverHardState, { term: st.term, vote: st.vote, commit: 0 });
    await ctx.engine.whenWritten();
    existing = await ctx.takeUninitialized(cmd.newRangeId);
  }
  const initialized = ctx.scheduler.get(cmd.newRangeId);
  if ((initialized && initialized.log.descriptor !== null) || (!initialized && ctx.engine.hasRange(cmd.newRangeId) && ctx.engine.range(cmd.newRangeId).descriptor !== null)) {
    // Ids are allocated once cluster-wide, so a caller named a taken id (SplitRange's
    // new_range_id comes from the request). Other replicas may not have that range, so
    // refusing here alone would let them diverge: this replica fails instead.
    throw new EntryApplyError(r.rangeId, e.index, `split: right-hand range ${cmd.newRangeId} already exists on store ${ctx.storeId}`);
  }
  ctx.engine.splitRange(r.rangeId, {
    left: { applied: { index: e.index, term: e.term }, descriptor: left }, right, confState: r.log.confState,
    ...(takeOverHardState ? { takeOverHardState } : {}),
  });
  const rr = ctx.startReplica(right.rangeId);
  if (rr !== null && r.isLeader) ctx.scheduler.withNode(right.rangeId, (x) => x.node.campaign());
  ctx.log.info('range split', { rangeId: r.rangeId, rightRangeId: right.rangeId, version: left.epoch.version });
  ctx.onSplit?.(left, right);
  return { kind: 'split', left, right };
}

/** The hard state with the higher term (at the same term, the later one). */
function newer(a: HardState | undefined, b: HardState): HardState {
  return a === undefined || b.term >= a.term ? b : a;
}

/**
 * Applies one entry that changes the range (apply-order.ts `changesRange`): a conf change
 * or an admin command. An entry whose bytes do not decode throws EntryApplyError (the
 * scheduler fails this replica only), before anything is written.
 */
export function applyRangeChange(ctx: AdminApplyContext, r: Replica<KvResult>, e: ApplyEntry): KvResult | Promise<KvResult> {
  try {
    if (e.type === EntryType.ConfChange) return applyMembership(ctx, r, e);
    return applyAdminCommand(ctx, r, e, decodeAdminCommand(e.data));
  } catch (err) {
    if (err instanceof KvCommandDecodeError) throw new EntryApplyError(r.rangeId, e.index, err.message);
    throw err;
  }
}

function applyAdminCommand(ctx: AdminApplyContext, r: Replica<KvResult>, e: ApplyEntry, cmd: AdminCommand): KvResult | Promise<KvResult> {
  switch (cmd.type) {
    case AdminCommandType.Split: return applySplit(ctx, r, e, cmd);
    case AdminCommandType.Freeze: return applyFreeze(ctx, r, e, cmd);
    case AdminCommandType.Unfreeze: return applyUnfreeze(ctx, r, e, cmd);
    case AdminCommandType.CommitMerge: return applyCommitMerge(ctx, r, e, cmd);
    case AdminCommandType.AbortMerge: return applyAbortMerge(ctx, r, e, cmd);
    case AdminCommandType.BeginMerge: return applyBeginMerge(ctx, r, e, cmd);
  }
}

export function applyMembership(ctx: AdminApplyContext, r: Replica<KvResult>, e: ApplyEntry): KvResult {
  const d = r.log.descriptor;
  if (d === null) throw new Error(`range ${r.rangeId}: conf change applied on an uninitialized range`);
  if (!e.confState) {
    // Superseded by a snapshot already restored: the snapshot carries the membership.
    noChange(ctx.engine, r, e);
    return { kind: 'noop' };
  }
  let next: RangeDescriptor;
  try {
    next = descriptorAfterConfChange(d, e.confState, decodeConfChangeContext(decodeConfChange(e.data).context));
  } catch (err) {
    // The scheduler decoded this conf change already; its context (the new replicas' stores) is ours.
    throw new EntryApplyError(r.rangeId, e.index, `conf change context: ${err instanceof Error ? err.message : String(err)}`);
  }
  ctx.engine.apply(r.rangeId, { applied: { index: e.index, term: e.term }, confState: e.confState, descriptor: next });
  ctx.log.info('range membership changed', {
    rangeId: r.rangeId, confVer: next.epoch.confVer, replicas: next.replicas.map((x) => `${x.replicaId}@${x.storeId}:${x.role}`).join(','),
  });
  ctx.onMembership?.(next);
  if (!next.replicas.some((x) => x.storeId === ctx.storeId)) ctx.onRemoved(r.rangeId);
  return { kind: 'conf-change', descriptor: next };
}

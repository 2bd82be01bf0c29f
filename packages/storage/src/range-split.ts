// Range split: the left range's apply (its cut descriptor and applied index) and the
// right range's creation in ONE batch, so a crash leaves either both or neither.
//
// Like any apply batch it is written without fsync: if a crash loses it, the left range's
// applied index on disk is from before the split, raft replays the split entry, and the
// right range is created again. The first sync write after it (the next log append of
// any range) makes it durable with everything before it in RocksDB's WAL.
//
// The right range starts with an empty log at `RIGHT_INIT` (index 1, term 0, like a
// bootstrapped range) and the left range's configuration: every replica that applies the
// split creates the same initial state, so they need no snapshot to start.
//
// The right range may already exist here UNINITIALIZED: a message from its leader (on a
// store that applied the split earlier) created an empty replica, whose snapshot was
// refused because it overlaps this left range. The split takes it over, keeping its
// term and vote: forgetting a vote could let this replica vote twice in one term.
import { BOOTSTRAP_INDEX, type ConfState, type HardState } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto/range-descriptor';
import { encodeApplyBatch, type ApplyBatch } from './apply-writes.js';
import { ColumnFamily } from './column-families.js';
import { encodeAppliedState, encodeConfState, encodeDescriptor, encodeHardState, encodeTruncatedState } from './encoding.js';
import { storeOf, type EngineContext } from './engine-context.js';
import { RangeExistsError, StorageError, invariant } from './errors.js';
import { KeyPrefix, hardStateKey, rangeKey } from './keys.js';
import { forgetDeferred } from './persist-ready.js';
import { RangeLogStore, type RangeState } from './log-store.js';

/** The right range's initial log position. */
export const RIGHT_INIT = { index: BOOTSTRAP_INDEX, term: 0 } as const;

export interface SplitInit {
  /** The left range's apply batch: applied = the split entry, descriptor = the cut left range. */
  left: ApplyBatch & { descriptor: RangeDescriptor };
  /** The new right range's descriptor. */
  right: RangeDescriptor;
  /** The right range's configuration (the left range's). */
  confState: ConfState;
  /**
   * When the right range exists uninitialized here: its newest term and vote (raft's
   * in-memory state may be ahead of what is durable). Ignored otherwise.
   */
  takeOverHardState?: HardState;
}

function spansJoin(l: RangeDescriptor, r: RangeDescriptor, old: RangeDescriptor): boolean {
  return Buffer.compare(l.startKey, old.startKey) === 0 && Buffer.compare(l.endKey, r.startKey) === 0
    && Buffer.compare(r.endKey, old.endKey) === 0 && l.endKey.length > 0;
}

/** Writes the split (no fsync) and returns the right range's log store. */
export function splitRange(ctx: EngineContext, leftId: number, init: SplitInit): RangeLogStore {
  const left = storeOf(ctx, leftId, 'split');
  const old = left.descriptor;
  if (old === null) throw new StorageError('RANGE_UNINITIALIZED', `range ${leftId} is uninitialized: cannot split`);
  const rightId = init.right.rangeId;
  invariant(init.left.descriptor.rangeId === leftId, () => `split of ${leftId}: left descriptor names range ${init.left.descriptor.rangeId}`);
  invariant(Number.isSafeInteger(rightId) && rightId > 0 && rightId !== leftId, () => `split of ${leftId}: bad right range id ${rightId}`);
  invariant(spansJoin(init.left.descriptor, init.right, old), () => `split of ${leftId}: the two halves do not cover the old span exactly`);
  if (ctx.reserved.has(rightId)) throw new RangeExistsError(rightId);
  const prior = ctx.ranges.get(rightId);
  if (prior !== undefined && (prior.descriptor !== null || prior.busy !== null)) throw new RangeExistsError(rightId);

  const ops = encodeApplyBatch(left, init.left);
  const hs = prior !== undefined ? newestHardState(prior.hardState, init.takeOverHardState) : { term: RIGHT_INIT.term, vote: 0, commit: 0 };
  const st: RangeState = {
    rangeId: rightId, descriptor: init.right, confState: init.confState,
    hardState: { term: Math.max(hs.term, RIGHT_INIT.term), vote: hs.vote, commit: RIGHT_INIT.index },
    applied: { ...RIGHT_INIT }, truncated: { ...RIGHT_INIT }, lastIndex: RIGHT_INIT.index, lastTerm: RIGHT_INIT.term,
  };
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Applied, rightId), encodeAppliedState(st.applied));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Truncated, rightId), encodeTruncatedState(st.truncated));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.ConfState, rightId), encodeConfState(st.confState));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Descriptor, rightId), encodeDescriptor(st.descriptor!));
  ops.put(ColumnFamily.Raft, hardStateKey(rightId), encodeHardState(st.hardState));
  ctx.db.write(ops, { sync: false });

  left.onApplied(init.left.applied, init.left.confState ?? null, init.left.descriptor);
  if (prior !== undefined) {
    forgetDeferred(ctx, prior);
    prior.markDestroyed();
    ctx.ranges.delete(rightId);
  }
  const store = new RangeLogStore(ctx.db, st, ctx.limits, ctx.budget);
  ctx.ranges.set(rightId, store);
  return store;
}

function newestHardState(durable: HardState, live: HardState | undefined): { term: number; vote: number } {
  if (live === undefined || live.term < durable.term) return { term: durable.term, vote: durable.vote };
  if (live.term > durable.term) return { term: live.term, vote: live.vote };
  return { term: live.term, vote: live.vote !== 0 ? live.vote : durable.vote };
}

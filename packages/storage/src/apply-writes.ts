// Apply-side writes: a range's state-machine writes (puts/deletes of user keys in
// `default`) together with its new applied index/term in ONE batch, without fsync.
//
// Why no fsync: the raft log is the durable record. If a crash loses an apply batch, the
// applied index on disk is older too (same batch, same WAL record), so on restart apply
// resumes from it and replays those entries. What must never happen is data without its
// applied index or the reverse (etcd 3.5's bug) - one batch rules that out.
//
// Runs on the calling thread (a non-sync write is a memtable insert plus a WAL append).
// An apply worker holding a handle-opened RocksDb can write `encodeApplyBatch(...)` itself
// and report back with RangeLogStore.onApplied; encodeApplyWrites needs only the range's
// descriptor (checkApplyBatch runs the checks that need the RangeLogStore).
import type { ConfState } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto/range-descriptor';
import { ColumnFamily } from './column-families.js';
import { encodeAppliedState, encodeConfState, encodeDescriptor, encodeMergeFreeze, encodeMergeOutcomes } from './encoding.js';
import { storeOf, type EngineContext } from './engine-context.js';
import { KeyOutOfRangeError, StorageError, invariant } from './errors.js';
import { KeyPrefix, keyInSpan, rangeKey } from './keys.js';
import type { RangeLogStore } from './log-store.js';
import type { AppliedState, MergeFreeze, MergeOutcome } from './records.js';
import { WriteOps } from './write-ops.js';

export interface ApplyBatch {
  /** [key, value] pairs to put in `default`; keys must lie in the range's span. */
  puts?: readonly (readonly [Uint8Array, Uint8Array])[];
  deletes?: readonly Uint8Array[];
  /** The last entry these writes cover. */
  applied: AppliedState;
  /** New configuration, when a ConfChange entry is among those applied. */
  confState?: ConfState;
  /** New descriptor (split, membership change), written in the same batch. */
  descriptor?: RangeDescriptor;
  /** The range's merge freeze (records.ts): set at a Freeze entry, null to lift it; absent = unchanged. */
  mergeFreeze?: MergeFreeze | null;
  /** The range's merge outcomes (records.ts), the whole list; absent = unchanged. */
  mergeOutcomes?: readonly MergeOutcome[];
}

/**
 * Checks that `batch` may be applied to the range now (alive, not busy, initialized,
 * applied index grows and stays within the durable log) and returns the range's current
 * descriptor, the span its writes must lie in. Nothing is encoded or written.
 */
export function checkApplyBatch(store: RangeLogStore, batch: Pick<ApplyBatch, 'applied' | 'descriptor'>): RangeDescriptor {
  store.checkAlive('apply');
  const rangeId = store.rangeId;
  if (store.busy !== null) throw new StorageError('RANGE_BUSY', `range ${rangeId}: cannot apply during ${store.busy}`);
  const desc = store.descriptor;
  if (desc === null) throw new StorageError('RANGE_UNINITIALIZED', `range ${rangeId} is uninitialized (no snapshot yet): nothing to apply to`);
  const cur = store.applied;
  invariant(batch.applied.index > cur.index, () => `range ${rangeId}: applied index must grow: ${cur.index} -> ${batch.applied.index}`);
  invariant(batch.applied.index <= store.lastIndex(), () => `range ${rangeId}: applying ${batch.applied.index} beyond the durable log (last ${store.lastIndex()})`);
  invariant(batch.applied.term >= cur.term, () => `range ${rangeId}: applied term went back ${cur.term} -> ${batch.applied.term}`);
  if (batch.descriptor) invariant(batch.descriptor.rangeId === rangeId, () => `range ${rangeId}: descriptor of range ${batch.descriptor!.rangeId}`);
  return desc;
}

/**
 * Encodes `batch` for range `rangeId` whose current descriptor is `desc` (every put and
 * delete must lie in its span). Needs no RangeLogStore, so an apply worker holding only
 * the descriptor can encode (and write) it; the main thread runs checkApplyBatch first
 * and RangeLogStore.onApplied after the write.
 */
export function encodeApplyWrites(rangeId: number, desc: RangeDescriptor, batch: ApplyBatch): WriteOps {
  const ops = new WriteOps(256);
  for (const [k, v] of batch.puts ?? []) {
    if (k.length === 0 || !keyInSpan(k, desc.startKey, desc.endKey)) throw new KeyOutOfRangeError(rangeId, k, desc.startKey, desc.endKey);
    ops.put(ColumnFamily.Default, k, v);
  }
  for (const k of batch.deletes ?? []) {
    if (k.length === 0 || !keyInSpan(k, desc.startKey, desc.endKey)) throw new KeyOutOfRangeError(rangeId, k, desc.startKey, desc.endKey);
    ops.del(ColumnFamily.Default, k);
  }
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Applied, rangeId), encodeAppliedState(batch.applied));
  if (batch.confState) ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.ConfState, rangeId), encodeConfState(batch.confState));
  if (batch.descriptor) ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Descriptor, rangeId), encodeDescriptor(batch.descriptor));
  if (batch.mergeFreeze === null) ops.del(ColumnFamily.Meta, rangeKey(KeyPrefix.MergeFreeze, rangeId));
  else if (batch.mergeFreeze !== undefined) ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.MergeFreeze, rangeId), encodeMergeFreeze(batch.mergeFreeze));
  if (batch.mergeOutcomes !== undefined) ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.MergeOutcomes, rangeId), encodeMergeOutcomes(batch.mergeOutcomes));
  return ops;
}

/** Validates `batch` against the range and encodes it as write ops (nothing is written). */
export function encodeApplyBatch(store: RangeLogStore, batch: ApplyBatch): WriteOps {
  const desc = checkApplyBatch(store, batch);
  return encodeApplyWrites(store.rangeId, desc, batch);
}

/** Writes the batch (no fsync) and updates the range's in-memory applied state. */
export function applyWrites(ctx: EngineContext, rangeId: number, batch: ApplyBatch): void {
  const store = storeOf(ctx, rangeId, 'apply');
  const ops = encodeApplyBatch(store, batch);
  ctx.db.write(ops, { sync: false });
  store.onApplied(batch.applied, batch.confState ?? null, batch.descriptor ?? null, batch.mergeFreeze, batch.mergeOutcomes);
}

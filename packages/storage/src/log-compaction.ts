// Log compaction: entries up to an applied index are no longer needed (a snapshot can
// replace them). The truncated state moves first, durably (through the log writer, in
// order with the range's other writes); the entries themselves are deleted afterwards by
// the background deleter, a bounded batch at a time, never on the hot path.
import { ColumnFamily } from './column-families.js';
import { encodeTruncatedState } from './encoding.js';
import { storeOf, type EngineContext } from './engine-context.js';
import { StorageError, invariant } from './errors.js';
import { KeyPrefix, entryKey, rangeKey } from './keys.js';
import { WriteOps } from './write-ops.js';

/**
 * Compacts range `rangeId`'s log through `index` (<= its applied index). Resolves once
 * the new truncated state is durable and visible; `whenDeleted` once the entries are gone.
 * Compacting to an index at or below the current truncated index does nothing.
 */
export async function compactLog(ctx: EngineContext, rangeId: number, index: number): Promise<{ whenDeleted: Promise<void> }> {
  const store = storeOf(ctx, rangeId, 'compact log');
  if (store.busy !== null) throw new StorageError('RANGE_BUSY', `range ${rangeId}: cannot compact during ${store.busy}`);
  const oldFirst = store.firstIndex();
  if (index < oldFirst) return { whenDeleted: Promise.resolve() };
  invariant(index <= store.applied.index, () => `range ${rangeId}: compacting to ${index} beyond the applied index ${store.applied.index}`);
  const term = store.term(index);
  const ops = new WriteOps(32).put(ColumnFamily.Meta, rangeKey(KeyPrefix.Truncated, rangeId), encodeTruncatedState({ index, term }));
  store.persistsInFlight++;
  try {
    await ctx.writer.submit(ops);
  } finally {
    store.persistsInFlight--;
  }
  if (store.isDestroyed) return { whenDeleted: Promise.resolve() };
  if (index > store.truncated.index) store.onCompacted({ index, term });
  return { whenDeleted: ctx.deleter.deleteSpan(ColumnFamily.Raft, entryKey(rangeId, oldFirst), entryKey(rangeId, index + 1)) };
}

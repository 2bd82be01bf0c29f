// The store's snapshot bounds, with units. The stream bounds
// pass through to the transport (@rangekv/transport SnapshotStreamLimits); the chunk size
// goes to the storage engine (its maxSnapshotChunkBytes).
import { DEFAULT_SNAPSHOT_STREAM_LIMITS, resolveSnapshotStreamLimits, type SnapshotStreamLimits } from '@rangekv/transport';

export interface SnapshotLimits extends SnapshotStreamLimits {
  /** Key/value bytes per snapshot chunk the sender builds (one pair may exceed it alone). */
  snapshotChunkBytes: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: Readonly<SnapshotLimits> = Object.freeze({
  ...DEFAULT_SNAPSHOT_STREAM_LIMITS,
  snapshotChunkBytes: 1024 * 1024,
});

export function resolveSnapshotLimits(partial: Partial<SnapshotLimits> | undefined): SnapshotLimits {
  const p = partial ?? {};
  const stream = resolveSnapshotStreamLimits(p);
  const l: SnapshotLimits = {
    ...stream,
    snapshotChunkBytes: p.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_LIMITS.snapshotChunkBytes,
  };
  if (!Number.isSafeInteger(l.snapshotChunkBytes) || l.snapshotChunkBytes <= 0) throw new RangeError(`snapshotChunkBytes must be a positive integer, got ${l.snapshotChunkBytes}`);
  if (l.snapshotChunkBytes > l.maxSnapshotChunkBytes) throw new RangeError(`snapshotChunkBytes ${l.snapshotChunkBytes} exceeds maxSnapshotChunkBytes ${l.maxSnapshotChunkBytes} (receivers would refuse the chunks)`);
  return l;
}

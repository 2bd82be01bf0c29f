// Building a range snapshot on the sender: a consistent view of the range's span in
// `default` plus its descriptor, applied index/term and configuration, streamed as chunks
// of at most maxSnapshotChunkBytes of data.
//
// Consistency: a RocksDB iterator reads from the state as of its creation. The range's
// applied state is read before and after creating it; apply batches always rewrite the
// applied state together with the data (one batch), so equal bytes on both sides mean no
// apply batch of this range landed in between and the view matches that applied state.
//
//   const src = openSnapshotSource(ctx, rangeId);
//   send(src.headerBytes());            // raft gets src.meta (may be newer than storage.snapshot())
//   for (let c = src.nextChunk(); c !== null; c = src.nextChunk()) send(c);
//   src.close();
import type { SnapshotMeta } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import { decodeAppliedState, decodeConfState, decodeDescriptor, decodeMergeFreeze, decodeMergeOutcomes } from './encoding.js';
import { storeOf, type EngineContext } from './engine-context.js';
import { SnapshotError, StorageError } from './errors.js';
import { KeyPrefix, rangeKey } from './keys.js';
import type { Cursor } from './db.js';
import { ChunkBuilder, encodeSnapshotHeader, type SnapshotHeader } from './snapshot-codec.js';

const MAX_VIEW_ATTEMPTS = 8;

export class SnapshotSource {
  private seq = 0;
  private done = false;
  /** Key/value data bytes handed out so far. */
  dataBytes = 0;
  pairs = 0;

  constructor(readonly header: SnapshotHeader, private readonly cursor: Cursor, private readonly maxChunkBytes: number) {}

  /** What raft must be told this snapshot is (index, term, configuration). */
  get meta(): SnapshotMeta {
    return { index: this.header.applied.index, term: this.header.applied.term, confState: this.header.confState };
  }

  headerBytes(): Uint8Array {
    return encodeSnapshotHeader(this.header);
  }

  /** The next chunk, or null after the last one (an empty range still yields one chunk). */
  nextChunk(): Uint8Array | null {
    if (this.done) return null;
    const b = new ChunkBuilder(this.seq++, Math.min(this.maxChunkBytes, 64 * 1024));
    for (let kv = this.cursor.peek(); kv !== null; kv = this.cursor.peek()) {
      const size = kv.key.length + kv.value.length;
      if (b.count > 0 && b.dataBytes + size > this.maxChunkBytes) break;
      this.cursor.next();
      b.add(kv.key, kv.value);
      this.dataBytes += size;
      this.pairs++;
    }
    const last = this.cursor.peek() === null;
    if (last) this.close();
    return b.finish(last);
  }

  close(): void {
    this.done = true;
    this.cursor.close();
  }
}

export function openSnapshotSource(ctx: EngineContext, rangeId: number): SnapshotSource {
  const store = storeOf(ctx, rangeId, 'build snapshot');
  if (store.descriptor === null) throw new SnapshotError(`range ${rangeId} is uninitialized: it has no data to send`);
  if (store.busy !== null) throw new StorageError('RANGE_BUSY', `range ${rangeId}: cannot build a snapshot during ${store.busy}`);
  const db = ctx.db;
  const aKey = rangeKey(KeyPrefix.Applied, rangeId);
  for (let attempt = 0; attempt < MAX_VIEW_ATTEMPTS; attempt++) {
    const [a1, d, c, f, o] = db.getMany(ColumnFamily.Meta, [
      aKey, rangeKey(KeyPrefix.Descriptor, rangeId), rangeKey(KeyPrefix.ConfState, rangeId), rangeKey(KeyPrefix.MergeFreeze, rangeId),
      rangeKey(KeyPrefix.MergeOutcomes, rangeId),
    ]);
    if (a1 === undefined || d === undefined || c === undefined) throw new SnapshotError(`range ${rangeId}: applied state, descriptor or conf state missing on disk`);
    const descriptor = decodeDescriptor(d);
    const span = descriptor.endKey.length === 0
      ? { gte: Buffer.from(descriptor.startKey) }
      : { gte: Buffer.from(descriptor.startKey), lt: Buffer.from(descriptor.endKey) };
    const cursor = db.cursor(ColumnFamily.Default, span, 512);
    const a2 = db.get(ColumnFamily.Meta, aKey);
    if (a2 !== undefined && a1.equals(a2)) {
      const header: SnapshotHeader = {
        descriptor, applied: decodeAppliedState(a1), confState: decodeConfState(c), mergeFreeze: f === undefined ? null : decodeMergeFreeze(f),
        mergeOutcomes: o === undefined ? [] : decodeMergeOutcomes(o),
      };
      return new SnapshotSource(header, cursor, ctx.limits.maxSnapshotChunkBytes);
    }
    cursor.close();
  }
  throw new SnapshotError(`range ${rangeId}: applies kept landing while taking a consistent view (${MAX_VIEW_ATTEMPTS} attempts)`);
}

// Installing a staged range snapshot on the receiver, crash-safe:
//
//   1. durable marker  I|rangeId = stagingId        (sync, through the log writer)
//   2. clear the span in `default`                   (background batches, no fsync)
//   3. write the staged pairs                        (batches of ingestBatchBytes, no fsync)
//   4. ONE sync batch: descriptor, applied state, conf state, truncated state = snapshot,
//      hard state, the raft log reset (stale entries after the snapshot deleted, new
//      entries of the same Ready put) and the marker deleted.
//
// Until step 4 is durable the range's meta is the old one and the marker is set; at open,
// a marker re-runs steps 2-4 from the staged files (idempotent: clear + rewrite the same
// pairs + the same meta). Step 4's fsync also makes steps 2-3 durable (WAL order).
// Entries at or below the snapshot index are deleted afterwards in the background.
import type { HardState } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import {
  encodeAppliedState, encodeConfState, encodeDescriptor, encodeEntry, encodeHardState, encodeMergeFreeze, encodeMergeOutcomes, encodeTruncatedState,
} from './encoding.js';
import { storeOf, type EngineContext } from './engine-context.js';
import { SnapshotError, StorageError, invariant } from './errors.js';
import { KeyPrefix, entryKey, hardStateKey, parseRangeKey, prefixSpan, rangeKey, spansOverlap } from './keys.js';
import type { RangeLogStore } from './log-store.js';
import { checkAppend, type LogAppend } from './log-append.js';
import { decodeSnapshotChunk } from './snapshot-codec.js';
import { chunkFile, readStaged, removeStaged, type StagedSnapshotFiles } from './snapshot-staging.js';
import { WriteOps } from './write-ops.js';
import { forgetDeferred } from './persist-ready.js';

/** Fault injection for tests: stop (as if crashed) after writing this many chunks. */
export interface IngestFaults {
  failAfterChunks?: number;
}

export class InjectedCrashError extends Error {
  constructor(what: string) {
    super(`injected crash: ${what}`);
    this.name = 'InjectedCrashError';
  }
}

/** Ingests a staged snapshot (see file comment); `append` is the same Ready's entries/hard state. */
export async function ingestStaged(
  ctx: EngineContext, stagingId: string, append: LogAppend = { entries: [], hardState: null }, faults: IngestFaults = {},
): Promise<void> {
  const staged = await readStaged(ctx.staging, stagingId);
  const h = staged.header;
  const rangeId = h.descriptor.rangeId;
  const store = storeOf(ctx, rangeId, 'ingest snapshot');
  if (store.busy !== null) throw new StorageError('RANGE_BUSY', `range ${rangeId}: cannot ingest a snapshot during ${store.busy}`);
  if (h.applied.index <= store.applied.index) {
    throw new SnapshotError(`range ${rangeId}: snapshot at ${h.applied.index} is not newer than the applied index ${store.applied.index}`);
  }
  for (const other of ctx.ranges.values()) {
    const d = other.descriptor;
    if (other === store || d === null) continue;
    if (spansOverlap(d.startKey, d.endKey, h.descriptor.startKey, h.descriptor.endKey)) {
      throw new SnapshotError(`range ${rangeId}: snapshot span overlaps range ${d.rangeId} on this store (a split or merge it has not seen yet); dropped`);
    }
  }
  for (const [id, span] of ctx.clearing) {
    if (spansOverlap(span.startKey, span.endKey, h.descriptor.startKey, h.descriptor.endKey)) {
      throw new SnapshotError(`range ${rangeId}: snapshot span overlaps the data of destroyed range ${id}, still being deleted; dropped`);
    }
  }
  checkAppend(store, append, ctx.limits.maxEntryBytes, h.applied.index, h.applied.index);
  store.busy = 'ingest';
  const run = (async () => {
    try {
      await ctx.writer.submit(new WriteOps(64).put(ColumnFamily.Meta, rangeKey(KeyPrefix.Ingest, rangeId), Buffer.from(stagingId, 'utf8')));
      await runIngest(ctx, store, staged, append, faults);
    } finally {
      store.busy = null;
    }
  })();
  ctx.ingests.add(run);
  try {
    await run;
  } finally {
    ctx.ingests.delete(run);
  }
}

async function runIngest(ctx: EngineContext, store: RangeLogStore, staged: StagedSnapshotFiles, append: LogAppend, faults: IngestFaults): Promise<void> {
  const h = staged.header;
  const rangeId = h.descriptor.rangeId;
  const snapIndex = h.applied.index;
  // 2. clear the span
  const start = Buffer.from(h.descriptor.startKey);
  const end = h.descriptor.endKey.length === 0 ? undefined : Buffer.from(h.descriptor.endKey);
  await ctx.deleter.deleteSpan(ColumnFamily.Default, start, end);
  if (ctx.deleter.isStopped) throw new StorageError('ENGINE_CLOSING', `range ${rangeId}: engine closing during ingest; it resumes at the next open`);
  // 3. the staged pairs
  for (let seq = 0; seq < staged.chunkCount; seq++) {
    if (faults.failAfterChunks !== undefined && seq >= faults.failAfterChunks) throw new InjectedCrashError(`after ${seq} chunks of ${staged.stagingId}`);
    const chunk = decodeSnapshotChunk(await ctx.staging.fs.readFile(chunkFile(staged.dir, seq)));
    invariant(chunk.seq === seq && chunk.last === (seq === staged.chunkCount - 1), () => `staged ${staged.stagingId}: chunk ${seq} has seq ${chunk.seq}/last ${chunk.last}`);
    let i = 0;
    while (i < chunk.pairs.length) {
      let bytes = 0;
      const from = i;
      while (i < chunk.pairs.length && (i === from || bytes < ctx.limits.ingestBatchBytes)) {
        bytes += chunk.pairs[i]![0].length + chunk.pairs[i]![1].length;
        i++;
      }
      ctx.db.writeBatch((b) => {
        for (let j = from; j < i; j++) b.put(ColumnFamily.Default, Buffer.from(chunk.pairs[j]![0]), chunk.pairs[j]![1]);
      }, { sync: false });
      await new Promise<void>((resolve) => ctx.nextTurn(resolve));
    }
  }
  // 4. the meta, last, with the marker's removal
  const old = store.hardState;
  let hs: HardState = append.hardState ?? old;
  if (hs.term < h.applied.term) hs = { term: h.applied.term, vote: 0, commit: hs.commit };
  if (hs.commit < snapIndex) hs = { ...hs, commit: snapIndex };
  const ops = new WriteOps(512);
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Descriptor, rangeId), encodeDescriptor(h.descriptor));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Applied, rangeId), encodeAppliedState(h.applied));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.ConfState, rangeId), encodeConfState(h.confState));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Truncated, rangeId), encodeTruncatedState(h.applied));
  ops.put(ColumnFamily.Raft, hardStateKey(rangeId), encodeHardState(hs));
  forgetDeferred(ctx, store); // superseded by this one (persist-ready.ts)
  const es = append.entries;
  const newLast = es.length > 0 ? es[es.length - 1]!.index : snapIndex;
  for (let i = Math.max(snapIndex, newLast) + 1; i <= store.maxWrittenIndex; i++) ops.del(ColumnFamily.Raft, entryKey(rangeId, i));
  for (const e of es) ops.put(ColumnFamily.Raft, entryKey(rangeId, e.index), encodeEntry(e));
  ops.del(ColumnFamily.Meta, rangeKey(KeyPrefix.Ingest, rangeId));
  if (h.mergeFreeze) ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.MergeFreeze, rangeId), encodeMergeFreeze(h.mergeFreeze));
  else ops.del(ColumnFamily.Meta, rangeKey(KeyPrefix.MergeFreeze, rangeId));
  const outcomes = h.mergeOutcomes ?? [];
  if (outcomes.length > 0) ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.MergeOutcomes, rangeId), encodeMergeOutcomes(outcomes));
  else ops.del(ColumnFamily.Meta, rangeKey(KeyPrefix.MergeOutcomes, rangeId));
  await ctx.writer.submit(ops);
  const oldFirst = store.firstIndex();
  store.maxWrittenIndex = newLast;
  store.onSnapshotDurable({ descriptor: h.descriptor, applied: h.applied, confState: h.confState, hardState: hs, mergeFreeze: h.mergeFreeze ?? null, mergeOutcomes: outcomes });
  store.onEntriesDurable(es);
  // Entries up to the snapshot are unreachable now; delete them in the background.
  void ctx.deleter.deleteSpan(ColumnFamily.Raft, entryKey(rangeId, Math.min(oldFirst, snapIndex)), entryKey(rangeId, snapIndex + 1)).catch(() => {});
  await removeStaged(ctx.staging, staged.stagingId);
}

/** At open: re-runs every ingest a crash interrupted. Returns the staging ids still in use. */
export async function recoverIngests(ctx: EngineContext): Promise<number> {
  let n = 0;
  for (const kv of ctx.db.scan(ColumnFamily.Meta, prefixSpan(KeyPrefix.Ingest))) {
    const rangeId = parseRangeKey(KeyPrefix.Ingest, kv.key);
    const stagingId = kv.value.toString('utf8');
    const store = storeOf(ctx, rangeId, 'recover snapshot ingest');
    const staged = await readStaged(ctx.staging, stagingId);
    if (staged.header.descriptor.rangeId !== rangeId) throw new SnapshotError(`ingest marker of range ${rangeId} names a snapshot of range ${staged.header.descriptor.rangeId}`);
    store.busy = 'ingest';
    try {
      await runIngest(ctx, store, staged, { entries: [], hardState: null }, {});
    } finally {
      store.busy = null;
    }
    n++;
  }
  return n;
}

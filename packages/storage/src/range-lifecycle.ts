// Creating and destroying ranges on this store.
//
// create: one sync batch with the range's initial applied/truncated/conf/hard state (and
// descriptor, if initialized). An uninitialized range (no descriptor) exists only to
// receive a snapshot; it owns no keys.
//
// destroy (replica removed, or merged away): one sync batch drops the range's state and
// writes a destroy marker; the range is gone from then on. Its log (and, when asked, its
// user data) is deleted in background batches; the marker goes last. At open, a marker
// left behind restarts the deletion, so a crash never leaves half a range visible.
import { BOOTSTRAP_INDEX, emptyConfState, type ConfState } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto/range-descriptor';
import { ColumnFamily } from './column-families.js';
import {
  encodeAppliedState, encodeConfState, encodeDescriptor, encodeHardState, encodeTruncatedState,
  recordReader, recordWriter,
} from './encoding.js';
import { storeOf, type EngineContext } from './engine-context.js';
import { RangeExistsError, StorageError, invariant } from './errors.js';
import { KeyPrefix, MAX_INDEX_EXCLUSIVE, entryKey, hardStateKey, parseRangeKey, prefixSpan, rangeKey, readU64, writeU64 } from './keys.js';
import { RangeLogStore, type RangeState } from './log-store.js';
import { WriteOps } from './write-ops.js';
import { encodeApplyBatch, type ApplyBatch } from './apply-writes.js';

export type CreateRangeInit =
  | { rangeId: number }
  | {
    descriptor: RangeDescriptor;
    confState: ConfState;
    /** Index and term of the initial (empty) snapshot; default BOOTSTRAP_INDEX, term 0. */
    index?: number;
    term?: number;
  };

export async function createRange(ctx: EngineContext, init: CreateRangeInit): Promise<RangeLogStore> {
  const rangeId = 'descriptor' in init ? init.descriptor.rangeId : init.rangeId;
  if (!Number.isSafeInteger(rangeId) || rangeId <= 0) throw new RangeError(`range id must be a positive integer, got ${rangeId}`);
  if (ctx.ranges.has(rangeId) || ctx.reserved.has(rangeId)) throw new RangeExistsError(rangeId);
  let st: RangeState;
  if ('descriptor' in init) {
    const index = init.index ?? BOOTSTRAP_INDEX;
    const term = init.term ?? 0;
    st = {
      rangeId, descriptor: init.descriptor, confState: init.confState,
      hardState: { term, vote: 0, commit: index },
      applied: { index, term }, truncated: { index, term }, lastIndex: index, lastTerm: term,
    };
  } else {
    st = {
      rangeId, descriptor: null, confState: emptyConfState(), hardState: { term: 0, vote: 0, commit: 0 },
      applied: { index: 0, term: 0 }, truncated: { index: 0, term: 0 }, lastIndex: 0, lastTerm: 0,
    };
  }
  const ops = new WriteOps();
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Applied, rangeId), encodeAppliedState(st.applied));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Truncated, rangeId), encodeTruncatedState(st.truncated));
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.ConfState, rangeId), encodeConfState(st.confState));
  ops.put(ColumnFamily.Raft, hardStateKey(rangeId), encodeHardState(st.hardState));
  if (st.descriptor) ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Descriptor, rangeId), encodeDescriptor(st.descriptor));
  ctx.reserved.add(rangeId);
  try {
    await ctx.writer.submit(ops);
  } finally {
    ctx.reserved.delete(rangeId);
  }
  const store = new RangeLogStore(ctx.db, st, ctx.limits, ctx.budget);
  ctx.ranges.set(rangeId, store);
  return store;
}

interface DestroyMarker {
  clearData: boolean;
  startKey: Uint8Array;
  endKey: Uint8Array;
}

function encodeDestroyMarker(m: DestroyMarker): Buffer {
  return recordWriter(32).u8(m.clearData ? 1 : 0).bytes(m.startKey).bytes(m.endKey).finish();
}

function decodeDestroyMarker(bytes: Uint8Array): DestroyMarker {
  const r = recordReader('destroy marker', bytes);
  const clear = r.u8();
  if (clear > 1) r.fail(`clearData flag ${clear}`);
  const m = { clearData: clear === 1, startKey: r.bytes(), endKey: r.bytes() };
  r.end();
  return m;
}

export interface DestroyOptions {
  /**
   * Also delete the user keys of the range's span: true when the replica was removed from
   * this store; false after a merge (the left-hand range now owns those keys).
   */
  clearData: boolean;
  /**
   * The raft id of this store's replica being destroyed: kept after the destroy (a Meta row
   * per range, `StorageEngine.tombstoneOf`), so that a stale leader's message to that id
   * never recreates the replica, across restarts (multiraft README, "Tombstones").
   */
  tombstoneReplicaId?: number;
}

/**
 * Destroys a range: durable at once (the range is gone when this resolves), its log and
 * data deleted in the background (`whenDeleted` resolves when that is done).
 */
export async function destroyRange(ctx: EngineContext, rangeId: number, opts: DestroyOptions): Promise<{ whenDeleted: Promise<void> }> {
  const store = storeOf(ctx, rangeId, 'destroy range');
  const ops = new WriteOps();
  const marker = addDestroy(ctx, store, ops, opts);
  try {
    await ctx.writer.submit(ops);
  } catch (e) {
    ctx.reserved.delete(rangeId);
    ctx.clearing.delete(rangeId);
    throw e;
  }
  return { whenDeleted: finishDestroy(ctx, rangeId, marker) };
}

/** Adds a range's destroy to `ops` and takes it out of the engine (it is gone from now on). */
function addDestroy(ctx: EngineContext, store: RangeLogStore, ops: WriteOps, opts: DestroyOptions): DestroyMarker {
  const rangeId = store.rangeId;
  if (store.busy !== null) throw new StorageError('RANGE_BUSY', `range ${rangeId}: cannot destroy during ${store.busy}`);
  store.busy = 'destroy';
  const desc = store.descriptor;
  const marker: DestroyMarker = {
    clearData: opts.clearData && desc !== null,
    startKey: desc?.startKey ?? new Uint8Array(0),
    endKey: desc?.endKey ?? new Uint8Array(0),
  };
  ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Destroy, rangeId), encodeDestroyMarker(marker));
  const tomb = opts.tombstoneReplicaId ?? 0;
  if (tomb > 0 && tomb > tombstoneOf(ctx, rangeId)) {
    const v = Buffer.alloc(8);
    writeU64(v, 0, tomb);
    ops.put(ColumnFamily.Meta, rangeKey(KeyPrefix.Tombstone, rangeId), v);
  }
  for (const p of [KeyPrefix.Applied, KeyPrefix.Truncated, KeyPrefix.ConfState, KeyPrefix.Descriptor, KeyPrefix.Ingest, KeyPrefix.MergeFreeze, KeyPrefix.MergeOutcomes]) {
    ops.del(ColumnFamily.Meta, rangeKey(p, rangeId));
  }
  ops.del(ColumnFamily.Raft, hardStateKey(rangeId));
  ctx.ranges.delete(rangeId);
  ctx.reserved.add(rangeId);
  if (marker.clearData) ctx.clearing.set(rangeId, { startKey: marker.startKey, endKey: marker.endKey });
  store.markDestroyed();
  return marker;
}

export interface MergeInit {
  /** The left range's apply batch: applied = the merge entry, descriptor = the left range widened over the right. */
  left: ApplyBatch & { descriptor: RangeDescriptor };
  /** The right-hand range merged away: its state and log go, its user keys stay (the left range owns them now). */
  rightId: number;
  /** This store's raft id in the right-hand range, kept as its tombstone (DestroyOptions.tombstoneReplicaId). */
  rightReplicaId?: number;
}

/**
 * Merge: the left range's apply (its widened descriptor) and the right range's destroy
 * (without its data) in ONE sync batch, so a crash leaves both or neither. Unlike a
 * split this batch is synced: the right range's log is deleted in the background right
 * after, and a lost merge batch would have to replay from that log.
 */
export async function mergeRanges(ctx: EngineContext, leftId: number, init: MergeInit): Promise<{ whenDeleted: Promise<void> }> {
  const left = storeOf(ctx, leftId, 'merge');
  const right = storeOf(ctx, init.rightId, 'merge');
  const l = left.descriptor;
  const r = right.descriptor;
  if (l === null || r === null) throw new StorageError('RANGE_UNINITIALIZED', `merge of ${leftId} and ${init.rightId}: a range is uninitialized`);
  const d = init.left.descriptor;
  invariant(d.rangeId === leftId, () => `merge into ${leftId}: descriptor names range ${d.rangeId}`);
  invariant(l.endKey.length > 0 && Buffer.compare(l.endKey, r.startKey) === 0, () => `merge of ${leftId} and ${init.rightId}: the ranges are not adjacent`);
  invariant(Buffer.compare(d.startKey, l.startKey) === 0 && Buffer.compare(d.endKey, r.endKey) === 0, () => `merge into ${leftId}: the new span does not cover both ranges exactly`);
  if (right.busy !== null) throw new StorageError('RANGE_BUSY', `range ${init.rightId}: cannot merge during ${right.busy}`);
  const ops = encodeApplyBatch(left, init.left);
  const marker = addDestroy(ctx, right, ops, init.rightReplicaId === undefined ? { clearData: false } : { clearData: false, tombstoneReplicaId: init.rightReplicaId });
  try {
    await ctx.writer.submit(ops);
  } catch (e) {
    ctx.reserved.delete(init.rightId);
    throw e;
  }
  left.onApplied(init.left.applied, init.left.confState ?? null, d, init.left.mergeFreeze, init.left.mergeOutcomes);
  return { whenDeleted: finishDestroy(ctx, init.rightId, marker) };
}

async function finishDestroy(ctx: EngineContext, rangeId: number, m: DestroyMarker): Promise<void> {
  try {
    await ctx.deleter.deleteSpan(ColumnFamily.Raft, entryKey(rangeId, 0), entryKey(rangeId, MAX_INDEX_EXCLUSIVE));
    if (m.clearData) {
      await ctx.deleter.deleteSpan(ColumnFamily.Default, Buffer.from(m.startKey), m.endKey.length === 0 ? undefined : Buffer.from(m.endKey));
    }
    if (ctx.deleter.isStopped) return; // unfinished: the marker stays and the next open resumes
    // Not a sync write: if it is lost, the next open simply runs the deletion again. That is
    // harmless because nothing is ingested over the span until `clearing` lets go of it
    // below, and whatever is written later is synced, which makes this write durable first.
    ctx.db.writeBatch((b) => b.del(ColumnFamily.Meta, rangeKey(KeyPrefix.Destroy, rangeId)), { sync: false });
  } finally {
    ctx.reserved.delete(rangeId);
    if (!ctx.deleter.isStopped) ctx.clearing.delete(rangeId);
  }
}

/** The raft id kept as range `rangeId`'s tombstone on this store (DestroyOptions.tombstoneReplicaId), or 0. */
export function tombstoneOf(ctx: EngineContext, rangeId: number): number {
  const v = ctx.db.get(ColumnFamily.Meta, rangeKey(KeyPrefix.Tombstone, rangeId));
  return v === undefined || v.length !== 8 ? 0 : readU64(v, 0);
}

/** At open: restart every destroy that a crash (or close) interrupted. */
export function resumeDestroys(ctx: EngineContext): Promise<void>[] {
  const out: Promise<void>[] = [];
  for (const kv of ctx.db.scan(ColumnFamily.Meta, prefixSpan(KeyPrefix.Destroy))) {
    const rangeId = parseRangeKey(KeyPrefix.Destroy, kv.key);
    invariant(!ctx.ranges.has(rangeId), () => `range ${rangeId} is both live and being destroyed`);
    ctx.reserved.add(rangeId);
    const m = decodeDestroyMarker(kv.value);
    if (m.clearData) ctx.clearing.set(rangeId, { startKey: m.startKey, endKey: m.endKey });
    out.push(finishDestroy(ctx, rangeId, m));
  }
  return out;
}

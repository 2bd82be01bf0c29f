// Turning raft Readies into log-writer requests, and making them visible afterwards.
//
// One raft scheduler drives many groups: each cycle it adds every group's Ready to one
// ReadyBatch and submits it as one request, so one fsync covers all of them (and the log
// writer merges requests of concurrent cycles too). Once durable, every group's
// RangeLogStore is updated in order; then the caller sends messagesAfterPersist and calls
// node.ackPersisted(rd).
//
//   const batch = new ReadyBatch(engine);
//   for (const [rangeId, rd] of readies) batch.add(rangeId, rd);
//   await batch.submit();
//   for (const [rangeId, rd] of readies) { send(rd.messagesAfterPersist); nodes.get(rangeId).ackPersisted(rd); }
//
// A Ready carrying a snapshot goes through persistReady alone (it ingests a staged
// snapshot, see snapshot-ingest.ts).
//
// Sync: only a Ready whose `mustSync` is set (new entries, a term or vote change, a
// snapshot) needs an fsync; one that only moves the commit index does not (raft restores
// commit from the applied state and its peers after a restart). A batch of such Readies
// alone is submitted with `sync: false` (written in order, no fsync).
//
// Deferred hard states: a Ready that needs no sync, of a group with nothing in flight, is
// taken by `deferReady`: it is visible at once (the caller acknowledges it right away) and
// its hard state (only the commit moved) is written later, with no write of its own: it
// rides in the next batch submitted for any group, or in `flushDeferredHardStates` (the
// raft scheduler calls it on ticks; the engine on close). A Ready of the same group added
// to a batch later supersedes it (its hard state is newer), so a deferred one is never
// written over a newer one; a destroyed range's is dropped. Lost at a crash, it costs
// nothing: its term and vote were already durable, and the commit index comes back.
import type { Entry, HardState, Ready } from '@rangekv/raft';
import { storeOf, type EngineContext } from './engine-context.js';
import { SnapshotError, StorageError, invariant } from './errors.js';
import { checkAppend, encodeAppend } from './log-append.js';
import type { RangeLogStore } from './log-store.js';
import { decodeSnapshotRef } from './snapshot-ref.js';
import { ingestStaged } from './snapshot-ingest.js';
import { WriteOps } from './write-ops.js';
import { ColumnFamily } from './column-families.js';
import { encodeHardState } from './encoding.js';
import { hardStateKey } from './keys.js';

function hasWork(rd: Ready): boolean {
  return rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null;
}

export class ReadyBatch {
  private readonly ops: WriteOps;
  private readonly parts: { store: RangeLogStore; entries: readonly Entry[]; hardState: HardState | null }[] = [];
  private submitted = false;
  /** Some Ready added must be durable (its mustSync). */
  private sync = false;

  constructor(private readonly ctx: EngineContext, initialBytes = 4096) {
    this.ops = new WriteOps(initialBytes);
  }

  /** Adds one group's Ready (no snapshot). Throws, adding nothing, if it cannot be persisted. */
  add(rangeId: number, rd: Ready): void {
    invariant(!this.submitted, 'ReadyBatch.add after submit');
    const store = storeOf(this.ctx, rangeId, 'persist ready');
    if (rd.snapshot !== null) throw new StorageError('READY_HAS_SNAPSHOT', `range ${rangeId}: a Ready with a snapshot must go through persistReady`);
    if (store.busy !== null) throw new StorageError('RANGE_BUSY', `range ${rangeId}: cannot persist during ${store.busy}`);
    const a = { entries: rd.entries, hardState: rd.hardState };
    checkAppend(store, a, this.ctx.limits.maxEntryBytes, store.truncated.index, store.maxWrittenIndex);
    encodeAppend(store, a, this.ops);
    if (rd.hardState !== null) forgetDeferred(this.ctx, store);
    store.persistsInFlight++;
    this.parts.push({ store, entries: rd.entries, hardState: rd.hardState });
    if (rd.mustSync) this.sync = true;
  }

  get groups(): number {
    return this.parts.length;
  }

  /** Some Ready in the batch must be durable before it is acknowledged. */
  get needsSync(): boolean {
    return this.sync;
  }

  get byteLength(): number {
    return this.ops.byteLength;
  }

  /**
   * One log-writer request for all groups (fsynced only when needsSync); resolves once
   * durable (or written) and visible in every store. A small batch while the log writer
   * has nothing queued is written on the calling thread: with `direct: 'now'` before this
   * returns (LogWriter.tryWriteNow), with `direct: 'soon'` at the thread's next turn, after
   * what this turn sent has gone out (LogWriter.submitSoon).
   */
  async submit(opts: { direct?: 'now' | 'soon' } = {}): Promise<void> {
    invariant(!this.submitted, 'ReadyBatch submitted twice');
    this.submitted = true;
    if (this.parts.length === 0) return;
    encodeDeferred(this.ctx, this.ops);
    try {
      const w = this.ctx.writer;
      const sync = { sync: this.sync };
      if (!(opts.direct === 'now' && w.tryWriteNow(this.ops, sync))) {
        await ((opts.direct === 'soon' ? w.submitSoon(this.ops, sync) : null) ?? w.submit(this.ops, sync));
      }
    } finally {
      for (const p of this.parts) p.store.persistsInFlight--;
    }
    this.showAll();
  }

  private showAll(): void {
    for (const p of this.parts) {
      if (p.store.isDestroyed) continue;
      p.store.onEntriesDurable(p.entries);
      if (p.hardState) p.store.onHardStateDurable(p.hardState);
    }
  }
}

/** See the header: takes a Ready that needs no sync, of a group with nothing in flight. */
export function deferReady(ctx: EngineContext, rangeId: number, rd: Ready): void {
  const store = storeOf(ctx, rangeId, 'defer ready');
  if (rd.mustSync || rd.snapshot !== null || rd.entries.length > 0) {
    throw new StorageError('READY_MUST_SYNC', `range ${rangeId}: Ready ${rd.seq} must be persisted (entries, snapshot or a term/vote change)`);
  }
  if (store.busy !== null) throw new StorageError('RANGE_BUSY', `range ${rangeId}: cannot persist during ${store.busy}`);
  if (rd.hardState === null) return;
  store.onHardStateDurable(rd.hardState);
  store.deferredHardState = { ...rd.hardState };
  ctx.deferredHardStates.add(store);
}

/** Forgets `store`'s deferred hard state: a newer one is being written, or the range is going away. */
export function forgetDeferred(ctx: EngineContext, store: RangeLogStore): void {
  if (store.deferredHardState === null) return;
  store.deferredHardState = null;
  ctx.deferredHardStates.delete(store);
}

/** Encodes every deferred hard state into `ops` (they are written with it) and forgets them. */
function encodeDeferred(ctx: EngineContext, ops: WriteOps): void {
  if (ctx.deferredHardStates.size === 0) return;
  for (const store of ctx.deferredHardStates) {
    const hs = store.deferredHardState;
    store.deferredHardState = null;
    if (hs === null || store.isDestroyed || store.busy !== null) continue;
    ops.put(ColumnFamily.Raft, hardStateKey(store.rangeId), encodeHardState(hs));
  }
  ctx.deferredHardStates.clear();
}

/** Writes the deferred hard states (one unsynced request); resolves once written. */
export function flushDeferredHardStates(ctx: EngineContext): Promise<void> {
  if (ctx.deferredHardStates.size === 0) return Promise.resolve();
  const ops = new WriteOps(64 * ctx.deferredHardStates.size);
  encodeDeferred(ctx, ops);
  if (ops.byteLength === 0) return Promise.resolve();
  return ctx.writer.submit(ops, { sync: false });
}

/**
 * Persists one group's Ready and updates its RangeLogStore once durable; the caller then
 * sends rd.messagesAfterPersist and calls node.ackPersisted(rd). A Ready with nothing to
 * persist resolves at once unless earlier persists of the group are still in flight (it
 * then waits behind them, so acks stay in order).
 */
export async function persistReady(ctx: EngineContext, rangeId: number, rd: Ready): Promise<void> {
  const store = storeOf(ctx, rangeId, 'persist ready');
  if (rd.snapshot !== null) {
    const ref = decodeSnapshotRef(rd.snapshot.data);
    const m = rd.snapshot.meta;
    if (ref.rangeId !== rangeId || ref.index !== m.index || ref.term !== m.term || ref.stagingId === '') {
      throw new SnapshotError(`range ${rangeId}: Ready snapshot ${m.index}/${m.term} does not name a staged snapshot of this range (ref: range ${ref.rangeId} ${ref.index}/${ref.term} '${ref.stagingId}')`);
    }
    await ingestStaged(ctx, ref.stagingId, { entries: rd.entries, hardState: rd.hardState });
    return;
  }
  if (!hasWork(rd) && store.persistsInFlight === 0) return;
  let bytes = 64;
  for (const e of rd.entries) bytes += e.data.length + 48;
  const batch = new ReadyBatch(ctx, bytes);
  batch.add(rangeId, rd);
  await batch.submit();
}

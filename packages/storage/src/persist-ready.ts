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
import type { Entry, HardState, Ready } from '@rangekv/raft';
import { storeOf, type EngineContext } from './engine-context.js';
import { SnapshotError, StorageError, invariant } from './errors.js';
import { checkAppend, encodeAppend } from './log-append.js';
import type { RangeLogStore } from './log-store.js';
import { decodeSnapshotRef } from './snapshot-ref.js';
import { ingestStaged } from './snapshot-ingest.js';
import { WriteOps } from './write-ops.js';

function hasWork(rd: Ready): boolean {
  return rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null;
}

export class ReadyBatch {
  private readonly ops: WriteOps;
  private readonly parts: { store: RangeLogStore; entries: readonly Entry[]; hardState: HardState | null }[] = [];
  private submitted = false;

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
    store.persistsInFlight++;
    this.parts.push({ store, entries: rd.entries, hardState: rd.hardState });
  }

  get groups(): number {
    return this.parts.length;
  }

  get byteLength(): number {
    return this.ops.byteLength;
  }

  /** One log-writer request for all groups; resolves once durable and visible in every store. */
  async submit(): Promise<void> {
    invariant(!this.submitted, 'ReadyBatch submitted twice');
    this.submitted = true;
    if (this.parts.length === 0) return;
    try {
      await this.ctx.writer.submit(this.ops);
    } finally {
      for (const p of this.parts) p.store.persistsInFlight--;
    }
    for (const p of this.parts) {
      if (p.store.isDestroyed) continue;
      p.store.onEntriesDurable(p.entries);
      if (p.hardState) p.store.onHardStateDurable(p.hardState);
    }
  }
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

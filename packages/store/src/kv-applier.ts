// KvApplier: the host's one entry point for applying committed KV entries, so the store
// can choose where apply runs (here on the main thread, or in the apply-worker pool of
// apply-pool.ts) and callers can cut a batch into segments that must run elsewhere.
//
// Contract (both implementations):
// - `apply(rangeId, desc, entries, extra)` runs `entries` (in order, contiguous, all above
//   the range's applied index, durable in its log) against `desc` (the range's current
//   descriptor) and returns one KvResult per entry, in order.
// - It writes the entries' data, the applied index/term of the last entry, the ConfState of
//   the last conf change among them and `extra.descriptor` (when given) in ONE batch
//   (the pool may cut a long call into several such batches, see ApplyPoolLimits), and
//   when it resolves the range's RangeLogStore shows the new applied state (and
//   ConfState / descriptor).
// - At most one call per range is outstanding (the raft scheduler runs one apply at a time
//   per range); the pool asserts it.
//
// So a caller that must run some entries on the main thread (admin commands such as a
// split) splits the entries at them: `await applier.apply(id, desc, before)`, then its
// own work on the main thread, then `await applier.apply(id, newDesc, after)`.
import type { RangeDescriptor } from '@rangekv/proto';
import { checkApplyBatch, type StorageEngine } from '@rangekv/storage';
import { EntryApplyError, type ApplyEntry } from '@rangekv/multiraft';
import { applyParts, type PartOutcome } from './apply-parts.js';
import type { ApplyPartInput } from './apply-task.js';
import { dbKvReader, type KvApplyExtra, type KvResult } from './kv-state-machine.js';

export interface KvApplier {
  /** 'inline' (main thread) or 'pool' (apply workers). */
  readonly kind: 'inline' | 'pool';
  apply(rangeId: number, desc: RangeDescriptor, entries: readonly ApplyEntry[], extra?: KvApplyExtra): Promise<KvResult[]>;
  /** Waits for every outstanding apply, then releases what it holds (worker threads). Idempotent. */
  close(): Promise<void>;
}

/** Entry data bytes one coalesced inline write may carry; a single range's part bigger than this is written alone. */
export const MAX_INLINE_APPLY_WRITE_BYTES = 4 * 1024 * 1024;

export interface InlineApplyStats {
  /** RocksDB writes (each holds one or more ranges' parts), parts written, entries applied. */
  writes: number;
  parts: number;
  entries: number;
}

/** One range's part waiting to be written (here or by the pool), with its promise's ends. */
export interface QueuedPart {
  input: ApplyPartInput;
  /** Entry data bytes. */
  bytes: number;
  resolve: (r: KvResult[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Applies on the calling (main) thread. Calls made in the same synchronous run (the
 * scheduler's cycle starts every range's apply in one loop) are queued and written at the
 * next microtask as ONE RocksDB write (apply-parts.ts; at most
 * MAX_INLINE_APPLY_WRITE_BYTES of entry data per write, a range's part never cut): with
 * many ranges each applying an entry or two per cycle, a write per range was the largest
 * single cost of the main thread (store README, "Write path").
 */
export class InlineKvApplier implements KvApplier {
  readonly kind = 'inline';
  private queued: QueuedPart[] = [];
  private flushScheduled = false;
  private readonly st: InlineApplyStats = { writes: 0, parts: 0, entries: 0 };

  constructor(private readonly engine: StorageEngine, private readonly maxWriteBytes = MAX_INLINE_APPLY_WRITE_BYTES) {}

  stats(): InlineApplyStats {
    return { ...this.st };
  }

  apply(rangeId: number, desc: RangeDescriptor, entries: readonly ApplyEntry[], extra: KvApplyExtra = {}): Promise<KvResult[]> {
    if (entries.length === 0) return Promise.resolve([]);
    const newDesc = extra.descriptor ?? null;
    let bytes = 0;
    try {
      checkApplyInput(this.engine, rangeId, entries, newDesc);
      for (const e of entries) bytes += e.data.length;
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<KvResult[]>((resolve, reject) => {
      this.queued.push({ input: { rangeId, desc, entries, newDesc }, bytes, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const queued = this.queued;
    this.queued = [];
    for (let from = 0; from < queued.length;) {
      let to = from + 1;
      let bytes = queued[from]!.bytes;
      while (to < queued.length && bytes + queued[to]!.bytes <= this.maxWriteBytes) bytes += queued[to++]!.bytes;
      this.write(queued.slice(from, to));
      from = to;
    }
  }

  private write(parts: QueuedPart[]): void {
    if (!writeParts(this.engine, parts, (n) => {
      this.st.parts++;
      this.st.entries += n;
    })) return;
    this.st.writes++;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Checks a range's apply before it is queued: contiguous entries starting right after the
 * applied index, and the batch allowed now (storage's checkApplyBatch).
 */
export function checkApplyInput(engine: StorageEngine, rangeId: number, entries: readonly ApplyEntry[], newDesc: RangeDescriptor | null): void {
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.index !== entries[i - 1]!.index + 1) throw new Error(`range ${rangeId}: apply entries not contiguous at ${entries[i - 1]!.index} -> ${entries[i]!.index}`);
  }
  const lastEntry = entries[entries.length - 1]!;
  const store = engine.range(rangeId);
  checkApplyBatch(store, newDesc === null ? { applied: lastEntry } : { applied: lastEntry, descriptor: newDesc });
  if (entries[0]!.index !== store.applied.index + 1) {
    throw new Error(`range ${rangeId}: apply starts at ${entries[0]!.index}, applied index is ${store.applied.index}`);
  }
}

type SettlingPart = { input: ApplyPartInput; resolve: (r: KvResult[]) => void; reject: (e: unknown) => void };

/**
 * Applies `parts` on this thread in ONE RocksDB write (apply-parts.ts) and settles them
 * (settleParts). Returns false when the write failed: every part is rejected with the error.
 */
export function writeParts(engine: StorageEngine, parts: readonly SettlingPart[], onWritten: (entries: number) => void): boolean {
  let outs: PartOutcome[];
  try {
    outs = applyParts(engine.db, dbKvReader(engine.db), parts.map((p) => p.input));
  } catch (e) {
    for (const p of parts) p.reject(e);
    return false;
  }
  settleParts(engine, parts, outs, onWritten);
  return true;
}

/** After a write of `parts`: each written part shows its applied state and resolves; a failed one rejects (EntryApplyError). */
export function settleParts(
  engine: StorageEngine,
  parts: readonly SettlingPart[],
  outs: readonly PartOutcome[],
  onWritten: (entries: number) => void,
): void {
  for (let i = 0; i < parts.length; i++) {
    const { input, resolve, reject } = parts[i]!;
    const o = outs[i]!;
    if (!o.ok) {
      reject(new EntryApplyError(input.rangeId, o.index, o.reason));
      continue;
    }
    onWritten(input.entries.length);
    engine.range(input.rangeId).onApplied(o.applied, o.confState, input.newDesc);
    resolve(o.results);
  }
}

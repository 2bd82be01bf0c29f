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
import type { StorageEngine } from '@rangekv/storage';
import { dbKvReader, runKvEntries, type KvApplyExtra, type KvResult } from './kv-state-machine.js';
import type { ApplyEntry } from '@rangekv/multiraft';

export interface KvApplier {
  /** 'inline' (main thread) or 'pool' (apply workers). */
  readonly kind: 'inline' | 'pool';
  apply(rangeId: number, desc: RangeDescriptor, entries: readonly ApplyEntry[], extra?: KvApplyExtra): Promise<KvResult[]>;
  /** Waits for every outstanding apply, then releases what it holds (worker threads). Idempotent. */
  close(): Promise<void>;
}

/** Applies on the calling (main) thread: one engine.apply per call. */
export class InlineKvApplier implements KvApplier {
  readonly kind = 'inline';

  constructor(private readonly engine: StorageEngine) {}

  apply(rangeId: number, desc: RangeDescriptor, entries: readonly ApplyEntry[], extra: KvApplyExtra = {}): Promise<KvResult[]> {
    if (entries.length === 0) return Promise.resolve([]);
    try {
      const out = runKvEntries(dbKvReader(this.engine.db), desc, entries, extra);
      this.engine.apply(rangeId, out.batch);
      return Promise.resolve(out.results);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

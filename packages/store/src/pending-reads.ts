// Reads waiting on raft: a read asks its replica's RawNode for a ReadIndex with a
// unique context, waits for the ReadState carrying that context (the read index), then
// waits until the range has applied up to that index, and only then reads RocksDB.
//
//   const ctx = reads.nextCtx();
//   const ready = reads.register(rangeId, ctx);          // ServerBusy when the range is full
//   if (!node.readIndex(ctx, { lease })) reads.cancel(rangeId, ctx, new UnavailableError(...));
//   await ready;                                         // applied >= read index: read now
//
// A read still waiting for its ReadState when the range's leader or role changes is
// failed (the leader that would answer it may be gone; raft forgets pending reads on
// stepping down). A read that has its ReadState already is confirmed and keeps waiting
// for apply. Every read fails with UNAVAILABLE after `readTimeoutMs`.
//
// Contexts are unique across stores and restarts (store id, a random incarnation, a
// counter): a leader keys pending reads by context for every requester, so two
// followers must never send the same one.
import { randomBytes } from 'node:crypto';
import { realClock, type HostClock, type TimerHandle } from '@rangekv/multiraft';
import type { ReadState } from '@rangekv/raft';
import { RangeErrorReply, UnavailableError } from './errors.js';
import { serverBusy } from './range-errors.js';

export interface PendingReadLimits {
  maxPendingReadsPerRange: number;
  readTimeoutMs: number;
}

interface PendingRead {
  /** -1 until the ReadState arrives. */
  index: number;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
}

interface RangeReads {
  awaitingState: Map<string, PendingRead>;
  awaitingApply: PendingRead[];
}

function ctxKey(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('latin1');
}

export class PendingReads {
  private readonly byRange = new Map<number, RangeReads>();
  private readonly prefix: Buffer;
  private seq = 0;
  /** Reads answered (resolved or failed) since start, for tests and metrics. */
  readonly counts = { served: 0, failed: 0, timedOut: 0 };

  /**
   * `incarnation`: 4 bytes that differ between runs of this store (default random), so
   * contexts stay unique across restarts; the simulation passes seeded ones. `clock`:
   * timers (default realClock).
   */
  constructor(storeId: number, private readonly limits: PendingReadLimits, incarnation?: Uint8Array, private readonly clock: HostClock = realClock) {
    this.prefix = Buffer.alloc(8);
    this.prefix.writeUInt32BE(storeId >>> 0, 0);
    Buffer.from(incarnation ?? randomBytes(4)).copy(this.prefix, 4, 0, 4);
  }

  /** A context no other read on any store uses. */
  nextCtx(): Uint8Array {
    const ctx = Buffer.alloc(16);
    this.prefix.copy(ctx, 0);
    ctx.writeBigUInt64BE(BigInt(++this.seq), 8);
    return ctx;
  }

  pending(rangeId: number): number {
    const rr = this.byRange.get(rangeId);
    return rr ? rr.awaitingState.size + rr.awaitingApply.length : 0;
  }

  /** Registers a read; resolves once the range applied past its read index. */
  register(rangeId: number, ctx: Uint8Array): Promise<void> {
    if (this.pending(rangeId) >= this.limits.maxPendingReadsPerRange) {
      throw new RangeErrorReply(serverBusy(`range ${rangeId}: ${this.limits.maxPendingReadsPerRange} reads pending (maxPendingReadsPerRange)`));
    }
    let rr = this.byRange.get(rangeId);
    if (!rr) {
      rr = { awaitingState: new Map(), awaitingApply: [] };
      this.byRange.set(rangeId, rr);
    }
    const key = ctxKey(ctx);
    const ranges = rr;
    return new Promise<void>((resolve, reject) => {
      const read: PendingRead = {
        index: -1,
        resolve: () => {
          this.clock.clearTimer(read.timer);
          this.counts.served++;
          resolve();
        },
        reject: (e) => {
          this.clock.clearTimer(read.timer);
          this.counts.failed++;
          reject(e);
        },
        timer: this.clock.setTimer(this.limits.readTimeoutMs, () => {
          if (ranges.awaitingState.get(key) === read) ranges.awaitingState.delete(key);
          const at = ranges.awaitingApply.indexOf(read);
          if (at >= 0) ranges.awaitingApply.splice(at, 1);
          this.dropIfEmpty(rangeId);
          this.counts.timedOut++;
          read.reject(new UnavailableError(`range ${rangeId}: read not served within ${this.limits.readTimeoutMs} ms (readTimeoutMs); safe to retry`));
        }),
      };
      ranges.awaitingState.set(key, read);
    });
  }

  /** Raft refused the request (no leader known, too many pending on the leader). */
  cancel(rangeId: number, ctx: Uint8Array, err: Error): void {
    const rr = this.byRange.get(rangeId);
    const key = ctxKey(ctx);
    const read = rr?.awaitingState.get(key);
    if (!rr || !read) return;
    rr.awaitingState.delete(key);
    this.dropIfEmpty(rangeId);
    read.reject(err);
  }

  onReadStates(rangeId: number, applied: number, states: readonly ReadState[]): void {
    const rr = this.byRange.get(rangeId);
    if (!rr) return;
    for (const s of states) {
      const key = ctxKey(s.requestCtx);
      const read = rr.awaitingState.get(key);
      if (!read) continue; // timed out or failed meanwhile
      rr.awaitingState.delete(key);
      read.index = s.index;
      if (applied >= s.index) read.resolve();
      else rr.awaitingApply.push(read);
    }
    this.dropIfEmpty(rangeId);
  }

  onApplied(rangeId: number, applied: number): void {
    const rr = this.byRange.get(rangeId);
    if (!rr || rr.awaitingApply.length === 0) return;
    const keep: PendingRead[] = [];
    for (const read of rr.awaitingApply) {
      if (applied >= read.index) read.resolve();
      else keep.push(read);
    }
    rr.awaitingApply = keep;
    this.dropIfEmpty(rangeId);
  }

  /** Leader or role changed: reads without a ReadState will not get one. */
  failUnconfirmed(rangeId: number, err: () => Error): void {
    const rr = this.byRange.get(rangeId);
    if (!rr || rr.awaitingState.size === 0) return;
    const reads = [...rr.awaitingState.values()];
    rr.awaitingState.clear();
    this.dropIfEmpty(rangeId);
    for (const read of reads) read.reject(err());
  }

  /** Store stopping or range removed. */
  failAll(err: () => Error, rangeId?: number): void {
    const ids = rangeId === undefined ? [...this.byRange.keys()] : [rangeId];
    for (const id of ids) {
      const rr = this.byRange.get(id);
      if (!rr) continue;
      this.byRange.delete(id);
      for (const read of [...rr.awaitingState.values(), ...rr.awaitingApply]) read.reject(err());
    }
  }

  private dropIfEmpty(rangeId: number): void {
    const rr = this.byRange.get(rangeId);
    if (rr && rr.awaitingState.size === 0 && rr.awaitingApply.length === 0) this.byRange.delete(rangeId);
  }
}
